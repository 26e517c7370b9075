//! The route table and the layers every request passes: the envelope renderer, tracing (a span
//! per request naming the matched route), panic catching, the body limit, the Bearer check,
//! the Host check (DNS rebinding) and the Origin check.
//!
//! A route family is one `routes()` function in `api/` merged here.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::IntoResponse;
use axum::Router;
use http::{Response, StatusCode};
use tower::ServiceExt;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use process_proto::wire::endpoint;

use crate::error::{json_response, ApiError, Unrendered};
use crate::http::MAX_BODY_BYTES;
use crate::{api, Body, Daemon};

/// The router's shared state.
pub(crate) type AppRouter = Router<Daemon>;

/// The daemon's routes with every layer, ready to serve.
pub(crate) fn router(daemon: Daemon) -> Router {
    let routes = Router::new()
        .merge(api::exec::routes())
        .merge(api::session::routes())
        .merge(api::pty::routes())
        .merge(api::interpreter::routes())
        .merge(api::fs::routes())
        .merge(api::git::routes())
        .merge(api::info::routes())
        .merge(crate::openapi::routes());
    with_layers(routes, daemon)
}

/// `routes` behind the fallback and every layer.
fn with_layers(routes: AppRouter, daemon: Daemon) -> Router {
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .layer(middleware::from_fn_with_state(daemon.clone(), guard))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(panicked))
        .layer(TraceLayer::new_for_http().make_span_with(span))
        .layer(middleware::from_fn(envelope))
        .with_state(daemon)
}

/// The answer to every unknown route and every wrong method: the original's (gin's) plain
/// `404 page not found`.
async fn not_found() -> Response<Body> {
    let mut resp = Response::new(Body::from("404 page not found"));
    *resp.status_mut() = StatusCode::NOT_FOUND;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    resp
}

/// A span per request, with the route template that matched (low cardinality).
fn span(req: &Request) -> tracing::Span {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("<unmatched>", MatchedPath::as_str);
    tracing::debug_span!("request", method = %req.method(), route, path = %req.uri().path())
}

/// A panicking handler answers the 500 envelope instead of dropping the connection.
fn panicked(_payload: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    ApiError::internal("the request handler panicked; the daemon keeps running").into_response()
}

/// Renders a handler's [`ApiError`] as the spec's envelope, with this request's method and
/// path.
async fn envelope(req: Request, next: Next) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let mut resp = next.run(req).await;
    match resp.extensions_mut().remove::<Unrendered>() {
        Some(Unrendered(err)) => err.render(&method, &path),
        None => resp,
    }
}

/// The port of the TCP listener a request arrived on (a request extension; absent for Unix
/// sockets and in-memory connections, which no web page can reach).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TcpPort(pub(crate) u16);

/// `GET /health` is open; everything else needs the token (WebSocket upgrades included), a
/// loopback `Host` (TCP without a token) and an acceptable `Origin`.
async fn guard(State(daemon): State<Daemon>, req: Request, next: Next) -> Response<Body> {
    if req.method() == http::Method::GET && req.uri().path() == endpoint::HEALTH.template() {
        return json_response(StatusCode::OK, &serde_json::json!({"status": "ok"}));
    }
    if !authorized(&daemon, req.headers()) {
        return ApiError::unauthorized().into_response();
    }
    let port = req.extensions().get::<TcpPort>().map(|p| p.0);
    if let (None, Some(port)) = (&daemon.config().token, port) {
        if !host_is_loopback(req.headers(), port) {
            return ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                "MISDIRECTED_REQUEST",
                format!(
                    "this processd has no token and only answers requests addressed to \
                     127.0.0.1:{port}, localhost:{port} or [::1]:{port} (a foreign Host is how \
                     DNS rebinding reaches a local daemon); set --token to serve other names"
                ),
            )
            .into_response();
        }
    }
    if !origin_allowed(req.headers(), port, &daemon.config().allowed_origins) {
        return ApiError::forbidden(
            "cross-origin requests are not allowed (only the daemon's own origin and those given with --allow-origin)",
        )
        .into_response();
    }
    next.run(req).await
}

