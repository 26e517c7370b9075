//! Middleware that retries idempotent reads: plain `GET`/`HEAD` requests without a body (never a
//! WebSocket upgrade, never a `POST`/`DELETE`), when the connection failed or a proxy answered
//! 502/503/504. Retries are few and spaced (25 ms, 50 ms, 100 ms, …); timeouts are not retried.
//!
//! Built on `tower::retry`: [`RetryLayer`] makes a `tower::retry::Retry` with the
//! [`IdempotentReads`] policy.
//!
//! ```
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::sync::Arc;
//! use process_transport::{retry::RetryLayer, Body};
//! use tower::{service_fn, Layer, Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let calls = Arc::new(AtomicUsize::new(0));
//! let seen = calls.clone();
//! let flaky = service_fn(move |_req: http::Request<Body>| {
//!     let n = seen.fetch_add(1, Ordering::SeqCst);
//!     async move {
//!         let status = if n == 0 { 503 } else { 200 };
//!         let mut resp = http::Response::new(process_transport::empty());
//!         *resp.status_mut() = http::StatusCode::from_u16(status).unwrap();
//!         Ok::<_, process_transport::BoxError>(resp)
//!     }
//! });
//! let mut svc = RetryLayer::new(2).layer(flaky);
//! let req = http::Request::get("/process/session").body(process_transport::empty()).unwrap();
//! let resp = svc.ready().await.unwrap().call(req).await.unwrap();
//! assert_eq!(resp.status(), 200);
//! assert_eq!(calls.load(Ordering::SeqCst), 2);
//! # }
//! ```

mod layer;
mod policy;

pub use self::layer::RetryLayer;
pub use self::policy::IdempotentReads;
