//! The reader's UTF-8 view of the log codec: [`TextDemuxer`] never splits a character.

use bytes::BytesMut;

use super::{DemuxError, Demuxer, LogChunk, OutputStream};
use crate::text::Utf8Decoder;

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
