//! `multipart/form-data` framing, both roles: [`MultipartDecoder`], a sans-IO streaming parser
//! (bulk-download responses on the client, bulk-upload requests in the daemon), and the
//! encoder helpers ([`write_part_start`], [`write_close`], [`content_disposition`]) that frame
//! parts the way Go's `mime/multipart.Writer` does (spec toolbox §3.5, Appendix C).
//!
//! # Decoding
//!
//! The decoder has the `tokio_util::codec::Decoder` shape: append bytes to a `BytesMut`, call
//! [`MultipartDecoder::decode`] until it returns `Ok(None)`, read more; at the end of input call
//! [`MultipartDecoder::decode_eof`] until it returns `Ok(None)`. Events come out in order:
//! [`Event::Part`] (the part's headers), any number of [`Event::Data`] (zero-copy slices of the
//! caller's buffer), [`Event::PartEnd`], and finally [`Event::End`] at the closing delimiter.
//! Results never depend on how the input was chunked. For input that arrives as `Bytes`
//! (HTTP body frames), [`MultipartDecoder::decode_from`] gives the same events without copying
//! each frame into the buffer first: body data comes out as slices of the frames themselves.
//!
//! Memory is bounded whatever the input: while in a part's body the decoder leaves at most
//! `boundary + 3` bytes in the buffer, a header block may not exceed
//! [`Limits::max_header_bytes`], and the preamble and the epilogue are discarded as they come.
//! Nothing panics; malformed input is a [`MultipartError`].
//!
//! ```
//! use bytes::BytesMut;
//! use process_proto::multipart::{Event, MultipartDecoder};
//!
//! let mut dec = MultipartDecoder::new("XYZ").unwrap();
//! let mut buf = BytesMut::from(
//!     &b"--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nhello\r\n--XYZ--\r\n"[..],
//! );
//! let mut data = Vec::new();
//! while let Some(ev) = dec.decode_eof(&mut buf).unwrap() {
//!     match ev {
//!         Event::Part(h) => assert_eq!(h.filename.as_deref(), Some("a.txt")),
//!         Event::Data(d) => data.extend_from_slice(&d),
//!         Event::PartEnd | Event::End => {}
//!     }
//! }
//! assert_eq!(data, b"hello");
//! ```

use bytes::{BufMut, Bytes, BytesMut};

/// The longest boundary accepted (RFC 2046 allows 70; we are lenient).
pub const MAX_BOUNDARY_LEN: usize = 200;

/// Longest run of transport padding after a delimiter before its CRLF.
const MAX_PADDING: usize = 256;

/// Decoder limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest header block of one part, in bytes (default 16 KiB).
    pub max_header_bytes: usize,
    /// Most parts in one body (default 100 000).
    pub max_parts: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_header_bytes: 16 * 1024,
            max_parts: 100_000,
        }
    }
}

/// A multipart body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MultipartError {
    /// The boundary is empty, too long, or has characters that cannot be in one.
    #[error("invalid multipart boundary: {0}")]
    InvalidBoundary(String),
    /// A delimiter is followed by something other than `--` or CRLF.
    #[error("malformed multipart delimiter: expected CRLF or '--' after the boundary")]
    BadDelimiter,
    /// A part's header block is larger than the limit.
    #[error("multipart part headers larger than {limit} bytes")]
    HeadersTooLarge {
        /// The limit.
        limit: usize,
    },
    /// A header line has no `:`.
    #[error("malformed multipart header line: {0:?}")]
    MalformedHeader(String),
    /// More parts than the limit.
    #[error("more than {limit} multipart parts")]
    TooManyParts {
        /// The limit.
        limit: usize,
    },
    /// The input ended before the closing delimiter.
    #[error("truncated multipart body: closing boundary not received (state {state})")]
    Truncated {
        /// Where the decoder was.
        state: &'static str,
    },
}

