//! [`ArtifactScanner`]: the artifact-line codec applied incrementally, to stdout given in
//! arbitrary chunks (feature `artifact-scanner`; the daemon strips whole outputs with
//! [`strip_artifacts`](super::strip_artifacts), so nothing in the workspace's production code
//! needs it yet).

use bytes::{Buf, Bytes, BytesMut};

use super::{Artifact, ArtifactError, ARTIFACT_PREFIX, DEFAULT_MAX_ARTIFACT_LINE};

/// What an [`ArtifactScanner`] yields.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ScanEvent {
    /// Output to pass through (never empty).
    Data(Bytes),
    /// A decoded artifact line (removed from the output).
    Artifact(Artifact),
    /// An artifact line that could not be decoded (removed from the output).
    Error(ArtifactError),
}

/// Where in the current line the scanner is.
#[derive(Debug, Clone)]
enum ScanState {
    /// At a line start, having matched this many bytes of the prefix (held, not yet passed).
    LineStart(usize),
    /// Inside an ordinary line: pass bytes through up to and including `\n`.
    Pass,
    /// Inside an artifact line: collect the payload up to `\n`.
    Collect(Vec<u8>),
    /// Inside an over-long artifact line: drop up to `\n`.
    Discard,
}

/// Removes artifact lines from stdout given in arbitrary chunks, and decodes them. The
/// `tokio_util::codec::Decoder` shape: call [`decode`](Self::decode) until `None`, then feed
/// more; at the end call [`decode_eof`](Self::decode_eof) until `None`. Pass-through data is
/// zero-copy where possible. The result does not depend on the chunking.
///
/// Memory: besides the caller's buffer, at most one artifact line of up to
/// `max_line` bytes ([`DEFAULT_MAX_ARTIFACT_LINE`]); a longer one is dropped and reported as
/// [`ArtifactError::LineTooLong`].
///
/// ```
/// use bytes::BytesMut;
/// use process_proto::artifact::{Artifact, ArtifactScanner, ScanEvent};
///
/// let mut scanner = ArtifactScanner::new();
/// let mut src = BytesMut::from(&b"hi\ndtn_artifact_k39fd2:{\"type\": \"chart\", \"value\": {\"type\": \"line\"}}\nbye"[..]);
/// let mut out = Vec::new();
/// let mut charts = 0;
/// while let Some(ev) = scanner.decode_eof(&mut src) {
///     match ev {
///         ScanEvent::Data(d) => out.extend_from_slice(&d),
///         ScanEvent::Artifact(Artifact::Chart(_)) => charts += 1,
///         _ => {}
///     }
/// }
/// assert_eq!((&out[..], charts), (&b"hi\nbye"[..], 1));
/// ```
#[derive(Debug, Clone)]
pub struct ArtifactScanner {
    state: ScanState,
    max_line: usize,
}

impl Default for ArtifactScanner {
    fn default() -> Self {
        ArtifactScanner::new()
    }
}

impl ArtifactScanner {
    /// A scanner at the start of the output.
    pub fn new() -> Self {
        ArtifactScanner {
            state: ScanState::LineStart(0),
            max_line: DEFAULT_MAX_ARTIFACT_LINE,
        }
    }

    /// Sets the longest artifact payload buffered.
    #[must_use]
    pub fn with_max_line(mut self, max: usize) -> Self {
        self.max_line = max;
        self
    }

    /// The next event, or `None` when more input is needed (all of `src` was consumed or is
    /// held).
    pub fn decode(&mut self, src: &mut BytesMut) -> Option<ScanEvent> {
        let prefix = ARTIFACT_PREFIX.as_bytes();
        loop {
            if src.is_empty() {
                return None;
            }
            match &mut self.state {
                ScanState::LineStart(matched) => {
                    let m = *matched;
                    let want = &prefix[m..];
                    let n = want.len().min(src.len());
                    if src[..n] == want[..n] {
                        src.advance(n);
                        if m + n == prefix.len() {
                            self.state = ScanState::Collect(Vec::new());
                        } else {
                            self.state = ScanState::LineStart(m + n);
                        }
                    } else {
                        self.state = ScanState::Pass;
                        if m > 0 {
                            // The held prefix bytes were ordinary output after all.
                            return Some(ScanEvent::Data(Bytes::from_static(
                                &ARTIFACT_PREFIX.as_bytes()[..m],
                            )));
                        }
                    }
                }
                ScanState::Pass => {
                    let end = match memchr::memchr(b'\n', src) {
                        Some(i) => {
                            self.state = ScanState::LineStart(0);
                            i + 1
                        }
                        None => src.len(),
                    };
                    return Some(ScanEvent::Data(src.split_to(end).freeze()));
                }
                ScanState::Collect(line) => {
                    let (take, done) = match memchr::memchr(b'\n', src) {
                        Some(i) => (i, true),
                        None => (src.len(), false),
                    };
                    if line.len() + take > self.max_line {
                        src.advance(if done { take + 1 } else { take });
                        self.state = if done {
                            ScanState::LineStart(0)
                        } else {
                            ScanState::Discard
                        };
                        return Some(ScanEvent::Error(ArtifactError::LineTooLong {
                            limit: self.max_line,
                        }));
                    }
                    line.extend_from_slice(&src[..take]);
                    src.advance(take);
                    if done {
                        src.advance(1);
                        let payload = std::mem::take(line);
                        self.state = ScanState::LineStart(0);
                        return Some(event_of(&payload));
                    }
                }
                ScanState::Discard => match memchr::memchr(b'\n', src) {
                    Some(i) => {
                        src.advance(i + 1);
                        self.state = ScanState::LineStart(0);
                    }
                    None => src.clear(),
                },
            }
        }
    }

    /// Like [`decode`](Self::decode) at the end of the output: a held partial prefix is output,
    /// an unterminated artifact line is decoded. Returns `None` when done (the scanner is then
    /// back at its initial state).
    pub fn decode_eof(&mut self, src: &mut BytesMut) -> Option<ScanEvent> {
        if let Some(ev) = self.decode(src) {
            return Some(ev);
        }
        match std::mem::replace(&mut self.state, ScanState::LineStart(0)) {
            ScanState::LineStart(0) | ScanState::Pass | ScanState::Discard => None,
            ScanState::LineStart(m) => Some(ScanEvent::Data(Bytes::from_static(
                &ARTIFACT_PREFIX.as_bytes()[..m],
            ))),
            ScanState::Collect(payload) => Some(event_of(&payload)),
        }
    }
}

fn event_of(payload: &[u8]) -> ScanEvent {
    match Artifact::parse(payload) {
        Ok(a) => ScanEvent::Artifact(a),
        Err(e) => ScanEvent::Error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_prefix_is_released_at_eof() {
        let mut sc = ArtifactScanner::new();
        let mut src = BytesMut::from(&b"dtn_art"[..]);
        assert_eq!(sc.decode(&mut src), None);
        assert_eq!(
            sc.decode_eof(&mut src),
            Some(ScanEvent::Data(Bytes::from_static(b"dtn_art")))
        );
        assert_eq!(sc.decode_eof(&mut src), None);
    }
}
