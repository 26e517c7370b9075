//! The edge's extractors: the JSON body ([`Json`], [`JsonOrDefault`]), path parameters
//! ([`PathParams`]), the query ([`QueryMap`]), SDK-version gating ([`Flavor`], spec §1.3,
//! §8.10) and WebSocket upgrades ([`WsUpgrade`]). Every rejection is an [`ApiError`], so every
//! malformed request gets the spec's envelope.

use std::collections::HashMap;

use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, Response, StatusCode};

use crate::error::ApiError;
use crate::Body;

/// Largest accepted request body (every route).
pub(crate) const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Reads the whole body; past [`MAX_BODY_BYTES`] (the router's `DefaultBodyLimit`) it is 413.
async fn read_body(req: Request) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, &()).await.map_err(|rejection| {
        if let BytesRejection::FailedToBufferBody(_) = &rejection {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                return ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "PAYLOAD_TOO_LARGE",
                    format!("request body larger than {MAX_BODY_BYTES} bytes"),
                );
            }
        }
        ApiError::invalid_body(format!("cannot read the body: {rejection}"))
    })
}

/// A JSON request body. Unlike `axum::Json` it does not insist on a `Content-Type` (the SDKs
/// send one, curl `-d` does not); a body that does not decode is 400 `INVALID_REQUEST_BODY`.
pub(crate) struct Json<T>(pub(crate) T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let bytes = read_body(req).await?;
        serde_json::from_slice(&bytes)
            .map(Json)
            .map_err(ApiError::invalid_body)
    }
}

/// Like [`Json`], but an empty (or blank) body means `T::default()`.
pub(crate) struct JsonOrDefault<T>(pub(crate) T);

impl<T: serde::de::DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for JsonOrDefault<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let bytes = read_body(req).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonOrDefault(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(JsonOrDefault)
            .map_err(ApiError::invalid_body)
    }
}

/// Percent-decoded path parameters (one rule for every route: a parameter that is not UTF-8
/// once decoded is 400 `BAD_REQUEST`).
pub(crate) struct PathParams<T>(pub(crate) T);

impl<T, S> FromRequestParts<S> for PathParams<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(t)) => Ok(PathParams(t)),
            Err(PathRejection::FailedToDeserializePathParams(e))
                if matches!(
                    e.kind(),
                    axum::extract::path::ErrorKind::InvalidUtf8InPathParam { .. }
                ) =>
            {
                Err(ApiError::bad_request("path parameter is not valid UTF-8"))
            }
            Err(other) => Err(ApiError::bad_request(other.body_text())),
        }
    }
}

/// The decoded query parameters; the first occurrence of a name wins.
pub(crate) struct QueryMap(pub(crate) HashMap<String, String>);

impl QueryMap {
    /// The value of `name`, if present.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The additive `offset` parameter (resume a stream at byte N); empty means absent.
    pub(crate) fn offset(&self) -> Result<Option<u64>, ApiError> {
        match self.get("offset").filter(|o| !o.is_empty()) {
            None => Ok(None),
            Some(o) => o.parse::<u64>().map(Some).map_err(|_| {
                ApiError::bad_request(format!(
                    "offset must be a byte count (a non-negative integer), not {o:?}"
                ))
            }),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QueryMap {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let mut map = HashMap::new();
        let query = parts.uri.query().unwrap_or_default();
        for (k, v) in form_urlencoded::parse(query.as_bytes()).into_owned() {
            map.entry(k).or_insert(v);
        }
        Ok(QueryMap(map))
    }
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
pub(crate) fn sdk_version(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers
        .get(process_proto::wire::endpoint::SDK_VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        return Some(v.to_owned());
    }
    process_proto::wire::sdk_version_from_subprotocols(
        headers
            .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
    .map(str::to_owned)
}

/// Whether an explicit SDK version is one that expects `$HOME` as the session cwd (< 0.103).
pub(crate) fn legacy_session_cwd(headers: &HeaderMap) -> bool {
    sdk_version(headers)
        .filter(|v| !v.contains("dev"))
        .and_then(|v| parse_version(&v))
        .is_some_and(|v| older_than(v, 0, 103))
}

/// The output flavor for a request with these headers.
pub(crate) fn flavor(headers: &HeaderMap) -> Flavor {
    let Some(version) = sdk_version(headers) else {
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

impl<S: Send + Sync> FromRequestParts<S> for Flavor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(flavor(&parts.headers))
    }
}

/// Whether the client's SDK expects `$HOME` as a new session's cwd (< 0.103).
pub(crate) struct LegacyCwd(pub(crate) bool);

impl<S: Send + Sync> FromRequestParts<S> for LegacyCwd {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(LegacyCwd(legacy_session_cwd(&parts.headers)))
    }
}

/// A WebSocket upgrade, if the request asks for one: fastwebsockets' axum extractor plus the
/// offered subprotocols (spec §4: the first one is echoed back).
pub(crate) struct WsUpgrade(Option<Offer>);

/// An upgrade request the handshake has accepted so far.
pub(crate) struct Offer {
    incoming: fastwebsockets::upgrade::IncomingUpgrade,
    protocols: Vec<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for WsUpgrade {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let is_upgrade = header_has_token(&parts.headers, http::header::CONNECTION, "upgrade")
            && header_has_token(&parts.headers, http::header::UPGRADE, "websocket");
        if !is_upgrade {
            return Ok(WsUpgrade(None));
        }
        let protocols = parts
            .headers
            .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect();
        let incoming =
            fastwebsockets::upgrade::IncomingUpgrade::from_request_parts(parts, state)
                .await
                .map_err(|_| {
                    ApiError::bad_request(
                        "invalid WebSocket upgrade (it needs Sec-WebSocket-Key and Sec-WebSocket-Version: 13)",
                    )
                })?;
        Ok(WsUpgrade(Some(Offer {
            incoming,
            protocols,
        })))
    }
}

/// Whether a comma-separated header `name` holds `token` (case-insensitive).
fn header_has_token(headers: &HeaderMap, name: http::header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

impl WsUpgrade {
    /// The upgrade, if the request asked for one.
    pub(crate) fn offer(self) -> Option<Offer> {
        self.0
    }
}

impl Offer {
    /// The `Sec-WebSocket-Protocol` header values as sent.
    pub(crate) fn protocols(&self) -> impl Iterator<Item = &str> + Clone {
        self.protocols.iter().map(String::as_str)
    }

    /// Accepts the upgrade: the 101 response (echoing the first offered subprotocol) and the
    /// future of the upgraded connection.
    pub(crate) fn accept(
        self,
    ) -> Result<(Response<Body>, fastwebsockets::upgrade::UpgradeFut), ApiError> {
        let first = process_proto::wire::subprotocols(self.protocols())
            .next()
            .and_then(|p| http::HeaderValue::from_str(p).ok());
        let (resp, fut) = self
            .incoming
            .upgrade()
            .map_err(|e| ApiError::bad_request(format!("invalid WebSocket upgrade: {e}")))?;
        let mut resp = resp.map(|_| Body::empty());
        if let Some(p) = first {
            resp.headers_mut()
                .insert(http::header::SEC_WEBSOCKET_PROTOCOL, p);
        }
        Ok((resp, fut))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req_with(version: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = version {
            h.insert("X-Daytona-SDK-Version", v.parse().unwrap());
        }
        h
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
