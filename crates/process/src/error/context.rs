//! `Context`: what a request was about (the operation and the ids involved), and how each
//! kind of failure — the daemon's error envelope, a transport error, a WebSocket close frame,
//! an in-band error — becomes an [`Error`] that names it and says what to do.

use std::time::Duration;

use http::StatusCode;
use process_proto::wire::{ErrorCode, ErrorResponse};
use process_transport::ws::CloseFrame;
use process_transport::BoxError;

use super::{Error, ErrorKind};

/// What a request was about, so errors can name it: the operation (the seed method's name) and
/// the ids involved.
#[derive(Clone, Debug, Default)]
pub(crate) struct Context {
    /// Operation name, e.g. `"create_session"`.
    pub(crate) op: &'static str,
    pub(crate) session: Option<String>,
    pub(crate) command: Option<String>,
    pub(crate) pty: Option<String>,
    /// Server-side timeout the request asked for, if any.
    pub(crate) timeout: Option<Duration>,
}

impl Context {
    pub(crate) fn new(op: &'static str) -> Context {
        Context {
            op,
            ..Context::default()
        }
    }

    pub(crate) fn session(mut self, id: &str) -> Context {
        self.session = Some(id.to_owned());
        self
    }

    pub(crate) fn command(mut self, id: &str) -> Context {
        self.command = Some(id.to_owned());
        self
    }

    pub(crate) fn pty(mut self, id: &str) -> Context {
        self.pty = Some(id.to_owned());
        self
    }

    pub(crate) fn timeout(mut self, timeout: Option<Duration>) -> Context {
        self.timeout = timeout;
        self
    }

    /// The error for a non-success HTTP answer with `body`.
    pub(crate) fn response_error(&self, status: StatusCode, body: &[u8]) -> Error {
        let envelope = ErrorResponse::parse_lenient(status.as_u16(), body);
        let kind = kind_of(status, envelope.code.as_ref());
        let message = self.describe(kind, status, &envelope);
        let mut err = Error::new(kind, message);
        err.inner.status = Some(status);
        err.inner.response = Some(envelope);
        err
    }

    /// The error for a transport failure (`daemon` says which daemon, e.g. "the daemon at
    /// http://…", for the message).
    pub(crate) fn transport_error(&self, err: BoxError, daemon: &str) -> Error {
        if let Some(t) = err.downcast_ref::<process_transport::Error>() {
            match t {
                process_transport::Error::Timeout(d) => {
                    return Error::new(
                        ErrorKind::Timeout,
                        format!(
                            "{}: no answer from the daemon within {d:?}: raise the client's \
                             timeout (Client::builder(..).timeout) or check that the daemon is \
                             not overloaded",
                            self.op
                        ),
                    )
                    .with_source(err);
                }
                process_transport::Error::UpgradeRejected { status, body } => {
                    return self.response_error(*status, body);
                }
                process_transport::Error::UpgradeUnsupported => {
                    return Error::new(
                        ErrorKind::Transport,
                        format!(
                            "{}: needs a WebSocket, which this transport cannot open: use \
                             Client::connect or Client::embedded",
                            self.op
                        ),
                    )
                    .with_source(err);
                }
                process_transport::Error::InvalidUrl { .. }
                | process_transport::Error::InvalidHeader { .. } => {
                    return Error::new(ErrorKind::InvalidInput, format!("{}: {t}", self.op))
                        .with_source(err);
                }
                _ => {}
            }
        }
        if let Some(h) = err.downcast_ref::<hyper_util::client::legacy::Error>() {
            if h.is_connect() {
                let cause = std::error::Error::source(h)
                    .map(ToString::to_string)
                    .unwrap_or_default();
                return Error::new(
                    ErrorKind::Connect,
                    format!(
                        "{}: cannot connect to {daemon} ({cause}): is processd \
                         running and listening there?",
                        self.op
                    ),
                )
                .with_source(err);
            }
        }
        let detail = full_chain(&*err);
        Error::new(
            ErrorKind::Transport,
            format!("{}: the request to {daemon} failed: {detail}", self.op),
        )
        .with_source(err)
    }

