//! The toolbox proxy: `/toolbox/{sandboxId}/…` → that sandbox's `processd` over its Unix
//! socket. HTTP bodies stream both ways (nothing is buffered); WebSocket upgrades are forwarded
//! and the two upgraded connections spliced. The caller's `Authorization` (checked by the edge)
//! is not forwarded, `Host` is rewritten and `Origin` dropped: `processd` sees a local client.
//! Each request (and each WebSocket, for its whole life) counts as activity for auto-stop.

use axum::body::Body;
use http::header::{self, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;

use crate::api::ApiError;
use crate::manager::Manager;
use crate::provider::Endpoint;

/// Errors talking to a sandbox's `processd`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The socket did not accept the connection.
    #[error("cannot connect to the sandbox's processd at {path}: {source}")]
    Connect {
        /// The socket.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// HTTP to `processd` failed.
    #[error("the sandbox's processd failed to answer: {0}")]
    Http(#[from] hyper::Error),
    /// The answer was not what was expected.
    #[error("the sandbox's processd answered {status}: {message}")]
    Status {
        /// HTTP status.
        status: StatusCode,
        /// Body text.
        message: String,
    },
    /// The answer did not decode.
    #[error("the sandbox's processd answered something unreadable: {0}")]
    Decode(String),
}

/// Headers that belong to one hop (RFC 9110 §7.6.1) and are never forwarded as they are.
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// Sends one request to `processd` on a fresh connection (Unix sockets are cheap to open) and
/// returns its response; the connection task lives until the response body (or upgrade) ends.
pub(crate) async fn send(
    endpoint: &Endpoint,
    req: Request<Body>,
) -> Result<Response<hyper::body::Incoming>, ProxyError> {
    let Endpoint::Unix(path) = endpoint;
    let stream = tokio::net::UnixStream::connect(path)
        .await
        .map_err(|source| ProxyError::Connect {
            path: path.display().to_string(),
            source,
        })?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        if let Err(err) = conn.with_upgrades().await {
            tracing::debug!(error = %err, "processd connection ended with an error");
        }
    });
    Ok(sender.send_request(req).await?)
}

/// `GET path` on `processd`, decoded as JSON.
pub(crate) async fn get_json<T: DeserializeOwned>(
    endpoint: &Endpoint,
    path: &str,
) -> Result<T, ProxyError> {
    let req = Request::get(path)
        .header(header::HOST, "localhost")
        .body(Body::empty())
        .map_err(|e| ProxyError::Decode(e.to_string()))?;
    let resp = send(endpoint, req).await?;
    let status = resp.status();
    let bytes = resp.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        return Err(ProxyError::Status {
            status,
            message: String::from_utf8_lossy(&bytes).into_owned(),
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| ProxyError::Decode(e.to_string()))
}

/// `POST path` with a JSON body on `processd`; the answer's body is read and dropped.
pub(crate) async fn post_json<T: serde::Serialize>(
    endpoint: &Endpoint,
    path: &str,
    body: &T,
) -> Result<(), ProxyError> {
    let json = serde_json::to_vec(body).map_err(|e| ProxyError::Decode(e.to_string()))?;
    let req = Request::post(path)
        .header(header::HOST, "localhost")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json))
        .map_err(|e| ProxyError::Decode(e.to_string()))?;
    let resp = send(endpoint, req).await?;
    let status = resp.status();
    let bytes = resp.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        return Err(ProxyError::Status {
            status,
            message: String::from_utf8_lossy(&bytes).into_owned(),
        });
    }
    Ok(())
}

fn is_upgrade(headers: &http::HeaderMap) -> bool {
    headers.get(header::UPGRADE).is_some()
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// Names listed in `Connection` are hop-by-hop too.
fn strip_hop_by_hop(headers: &mut http::HeaderMap, keep_upgrade: bool) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        if !(keep_upgrade && name == header::UPGRADE) {
            headers.remove(name);
        }
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    if keep_upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(header::UPGRADE);
    }
}

/// Forwards `req` (whose path starts `/toolbox/{id}`) to the sandbox's `processd`.
pub(crate) async fn forward(
    manager: &Manager,
    id: &str,
    mut req: Request<Body>,
) -> Result<Response<Body>, ApiError> {
    let (endpoint, guard) = manager.toolbox(id)?;
    // The raw path after the id, still percent-encoded, plus the query.
    let prefix_len = "/toolbox/".len() + raw_segment_len(req.uri().path());
    let rest = req.uri().path().get(prefix_len..).unwrap_or("");
    let rest = if rest.is_empty() { "/" } else { rest };
    let target = match req.uri().query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_owned(),
    };
    let upgrade = is_upgrade(req.headers());
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    parts.uri = target
        .parse()
        .map_err(|_| ApiError::bad_request(format!("invalid toolbox path {target:?}")))?;
    parts.version = http::Version::HTTP_11;
    strip_hop_by_hop(&mut parts.headers, upgrade);
    parts.headers.remove(header::AUTHORIZATION);
    parts.headers.remove(header::ORIGIN);
    parts
        .headers
        .insert(header::HOST, HeaderValue::from_static("localhost"));
    let upstream_req = Request::from_parts(parts, body);
    let mut resp = match send(&endpoint, upstream_req).await {
        Ok(resp) => resp,
        Err(err) => {
            // processd may have died: let the monitor's check run now rather than later.
            manager.check(id).await;
            return Err(ApiError::bad_gateway(err.to_string()));
        }
    };
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        let Some(client_upgrade) = client_upgrade else {
            return Err(ApiError::bad_gateway(
                "processd switched protocols on a request that did not ask to".to_owned(),
            ));
        };
        let upstream_upgrade = hyper::upgrade::on(&mut resp);
        let (parts, _) = resp.into_parts();
        tokio::spawn(async move {
            let _guard = guard;
            let (client, upstream) = match tokio::join!(client_upgrade, upstream_upgrade) {
                (Ok(c), Ok(u)) => (c, u),
                (c, u) => {
                    tracing::debug!(client = ?c.err(), upstream = ?u.err(), "upgrade failed");
                    return;
                }
            };
            let mut client = TokioIo::new(client);
            let mut upstream = TokioIo::new(upstream);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        });
        return Ok(Response::from_parts(parts, Body::empty()));
    }
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers, false);
    // The guard lives as long as the response body streams.
    let body = body.map_frame(move |frame| {
        let _ = &guard;
        frame
    });
    Ok(Response::from_parts(parts, Body::new(body)))
}

/// Length of the first path segment after `/toolbox/`.
fn raw_segment_len(path: &str) -> usize {
    let rest = path.strip_prefix("/toolbox/").unwrap_or("");
    rest.find('/').unwrap_or(rest.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_are_removed_and_upgrade_kept_only_for_upgrades() {
        let mut h = http::HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret, Upgrade"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h.insert("x-daytona-sdk-version", HeaderValue::from_static("0.226.1"));
        assert!(is_upgrade(&h));
        let mut plain = h.clone();
        strip_hop_by_hop(&mut plain, false);
        assert!(plain.get("x-secret").is_none());
        assert!(plain.get(header::UPGRADE).is_none());
        assert!(plain.get(header::TE).is_none());
        assert!(plain.get(header::CONNECTION).is_none());
        assert_eq!(plain["x-daytona-sdk-version"], "0.226.1");
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h[header::UPGRADE], "websocket");
        assert_eq!(h[header::CONNECTION], "upgrade");
    }

    #[test]
    fn segment_length() {
        assert_eq!(raw_segment_len("/toolbox/abc/process/execute"), 3);
        assert_eq!(raw_segment_len("/toolbox/abc"), 3);
    }
}
