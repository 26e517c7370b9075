//! The reader's side of the log codec: [`Demuxer`] splits a muxed log into labelled chunks,
//! as shared [`LogChunk`]s or as slices lent from the caller's buffer.

use bytes::{Buf, BytesMut};

use super::{DemuxError, LogChunk, OutputStream, DEFAULT_MAX_CHUNK, MARKER_LEN};

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
    #[inline]
    pub fn decode_eof_borrowed<'a>(&mut self, src: &'a [u8]) -> Result<Borrowed<'a>, DemuxError> {
        self.step(src, true).map(|step| step.lend(src))
    }

    /// Lends every chunk of `src` to `each`, in order, and returns how many bytes of `src` it
    /// consumed: all of them at the end of input (`eof`), else all but at most 2 (a possible
    /// partial marker) that the caller keeps for the next call. The chunks are exactly those
    /// that repeated [`decode_borrowed`](Self::decode_borrowed) (or, with `eof`,
    /// [`decode_eof_borrowed`](Self::decode_eof_borrowed)) calls hand out; one call per
    /// buffer keeps the state in registers, which is what makes short records cheap.
    ///
    /// On [`DemuxError::Unlabelled`] `{ len }` (only under [`Unlabelled::Reject`], before the
    /// first marker) nothing was lent and the caller drops `len` bytes from the front.
    ///
    /// ```
    /// use process_proto::log::{Demuxer, OutputStream};
    ///
    /// let mut demux = Demuxer::new();
    /// let (mut out, mut err) = (Vec::new(), Vec::new());
    /// let used = demux
    ///     .decode_each_borrowed(b"\x01\x01\x01out\x02\x02\x02err\x01", false, |chunk| match chunk.stream {
    ///         OutputStream::Stdout => out.extend_from_slice(chunk.data),
    ///         OutputStream::Stderr => err.extend_from_slice(chunk.data),
    ///     })
    ///     .unwrap();
    /// assert_eq!((used, &out[..], &err[..]), (12, &b"out"[..], &b"err"[..])); // "\x01" is held
    /// ```
    pub fn decode_each_borrowed<'a>(
        &mut self,
        src: &'a [u8],
        eof: bool,
        mut each: impl FnMut(LogSlice<'a>),
    ) -> Result<usize, DemuxError> {
        let mut rest = src;
        loop {
            // Fast path, the shape of nearly all muxed output: in a stream, an optional marker,
            // then data up to the next complete marker within one chunk's length.
            if let State::In(current) = self.state {
                let (skip, stream) = match rest {
                    [b @ (1 | 2), b1, b2, ..] if b1 == b && b2 == b => (
                        MARKER_LEN,
                        OutputStream::from_marker_byte(*b).unwrap_or(current),
                    ),
                    _ => (0, current),
                };
                let data = &rest[skip..];
                let window = &data[..data.len().min(self.max_chunk)];
                if let Some(i) = memchr::memchr2(1, 2, window) {
                    let b = data[i];
                    if i > 0 && data.get(i + 1) == Some(&b) && data.get(i + 2) == Some(&b) {
                        self.state = State::In(stream);
                        each(LogSlice {
                            stream,
                            data: &data[..i],
                        });
                        rest = &data[i..];
                        continue;
                    }
                }
            }
            // Everything else (the preamble, long runs, partial markers, lone marker bytes in
            // the data, the end of input) takes the general step.
            let lent = self.step(rest, eof)?.lend(rest);
            rest = &rest[lent.consumed..];
            match lent.chunk {
                Some(chunk) => each(chunk),
                None => return Ok(src.len() - rest.len()),
            }
        }
    }
}

/// One decoding step: skip `skip` bytes, then `data` bytes of a stream follow (if any).
#[derive(Debug, Clone, Copy)]
struct Step {
    skip: usize,
    data: Option<(OutputStream, usize)>,
}

impl Step {
    #[inline]
    const fn skip(skip: usize) -> Step {
        Step { skip, data: None }
    }

