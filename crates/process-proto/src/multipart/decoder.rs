//! [`MultipartDecoder`]: the sans-IO streaming parser (states, delimiter search, limits).

use bytes::{Bytes, BytesMut};

use super::headers::parse_headers;
use super::{check_boundary, Event, Limits, MultipartError};

/// Longest run of transport padding after a delimiter before its CRLF.
const MAX_PADDING: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Preamble { at_start: bool },
    AfterDelimiter,
    Headers,
    Body,
    Epilogue,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Preamble { .. } => "PREAMBLE",
            State::AfterDelimiter => "DELIMITER",
            State::Headers => "PART_HEADERS",
            State::Body => "PART_DATA",
            State::Epilogue => "END",
        }
    }
}

/// The streaming `multipart/form-data` decoder (see the module docs).
#[derive(Debug, Clone)]
pub struct MultipartDecoder {
    /// `\r\n--<boundary>`.
    delim: Vec<u8>,
    finder: memchr::memmem::Finder<'static>,
    state: State,
    parts: usize,
    limits: Limits,
}

impl MultipartDecoder {
    /// A decoder for parts separated by `boundary` (the `boundary` parameter of the
    /// `Content-Type`, see [`boundary_from_content_type`](super::boundary_from_content_type)), with default [`Limits`].
    pub fn new(boundary: &str) -> Result<MultipartDecoder, MultipartError> {
        MultipartDecoder::with_limits(boundary, Limits::default())
    }

    /// A decoder with explicit limits.
    pub fn with_limits(boundary: &str, limits: Limits) -> Result<MultipartDecoder, MultipartError> {
        check_boundary(boundary)?;
        let mut delim = b"\r\n--".to_vec();
        delim.extend_from_slice(boundary.as_bytes());
        let finder = memchr::memmem::Finder::new(&delim).into_owned();
        Ok(MultipartDecoder {
            delim,
            finder,
            state: State::Preamble { at_start: true },
            parts: 0,
            limits,
        })
    }

    /// Whether the closing delimiter has been read.
    pub fn is_finished(&self) -> bool {
        self.state == State::Epilogue
    }

