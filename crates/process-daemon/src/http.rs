//! Request plumbing shared by the handlers: bounded JSON bodies, path segments, query
//! parameters, SDK-version gating (spec §1.3, §8.10) and WebSocket upgrades.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::error::ApiError;
use crate::Body;

/// Largest accepted JSON request body.
pub(crate) const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Reads the whole body (at most [`MAX_BODY_BYTES`]).
pub(crate) async fn read_body(body: Incoming) -> Result<Bytes, ApiError> {
    match http_body_util::Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) => {
            if err
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "PAYLOAD_TOO_LARGE",
                    format!("request body larger than {MAX_BODY_BYTES} bytes"),
                ))
            } else {
                Err(ApiError::invalid_body(format!(
                    "cannot read the body: {err}"
                )))
            }
        }
    }
}

/// Reads and decodes a JSON body; a decode failure is 400 `INVALID_REQUEST_BODY`.
pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
    body: Incoming,
) -> Result<T, ApiError> {
    let bytes = read_body(body).await?;
    serde_json::from_slice(&bytes).map_err(ApiError::invalid_body)
}

/// Percent-decodes one path segment (must be UTF-8).
pub(crate) fn decode_segment(seg: &str) -> Result<String, ApiError> {
    percent_encoding::percent_decode_str(seg)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| ApiError::bad_request("path parameter is not valid UTF-8"))
}

/// The value of query parameter `name`, if present.
pub(crate) fn query_param<B>(req: &Request<B>, name: &str) -> Option<String> {
    let query = req.uri().query()?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// How the client wants session output shaped (spec §1.3), from `X-Daytona-SDK-Version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// Raw marked `output` plus demuxed `stdout`/`stderr`, JSON logs (SDK ≥ 0.167, no header,
    /// or an unparseable version: the §8.10 recommendation).
    Modern,
    /// `output` raw, no split, logs as `text/plain` (explicit SDK 0.27 ≤ v < 0.167).
    SkipDemux,
    /// Markers stripped, no split, logs as text (explicit SDK < 0.27).
    Combined,
}

/// A parsed `X.Y.Z` version.
fn parse_version(v: &str) -> Option<(u64, u64, u64, bool)> {
    let v = v.trim().trim_start_matches('v');
    // `0.1.2rc1` / `0.1.2-rc1`: a pre-release sorts before the release.
    let core_end = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (core, rest) = v.split_at(core_end);
    let mut it = core.split('.');
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    let patch = it.next()?.parse().ok()?;
    if it.next().is_some() {
        return None;
    }
    Some((major, minor, patch, !rest.is_empty()))
}

/// Whether `v` is older than `major.minor.0` (pre-releases of `major.minor.0` count as older).
fn older_than(v: (u64, u64, u64, bool), major: u64, minor: u64) -> bool {
    (v.0, v.1, v.2) < (major, minor, 0) || ((v.0, v.1, v.2) == (major, minor, 0) && v.3)
}

/// The client's SDK version header value, or the `X-Daytona-SDK-Version~v` subprotocol token.
pub(crate) fn sdk_version<B>(req: &Request<B>) -> Option<String> {
    if let Some(v) = req
        .headers()
        .get("x-daytona-sdk-version")
        .and_then(|v| v.to_str().ok())
    {
        return Some(v.to_owned());
    }
    req.headers()
        .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|t| {
            t.trim()
                .strip_prefix("X-Daytona-SDK-Version~")
                .map(str::to_owned)
        })
}

/// Whether an explicit SDK version is one that expects `$HOME` as the session cwd (< 0.103).
pub(crate) fn legacy_session_cwd<B>(req: &Request<B>) -> bool {
    sdk_version(req)
        .filter(|v| !v.contains("dev"))
        .and_then(|v| parse_version(&v))
        .is_some_and(|v| older_than(v, 0, 103))
}

/// The output flavor for this request.
pub(crate) fn flavor<B>(req: &Request<B>) -> Flavor {
    let Some(version) = sdk_version(req) else {
        return Flavor::Modern;
    };
    if version.contains("dev") {
        return Flavor::Modern;
    }
    match parse_version(&version) {
        Some(v) if older_than(v, 0, 27) => Flavor::Combined,
        Some(v) if older_than(v, 0, 167) => Flavor::SkipDemux,
        _ => Flavor::Modern,
    }
}

/// Whether the request asks for a WebSocket upgrade.
pub(crate) fn is_ws_upgrade<B>(req: &Request<B>) -> bool {
    fastwebsockets::upgrade::is_upgrade_request(req)
}

/// Accepts a WebSocket upgrade, echoing the first offered subprotocol (spec §4). Returns the
/// 101 response and the future of the upgraded connection.
pub(crate) fn accept_ws(
    req: &mut Request<Incoming>,
) -> Result<(Response<Body>, fastwebsockets::upgrade::UpgradeFut), ApiError> {
    let first_protocol = req
        .headers()
        .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find(|t| !t.is_empty())
        .map(str::to_owned);
    let (resp, fut) = fastwebsockets::upgrade::upgrade(req)
        .map_err(|e| ApiError::bad_request(format!("invalid WebSocket upgrade: {e}")))?;
    let (mut parts, _) = resp.into_parts();
    if let Some(p) = first_protocol.and_then(|p| http::HeaderValue::from_str(&p).ok()) {
        parts
            .headers
            .insert(http::header::SEC_WEBSOCKET_PROTOCOL, p);
    }
    Ok((
        Response::from_parts(parts, crate::error::full(Bytes::new())),
        fut,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req_with(version: Option<&str>) -> Request<()> {
        let mut b = Request::builder().uri("/x");
        if let Some(v) = version {
            b = b.header("X-Daytona-SDK-Version", v);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn version_gating_follows_the_spec_with_modern_default() {
        assert_eq!(flavor(&req_with(None)), Flavor::Modern);
        assert_eq!(flavor(&req_with(Some("unknown"))), Flavor::Modern);
        assert_eq!(flavor(&req_with(Some("0.226.1"))), Flavor::Modern);
        assert_eq!(flavor(&req_with(Some("0.167.0"))), Flavor::Modern);
        assert_eq!(flavor(&req_with(Some("0.167.0rc1"))), Flavor::SkipDemux);
        assert_eq!(flavor(&req_with(Some("0.100.0"))), Flavor::SkipDemux);
        assert_eq!(flavor(&req_with(Some("0.26.9"))), Flavor::Combined);
        assert_eq!(flavor(&req_with(Some("0.0.0-dev"))), Flavor::Modern);
        assert!(legacy_session_cwd(&req_with(Some("0.102.0"))));
        assert!(!legacy_session_cwd(&req_with(Some("0.103.0"))));
        assert!(!legacy_session_cwd(&req_with(None)));
    }

    proptest::proptest! {
        #[test]
        fn version_parsing_never_panics(s in "\\PC{0,20}") {
            let _ = parse_version(&s);
        }
    }
}