/// Checks the Bearer token in constant time (when one is configured).
fn authorized(daemon: &Daemon, headers: &http::HeaderMap) -> bool {
    use sha2::Digest;
    use subtle::ConstantTimeEq;
    let Some(expected) = daemon.config().token.as_deref() else {
        return true;
    };
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        // Absent, or sent twice (ambiguous): refused.
        return false;
    };
    let Some(given) = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) else {
        return false;
    };
    // Compare digests so the comparison time does not depend on the token's length either.
    let a = sha2::Sha256::digest(expected.as_bytes());
    let b = sha2::Sha256::digest(given.as_bytes());
    a.ct_eq(&b).into()
}

/// Whether `host` names a loopback address: `localhost`, `127.0.0.1` or `[::1]`.
fn loopback_name(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host == "127.0.0.1" || host == "[::1]"
}

/// Whether the one `Host` header names this daemon on loopback: a loopback name with the
/// listener's port (the port may be left out only when it is 80, as HTTP allows).
fn host_is_loopback(headers: &http::HeaderMap, port: u16) -> bool {
    let mut values = headers.get_all(http::header::HOST).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return false;
    };
    let Some(auth) = value
        .to_str()
        .ok()
        .and_then(|v| v.parse::<http::uri::Authority>().ok())
    else {
        return false;
    };
    loopback_name(auth.host()) && auth.port_u16().unwrap_or(80) == port
}

/// Whether a browser `Origin` is acceptable: absent (SDKs, CLIs), the daemon's own origin
/// (`http://` + a loopback name + the listener's port) or one of `allowed` (`--allow-origin`).
/// Any other origin (a web page trying cross-site WebSocket hijacking) is refused.
fn origin_allowed(headers: &http::HeaderMap, port: Option<u16>, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(http::header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if allowed
        .iter()
        .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let Ok(uri) = origin.parse::<http::Uri>() else {
        return false;
    };
    let own_port = |p: u16| uri.port_u16().unwrap_or(80) == p;
    uri.scheme() == Some(&http::uri::Scheme::HTTP)
        && uri.path_and_query().is_none_or(|pq| pq.as_str() == "/")
        && uri.host().is_some_and(loopback_name)
        && port.is_some_and(own_port)
}

/// The daemon's request service: the router, as a hyper and a tower service over any request
/// body (hyper's `Incoming` included); cheap to clone.
#[derive(Clone)]
pub struct DaemonService {
    router: Router,
    tcp_port: Option<TcpPort>,
}

impl DaemonService {
    pub(crate) fn new(daemon: Daemon) -> DaemonService {
        DaemonService {
            router: router(daemon),
            tcp_port: None,
        }
    }

    /// The same service for connections accepted on a TCP listener bound to `port` (the Host
    /// and Origin checks compare against it).
    pub(crate) fn on_tcp_port(mut self, port: u16) -> DaemonService {
        self.tcp_port = Some(TcpPort(port));
        self
    }
}

type ResponseFuture = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

impl<B> hyper::service::Service<http::Request<B>> for DaemonService
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn call(&self, req: http::Request<B>) -> Self::Future {
        let router = self.router.clone();
        let mut req = req.map(Body::new);
        if let Some(port) = self.tcp_port {
            req.extensions_mut().insert(port);
        }
        Box::pin(router.oneshot(req))
    }
}

impl<B> tower::Service<http::Request<B>> for DaemonService
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        hyper::service::Service::call(&*self, req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_answers_the_500_envelope() {
        let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let daemon = Daemon::new(crate::Config::new(dirs.0.path(), dirs.1.path())).unwrap();
        async fn boom() -> &'static str {
            panic!("a handler bug")
        }
        let routes = AppRouter::new().route("/boom", axum::routing::get(boom));
        let req = http::Request::get("/boom").body(Body::empty()).unwrap();
        let resp = with_layers(routes, daemon).oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["code"], "INTERNAL_SERVER_ERROR");
        assert_eq!(body["path"], "/boom");
        assert_eq!(body["method"], "GET");
    }
}
