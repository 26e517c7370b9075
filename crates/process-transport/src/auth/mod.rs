//! Middleware that adds `Authorization: Bearer <token>` to every request.
//!
//! ```
//! use process_transport::auth::BearerLayer;
//! use tower::{service_fn, Layer, Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let echo = service_fn(|req: http::Request<()>| async move {
//!     Ok::<_, std::convert::Infallible>(req.headers()["authorization"].clone())
//! });
//! let mut svc = BearerLayer::new("s3cret")?.layer(echo);
//! let seen = svc.ready().await?.call(http::Request::new(())).await?;
//! assert_eq!(seen, "Bearer s3cret");
//! assert!(seen.is_sensitive());
//! # Ok(()) }
//! ```

mod layer;

use std::task::{Context, Poll};

use http::header::AUTHORIZATION;
use http::{HeaderValue, Request};

pub use self::layer::BearerLayer;

/// Adds the Bearer token header to requests that do not already carry an `Authorization`
/// header. The value is marked sensitive (not printed by `Debug`).
#[derive(Clone, Debug)]
pub struct Bearer<S> {
    inner: S,
    value: HeaderValue,
}

impl<S> Bearer<S> {
    pub(crate) fn new(inner: S, value: HeaderValue) -> Bearer<S> {
        Bearer { inner, value }
    }
}

impl<S, B> tower::Service<Request<B>> for Bearer<S>
where
    S: tower::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        req.headers_mut()
            .entry(AUTHORIZATION)
            .or_insert_with(|| self.value.clone());
        self.inner.call(req)
    }
}