    /// The error for a WebSocket stream that ended with a close code other than 1000.
    pub(crate) fn close_error(&self, close: CloseFrame) -> Error {
        let what = self.subject();
        let reason = if close.reason.is_empty() {
            "closed unexpectedly".to_owned()
        } else {
            close.reason.clone()
        };
        let mut err = Error::new(
            ErrorKind::Closed,
            format!(
                "{}: {what} stream ended abnormally: {reason} (close code {})",
                self.op, close.code
            ),
        );
        err.inner.close = Some(close);
        err
    }

    /// The error for a WebSocket connection that was cut or failed.
    pub(crate) fn stream_error(&self, err: process_transport::Error) -> Error {
        let what = self.subject();
        Error::new(
            ErrorKind::Closed,
            format!("{}: {what} stream failed: {err}", self.op),
        )
        .with_source(err)
    }

    /// The error for a PTY `{"status":"error"}` control message (the connect failed in-band).
    pub(crate) fn in_band_error(&self, message: &str) -> Error {
        let p = self.pty.as_deref().unwrap_or_default();
        let lower = message.to_ascii_lowercase();
        let (kind, text) = if lower.contains("not found") {
            (
                ErrorKind::NotFound,
                format!(
                    "PTY session '{p}' not found: create it first with create_pty_session \
                     (list_pty_sessions shows the live ones)"
                ),
            )
        } else if lower.contains("terminated") || lower.contains("no longer available") {
            (
                ErrorKind::Gone,
                format!("PTY session '{p}' has ended ({message}): create a new one with create_pty_session"),
            )
        } else {
            (
                ErrorKind::Server,
                format!("{}: the daemon reported: {message}", self.op),
            )
        };
        let mut err = Error::new(kind, text);
        err.inner.response = Some(ErrorResponse::parse_lenient(0, message.as_bytes()));
        err
    }

    fn subject(&self) -> String {
        match (&self.session, &self.command, &self.pty) {
            (Some(s), Some(c), _) => format!("the log of command '{c}' in session '{s}'"),
            (_, _, Some(p)) => format!("PTY session '{p}'"),
            (Some(s), None, _) => format!("session '{s}'"),
            _ => "the".to_owned(),
        }
    }

    fn describe(&self, kind: ErrorKind, status: StatusCode, env: &ErrorResponse) -> String {
        let daemon = if env.message.is_empty() {
            status.canonical_reason().unwrap_or("no message").to_owned()
        } else {
            env.message.clone()
        };
        let s = self.session.as_deref().unwrap_or_default();
        let c = self.command.as_deref().unwrap_or_default();
        let p = self.pty.as_deref().unwrap_or_default();
        let lower = daemon.to_ascii_lowercase();
        match kind {
            ErrorKind::NotFound if self.pty.is_some() => format!(
                "PTY session '{p}' not found: create it first with create_pty_session \
                 (list_pty_sessions shows the live ones)"
            ),
            ErrorKind::NotFound if self.command.is_some() && lower.contains("command") => format!(
                "command '{c}' not found in session '{s}': get_session lists the session's commands"
            ),
            ErrorKind::NotFound if self.session.is_some() && lower.contains("session") => {
                if s == process_proto::wire::ENTRYPOINT_SESSION_ID {
                    "the entrypoint session does not exist: the daemon was started without an \
                     entrypoint command"
                        .to_owned()
                } else {
                    format!("session '{s}' not found: create it first with create_session")
                }
            }
            ErrorKind::Conflict if self.pty.is_some() => format!(
                "PTY session '{p}' already exists: connect to it with connect_pty_session, or \
                 kill it first with kill_pty_session"
            ),
            ErrorKind::Conflict if self.session.is_some() => format!(
                "session '{s}' already exists: use it, pick another id, or delete it first with \
                 delete_session"
            ),
            ErrorKind::Gone if env.code == Some(ErrorCode::CommandAlreadyCompleted) => {
                format!(
                    "command '{c}' in session '{s}' has already completed ({daemon}): input can \
                     only go to a running command started with run_async"
                )
            }
            ErrorKind::Gone if self.pty.is_some() => format!(
                "PTY session '{p}' has ended ({daemon}): create a new one with create_pty_session"
            ),
            ErrorKind::Gone if self.session.is_some() => format!(
                "session '{s}' has ended ({daemon}), e.g. a command ran `exit`: delete it and \
                 create a new one"
            ),
            ErrorKind::Timeout => match self.timeout {
                Some(t) => format!(
                    "{}: the command did not finish within its timeout of {}s and was killed: \
                     raise the timeout, or run it in a session with run_async",
                    self.op,
                    t.as_secs()
                ),
                None => format!("{}: timed out on the daemon: {daemon}", self.op),
            },
            ErrorKind::Unauthorized if status == StatusCode::UNAUTHORIZED => format!(
                "{}: the daemon refused the credentials ({daemon}): pass its token with \
                 Client::builder(url).token(..)",
                self.op
            ),
            ErrorKind::BadRequest => {
                format!("{}: the daemon refused the request: {daemon}", self.op)
            }
            _ => format!("{}: {daemon} (HTTP {})", self.op, status.as_u16()),
        }
    }
}

