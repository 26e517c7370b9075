//! The transport's error type: what can go wrong between a request and its response.

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;

/// The boxed error every service of this crate returns (tower's convention). Concrete causes are
/// [`Error`] (this crate), `hyper_util::client::legacy::Error` (connection and protocol
/// failures) or whatever a plugged-in service returns; downcast to tell them apart.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Failures produced by this crate's services, layers and WebSocket code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The base URL cannot address a daemon.
    #[error("invalid base URL '{url}': {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A header value (token, version) contains characters HTTP does not allow.
    #[error("invalid value for header {name}: {reason}")]
    InvalidHeader {
        /// The header's name.
        name: &'static str,
        /// What is wrong with the value.
        reason: String,
    },
    /// The response did not arrive within the request's timeout.
    #[error("no response within {0:?}: raise the timeout, or check that the daemon is reachable and not overloaded")]
    Timeout(Duration),
    /// The server answered a WebSocket upgrade with a plain HTTP response.
    #[error("WebSocket upgrade refused with HTTP {status}")]
    UpgradeRejected {
        /// The HTTP status of the refusal.
        status: StatusCode,
        /// The response body (usually a JSON error envelope), at most 64 KiB.
        body: Bytes,
    },
    /// The server answered 101 but not with a WebSocket (`Upgrade: websocket` missing).
    #[error("the server switched protocols but not to WebSocket")]
    NotWebSocket,
    /// The transport in use cannot hand out upgraded connections (e.g. a test mock).
    #[error("this transport does not support WebSocket upgrades: use an HttpTransport (TCP or in-memory)")]
    UpgradeUnsupported,
    /// hyper could not take over the upgraded connection.
    #[error("WebSocket upgrade failed: {0}")]
    Upgrade(#[source] hyper::Error),
    /// A WebSocket protocol or IO failure.
    #[error("WebSocket failure: {0}")]
    WebSocket(#[source] fastwebsockets::WebSocketError),
    /// The connection ended without a WebSocket close frame.
    #[error("the WebSocket connection was cut without a close frame")]
    ConnectionLost,
    /// The WebSocket is closed; nothing more can be sent.
    #[error("the WebSocket connection is closed")]
    Closed,
}

impl Error {
    /// Whether this is a [`Error::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout(_))
    }
}

/// Whether a boxed transport error is a timeout of ours.
pub(crate) fn is_timeout(err: &BoxError) -> bool {
    err.downcast_ref::<Error>().is_some_and(Error::is_timeout)
}
