//! Routing: authentication, then dispatch of `/process/...` paths to their handlers.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::error::{json_response, ApiError};
use crate::{api, interpreter, pty, Body, Daemon};

/// The daemon's request service. Implements both `hyper::service::Service` and
/// `tower::Service` over `Request<Incoming>`; cheap to clone.
#[derive(Clone)]
pub struct DaemonService {
    daemon: Daemon,
}

impl DaemonService {
    pub(crate) fn new(daemon: Daemon) -> DaemonService {
        DaemonService { daemon }
    }
}

type ResponseFuture = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for DaemonService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let daemon = self.daemon.clone();
        Box::pin(async move { Ok(route(daemon, req).await) })
    }
}

impl tower::Service<Request<Incoming>> for DaemonService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        hyper::service::Service::call(&*self, req)
    }
}

/// Checks the Bearer token in constant time (when one is configured).
fn authorized(daemon: &Daemon, req: &Request<Incoming>) -> bool {
    use sha2::Digest;
    use subtle::ConstantTimeEq;
    let Some(expected) = daemon.config().token.as_deref() else {
        return true;
    };
    let mut values = req.headers().get_all(http::header::AUTHORIZATION).iter();
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

/// Whether a browser `Origin` is acceptable: absent (SDKs, CLIs), or a loopback origin. Any
/// other origin (a web page trying cross-site WebSocket hijacking or DNS rebinding) is refused.
fn origin_allowed(req: &Request<Incoming>) -> bool {
    let Some(origin) = req.headers().get(http::header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let Ok(uri) = origin.parse::<http::Uri>() else {
        return false;
    };
    matches!(
        uri.host(),
        Some("localhost" | "127.0.0.1" | "[::1]" | "::1")
    )
}

/// Routes one request: `/health` is open; everything else needs the token (WebSocket upgrades
/// included) and an acceptable `Origin`.
pub(crate) async fn route(daemon: Daemon, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    if path == "/health" && method == http::Method::GET {
        return json_response(StatusCode::OK, &serde_json::json!({"status": "ok"}));
    }
    if !authorized(&daemon, &req) {
        return ApiError::unauthorized().into_response(&method, &path);
    }
    if !origin_allowed(&req) {
        return ApiError::forbidden("cross-origin requests are not allowed")
            .into_response(&method, &path);
    }
    let result = dispatch(&daemon, req, &method, &path).await;
    match result {
        Ok(resp) => resp,
        Err(err) => err.into_response(&method, &path),
    }
}

async fn dispatch(
    daemon: &Daemon,
    req: Request<Incoming>,
    method: &http::Method,
    path: &str,
) -> Result<Response<Body>, ApiError> {
    if path == "/version" && method == http::Method::GET {
        return Ok(json_response(
            StatusCode::OK,
            &serde_json::json!({"version": env!("CARGO_PKG_VERSION")}),
        ));
    }
    if let Some(rest) = path.strip_prefix("/process/pty") {
        if rest.is_empty() || rest.starts_with('/') {
            return Ok(pty::handle(daemon, req, rest).await);
        }
    }
    if let Some(rest) = path.strip_prefix("/process/interpreter") {
        if rest.is_empty() || rest.starts_with('/') {
            return Ok(interpreter::handle(daemon, req, rest).await);
        }
    }
    if let Some(rest) = path.strip_prefix("/process/session") {
        if rest.is_empty() || rest.starts_with('/') {
            return api::session::handle(daemon, req, rest).await;
        }
    }
    match (method.clone(), path) {
        (http::Method::POST, "/process/execute") => api::exec::execute(daemon, req).await,
        (http::Method::POST, "/process/code-run") => api::exec::code_run(daemon, req).await,
        // Everything else: the axum toolbox routes (files, git, info), which answer 404 for
        // unknown paths.
        _ => Ok(api::bridge(daemon, req).await),
    }
}
