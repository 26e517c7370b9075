//! Routing: authentication, then dispatch of `/process/...` paths to their handlers.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::error::{json_response, ApiError};
use crate::{interpreter, pty, Body, Daemon};

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
    let Some(given) = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    // Compare digests so the comparison time does not depend on the token's length either.
    let a = sha2::Sha256::digest(expected.as_bytes());
    let b = sha2::Sha256::digest(given.as_bytes());
    a.ct_eq(&b).into()
}

async fn route(daemon: Daemon, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    if path == "/health" || path == "/version" {
        return json_response(
            StatusCode::OK,
            &serde_json::json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}),
        );
    }
    if !authorized(&daemon, &req) {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "missing or invalid bearer token",
        )
        .into_response(&method, &path);
    }
    if let Some(rest) = path.strip_prefix("/process/pty") {
        if rest.is_empty() || rest.starts_with('/') {
            return pty::handle(&daemon, req, rest).await;
        }
    }
    if let Some(rest) = path.strip_prefix("/process/interpreter") {
        if rest.is_empty() || rest.starts_with('/') {
            return interpreter::handle(&daemon, req, rest).await;
        }
    }
    ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "404 page not found")
        .into_response(&method, &path)
}
