//! The encoder helpers: boundaries, part delimiters and `Content-Disposition` values framed
//! the way Go's `mime/multipart.Writer` does.

use bytes::BufMut;

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
