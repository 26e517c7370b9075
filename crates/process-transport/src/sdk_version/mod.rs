//! Middleware that identifies the client: `X-Daytona-SDK-Version`, `X-Daytona-Source` and
//! `User-Agent`.
//!
//! Daemons choose response shapes from `X-Daytona-SDK-Version` (spec §1.3): without it, or with a
//! version below 0.167.0, session logs come back as plain text without the stdout/stderr split.
//! This layer sends [`SDK_VERSION`] unless told otherwise, which selects the modern shapes.
//!
//! ```
//! use process_transport::sdk_version::{SdkVersionLayer, SDK_VERSION};
//! use tower::{service_fn, Layer, Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let echo = service_fn(|req: http::Request<()>| async move {
//!     Ok::<_, std::convert::Infallible>(req.headers().clone())
//! });
//! let mut svc = SdkVersionLayer::default().layer(echo);
//! let headers = svc.ready().await?.call(http::Request::new(())).await?;
//! assert_eq!(headers["x-daytona-sdk-version"], SDK_VERSION);
//! # Ok(()) }
//! ```

mod layer;

use std::task::{Context, Poll};

use http::header::{HeaderName, USER_AGENT};
use http::{HeaderValue, Request};

pub use self::layer::SdkVersionLayer;

/// The protocol version this client speaks (defined once, in `process_proto`).
pub use process_proto::wire::endpoint::SDK_VERSION;

/// The `X-Daytona-SDK-Version` header (its name is defined in `process_proto`).
pub const SDK_VERSION_HEADER: HeaderName =
    HeaderName::from_static(process_proto::wire::endpoint::SDK_VERSION_HEADER);

/// The `X-Daytona-Source` header (its name is defined in `process_proto`).
pub const SOURCE_HEADER: HeaderName =
    HeaderName::from_static(process_proto::wire::endpoint::SOURCE_HEADER);

/// Adds the identification headers to requests that do not carry them yet.
#[derive(Clone, Debug)]
pub struct SdkVersion<S> {
    inner: S,
    version: HeaderValue,
    source: HeaderValue,
    user_agent: HeaderValue,
}

impl<S, B> tower::Service<Request<B>> for SdkVersion<S>
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
        let headers = req.headers_mut();
        headers
            .entry(SDK_VERSION_HEADER)
            .or_insert_with(|| self.version.clone());
        headers
            .entry(SOURCE_HEADER)
            .or_insert_with(|| self.source.clone());
        headers
            .entry(USER_AGENT)
            .or_insert_with(|| self.user_agent.clone());
        self.inner.call(req)
    }
}
