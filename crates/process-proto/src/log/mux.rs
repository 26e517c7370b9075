//! The writer's side of the log codec: [`Muxer`] labels output bytes with stream markers.

use bytes::BufMut;

use super::{OutputStream, MARKER_LEN};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
