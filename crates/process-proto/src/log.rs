//! The stdout/stderr log multiplexing codec (spec §3): a 3-byte stream marker, then data up to
//! the next marker. [`Muxer`] writes it (daemon side), [`Demuxer`] reads it as labelled byte
//! chunks, [`TextDemuxer`] as UTF-8 text; [`demux_log`] and [`parse_session_command_logs`] do it
//! in one shot.
//!
//! # Format and its limits
//!
//! ```text
//! record = marker payload      marker = 01 01 01 (stdout) | 02 02 02 (stderr)
//! ```
//!
//! There is no length field and no escaping, so a payload that contains `01 01 01` or
//! `02 02 02` is read as a stream switch: such payloads cannot round-trip (the official daemon
//! writes them verbatim too, and every reader then "forges" a switch). Payload bytes before the
//! first marker are unlabelled and dropped, as the official SDK and daemon do.
//!
//! # Reading rules (equal to SDK 0.226.1's `_std_demux_loop`, spec §3.5)
//!
//! The leftmost complete marker wins (`01 01 01 01 x` is a stdout marker followed by `01 x`);
//! up to 2 trailing bytes that may begin a marker are held until the next input; at the end of
//! input they are data of the current stream. The result per stream does not depend on how the
//! input is chunked.
//!
//! Text ([`TextDemuxer`]) is decoded per stream, incrementally: an incomplete UTF-8 sequence at
//! the end of a chunk is held (per stream, also across stream switches) until more bytes of that
//! stream arrive; invalid bytes become U+FFFD with the same rule as Python's
//! `errors="replace"` (one U+FFFD per maximal invalid subpart). Compared with the SDK's
//! callbacks, the concatenated text per stream is identical, with two documented differences:
//! - the SDK invokes callbacks with `""` when a chunk held only part of a character; we emit no
//!   empty pieces;
//! - where the SDK is lossy: at the end of input, if bytes are still held (a 1–2 byte partial
//!   marker) the SDK finalises only the current stream's decoder and silently drops an
//!   incomplete character pending in the *other* stream (Appendix B:
//!   `01 01 01 e2 82 02 02 02 'x'` → SDK stdout `""`); we flush every stream at the end, so that
//!   incomplete character becomes U+FFFD (stdout `"\u{FFFD}"`).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::text::Utf8Decoder;
use crate::wire::SessionCommandLogsResponse;

/// Marker that starts stdout data.
pub const STDOUT_MARKER: [u8; 3] = [1, 1, 1];
/// Marker that starts stderr data.
pub const STDERR_MARKER: [u8; 3] = [2, 2, 2];
/// Length of a marker.
pub const MARKER_LEN: usize = 3;
/// Default largest [`LogChunk`] a [`Demuxer`] hands out (longer runs are split).
pub const DEFAULT_MAX_CHUNK: usize = 64 * 1024;

/// One of the two output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OutputStream {
    /// Standard output (marker `01 01 01`).
    Stdout,
    /// Standard error (marker `02 02 02`).
    Stderr,
}

impl OutputStream {
    /// The marker that starts this stream's data.
    pub const fn marker(self) -> [u8; 3] {
        match self {
            OutputStream::Stdout => STDOUT_MARKER,
            OutputStream::Stderr => STDERR_MARKER,
        }
    }

    /// The stream whose marker consists of `byte` (1 or 2).
    pub const fn from_marker_byte(byte: u8) -> Option<OutputStream> {
        match byte {
            1 => Some(OutputStream::Stdout),
            2 => Some(OutputStream::Stderr),
            _ => None,
        }
    }

    const fn index(self) -> usize {
        match self {
            OutputStream::Stdout => 0,
            OutputStream::Stderr => 1,
        }
    }
}

/// A run of bytes of one stream, sliced out of the input without copying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChunk {
    /// The stream the bytes belong to.
    pub stream: OutputStream,
    /// The bytes (never empty when returned by a [`Demuxer`]).
    pub data: Bytes,
}

