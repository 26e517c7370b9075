//! Who may call: the API key (a constant-time Bearer check) when one is configured, otherwise
//! loopback Host names only, so a web page cannot reach a key-less sandboxd by DNS rebinding.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use process_proto::wire::endpoint::control as paths;

use super::{ApiError, AppState};

/// Bearer check (constant time) when a key is configured; otherwise (loopback only) the Host
/// must be a loopback name, so a web page cannot reach us through DNS rebinding.
pub(super) async fn authenticate(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    // The Socket.IO channel carries its token in its CONNECT packet (checked there).
    let socket_io = req
        .uri()
        .path()
        .strip_prefix(paths::API_PREFIX)
        .is_some_and(|p| {
            p == paths::SOCKET_IO.template() || p == paths::SOCKET_IO_SLASH.template()
        });
    match &state.api_key {
        Some(_) if socket_io => {}
        Some(key) => {
            if !bearer_matches(req.headers(), key) {
                return ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized").into_response();
            }
        }
        None => {
            if !host_is_loopback(req.headers()) {
                return ApiError::new(
                    StatusCode::FORBIDDEN,
                    "this sandboxd has no API key and only answers requests addressed to a loopback host (localhost, 127.0.0.1, [::1])",
                )
                .into_response();
            }
        }
    }
    next.run(req).await
}

fn bearer_matches(headers: &HeaderMap, key: &str) -> bool {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return false;
    };
    let Some(given) = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) else {
        return false;
    };
    token_matches(key, given.trim())
}

/// Constant-time comparison of a presented token with the key.
pub(super) fn token_matches(key: &str, given: &str) -> bool {
    use sha2::Digest;
    use subtle::ConstantTimeEq;
    let a = sha2::Sha256::digest(key.as_bytes());
    let b = sha2::Sha256::digest(given.as_bytes());
    a.ct_eq(&b).into()
}

fn host_is_loopback(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let Ok(auth) = host.parse::<http::uri::Authority>() else {
        return false;
    };
    matches!(auth.host(), "localhost" | "127.0.0.1" | "[::1]" | "::1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_check_accepts_only_loopback_names() {
        let mut h = HeaderMap::new();
        for (host, ok) in [
            ("127.0.0.1:3000", true),
            ("localhost:3000", true),
            ("[::1]:3000", true),
            ("localhost", true),
            ("evil.example:3000", false),
            ("127.0.0.1.evil.example", false),
        ] {
            h.insert(header::HOST, host.parse().unwrap());
            assert_eq!(host_is_loopback(&h), ok, "{host}");
        }
    }

    #[test]
    fn bearer_must_match_exactly_once() {
        let mut h = HeaderMap::new();
        assert!(!bearer_matches(&h, "k"));
        h.insert(header::AUTHORIZATION, "Bearer k".parse().unwrap());
        assert!(bearer_matches(&h, "k"));
        assert!(!bearer_matches(&h, "k2"));
        h.append(header::AUTHORIZATION, "Bearer k".parse().unwrap());
        assert!(!bearer_matches(&h, "k"));
    }
}