    /// Decodes the next event from `buf`, consuming what it used; `Ok(None)` means more input
    /// is needed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Event>, MultipartError> {
        loop {
            match self.state {
                State::Preamble { at_start } => {
                    let dash = &self.delim[2..];
                    if at_start {
                        if buf.len() < dash.len() && dash.starts_with(buf) {
                            return Ok(None);
                        }
                        if buf.starts_with(dash) {
                            let _ = buf.split_to(dash.len());
                            self.state = State::AfterDelimiter;
                            continue;
                        }
                    }
                    if let Some(i) = self.finder.find(buf) {
                        let _ = buf.split_to(i + self.delim.len());
                        self.state = State::AfterDelimiter;
                        continue;
                    }
                    let keep = self.delim.len() - 1;
                    if buf.len() > keep {
                        let _ = buf.split_to(buf.len() - keep);
                        self.state = State::Preamble { at_start: false };
                    }
                    return Ok(None);
                }
                State::AfterDelimiter => {
                    if buf.len() < 2 {
                        return Ok(None);
                    }
                    if buf.starts_with(b"--") {
                        buf.clear();
                        self.state = State::Epilogue;
                        return Ok(Some(Event::End));
                    }
                    let pad = buf.iter().take_while(|b| matches!(b, b' ' | b'\t')).count();
                    if pad > MAX_PADDING {
                        return Err(MultipartError::BadDelimiter);
                    }
                    if buf.len() < pad + 2 {
                        return Ok(None);
                    }
                    if &buf[pad..pad + 2] != b"\r\n" {
                        return Err(MultipartError::BadDelimiter);
                    }
                    let _ = buf.split_to(pad + 2);
                    self.state = State::Headers;
                }
                State::Headers => {
                    let limit = self.limits.max_header_bytes;
                    let block_len = if buf.starts_with(b"\r\n") {
                        Some(0)
                    } else if buf.len() == 1 && buf[0] == b'\r' {
                        return Ok(None);
                    } else {
                        memchr::memmem::find(buf, b"\r\n\r\n").map(|i| i + 2)
                    };
                    let Some(block_len) = block_len else {
                        if buf.len() > limit + 4 {
                            return Err(MultipartError::HeadersTooLarge { limit });
                        }
                        return Ok(None);
                    };
                    if block_len > limit + 2 {
                        return Err(MultipartError::HeadersTooLarge { limit });
                    }
                    if self.parts >= self.limits.max_parts {
                        return Err(MultipartError::TooManyParts {
                            limit: self.limits.max_parts,
                        });
                    }
                    let block = buf.split_to(block_len + 2);
                    let headers = parse_headers(&block[..block_len])?;
                    self.parts += 1;
                    self.state = State::Body;
                    return Ok(Some(Event::Part(headers)));
                }
                State::Body => {
                    if let Some(i) = self.finder.find(buf) {
                        if i > 0 {
                            return Ok(Some(Event::Data(buf.split_to(i).freeze())));
                        }
                        let _ = buf.split_to(self.delim.len());
                        self.state = State::AfterDelimiter;
                        return Ok(Some(Event::PartEnd));
                    }
                    // Everything before a possible start of the delimiter at the tail is data.
                    let safe = self.safe_body_len(buf);
                    if safe == 0 {
                        return Ok(None);
                    }
                    return Ok(Some(Event::Data(buf.split_to(safe).freeze())));
                }
                State::Epilogue => {
                    buf.clear();
                    return Ok(None);
                }
            }
        }
    }

    /// Like [`decode`](Self::decode), for input that arrives as [`Bytes`] chunks (HTTP body
    /// frames): decodes the events of `carry` followed by `input` without copying the bulk of
    /// a part's body. Body data that does not straddle a chunk edge comes out as a slice of
    /// `input`; only the few bytes that could start a delimiter, and header blocks, are moved
    /// into `carry`. `Ok(None)` means `input` is used up (and `carry` holds what must wait for
    /// the next chunk); call it again with the next chunk, and [`decode_eof`](Self::decode_eof)
    /// on `carry` at the end. The events are exactly those of [`decode`](Self::decode) on the
    /// concatenation, with the same memory bound on `carry`.
    ///
    /// ```
    /// use bytes::{Bytes, BytesMut};
    /// use process_proto::multipart::{Event, MultipartDecoder};
    ///
    /// let mut dec = MultipartDecoder::new("XYZ").unwrap();
    /// let mut carry = BytesMut::new();
    /// let chunks = [&b"--XYZ\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n"[..], b"hello", b"\r\n--XYZ--\r\n"];
    /// let mut data = Vec::new();
    /// for chunk in chunks {
    ///     let mut input = Bytes::from_static(chunk);
    ///     while let Some(ev) = dec.decode_from(&mut carry, &mut input).unwrap() {
    ///         if let Event::Data(d) = ev {
    ///             data.extend_from_slice(&d);
    ///         }
    ///     }
    ///     assert!(input.is_empty());
    /// }
    /// assert!(dec.decode_eof(&mut carry).unwrap().is_none());
    /// assert_eq!(data, b"hello");
    /// ```
    pub fn decode_from(
        &mut self,
        carry: &mut BytesMut,
        input: &mut Bytes,
    ) -> Result<Option<Event>, MultipartError> {
        loop {
            if self.state == State::Body && carry.is_empty() && !input.is_empty() {
                // `None`: all of `input` (shorter than a delimiter) went into `carry`.
                return Ok(self.body_from(carry, input));
            }
            if !input.is_empty() {
                // In a body, `delim.len()` bytes are enough to settle what `carry` holds (a
                // delimiter's start or data); elsewhere headers need their whole block.
                let take = if self.state == State::Body {
                    input.len().min(self.delim.len())
                } else {
                    input.len()
                };
                carry.extend_from_slice(&input.split_to(take));
            }
            if let Some(ev) = self.decode(carry)? {
                return Ok(Some(ev));
            }
            if input.is_empty() {
                return Ok(None);
            }
        }
    }

    /// One body event straight from `input` (`carry` empty, `input` not); `None` when all of
    /// `input` could begin a delimiter and was kept in `carry` for the next chunk.
    fn body_from(&mut self, carry: &mut BytesMut, input: &mut Bytes) -> Option<Event> {
        if let Some(i) = self.finder.find(input) {
            if i > 0 {
                return Some(Event::Data(input.split_to(i)));
            }
            let _ = input.split_to(self.delim.len());
            self.state = State::AfterDelimiter;
            return Some(Event::PartEnd);
        }
        let safe = self.safe_body_len(input);
        if safe == 0 {
            carry.extend_from_slice(&input.split_to(input.len()));
            return None;
        }
        Some(Event::Data(input.split_to(safe)))
    }

    /// How much of `body` is data for sure: all of it but a tail that could start a delimiter.
    fn safe_body_len(&self, body: &[u8]) -> usize {
        let tail_from = body.len().saturating_sub(self.delim.len() - 1);
        (tail_from..body.len())
            .find(|&k| self.delim.starts_with(&body[k..]))
            .unwrap_or(body.len())
    }

    /// Like [`decode`](Self::decode) at the end of input: once nothing more can be decoded, a
    /// body without its closing delimiter is [`MultipartError::Truncated`].
    pub fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Event>, MultipartError> {
        match self.decode(buf)? {
            Some(ev) => Ok(Some(ev)),
            None if self.state == State::Epilogue => Ok(None),
            None => Err(MultipartError::Truncated {
                state: self.state.name(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multipart::{content_disposition, write_close, write_part_start};

    fn all(dec: &mut MultipartDecoder, input: &[u8]) -> Result<Vec<Event>, MultipartError> {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(ev) = dec.decode_eof(&mut buf)? {
            out.push(ev);
        }
        Ok(out)
    }

    #[test]
    fn appendix_c_layout_decodes() {
        let mut body = Vec::new();
        write_part_start(
            &mut body,
            "B",
            true,
            &[
                ("Content-Disposition", &content_disposition("file", "a.txt")),
                ("Content-Length", b"5"),
            ],
        );
        body.extend_from_slice(b"hello");
        write_part_start(
            &mut body,
            "B",
            false,
            &[(
                "Content-Disposition",
                &content_disposition("error", "名.txt"),
            )],
        );
        body.extend_from_slice(b"{}");
        write_close(&mut body, "B", false);
        let mut dec = MultipartDecoder::new("B").unwrap();
        let evs = all(&mut dec, &body).unwrap();
        let Event::Part(h) = &evs[0] else {
            panic!("{evs:?}")
        };
        assert_eq!(h.name.as_deref(), Some("file"));
        assert_eq!(h.filename.as_deref(), Some("a.txt"));
        assert_eq!(h.content_length, Some(5));
        assert_eq!(evs[1], Event::Data(Bytes::from_static(b"hello")));
        assert_eq!(evs[2], Event::PartEnd);
        let Event::Part(h) = &evs[3] else {
            panic!("{evs:?}")
        };
        assert_eq!(h.filename.as_deref(), Some("名.txt"));
        assert_eq!(evs.last(), Some(&Event::End));
    }

    #[test]
    fn truncated_body_is_an_error() {
        let mut dec = MultipartDecoder::new("B").unwrap();
        let err = all(&mut dec, b"--B\r\n\r\nabc").unwrap_err();
        assert_eq!(err, MultipartError::Truncated { state: "PART_DATA" });
    }

    #[test]
    fn latin1_filename_and_aiohttp_header_order() {
        let mut dec = MultipartDecoder::new("B").unwrap();
        let evs = all(
            &mut dec,
            b"--B\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Disposition: form-data; name=\"files[0].path\"\r\n\r\n/tmp/x\r\n--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"\xfc\"\r\n\r\n\r\n--B--",
        )
        .unwrap();
        let Event::Part(h) = &evs[0] else { panic!() };
        assert_eq!(h.name.as_deref(), Some("files[0].path"));
        let Event::Part(h) = &evs[3] else {
            panic!("{evs:?}")
        };
        assert_eq!(h.filename.as_deref(), Some("ü"));
        assert_eq!(evs[4], Event::PartEnd, "an empty body has no data event");
    }

    #[test]
    fn header_block_is_bounded() {
        let mut dec = MultipartDecoder::new("B").unwrap();
        let mut input = b"--B\r\nX: ".to_vec();
        input.extend(std::iter::repeat_n(b'a', 20_000));
        let mut buf = BytesMut::from(&input[..]);
        assert!(matches!(
            dec.decode(&mut buf),
            Err(MultipartError::HeadersTooLarge { .. })
        ));
    }
}