/// An error of the log codec.
///
/// Reading never fails under the default policy (like the SDK, unlabelled bytes are dropped);
/// it fails only under [`Unlabelled::Reject`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DemuxError {
    /// Bytes arrived before any marker and the demuxer was told to reject them.
    #[error(
        "{len} bytes of log output carry no stream marker (expected 01 01 01 or 02 02 02 first)"
    )]
    Unlabelled {
        /// How many unlabelled bytes were found in this call.
        len: usize,
    },
}

/// Labels output bytes with stream markers (the daemon's side of the codec).
///
/// A marker is written when the stream changes (and before the first write); consecutive writes
/// to the same stream are not re-marked by default, which keeps the log smaller and is read
/// identically by every client. Use [`Muxer::marking_every_write`] to mark every write (the
/// official daemon marks every line), e.g. when readers may start in the middle of a log, and
/// [`Muxer::reset`] to force a marker on the next write.
///
/// ```
/// use process_proto::log::{Muxer, OutputStream};
/// let mut mux = Muxer::new();
/// let mut out = Vec::new();
/// mux.encode(OutputStream::Stdout, b"a", &mut out);
/// mux.encode(OutputStream::Stdout, b"b", &mut out);
/// mux.encode(OutputStream::Stderr, b"e", &mut out);
/// assert_eq!(out, b"\x01\x01\x01ab\x02\x02\x02e");
/// ```
#[derive(Debug, Clone, Default)]
pub struct Muxer {
    current: Option<OutputStream>,
    mark_every_write: bool,
}

impl Muxer {
    /// A muxer that marks only stream changes.
    pub fn new() -> Self {
        Muxer::default()
    }

    /// A muxer that marks every write.
    pub fn marking_every_write() -> Self {
        Muxer {
            current: None,
            mark_every_write: true,
        }
    }

    /// Forgets the current stream: the next write is marked.
    pub fn reset(&mut self) {
        self.current = None;
    }

    /// The number of bytes [`encode`](Self::encode) would write for `len` bytes of `stream`.
    pub fn encoded_len(&self, stream: OutputStream, len: usize) -> usize {
        if len == 0 {
            0
        } else if self.mark_every_write || self.current != Some(stream) {
            MARKER_LEN + len
        } else {
            len
        }
    }

    /// The marker to write before `len` bytes of `stream`, if one is needed, as
    /// [`encode`](Self::encode) would write it (and the muxer then counts it as written): for
    /// a caller that writes the marker and the data itself (e.g. one vectored write, without
    /// copying the data). `len == 0` needs none.
    pub fn header(&mut self, stream: OutputStream, len: usize) -> Option<[u8; MARKER_LEN]> {
        if len == 0 || !(self.mark_every_write || self.current != Some(stream)) {
            return None;
        }
        self.current = Some(stream);
        Some(stream.marker())
    }

    /// Writes `data` of `stream` into `dst`, preceded by a marker when needed. Empty `data`
    /// writes nothing. `data` is not escaped (the format has no escaping).
    pub fn encode(&mut self, stream: OutputStream, data: &[u8], dst: &mut impl BufMut) {
        if data.is_empty() {
            return;
        }
        if self.mark_every_write || self.current != Some(stream) {
            dst.put_slice(&stream.marker());
            self.current = Some(stream);
        }
        dst.put_slice(data);
    }
}

/// What a [`Demuxer`] does with bytes that precede the first marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Unlabelled {
    /// Drop them silently (the SDK's and the official daemon's behaviour).
    #[default]
    Drop,
    /// Drop them and return [`DemuxError::Unlabelled`] (detects a peer that does not mux).
    Reject,
}

/// Where in the stream the demuxer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No marker seen yet: data is unlabelled.
    Preamble,
    /// Data belongs to this stream.
    In(OutputStream),
}

/// Where the next marker is, if anywhere, in a buffer.
enum Scan {
    /// A complete marker of this stream starts at this offset.
    Marker(usize, OutputStream),
    /// No complete marker; the first `usize` bytes cannot begin one (the rest, at most 2 bytes,
    /// may be the start of a marker completed by later input).
    None(usize),
}

