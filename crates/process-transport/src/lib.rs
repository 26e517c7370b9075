//! Pluggable transports for the sandbox process API: `tower` services over hyper (HTTP/1.1,
//! keep-alive) and fastwebsockets, the layers every request goes through, and an in-memory
//! transport that serves any hyper service over `tokio::io::duplex`.
//!
//! Everything here is a plain `tower::Service<http::Request<Body>>` returning
//! `http::Response<Body>` with a [`BoxError`]; the facade (`process::Client`) accepts any service
//! of that shape, so tests can swap the transport (a real daemon on TCP, the same protocol in
//! memory, or `tower_test::mock` at service level).
//!
//! - [`HyperClient`]: hyper-util's pooled client, generic over its connector; applies the base
//!   URL ([`Origin`], with an optional path prefix such as `/toolbox/<sandboxId>`).
//! - [`MemoryConnector`]: a connector that creates a duplex pair per connection and serves the
//!   other end with a hyper service you supply. No socket, same HTTP and WebSocket code.
//! - Layers, laid out like tower's own middleware: [`auth`] (Bearer token), [`sdk_version`]
//!   (`X-Daytona-SDK-Version` and friends), [`timeout`] (per request), [`retry`] (idempotent
//!   reads), [`trace`] (spans).
//! - [`HttpTransport`]: the client under all the layers, erased with
//!   `tower::util::BoxCloneSyncService`; the facade's default transport.
//! - [`ws`]: WebSocket upgrades through any of these services, driven by fastwebsockets.
//! - Feature `tls`: `https`/`wss` URLs through rustls (ring, webpki roots or your own
//!   `rustls::ClientConfig` via `Builder::tls_config`).
//!
//! # Quick start
//!
//! An in-memory transport in front of a tiny hyper service (the facade plugs the daemon in the
//! same way):
//!
//! ```
//! use http_body_util::{BodyExt, Full};
//! use process_transport::HttpTransport;
//! use tower::{Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), process_transport::BoxError> {
//! let hello = hyper::service::service_fn(|req: http::Request<hyper::body::Incoming>| async move {
//!     let version = req.headers()["x-daytona-sdk-version"].clone();
//!     let mut resp = http::Response::new(Full::new(bytes::Bytes::from("hello")));
//!     resp.headers_mut().insert("echo-version", version);
//!     Ok::<_, std::convert::Infallible>(resp)
//! });
//! let mut transport = HttpTransport::in_memory(hello)?;
//! let req = http::Request::get("/process/session").body(process_transport::empty())?;
//! let resp = transport.ready().await?.call(req).await?;
//! assert_eq!(resp.headers()["echo-version"], process_transport::sdk_version::SDK_VERSION);
//! assert_eq!(resp.into_body().collect().await?.to_bytes(), "hello");
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod auth;
mod body;
mod client;
mod error;
mod memory;
pub mod retry;
pub mod sdk_version;
pub mod timeout;
#[cfg(feature = "tls")]
mod tls;
pub mod trace;
mod transport;
pub mod ws;

pub use body::{empty, full, Body};
pub use client::{HyperClient, Origin, ResponseFuture};
pub use error::{BoxError, Error};
pub use memory::{MemoryConnector, MemoryStream};
pub use transport::{BoxTransport, Builder, HttpTransport, MEMORY_URL};

/// The rustls version the `tls` feature uses, for building a `rustls::ClientConfig`.
#[cfg(feature = "tls")]
pub use rustls;