    #[inline]
    const fn data(skip: usize, stream: OutputStream, len: usize) -> Step {
        Step {
            skip,
            data: Some((stream, len)),
        }
    }

    #[inline]
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
    fn decode_eof_is_reusable_and_drops_preamble() {
        let mut d = Demuxer::new();
        let mut src = BytesMut::from(&b"\x01\x01"[..]);
        assert_eq!(d.decode_eof(&mut src), Ok(None));
        assert!(src.is_empty() && d.current().is_none());
    }

    /// One frame's worth of the one-call-per-chunk decode, as (stream, bytes) or the error's
    /// unlabelled length; returns how much of `buf` it consumed.
    fn stepwise(
        d: &mut Demuxer,
        buf: &[u8],
        eof: bool,
        out: &mut Vec<Result<(OutputStream, Vec<u8>), usize>>,
    ) -> usize {
        let mut pos = 0;
        loop {
            let r = if eof {
                d.decode_eof_borrowed(&buf[pos..])
            } else {
                d.decode_borrowed(&buf[pos..])
            };
            match r {
                Ok(step) => {
                    pos += step.consumed;
                    match step.chunk {
                        Some(c) => out.push(Ok((c.stream, c.data.to_vec()))),
                        None => return pos,
                    }
                }
                Err(DemuxError::Unlabelled { len }) => {
                    pos += len;
                    out.push(Err(len));
                }
            }
        }
    }

    /// The same through [`Demuxer::decode_each_borrowed`], retried after an error as its
    /// contract says (drop `len` bytes).
    fn batched(
        d: &mut Demuxer,
        buf: &[u8],
        eof: bool,
        out: &mut Vec<Result<(OutputStream, Vec<u8>), usize>>,
    ) -> usize {
        let mut pos = 0;
        loop {
            match d.decode_each_borrowed(&buf[pos..], eof, |c| {
                out.push(Ok((c.stream, c.data.to_vec())));
            }) {
                Ok(used) => return pos + used,
                Err(DemuxError::Unlabelled { len }) => {
                    pos += len;
                    out.push(Err(len));
                }
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]

        /// One call per buffer lends exactly the chunks (and errors) that one call per chunk
        /// does, under any framing, chunk limit and unlabelled policy, and holds the same bytes.
        #[test]
        fn the_batch_decode_lends_what_the_stepwise_decode_lends(
            data in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(1u8),
                    proptest::strategy::Just(2u8),
                    proptest::strategy::Just(b'a'),
                    0u8..=255,
                ],
                0..300,
            ),
            cuts in proptest::collection::vec(0usize..300, 0..8),
            max in 1usize..80,
            reject in proptest::bool::ANY,
        ) {
            let policy = if reject { Unlabelled::Reject } else { Unlabelled::Drop };
            let fresh = Demuxer::new().with_max_chunk(max).with_unlabelled(policy);
            let mut cuts = cuts;
            cuts.push(data.len());
            cuts.sort_unstable();
            let (mut a, mut b) = (fresh.clone(), fresh);
            let (mut held_a, mut held_b) = (Vec::new(), Vec::new());
            let (mut out_a, mut out_b) = (Vec::new(), Vec::new());
            let mut from = 0;
            for (i, &to) in cuts.iter().enumerate() {
                let to = to.min(data.len()).max(from);
                let eof = i + 1 == cuts.len();
                held_a.extend_from_slice(&data[from..to]);
                held_b.extend_from_slice(&data[from..to]);
                let used = stepwise(&mut a, &held_a, eof, &mut out_a);
                held_a.drain(..used);
                let used = batched(&mut b, &held_b, eof, &mut out_b);
                held_b.drain(..used);
                proptest::prop_assert_eq!(&held_a, &held_b);
                let most = if eof { 0 } else { 2 };
                proptest::prop_assert!(held_b.len() <= most);
                from = to;
            }
            proptest::prop_assert_eq!(out_a, out_b);
        }
    }
}