/// Finds the leftmost complete marker of either stream.
#[inline]
fn scan(buf: &[u8]) -> Scan {
    let mut from = 0;
    while let Some(off) = memchr::memchr2(1, 2, &buf[from..]) {
        let i = from + off;
        let b = buf[i];
        match (buf.get(i + 1), buf.get(i + 2)) {
            (Some(&b1), Some(&b2)) if b1 == b && b2 == b => {
                if let Some(stream) = OutputStream::from_marker_byte(b) {
                    return Scan::Marker(i, stream);
                }
            }
            // The buffer ends inside what could still become a marker starting at `i`.
            (None, _) => return Scan::None(i),
            (Some(&b1), None) if b1 == b => return Scan::None(i),
            _ => {}
        }
        from = i + 1;
    }
    Scan::None(buf.len())
}

/// Splits a muxed log into labelled chunks: the `tokio_util::codec::Decoder` shape without the
/// dependency.
///
/// Call [`decode`](Self::decode) with everything received so far until it returns `Ok(None)`,
/// then wait for more input; at the end call [`decode_eof`](Self::decode_eof) until `Ok(None)`.
/// Chunks are zero-copy slices of `src`.
///
/// Memory: the demuxer itself keeps nothing but its state; after `decode` returns `Ok(None)`,
/// at most 2 bytes (a possible partial marker) remain in `src`. Returned chunks are at most
/// [`DEFAULT_MAX_CHUNK`] bytes (see [`with_max_chunk`](Self::with_max_chunk)).
///
/// ```
/// use bytes::BytesMut;
/// use process_proto::log::{Demuxer, OutputStream};
///
/// let mut demux = Demuxer::new();
/// let mut src = BytesMut::from(&b"junk\x01\x01\x01out\x02\x02"[..]);
/// let chunk = demux.decode(&mut src).unwrap().unwrap();
/// assert_eq!((chunk.stream, &chunk.data[..]), (OutputStream::Stdout, &b"out"[..]));
/// assert!(demux.decode(&mut src).unwrap().is_none()); // "\x02\x02" may start a marker
/// src.extend_from_slice(b"\x02err");
/// let chunk = demux.decode_eof(&mut src).unwrap().unwrap();
/// assert_eq!((chunk.stream, &chunk.data[..]), (OutputStream::Stderr, &b"err"[..]));
/// ```
#[derive(Debug, Clone)]
pub struct Demuxer {
    state: State,
    max_chunk: usize,
    unlabelled: Unlabelled,
}

impl Default for Demuxer {
    fn default() -> Self {
        Demuxer::new()
    }
}

impl Demuxer {
    /// A demuxer at the start of a log, dropping unlabelled bytes.
    pub fn new() -> Self {
        Demuxer {
            state: State::Preamble,
            max_chunk: DEFAULT_MAX_CHUNK,
            unlabelled: Unlabelled::Drop,
        }
    }

    /// Sets the largest chunk handed out (at least 1).
    #[must_use]
    pub fn with_max_chunk(mut self, max: usize) -> Self {
        self.max_chunk = max.max(1);
        self
    }

    /// Sets the policy for bytes before the first marker.
    #[must_use]
    pub fn with_unlabelled(mut self, policy: Unlabelled) -> Self {
        self.unlabelled = policy;
        self
    }

    /// The stream the next data bytes belong to, if a marker has been seen.
    pub fn current(&self) -> Option<OutputStream> {
        match self.state {
            State::Preamble => None,
            State::In(s) => Some(s),
        }
    }

