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

mod decoder;
mod encode;
mod headers;

use bytes::Bytes;

pub use decoder::MultipartDecoder;
pub use encode::{boundary_from_random, content_disposition, write_close, write_part_start};
pub use headers::boundary_from_content_type;

/// The longest boundary accepted (RFC 2046 allows 70; we are lenient).
pub const MAX_BOUNDARY_LEN: usize = 200;

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