fn kind_of(status: StatusCode, code: Option<&ErrorCode>) -> ErrorKind {
    match code {
        Some(
            ErrorCode::ProcessNotFound
            | ErrorCode::NotFound
            | ErrorCode::FileNotFound
            | ErrorCode::GitRepoNotFound
            | ErrorCode::GitBranchNotFound,
        ) => return ErrorKind::NotFound,
        Some(ErrorCode::FileAccessDenied) => return ErrorKind::AccessDenied,
        Some(ErrorCode::ProcessExecutionTimeout | ErrorCode::RequestTimeout) => {
            return ErrorKind::Timeout
        }
        Some(ErrorCode::SessionEnded | ErrorCode::CommandAlreadyCompleted | ErrorCode::Gone) => {
            return ErrorKind::Gone
        }
        Some(
            ErrorCode::Conflict
            | ErrorCode::GitBranchExists
            | ErrorCode::GitPushRejected
            | ErrorCode::GitDirtyWorktree
            | ErrorCode::GitMergeConflict,
        ) => return ErrorKind::Conflict,
        Some(ErrorCode::Unauthorized | ErrorCode::Forbidden | ErrorCode::GitAuthFailed) => {
            return ErrorKind::Unauthorized
        }
        Some(
            ErrorCode::BadRequest
            | ErrorCode::InvalidRequestBody
            | ErrorCode::InvalidFilePath
            | ErrorCode::GitRemoteRejected,
        ) => return ErrorKind::BadRequest,
        Some(ErrorCode::FileReadFailed) => return ErrorKind::Server,
        Some(ErrorCode::GitTransportFailed) => return ErrorKind::Transport,
        _ => {}
    }
    match status.as_u16() {
        400 | 422 => ErrorKind::BadRequest,
        401 | 403 => ErrorKind::Unauthorized,
        404 => ErrorKind::NotFound,
        408 | 504 => ErrorKind::Timeout,
        409 => ErrorKind::Conflict,
        410 => ErrorKind::Gone,
        502 | 503 => ErrorKind::Connect,
        _ => ErrorKind::Server,
    }
}

