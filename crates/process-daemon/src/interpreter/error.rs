//! [`InterpreterError`]: what a context operation or a run can refuse. The edge maps each
//! variant to an HTTP status (`api/interpreter.rs`) or a WebSocket close code (`ws.rs`).

use process_proto::wire::CloseCode;

/// A context operation or run that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum InterpreterError {
    /// Only Python contexts exist.
    #[error("unsupported language: {0} (only 'python' is supported currently)")]
    UnsupportedLanguage(String),
    /// The worker process could not start (the message says why: cwd, socket, spawn).
    #[error("failed to start context: failed to start Python worker: {0}")]
    WorkerStart(String),
    /// `default` always exists.
    #[error("cannot delete default context")]
    DeleteDefault,
    /// No context has this id (list them with `GET /process/interpreter/context`).
    #[error("context with ID '{0}' not found")]
    NotFound(String),
    /// A run named a context that does not exist.
    #[error("context not found: {0}")]
    RunContextNotFound(String),
    /// As many contexts as allowed exist already.
    #[error("the daemon already runs {0} interpreter contexts, its limit (--max-contexts): delete one first")]
    TooMany(usize),
    /// The default context was used before Python was resolved.
    #[error("failed to get default context: Python is not resolved yet")]
    PythonUnresolved,
}

impl InterpreterError {
    /// The close code a run refused with this error ends its socket with (spec §7.2).
    pub(crate) fn close_code(&self) -> CloseCode {
        match self {
            InterpreterError::RunContextNotFound(_) => CloseCode::POLICY,
            _ => CloseCode::INTERNAL,
        }
    }
}
