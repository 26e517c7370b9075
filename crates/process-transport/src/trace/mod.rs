//! Middleware that runs every request in a `tracing` span (`process.request`, with method and
//! path) and logs its outcome and duration at `debug` level.
//!
//! ```
//! use process_transport::trace::TraceLayer;
//! use tower::{service_fn, Layer, Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let ok = service_fn(|_req: http::Request<()>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(()))
//! });
//! let mut svc = TraceLayer::new().layer(ok);
//! let resp = svc.ready().await.unwrap().call(http::Request::new(())).await.unwrap();
//! assert_eq!(resp.status(), 200);
//! # }
//! ```

mod future;
mod layer;

use std::task::{Context, Poll};

use http::{Request, Response};

pub use self::future::ResponseFuture;
pub use self::layer::TraceLayer;

/// Runs requests in a span and logs their outcome.
#[derive(Clone, Debug)]
pub struct Trace<S> {
    inner: S,
}

impl<S> Trace<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Trace<S> {
        Trace { inner }
    }
}

impl<S, B, R> tower::Service<Request<B>> for Trace<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
    S::Error: std::fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let span = tracing::debug_span!(
            "process.request",
            method = %req.method(),
            path = %req.uri().path(),
        );
        let inner = {
            let _enter = span.enter();
            self.inner.call(req)
        };
        ResponseFuture::new(inner, span)
    }
}