fn full_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use process_proto::wire::CloseCode;

    fn envelope(status: u16, code: Option<&str>, message: &str) -> Vec<u8> {
        let mut v = serde_json::json!({
            "statusCode": status, "message": message, "source": "DAYTONA_DAEMON",
            "timestamp": "2026-01-01T00:00:00Z", "path": "/p", "method": "GET"
        });
        if let Some(c) = code {
            v["code"] = c.into();
        }
        serde_json::to_vec(&v).unwrap()
    }

    /// Every file-system and git code of the toolbox spec (§1.3) gets the kind and predicate
    /// a caller branches on.
    #[test]
    fn file_and_git_codes_map_to_kinds() {
        let ctx = Context::new("git");
        let cases: [(u16, &str, ErrorKind); 13] = [
            (404, "FILE_NOT_FOUND", ErrorKind::NotFound),
            (403, "FILE_ACCESS_DENIED", ErrorKind::AccessDenied),
            (400, "INVALID_FILE_PATH", ErrorKind::BadRequest),
            (500, "FILE_READ_FAILED", ErrorKind::Server),
            (401, "GIT_AUTH_FAILED", ErrorKind::Unauthorized),
            (404, "GIT_REPO_NOT_FOUND", ErrorKind::NotFound),
            (404, "GIT_BRANCH_NOT_FOUND", ErrorKind::NotFound),
            (409, "GIT_BRANCH_EXISTS", ErrorKind::Conflict),
            (409, "GIT_PUSH_REJECTED", ErrorKind::Conflict),
            (409, "GIT_DIRTY_WORKTREE", ErrorKind::Conflict),
            (409, "GIT_MERGE_CONFLICT", ErrorKind::Conflict),
            (502, "GIT_TRANSPORT_FAILED", ErrorKind::Transport),
            (422, "GIT_REMOTE_REJECTED", ErrorKind::BadRequest),
        ];
        for (status, code, kind) in cases {
            let err = ctx.response_error(
                StatusCode::from_u16(status).unwrap(),
                &envelope(status, Some(code), "m"),
            );
            assert_eq!(err.kind(), kind, "{code}");
            assert_eq!(err.code().map(ErrorCode::as_str), Some(code));
            assert_eq!(
                err.is_access_denied(),
                code == "FILE_ACCESS_DENIED",
                "{code}"
            );
            assert_eq!(
                err.is_push_rejected(),
                code == "GIT_PUSH_REJECTED",
                "{code}"
            );
            assert_eq!(
                err.is_dirty_worktree(),
                code == "GIT_DIRTY_WORKTREE",
                "{code}"
            );
            assert_eq!(
                err.is_merge_conflict(),
                code == "GIT_MERGE_CONFLICT",
                "{code}"
            );
        }
        let forbidden = ctx.response_error(
            StatusCode::FORBIDDEN,
            &envelope(403, Some("FORBIDDEN"), "no"),
        );
        assert!(forbidden.is_access_denied() && forbidden.is_unauthorized());
    }

    #[test]
    fn session_not_found_says_what_to_do() {
        let ctx = Context::new("get_session").session("x");
        let err = ctx.response_error(
            StatusCode::NOT_FOUND,
            &envelope(404, Some("PROCESS_NOT_FOUND"), "session not found"),
        );
        assert!(err.is_not_found());
        assert_eq!(err.status(), Some(404));
        assert_eq!(err.code(), Some(&ErrorCode::ProcessNotFound));
        assert_eq!(err.daemon_message(), Some("session not found"));
        assert_eq!(
            err.to_string(),
            "session 'x' not found: create it first with create_session"
        );
    }

    #[test]
    fn command_not_found_is_told_apart_from_session_not_found() {
        let ctx = Context::new("get_session_command")
            .session("s")
            .command("c");
        let err = ctx.response_error(
            StatusCode::NOT_FOUND,
            &envelope(404, Some("PROCESS_NOT_FOUND"), "command not found"),
        );
        assert!(
            err.to_string()
                .starts_with("command 'c' not found in session 's'"),
            "{err}"
        );
    }

    #[test]
    fn codes_win_over_statuses_and_legacy_bodies_work() {
        let ctx = Context::new("send_session_command_input")
            .session("s")
            .command("c");
        let err = ctx.response_error(
            StatusCode::GONE,
            &envelope(
                410,
                Some("COMMAND_ALREADY_COMPLETED"),
                "command has already completed with exit code 0",
            ),
        );
        assert!(err.is_gone());
        assert!(err.to_string().contains("run_async"), "{err}");

        let ctx = Context::new("create_pty_session").pty("p");
        let err = ctx.response_error(
            StatusCode::CONFLICT,
            br#"{"error":"PTY session with ID 'p' already exists"}"#,
        );
        assert!(err.is_conflict());
        assert!(err.to_string().contains("connect_pty_session"), "{err}");
        assert_eq!(
            err.daemon_message(),
            Some("PTY session with ID 'p' already exists")
        );

        let ctx = Context::new("exec").timeout(Some(Duration::from_secs(2)));
        let err = ctx.response_error(
            StatusCode::REQUEST_TIMEOUT,
            &envelope(
                408,
                Some("PROCESS_EXECUTION_TIMEOUT"),
                "command execution timeout",
            ),
        );
        assert!(err.is_timeout());
        assert!(err.to_string().contains("timeout of 2s"), "{err}");

        // An empty body still gives a usable error.
        let err =
            Context::new("list_sessions").response_error(StatusCode::INTERNAL_SERVER_ERROR, b"");
        assert_eq!(err.kind(), ErrorKind::Server);
        assert!(err.to_string().contains("500"), "{err}");
    }

    #[test]
    fn close_errors_carry_the_code() {
        let err = Context::new("stream_session_command_logs")
            .session("s")
            .command("c")
            .close_error(CloseFrame {
                code: 1011,
                reason: String::new(),
            });
        assert!(err.is_closed());
        assert_eq!(err.close_code(), Some(CloseCode::INTERNAL));
        assert!(err.to_string().contains("close code 1011"), "{err}");
    }
}
