//! Stateful Python interpreter contexts (spec §7): registry, REST handlers, execute WebSocket.

use http::{Request, Response};
use hyper::body::Incoming;

use crate::error::ApiError;
use crate::{Body, Config, Daemon};

/// Registry of interpreter contexts.
pub struct InterpreterManager {}

impl InterpreterManager {
    /// An empty registry.
    pub fn new(_config: &Config) -> InterpreterManager {
        InterpreterManager {}
    }

    /// Stops every worker.
    #[allow(clippy::unused_async)] // placeholder until the PTY/interpreter issue lands
    pub async fn shutdown(&self) {}
}

/// Handles `/process/interpreter{rest}`.
#[allow(clippy::unused_async)] // placeholder until the PTY/interpreter issue lands
pub async fn handle(_daemon: &Daemon, req: Request<Incoming>, _rest: &str) -> Response<Body> {
    ApiError::not_found("interpreter contexts are not implemented yet")
        .into_response(req.method(), req.uri().path())
}