    /// The one decoding step both APIs share: what to skip at the start of `src` (markers and
    /// unlabelled bytes) and how many data bytes follow it, without touching `src`.
    ///
    /// On [`DemuxError::Unlabelled`] the `len` unlabelled bytes are at the very start of `src`
    /// (unlabelled bytes only ever precede the first marker).
    #[inline]
    fn step(&mut self, src: &[u8], eof: bool) -> Result<Step, DemuxError> {
        let mut skip = 0;
        loop {
            let rest = &src[skip..];
            // Fast path: in a stream, the input very often starts with a marker (a chunk ends
            // right before one), which needs no search.
            if let (State::In(_), [b @ (1 | 2), b1, b2, ..]) = (self.state, rest) {
                if b1 == b && b2 == b {
                    if let Some(stream) = OutputStream::from_marker_byte(*b) {
                        skip += MARKER_LEN;
                        self.state = State::In(stream);
                        continue;
                    }
                }
            }
            // In a stream, look only as far as one chunk (plus a marker's tail) so that a long
            // run without markers is scanned once, not once per chunk.
            let window = match self.state {
                State::Preamble => rest.len(),
                State::In(_) => rest
                    .len()
                    .min(self.max_chunk.saturating_add(MARKER_LEN - 1)),
            };
            match (scan(&rest[..window]), self.state) {
                (Scan::Marker(i, stream), State::Preamble) => {
                    self.check_unlabelled(i)?;
                    skip += i + MARKER_LEN;
                    self.state = State::In(stream);
                }
                (Scan::Marker(0, stream), State::In(_)) => {
                    skip += MARKER_LEN;
                    self.state = State::In(stream);
                }
                (Scan::Marker(i, _), State::In(cur)) => {
                    // Data before the marker; the marker is consumed by the next call.
                    return Ok(Step::data(skip, cur, i.min(self.max_chunk)));
                }
                (Scan::None(safe), State::Preamble) => {
                    // At the end of input the held bytes are unlabelled too.
                    let n = if eof { rest.len() } else { safe };
                    self.check_unlabelled(n)?;
                    return Ok(Step::skip(skip + n));
                }
                (Scan::None(0), State::In(cur)) => {
                    return Ok(if eof && !rest.is_empty() {
                        // Held bytes (a partial marker) are data at the end of input.
                        Step::data(skip, cur, rest.len().min(self.max_chunk))
                    } else {
                        Step::skip(skip)
                    });
                }
                (Scan::None(safe), State::In(cur)) => {
                    return Ok(Step::data(skip, cur, safe.min(self.max_chunk)));
                }
            }
        }
    }

    fn check_unlabelled(&self, n: usize) -> Result<(), DemuxError> {
        if n > 0 && self.unlabelled == Unlabelled::Reject {
            return Err(DemuxError::Unlabelled { len: n });
        }
        Ok(())
    }

    fn decode_owned(
        &mut self,
        src: &mut BytesMut,
        eof: bool,
    ) -> Result<Option<LogChunk>, DemuxError> {
        match self.step(src, eof) {
            Ok(step) => {
                src.advance(step.skip);
                Ok(step.data.map(|(stream, len)| LogChunk {
                    stream,
                    data: src.split_to(len).freeze(),
                }))
            }
            Err(err @ DemuxError::Unlabelled { len }) => {
                src.advance(len);
                Err(err)
            }
        }
    }

    /// Takes the next chunk out of `src`, or returns `Ok(None)` when more input is needed.
    /// Consumes markers and unlabelled bytes as it goes.
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<LogChunk>, DemuxError> {
        self.decode_owned(src, false)
    }

    /// Like [`decode`](Self::decode) at the end of input: held bytes (a partial marker) are
    /// data of the current stream (dropped before the first marker). Returns `Ok(None)` once
    /// `src` is empty.
    pub fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<LogChunk>, DemuxError> {
        self.decode_owned(src, true)
    }

    /// The borrowing form of [`decode`](Self::decode): reads the caller's buffer without
    /// taking it, and lends the chunk as a slice of it (no reference counting, no copy).
    ///
    /// The caller drops [`Borrowed::consumed`] bytes from the front of its buffer before the
    /// next call (the chunk lives inside them). When `chunk` is `None`, more input is needed;
    /// at most 2 bytes (a possible partial marker) then remain unconsumed. On
    /// [`DemuxError::Unlabelled`] `{ len }` the caller drops `len` bytes. Both forms hand out
    /// exactly the same chunks for the same input.
    ///
    /// ```
    /// use process_proto::log::{Demuxer, OutputStream};
    ///
    /// let mut demux = Demuxer::new();
    /// let mut buf: &[u8] = b"\x01\x01\x01out\x02\x02\x02err";
    /// let mut got = Vec::new();
    /// loop {
    ///     let step = demux.decode_borrowed(buf).unwrap();
    ///     let Some(chunk) = step.chunk else { break };
    ///     got.push((chunk.stream, chunk.data.to_vec()));
    ///     buf = &buf[step.consumed..];
    /// }
    /// assert_eq!(got, [(OutputStream::Stdout, b"out".to_vec()), (OutputStream::Stderr, b"err".to_vec())]);
    /// ```
    #[inline]
    pub fn decode_borrowed<'a>(&mut self, src: &'a [u8]) -> Result<Borrowed<'a>, DemuxError> {
        self.step(src, false).map(|step| step.lend(src))
    }

    /// The borrowing form of [`decode_eof`](Self::decode_eof).
    pub fn decode_eof_borrowed<'a>(&mut self, src: &'a [u8]) -> Result<Borrowed<'a>, DemuxError> {
        self.step(src, true).map(|step| step.lend(src))
    }
}

