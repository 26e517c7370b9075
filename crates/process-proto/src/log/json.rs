//! The `GET …/logs` answer written incrementally: [`LogsJsonEncoder`].

use super::{Demuxer, OutputStream};
use crate::text::Utf8Decoder;

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
        let (tail, text) = (&mut self.tail, &mut self.text);
        // The default policy drops unlabelled bytes: decoding cannot fail.
        let used = self
            .demux
            .decode_each_borrowed(buf, eof, |chunk| {
                if chunk.stream == wanted {
                    tail.decode(chunk.data, text);
                }
            })
            .unwrap_or(buf.len());
        if !eof {
            self.held.extend_from_slice(&buf[used..]);
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
    use super::super::parse_session_command_logs;
    use super::*;

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