/// The headers of one part, with `Content-Disposition` and friends parsed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PartHeaders {
    /// The `name` parameter of `Content-Disposition`.
    pub name: Option<String>,
    /// The file name: `filename*` (RFC 5987) if present, else `filename` (UTF-8 if valid,
    /// else latin-1, backslash escapes removed).
    pub filename: Option<String>,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Content-Length`, if present and a number.
    pub content_length: Option<u64>,
    /// Every header in order: name as sent, raw value bytes (may be latin-1).
    pub headers: Vec<(String, Vec<u8>)>,
}

impl PartHeaders {
    /// The raw value of header `name` (case-insensitive), if present.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}

/// One step of a decoded multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A part begins.
    Part(PartHeaders),
    /// Body bytes of the current part.
    Data(Bytes),
    /// The current part ended.
    PartEnd,
    /// The closing delimiter was read; the rest of the input is ignored.
    End,
}

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

/// Checks a boundary: 1..=[`MAX_BOUNDARY_LEN`] bytes, printable ASCII, no CR/LF.
fn check_boundary(boundary: &str) -> Result<(), MultipartError> {
    if boundary.is_empty() || boundary.len() > MAX_BOUNDARY_LEN {
        return Err(MultipartError::InvalidBoundary(format!(
            "length {} not in 1..={MAX_BOUNDARY_LEN}",
            boundary.len()
        )));
    }
    if !boundary.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(MultipartError::InvalidBoundary(
            "only printable ASCII is allowed".into(),
        ));
    }
    Ok(())
}

impl MultipartDecoder {
    /// A decoder for parts separated by `boundary` (the `boundary` parameter of the
    /// `Content-Type`, see [`boundary_from_content_type`]), with default [`Limits`].
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

fn parse_headers(block: &[u8]) -> Result<PartHeaders, MultipartError> {
    let mut out = PartHeaders::default();
    for line in block.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let Some(colon) = memchr::memchr(b':', line) else {
            return Err(MultipartError::MalformedHeader(
                String::from_utf8_lossy(line).into_owned(),
            ));
        };
        let name = String::from_utf8_lossy(&line[..colon]).trim().to_owned();
        let value = trim_ascii(&line[colon + 1..]).to_vec();
        if name.eq_ignore_ascii_case("content-disposition") {
            let (n, f) = parse_disposition(&value);
            out.name = n;
            out.filename = f;
        } else if name.eq_ignore_ascii_case("content-type") {
            out.content_type = Some(String::from_utf8_lossy(&value).into_owned());
        } else if name.eq_ignore_ascii_case("content-length") {
            out.content_length = std::str::from_utf8(&value)
                .ok()
                .and_then(|v| v.trim().parse().ok());
        }
        out.headers.push((name, value));
    }
    Ok(out)
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end]
}

/// Splits `form-data; name="x"; filename="y"` into parameters, honouring quotes and
/// backslash escapes. Returns (name, filename).
fn parse_disposition(value: &[u8]) -> (Option<String>, Option<String>) {
    let mut name = None;
    let mut filename = None;
    let mut filename_star = None;
    for (key, val) in parse_params(value) {
        match key.to_ascii_lowercase().as_str() {
            "name" => name = Some(bytes_to_string(&val)),
            "filename" => filename = Some(bytes_to_string(&val)),
            "filename*" => filename_star = decode_ext_value(&val),
            _ => {}
        }
    }
    (name, filename_star.or(filename))
}

/// `key=value` parameters after the first `;`.
fn parse_params(value: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut i = match memchr::memchr(b';', value) {
        Some(i) => i + 1,
        None => return out,
    };
    while i < value.len() {
        while i < value.len() && matches!(value[i], b' ' | b'\t' | b';') {
            i += 1;
        }
        let key_start = i;
        while i < value.len() && value[i] != b'=' && value[i] != b';' {
            i += 1;
        }
        let key = String::from_utf8_lossy(trim_ascii(&value[key_start..i])).into_owned();
        if i >= value.len() || value[i] == b';' {
            continue;
        }
        i += 1; // '='
        let mut val = Vec::new();
        if i < value.len() && value[i] == b'"' {
            i += 1;
            while i < value.len() && value[i] != b'"' {
                if value[i] == b'\\' && i + 1 < value.len() {
                    i += 1;
                }
                val.push(value[i]);
                i += 1;
            }
            i += 1; // closing quote
        } else {
            let start = i;
            while i < value.len() && value[i] != b';' {
                i += 1;
            }
            val.extend_from_slice(trim_ascii(&value[start..i]));
        }
        if !key.is_empty() {
            out.push((key, val));
        }
    }
    out
}

/// UTF-8 if valid, else latin-1.
fn bytes_to_string(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_owned(),
        Err(_) => b.iter().map(|&c| char::from(c)).collect(),
    }
}

/// RFC 5987 `charset'lang'pct-encoded`.
fn decode_ext_value(v: &[u8]) -> Option<String> {
    let mut it = v.splitn(3, |&b| b == b'\'');
    let charset = it.next()?;
    let _lang = it.next()?;
    let encoded = it.next()?;
    let mut raw = Vec::with_capacity(encoded.len());
    let mut i = 0;
    while i < encoded.len() {
        if encoded[i] == b'%' && i + 2 < encoded.len() {
            let hex = std::str::from_utf8(&encoded[i + 1..i + 3]).ok()?;
            raw.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            raw.push(encoded[i]);
            i += 1;
        }
    }
    if charset.eq_ignore_ascii_case(b"utf-8") {
        Some(String::from_utf8_lossy(&raw).into_owned())
    } else {
        Some(bytes_to_string(&raw))
    }
}

/// The `boundary` parameter of a `multipart/*` `Content-Type`, if it is one.
///
/// ```
/// use process_proto::multipart::boundary_from_content_type;
/// assert_eq!(boundary_from_content_type("multipart/form-data; boundary=abc").as_deref(), Some("abc"));
/// assert_eq!(boundary_from_content_type("multipart/form-data; boundary=\"a b\"").as_deref(), Some("a b"));
/// assert_eq!(boundary_from_content_type("application/json"), None);
/// ```
pub fn boundary_from_content_type(content_type: &str) -> Option<String> {
    let (mime, _) = content_type.split_once(';').unwrap_or((content_type, ""));
    if !mime.trim().to_ascii_lowercase().starts_with("multipart/") {
        return None;
    }
    parse_params(content_type.as_bytes())
        .into_iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| bytes_to_string(&v))
        .filter(|b| check_boundary(b).is_ok())
}

/// A boundary from 16 caller-supplied random bytes (this crate has no randomness): 32 hex
/// digits, as Go's `multipart.Writer` makes them, never found in the bytes of a file with
/// probability 1 − 2⁻¹²⁸ per position.
pub fn boundary_from_random(random: [u8; 16]) -> String {
    use std::fmt::Write;
    random.iter().fold(String::with_capacity(32), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Writes the delimiter that opens a part and its headers: `--b\r\n` for the first part,
/// `\r\n--b\r\n` for later ones, then `Name: value\r\n` per header and a blank line.
pub fn write_part_start(
    out: &mut impl BufMut,
    boundary: &str,
    first: bool,
    headers: &[(&str, &[u8])],
) {
    if !first {
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"--");
    out.put_slice(boundary.as_bytes());
    out.put_slice(b"\r\n");
    for (name, value) in headers {
        out.put_slice(name.as_bytes());
        out.put_slice(b": ");
        out.put_slice(value);
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"\r\n");
}

/// Writes the closing delimiter `\r\n--b--\r\n` (after at least one part), or `--b--\r\n`
/// for a body with no parts (`first`).
pub fn write_close(out: &mut impl BufMut, boundary: &str, first: bool) {
    if !first {
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"--");
    out.put_slice(boundary.as_bytes());
    out.put_slice(b"--\r\n");
}

/// A `Content-Disposition` value carrying a path as the official daemon writes it:
/// `form-data; name="<name>"; filename="<latin-1 quoted>"; filename*=utf-8''<RFC 5987>`.
///
/// In `filename`, `\` and `"` are backslash-escaped, characters below U+0020, U+007F and above
/// U+00FF become `_`, the rest are single latin-1 bytes; `filename*` percent-encodes every
/// UTF-8 byte except `A-Za-z0-9!#$&+-.^_`|~`.
///
/// ```
/// use process_proto::multipart::content_disposition;
/// assert_eq!(
///     content_disposition("file", "dir/ü \"q\".bin"),
///     b"form-data; name=\"file\"; filename=\"dir/\xfc \\\"q\\\".bin\"; filename*=utf-8''dir%2F%C3%BC%20%22q%22.bin".to_vec()
/// );
/// ```
pub fn content_disposition(name: &str, path: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + path.len() * 4);
    out.extend_from_slice(b"form-data; name=\"");
    for c in name.chars() {
        push_quoted_latin1(&mut out, c);
    }
    out.extend_from_slice(b"\"; filename=\"");
    for c in path.chars() {
        push_quoted_latin1(&mut out, c);
    }
    out.extend_from_slice(b"\"; filename*=utf-8''");
    for &b in path.as_bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    out
}

fn push_quoted_latin1(out: &mut Vec<u8>, c: char) {
    let u = c as u32;
    if c == '\\' || c == '"' {
        out.push(b'\\');
        out.push(u as u8);
    } else if u < 0x20 || u == 0x7f || u > 0xff {
        out.push(b'_');
    } else {
        out.push(u as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn content_type_boundary() {
        assert_eq!(
            boundary_from_content_type("Multipart/Form-Data;boundary=----DaytonaUploadabc")
                .as_deref(),
            Some("----DaytonaUploadabc")
        );
        assert_eq!(boundary_from_content_type("multipart/form-data"), None);
    }
}