/// One decoding step: skip `skip` bytes, then `data` bytes of a stream follow (if any).
#[derive(Debug, Clone, Copy)]
struct Step {
    skip: usize,
    data: Option<(OutputStream, usize)>,
}

impl Step {
    const fn skip(skip: usize) -> Step {
        Step { skip, data: None }
    }

    const fn data(skip: usize, stream: OutputStream, len: usize) -> Step {
        Step {
            skip,
            data: Some((stream, len)),
        }
    }

    fn lend(self, src: &[u8]) -> Borrowed<'_> {
        match self.data {
            None => Borrowed {
                consumed: self.skip,
                chunk: None,
            },
            Some((stream, len)) => Borrowed {
                consumed: self.skip + len,
                chunk: Some(LogSlice {
                    stream,
                    data: &src[self.skip..self.skip + len],
                }),
            },
        }
    }
}

/// A run of bytes of one stream, lent from the caller's buffer by
/// [`Demuxer::decode_borrowed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSlice<'a> {
    /// The stream the bytes belong to.
    pub stream: OutputStream,
    /// The bytes (never empty).
    pub data: &'a [u8],
}

/// What one [`Demuxer::decode_borrowed`] call read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "the caller must drop `consumed` bytes before the next call"]
pub struct Borrowed<'a> {
    /// Bytes to drop from the front of the buffer (markers, unlabelled bytes and the chunk).
    pub consumed: usize,
    /// The next chunk, or `None` when more input is needed (or, at the end, none is left).
    pub chunk: Option<LogSlice<'a>>,
}

/// A [`Demuxer`] that hands out text, never splitting a UTF-8 character (see the module docs
/// for the exact rules and the differences from the SDK's callbacks).
///
/// ```
/// use bytes::BytesMut;
/// use process_proto::log::{OutputStream, TextDemuxer};
///
/// let mut demux = TextDemuxer::new();
/// let mut src = BytesMut::from(&b"\x01\x01\x01\xe2\x82"[..]);
/// assert_eq!(demux.decode(&mut src).unwrap(), None); // half a euro sign is held
/// src.extend_from_slice(b"\xac!");
/// assert_eq!(demux.decode(&mut src).unwrap(), Some((OutputStream::Stdout, "€!".to_string())));
/// ```
#[derive(Debug, Clone, Default)]
pub struct TextDemuxer {
    demux: Demuxer,
    tails: [Utf8Decoder; 2],
    flushed: usize,
}

impl TextDemuxer {
    /// A text demuxer at the start of a log.
    pub fn new() -> Self {
        TextDemuxer::default()
    }

    /// Wraps a configured [`Demuxer`].
    pub fn from_demuxer(demux: Demuxer) -> Self {
        TextDemuxer {
            demux,
            tails: [Utf8Decoder::default(); 2],
            flushed: 0,
        }
    }

    /// The next non-empty piece of text, or `Ok(None)` when more input is needed.
    pub fn decode(
        &mut self,
        src: &mut BytesMut,
    ) -> Result<Option<(OutputStream, String)>, DemuxError> {
        while let Some(chunk) = self.demux.decode(src)? {
            if let Some(text) = self.text_of(&chunk) {
                return Ok(Some((chunk.stream, text)));
            }
        }
        Ok(None)
    }

