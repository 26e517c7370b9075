//! [`Error`], the one error of the facade, with [`ErrorKind`] and predicates to branch on, built
//! from the daemon's error envelope, transport failures and WebSocket close frames (how each
//! becomes an `Error` is in `context`).

mod context;

pub(crate) use context::Context;

use std::fmt;

use http::StatusCode;
use process_proto::wire::{CloseCode, ErrorCode, ErrorResponse};
use process_transport::ws::CloseFrame;
use process_transport::BoxError;

/// The kind of an [`Error`], to branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An argument was refused before anything was sent (e.g. a PTY size of 0, a bad URL or
    /// token).
    InvalidInput,
    /// The daemon could not be reached.
    Connect,
    /// A deadline passed: the client's request timeout, or the daemon's command timeout (408).
    Timeout,
    /// The daemon refused the credentials (401, also a git remote's `GIT_AUTH_FAILED`) or the
    /// action (403).
    Unauthorized,
    /// The daemon's user may not read or change a path (`FILE_ACCESS_DENIED`, 403).
    AccessDenied,
    /// The session, command, PTY, context, file, repository or branch does not exist (404).
    NotFound,
    /// It already exists (409).
    Conflict,
    /// It existed but is over: the session's shell exited, the command completed, the PTY
    /// ended (410).
    Gone,
    /// The daemon refused the request as invalid (400, 422).
    BadRequest,
    /// The daemon failed (5xx).
    Server,
    /// A WebSocket stream ended abnormally (a close code other than 1000, or the connection was
    /// cut).
    Closed,
    /// The daemon's answer did not have the expected shape.
    Protocol,
    /// Another transport failure (connection reset mid-request, …).
    Transport,
}

