//! Middleware that fails a request whose response head does not arrive in time.
//!
//! The layer has a default (which may be "none"); a request can carry its own in its
//! extensions with [`RequestTimeout`], e.g. an `exec` with a 5 s server-side timeout waits 10 s.
//! The timeout bounds the wait for the response head (for a WebSocket: the handshake), not the
//! reading of the body.
//!
//! ```
//! use std::time::Duration;
//! use process_transport::timeout::{RequestTimeout, TimeoutLayer};
//! use tower::{service_fn, Layer, Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let slow = service_fn(|_req: http::Request<()>| async {
//!     tokio::time::sleep(Duration::from_secs(3600)).await;
//!     Ok::<_, std::convert::Infallible>(())
//! });
//! let mut svc = TimeoutLayer::new(None).layer(slow);
//! let mut req = http::Request::new(());
//! req.extensions_mut().insert(RequestTimeout(Some(Duration::from_millis(10))));
//! let err = svc.ready().await.unwrap().call(req).await.unwrap_err();
//! assert!(err.to_string().contains("no response within"));
//! # }
//! ```

mod future;
mod layer;

use std::task::{Context, Poll};
use std::time::Duration;

use http::Request;

use crate::BoxError;

pub use self::future::ResponseFuture;
pub use self::layer::TimeoutLayer;

/// A per-request timeout, put in the request's extensions; overrides the layer's default.
/// `RequestTimeout(None)` waits without limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestTimeout(pub Option<Duration>);

/// Fails with [`Error::Timeout`](crate::Error::Timeout) when the inner service does not answer in
/// time.
#[derive(Clone, Debug)]
pub struct Timeout<S> {
    inner: S,
    default: Option<Duration>,
}

impl<S> Timeout<S> {
    /// Wraps `inner` with a default timeout (`None`: no limit unless the request sets one).
    pub fn new(inner: S, default: Option<Duration>) -> Timeout<S> {
        Timeout { inner, default }
    }
}

impl<S, B> tower::Service<Request<B>> for Timeout<S>
where
    S: tower::Service<Request<B>>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let limit = req
            .extensions()
            .get::<RequestTimeout>()
            .map_or(self.default, |t| t.0);
        ResponseFuture::new(self.inner.call(req), limit)
    }
}