    /// Like [`decode`](Self::decode) at the end of input: after the held bytes, each stream's
    /// incomplete character (stdout first) is flushed as U+FFFD. Returns `Ok(None)` when done.
    pub fn decode_eof(
        &mut self,
        src: &mut BytesMut,
    ) -> Result<Option<(OutputStream, String)>, DemuxError> {
        while let Some(chunk) = self.demux.decode_eof(src)? {
            if let Some(text) = self.text_of(&chunk) {
                return Ok(Some((chunk.stream, text)));
            }
        }
        while self.flushed < 2 {
            let stream = if self.flushed == 0 {
                OutputStream::Stdout
            } else {
                OutputStream::Stderr
            };
            self.flushed += 1;
            let mut text = String::new();
            self.tails[stream.index()].finish(&mut text);
            if !text.is_empty() {
                return Ok(Some((stream, text)));
            }
        }
        self.flushed = 0;
        Ok(None)
    }

    fn text_of(&mut self, chunk: &LogChunk) -> Option<String> {
        let mut text = String::with_capacity(chunk.data.len());
        self.tails[chunk.stream.index()].decode(&chunk.data, &mut text);
        (!text.is_empty()).then_some(text)
    }
}

/// Demuxes a whole log into (stdout, stderr) bytes.
///
/// ```
/// use process_proto::log::demux_log;
/// let (out, err) = demux_log(b"\x01\x01\x01hello\n\x02\x02\x02err\n\x01\x01\x01again\n");
/// assert_eq!(out, b"hello\nagain\n");
/// assert_eq!(err, b"err\n");
/// ```
pub fn demux_log(log: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut out = (Vec::new(), Vec::new());
    let mut src = BytesMut::from(log);
    let mut demux = Demuxer::new().with_max_chunk(usize::MAX);
    // Cannot fail: the default policy drops unlabelled bytes.
    while let Ok(Some(chunk)) = demux.decode_eof(&mut src) {
        match chunk.stream {
            OutputStream::Stdout => out.0.extend_from_slice(&chunk.data),
            OutputStream::Stderr => out.1.extend_from_slice(&chunk.data),
        }
    }
    out
}