/// An error of the process API client.
///
/// The message says what went wrong and, where there is one, what to do about it. Use
/// [`Error::kind`] or the `is_*` predicates to branch; [`Error::status`], [`Error::code`] and
/// [`Error::daemon_message`] give the daemon's own view.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), process::Error> {
/// let client = process::Client::embedded().await?;
/// let err = client.get_session("no-such-session").await.unwrap_err();
/// assert!(err.is_not_found());
/// assert_eq!(
///     err.to_string(),
///     "session 'no-such-session' not found: create it first with create_session"
/// );
/// # Ok(()) }
/// ```
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: String,
    status: Option<StatusCode>,
    response: Option<ErrorResponse>,
    close: Option<CloseFrame>,
    source: Option<BoxError>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                status: None,
                response: None,
                close: None,
                source: None,
            }),
        }
    }

    pub(crate) fn with_source(mut self, source: impl Into<BoxError>) -> Error {
        self.inner.source = Some(source.into());
        self
    }

    pub(crate) fn invalid_input(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidInput, message)
    }

    pub(crate) fn protocol(ctx: &Context, detail: impl fmt::Display) -> Error {
        Error::new(
            ErrorKind::Protocol,
            format!(
                "{}: the daemon's answer is not what the process API specifies ({detail}); \
                 is the URL pointing at a process API daemon?",
                ctx.op
            ),
        )
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The session, command, PTY or context does not exist.
    pub fn is_not_found(&self) -> bool {
        self.inner.kind == ErrorKind::NotFound
    }

    /// A deadline passed (the client's, or the command's timeout on the daemon).
    pub fn is_timeout(&self) -> bool {
        self.inner.kind == ErrorKind::Timeout
    }

    /// It already exists.
    pub fn is_conflict(&self) -> bool {
        self.inner.kind == ErrorKind::Conflict
    }

    /// It existed but is over (session ended, command completed, PTY ended).
    pub fn is_gone(&self) -> bool {
        self.inner.kind == ErrorKind::Gone
    }

    /// The daemon could not be reached.
    pub fn is_connect(&self) -> bool {
        self.inner.kind == ErrorKind::Connect
    }

    /// The daemon refused the credentials or the action.
    pub fn is_unauthorized(&self) -> bool {
        self.inner.kind == ErrorKind::Unauthorized
    }

    /// The request was refused as invalid, by the daemon or before sending.
    pub fn is_invalid(&self) -> bool {
        matches!(
            self.inner.kind,
            ErrorKind::BadRequest | ErrorKind::InvalidInput
        )
    }

    /// A stream (logs, PTY) ended abnormally.
    pub fn is_closed(&self) -> bool {
        self.inner.kind == ErrorKind::Closed
    }

    /// A path may not be read or changed by the daemon's user (`FILE_ACCESS_DENIED`), or the
    /// daemon refused the action (any 403).
    pub fn is_access_denied(&self) -> bool {
        self.inner.kind == ErrorKind::AccessDenied || self.status() == Some(403)
    }

    /// A git push was rejected as non-fast-forward, or a pull found diverged history
    /// (`GIT_PUSH_REJECTED`): fetch and integrate first.
    pub fn is_push_rejected(&self) -> bool {
        self.code() == Some(&ErrorCode::GitPushRejected)
    }

    /// Local changes in the work tree block the git operation (`GIT_DIRTY_WORKTREE`): commit
    /// or restore them first.
    pub fn is_dirty_worktree(&self) -> bool {
        self.code() == Some(&ErrorCode::GitDirtyWorktree)
    }

    /// A git merge could not be done as a fast-forward (`GIT_MERGE_CONFLICT`).
    pub fn is_merge_conflict(&self) -> bool {
        self.code() == Some(&ErrorCode::GitMergeConflict)
    }

    /// The HTTP status the daemon answered with, if the error came from a response.
    pub fn status(&self) -> Option<u16> {
        self.inner.status.map(|s| s.as_u16())
    }

    /// The daemon's typed error code (`PROCESS_NOT_FOUND`, `SESSION_ENDED`, …), if it sent one.
    pub fn code(&self) -> Option<&ErrorCode> {
        self.inner.response.as_ref().and_then(|r| r.code.as_ref())
    }

    /// The daemon's own message, verbatim.
    pub fn daemon_message(&self) -> Option<&str> {
        self.inner
            .response
            .as_ref()
            .map(|r| r.message.as_str())
            .filter(|m| !m.is_empty())
    }

    /// The daemon's full error envelope, if the error came from a response.
    pub fn response(&self) -> Option<&ErrorResponse> {
        self.inner.response.as_ref()
    }

    /// Output produced before the failure, when the daemon sends it (e.g. a timed-out `exec` on
    /// our daemon).
    pub fn partial_output(&self) -> Option<&str> {
        self.inner
            .response
            .as_ref()
            .and_then(|r| r.result.as_deref())
    }

    /// The partial run of a timed-out `exec` or `code_run`, when the daemon sends it (processd's
    /// 408 carries the output so far, the exit code of the killed run, and the truncation): an
    /// [`ExecOutput`](crate::ExecOutput) with split streams when the run asked for them.
    pub fn partial_run(&self) -> Option<crate::ExecOutput> {
        let env = self.inner.response.as_ref()?;
        let result = env.result.clone()?;
        let mut run =
            process_proto::wire::ExecuteResponse::new(env.exit_code.unwrap_or(-1), result);
        if let (Some(out), Some(err)) = (&env.stdout, &env.stderr) {
            run = run.with_split(out.clone(), err.clone());
        }
        run.truncated = env.truncated;
        run.total_bytes = env.total_bytes;
        Some(crate::ExecOutput::from_exec(run))
    }

    /// The WebSocket close code, for stream errors (1011 internal error, 1001 going away, …).
    pub fn close_code(&self) -> Option<CloseCode> {
        self.inner.close.as_ref().map(|c| CloseCode(c.code))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.inner.kind)
            .field("message", &self.inner.message);
        if let Some(status) = self.inner.status {
            d.field("status", &status.as_u16());
        }
        if let Some(code) = self.code() {
            d.field("code", code);
        }
        if let Some(close) = &self.inner.close {
            d.field("close", close);
        }
        if let Some(source) = &self.inner.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
