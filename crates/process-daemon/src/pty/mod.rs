//! Interactive PTY sessions over WebSocket (spec §5): registry, REST handlers, attach protocol.

use http::{Request, Response};
use hyper::body::Incoming;

use crate::error::ApiError;
use crate::{Body, Config, Daemon};

/// Registry of PTY sessions.
pub struct PtyManager {}

impl PtyManager {
    /// An empty registry.
    pub fn new(_config: &Config) -> PtyManager {
        PtyManager {}
    }

    /// Kills every PTY session.
    #[allow(clippy::unused_async)] // placeholder until the PTY/interpreter issue lands
    pub async fn shutdown(&self) {}
}

/// Handles `/process/pty{rest}`.
#[allow(clippy::unused_async)] // placeholder until the PTY/interpreter issue lands
pub async fn handle(_daemon: &Daemon, req: Request<Incoming>, _rest: &str) -> Response<Body> {
    ApiError::not_found("PTY sessions are not implemented yet")
        .into_response(req.method(), req.uri().path())
}