/// Demuxes a whole log into (stdout, stderr) text, invalid UTF-8 replaced by U+FFFD.
pub fn demux_log_text(log: &[u8]) -> (String, String) {
    let (out, err) = demux_log(log);
    (
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

/// Builds the `GET …/logs` answer from a command's raw log: `output` is the log as text (lossy
/// UTF-8, markers included), `stdout`/`stderr` are demuxed.
///
/// ```
/// use process_proto::log::parse_session_command_logs;
/// let logs = parse_session_command_logs(b"\x01\x01\x01out\n\x02\x02\x02err\n");
/// assert_eq!(logs.output, "\u{1}\u{1}\u{1}out\n\u{2}\u{2}\u{2}err\n");
/// assert_eq!((logs.stdout.as_str(), logs.stderr.as_str()), ("out\n", "err\n"));
/// ```
pub fn parse_session_command_logs(log: &[u8]) -> SessionCommandLogsResponse {
    let (stdout, stderr) = demux_log_text(log);
    SessionCommandLogsResponse::new(String::from_utf8_lossy(log).into_owned(), stdout, stderr)
}

/// The `GET …/logs` JSON answer written incrementally, byte-identical to
/// `serde_json::to_vec(&parse_session_command_logs(log))`, in memory independent of the log's
/// size: feed the raw log from its start once per field (`output`, then `stdout`, then
/// `stderr`), in chunks of any size, with [`push`](Self::push); end each pass with
/// [`end_pass`](Self::end_pass). Each field is decoded (lossy UTF-8, per stream for the demuxed
/// fields) and JSON-escaped as it goes; at most a few bytes are held between chunks.
///
/// ```
/// use process_proto::log::{parse_session_command_logs, LogsJsonEncoder};
///
/// let log = b"\x01\x01\x01out \xe2\x82\xac\n\x02\x02\x02err\n";
/// let mut enc = LogsJsonEncoder::new();
/// let mut body = Vec::new();
/// loop {
///     for chunk in log.chunks(3) {
///         enc.push(chunk, &mut body);
///     }
///     if !enc.end_pass(&mut body) {
///         break;
///     }
/// }
/// assert_eq!(body, serde_json::to_vec(&parse_session_command_logs(log)).unwrap());
/// ```
#[derive(Debug, Clone)]
pub struct LogsJsonEncoder {
    /// The field being written: 0 `output`, 1 `stdout`, 2 `stderr`, 3 done.
    field: usize,
    started: bool,
    demux: Demuxer,
    /// Bytes the demuxer holds back (a possible partial marker, at most 2).
    held: Vec<u8>,
    tail: Utf8Decoder,
    text: String,
    scratch: Vec<u8>,
}

impl Default for LogsJsonEncoder {
    fn default() -> Self {
        LogsJsonEncoder::new()
    }
}

impl LogsJsonEncoder {
    /// The field names in wire order, with the JSON that opens each.
    const OPENERS: [&'static [u8]; 3] =
        [b"{\"output\":\"", b"\",\"stdout\":\"", b"\",\"stderr\":\""];

    /// An encoder at the start of the first pass (`output`).
    pub fn new() -> Self {
        LogsJsonEncoder {
            field: 0,
            started: false,
            demux: Demuxer::new().with_max_chunk(usize::MAX),
            held: Vec::new(),
            tail: Utf8Decoder::default(),
            text: String::new(),
            scratch: Vec::new(),
        }
    }

    /// How many passes over the log the answer needs.
    pub const PASSES: usize = 3;

    /// Appends to `out` the JSON for the next `chunk` of the log (this pass reads the log from
    /// its start). Does nothing once every pass has ended.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        if self.field >= Self::PASSES {
            return;
        }
        self.open(out);
        if self.field == 0 {
            self.tail.decode(chunk, &mut self.text);
            self.flush_text(out);
            return;
        }
        let wanted = if self.field == 1 {
            OutputStream::Stdout
        } else {
            OutputStream::Stderr
        };
        let mut buf = std::mem::take(&mut self.held);
        buf.extend_from_slice(chunk);
        self.demux_into(&buf, false, wanted, out);
    }

    /// Ends the current pass (flushing what it holds) and appends the JSON between this field
    /// and the next, or the closing `"}` after the last. Returns whether another pass over the
    /// log from its start is needed.
    pub fn end_pass(&mut self, out: &mut Vec<u8>) -> bool {
        if self.field >= Self::PASSES {
            return false;
        }
        self.open(out);
        if self.field > 0 {
            let wanted = if self.field == 1 {
                OutputStream::Stdout
            } else {
                OutputStream::Stderr
            };
            let held = std::mem::take(&mut self.held);
            self.demux_into(&held, true, wanted, out);
        }
        self.tail.finish(&mut self.text);
        self.flush_text(out);
        self.field += 1;
        self.started = false;
        self.demux = Demuxer::new().with_max_chunk(usize::MAX);
        self.held.clear();
        self.tail = Utf8Decoder::default();
        if self.field == Self::PASSES {
            out.extend_from_slice(b"\"}");
            return false;
        }
        true
    }

    fn open(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.started = true;
            out.extend_from_slice(Self::OPENERS[self.field]);
        }
    }

    /// Demuxes `buf`, decoding `wanted`'s data; keeps what may begin a marker (unless `eof`).
    fn demux_into(&mut self, buf: &[u8], eof: bool, wanted: OutputStream, out: &mut Vec<u8>) {
        let mut rest = buf;
        loop {
            let step = if eof {
                self.demux.decode_eof_borrowed(rest)
            } else {
                self.demux.decode_borrowed(rest)
            };
            // The default policy drops unlabelled bytes: decoding cannot fail.
            let Ok(step) = step else { break };
            let chunk = step.chunk;
            if let Some(slice) = chunk.filter(|c| c.stream == wanted) {
                self.tail.decode(slice.data, &mut self.text);
            }
            rest = &rest[step.consumed..];
            if chunk.is_none() {
                break;
            }
        }
        if !eof {
            self.held.extend_from_slice(rest);
        }
        self.flush_text(out);
    }

    /// JSON-escapes the decoded text (exactly as serde_json writes a string) into `out`.
    fn flush_text(&mut self, out: &mut Vec<u8>) {
        if self.text.is_empty() {
            return;
        }
        self.scratch.clear();
        // Writing a `str` to a `Vec` cannot fail.
        if serde_json::to_writer(&mut self.scratch, self.text.as_str()).is_ok() {
            // Without the surrounding quotes.
            out.extend_from_slice(&self.scratch[1..self.scratch.len() - 1]);
        }
        self.text.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_str(buf: &[u8]) -> (Option<(usize, OutputStream)>, usize) {
        match scan(buf) {
            Scan::Marker(i, s) => (Some((i, s)), 0),
            Scan::None(safe) => (None, safe),
        }
    }

    #[test]
    fn scan_finds_leftmost_marker_and_holds_partial_ones() {
        assert_eq!(scan_str(b""), (None, 0));
        assert_eq!(scan_str(b"abc"), (None, 3));
        assert_eq!(scan_str(b"ab\x01"), (None, 2));
        assert_eq!(scan_str(b"ab\x01\x01"), (None, 2));
        assert_eq!(scan_str(b"ab\x02\x01"), (None, 3)); // 02 01 cannot start a marker; 01 can
        assert_eq!(scan_str(b"\x01\x01x"), (None, 3));
        assert_eq!(
            scan_str(b"\x01\x01\x01\x01"),
            (Some((0, OutputStream::Stdout)), 0)
        );
        assert_eq!(
            scan_str(b"a\x01\x02\x02\x02\x02"),
            (Some((2, OutputStream::Stderr)), 0)
        );
        assert_eq!(
            scan_str(b"\x02\x02\x01\x01\x01"),
            (Some((2, OutputStream::Stdout)), 0)
        );
    }

    #[test]
    fn muxer_marks_only_switches_by_default() {
        let mut m = Muxer::new();
        let mut out = Vec::new();
        m.encode(OutputStream::Stderr, b"", &mut out);
        assert!(out.is_empty());
        m.encode(OutputStream::Stderr, b"a", &mut out);
        m.encode(OutputStream::Stderr, b"b", &mut out);
        m.reset();
        m.encode(OutputStream::Stderr, b"c", &mut out);
        assert_eq!(out, b"\x02\x02\x02ab\x02\x02\x02c");
        let mut m = Muxer::marking_every_write();
        let mut out = Vec::new();
        m.encode(OutputStream::Stdout, b"a", &mut out);
        m.encode(OutputStream::Stdout, b"b", &mut out);
        assert_eq!(out, b"\x01\x01\x01a\x01\x01\x01b");
    }

    #[test]
    fn decode_eof_is_reusable_and_drops_preamble() {
        let mut d = Demuxer::new();
        let mut src = BytesMut::from(&b"\x01\x01"[..]);
        assert_eq!(d.decode_eof(&mut src), Ok(None));
        assert!(src.is_empty() && d.current().is_none());
    }

    proptest::proptest! {
        #[test]
        fn logs_json_streams_exactly_what_serde_writes(
            log in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(1u8),
                    proptest::strategy::Just(2u8),
                    proptest::strategy::Just(b'"'),
                    proptest::strategy::Just(b'\\'),
                    proptest::strategy::Just(0xe2u8),
                    proptest::strategy::Just(0x82u8),
                    proptest::strategy::Just(0xacu8),
                    proptest::strategy::Just(0x7fu8),
                    0u8..=255,
                ],
                0..200,
            ),
            size in 1usize..17,
        ) {
            let want = serde_json::to_vec(&parse_session_command_logs(&log)).unwrap();
            let mut enc = LogsJsonEncoder::new();
            let mut got = Vec::new();
            loop {
                for chunk in log.chunks(size) {
                    enc.push(chunk, &mut got);
                }
                if !enc.end_pass(&mut got) {
                    break;
                }
            }
            proptest::prop_assert_eq!(got, want);
        }
    }
}
