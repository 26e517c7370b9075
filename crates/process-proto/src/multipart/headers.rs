//! Parsing a part's header block and `Content-Disposition`/`Content-Type` parameters
//! (quoted strings, latin-1 and RFC 5987 `filename*` values). Pure functions.

use super::{check_boundary, MultipartError, PartHeaders};

pub(super) fn parse_headers(block: &[u8]) -> Result<PartHeaders, MultipartError> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
