//! The daemon's error envelope ([`ErrorResponse`], [`ErrorCode`]) and [`WireError`], the error of
//! decoding any wire message.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::serde_util::null_as_default;

/// A wire message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The bytes are not JSON of the expected shape.
    #[error("invalid JSON for {what}: {message} (line {line}, column {column})")]
    Json {
        /// The type that was being decoded.
        what: &'static str,
        /// serde_json's description of the problem.
        message: String,
        /// 1-based line of the problem (0 when unknown).
        line: usize,
        /// 1-based column of the problem (0 when unknown).
        column: usize,
    },
    /// The JSON is well-formed but the message is not one this type describes.
    #[error("not a {what}: {message}")]
    Shape {
        /// The type that was being decoded.
        what: &'static str,
        /// What was wrong.
        message: String,
    },
}

impl WireError {
    pub(crate) fn json(what: &'static str, e: &serde_json::Error) -> Self {
        WireError::Json {
            what,
            message: e.to_string(),
            line: e.line(),
            column: e.column(),
        }
    }
}

/// Decodes any wire type from JSON bytes, naming the type in the error.
///
/// ```
/// use process_proto::wire::{self, ExecuteRequest};
/// let req: ExecuteRequest = wire::decode(br#"{"command": "echo hello"}"#).unwrap();
/// assert_eq!(req.command, "echo hello");
/// ```
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, WireError> {
    serde_json::from_slice(bytes).map_err(|e| WireError::json(std::any::type_name::<T>(), &e))
}

/// Encodes any wire type as compact JSON bytes.
///
/// Serialising the types of this crate cannot fail (all map keys are strings); a custom `T`
/// that fails yields an empty vector, which no wire message is.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// The typed `code` of an [`ErrorResponse`] (`DaemonErrorCode`, SCREAMING_SNAKE on the wire).
///
/// Open: codes this crate does not know are kept in [`ErrorCode::Unknown`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `PROCESS_EXECUTION_TIMEOUT` (408): exec/code-run hit its timeout.
    ProcessExecutionTimeout,
    /// `PROCESS_NOT_FOUND` (404): session, command, PTY or context not found.
    ProcessNotFound,
    /// `SESSION_ENDED` (410): the session's (or PTY's) process has exited.
    SessionEnded,
    /// `COMMAND_ALREADY_COMPLETED` (410): input sent to a finished command.
    CommandAlreadyCompleted,
    /// `BAD_REQUEST` (400).
    BadRequest,
    /// `INVALID_REQUEST_BODY` (400): the body did not parse.
    InvalidRequestBody,
    /// `NOT_FOUND` (404).
    NotFound,
    /// `CONFLICT` (409).
    Conflict,
    /// `FORBIDDEN` (403).
    Forbidden,
    /// `GONE` (410).
    Gone,
    /// `REQUEST_TIMEOUT` (408).
    RequestTimeout,
    /// `INTERNAL_SERVER_ERROR` (500).
    InternalServerError,
    /// `UNAUTHORIZED` (401).
    Unauthorized,
    /// `FILE_NOT_FOUND` (404): a file or directory does not exist.
    FileNotFound,
    /// `FILE_ACCESS_DENIED` (403): the daemon's user may not read or change the path.
    FileAccessDenied,
    /// `INVALID_FILE_PATH` (400): an empty path, or a directory where a file is needed.
    InvalidFilePath,
    /// `FILE_READ_FAILED` (500): a file could not be read.
    FileReadFailed,
    /// `GIT_AUTH_FAILED` (401): the remote refused the credentials (or none were given).
    GitAuthFailed,
    /// `GIT_REPO_NOT_FOUND` (404): no repository at the path or remote.
    GitRepoNotFound,
    /// `GIT_BRANCH_NOT_FOUND` (404): the branch does not exist.
    GitBranchNotFound,
    /// `GIT_BRANCH_EXISTS` (409): the branch already exists.
    GitBranchExists,
    /// `GIT_PUSH_REJECTED` (409): a non-fast-forward push (or divergent pull).
    GitPushRejected,
    /// `GIT_DIRTY_WORKTREE` (409): local changes block the operation.
    GitDirtyWorktree,
    /// `GIT_MERGE_CONFLICT` (409): a fast-forward merge is not possible.
    GitMergeConflict,
    /// `GIT_TRANSPORT_FAILED` (502): the remote could not be reached.
    GitTransportFailed,
    /// `GIT_REMOTE_REJECTED` (422): the remote refused the update.
    GitRemoteRejected,
    /// Any other code, verbatim.
    Unknown(String),
}

impl ErrorCode {
    /// The wire spelling, e.g. `"PROCESS_NOT_FOUND"`.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::ProcessExecutionTimeout => "PROCESS_EXECUTION_TIMEOUT",
            ErrorCode::ProcessNotFound => "PROCESS_NOT_FOUND",
            ErrorCode::SessionEnded => "SESSION_ENDED",
            ErrorCode::CommandAlreadyCompleted => "COMMAND_ALREADY_COMPLETED",
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::InvalidRequestBody => "INVALID_REQUEST_BODY",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::Gone => "GONE",
            ErrorCode::RequestTimeout => "REQUEST_TIMEOUT",
            ErrorCode::InternalServerError => "INTERNAL_SERVER_ERROR",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::FileNotFound => "FILE_NOT_FOUND",
            ErrorCode::FileAccessDenied => "FILE_ACCESS_DENIED",
            ErrorCode::InvalidFilePath => "INVALID_FILE_PATH",
            ErrorCode::FileReadFailed => "FILE_READ_FAILED",
            ErrorCode::GitAuthFailed => "GIT_AUTH_FAILED",
            ErrorCode::GitRepoNotFound => "GIT_REPO_NOT_FOUND",
            ErrorCode::GitBranchNotFound => "GIT_BRANCH_NOT_FOUND",
            ErrorCode::GitBranchExists => "GIT_BRANCH_EXISTS",
            ErrorCode::GitPushRejected => "GIT_PUSH_REJECTED",
            ErrorCode::GitDirtyWorktree => "GIT_DIRTY_WORKTREE",
            ErrorCode::GitMergeConflict => "GIT_MERGE_CONFLICT",
            ErrorCode::GitTransportFailed => "GIT_TRANSPORT_FAILED",
            ErrorCode::GitRemoteRejected => "GIT_REMOTE_REJECTED",
            ErrorCode::Unknown(s) => s,
        }
    }

    /// Parses the wire spelling (exact match; anything else is [`ErrorCode::Unknown`]).
    pub fn parse(s: &str) -> Self {
        match s {
            "PROCESS_EXECUTION_TIMEOUT" => ErrorCode::ProcessExecutionTimeout,
            "PROCESS_NOT_FOUND" => ErrorCode::ProcessNotFound,
            "SESSION_ENDED" => ErrorCode::SessionEnded,
            "COMMAND_ALREADY_COMPLETED" => ErrorCode::CommandAlreadyCompleted,
            "BAD_REQUEST" => ErrorCode::BadRequest,
            "INVALID_REQUEST_BODY" => ErrorCode::InvalidRequestBody,
            "NOT_FOUND" => ErrorCode::NotFound,
            "CONFLICT" => ErrorCode::Conflict,
            "FORBIDDEN" => ErrorCode::Forbidden,
            "GONE" => ErrorCode::Gone,
            "REQUEST_TIMEOUT" => ErrorCode::RequestTimeout,
            "INTERNAL_SERVER_ERROR" => ErrorCode::InternalServerError,
            "UNAUTHORIZED" => ErrorCode::Unauthorized,
            "FILE_NOT_FOUND" => ErrorCode::FileNotFound,
            "FILE_ACCESS_DENIED" => ErrorCode::FileAccessDenied,
            "INVALID_FILE_PATH" => ErrorCode::InvalidFilePath,
            "FILE_READ_FAILED" => ErrorCode::FileReadFailed,
            "GIT_AUTH_FAILED" => ErrorCode::GitAuthFailed,
            "GIT_REPO_NOT_FOUND" => ErrorCode::GitRepoNotFound,
            "GIT_BRANCH_NOT_FOUND" => ErrorCode::GitBranchNotFound,
            "GIT_BRANCH_EXISTS" => ErrorCode::GitBranchExists,
            "GIT_PUSH_REJECTED" => ErrorCode::GitPushRejected,
            "GIT_DIRTY_WORKTREE" => ErrorCode::GitDirtyWorktree,
            "GIT_MERGE_CONFLICT" => ErrorCode::GitMergeConflict,
            "GIT_TRANSPORT_FAILED" => ErrorCode::GitTransportFailed,
            "GIT_REMOTE_REJECTED" => ErrorCode::GitRemoteRejected,
            other => ErrorCode::Unknown(other.to_owned()),
        }
    }

    /// The HTTP status the daemon pairs with this code, if it is a known one.
    pub fn http_status(&self) -> Option<u16> {
        Some(match self {
            ErrorCode::BadRequest | ErrorCode::InvalidRequestBody | ErrorCode::InvalidFilePath => {
                400
            }
            ErrorCode::Unauthorized | ErrorCode::GitAuthFailed => 401,
            ErrorCode::Forbidden | ErrorCode::FileAccessDenied => 403,
            ErrorCode::ProcessNotFound
            | ErrorCode::NotFound
            | ErrorCode::FileNotFound
            | ErrorCode::GitRepoNotFound
            | ErrorCode::GitBranchNotFound => 404,
            ErrorCode::ProcessExecutionTimeout | ErrorCode::RequestTimeout => 408,
            ErrorCode::Conflict
            | ErrorCode::GitBranchExists
            | ErrorCode::GitPushRejected
            | ErrorCode::GitDirtyWorktree
            | ErrorCode::GitMergeConflict => 409,
            ErrorCode::SessionEnded | ErrorCode::CommandAlreadyCompleted | ErrorCode::Gone => 410,
            ErrorCode::GitRemoteRejected => 422,
            ErrorCode::InternalServerError | ErrorCode::FileReadFailed => 500,
            ErrorCode::GitTransportFailed => 502,
            ErrorCode::Unknown(_) => return None,
        })
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for ErrorCode {
    fn from(s: &str) -> Self {
        ErrorCode::parse(s)
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(ErrorCode::parse(&s))
    }
}

/// The value of [`ErrorResponse::source`] the daemon sends.
pub const ERROR_SOURCE_DAEMON: &str = "DAYTONA_DAEMON";

/// The daemon's JSON error envelope:
/// `{"statusCode", "message", "source", "code"?, "timestamp", "path", "method"}`.
///
/// Our daemon may add the optional `exitCode`/`result`/`stdout`/`stderr`/`timedOut`/`truncated`/
/// `totalBytes` fields (the partial run of a timed-out exec, the 408); the SDK keeps unknown keys
/// and ignores them.
///
/// Reading is lenient: every field may be absent (missing strings read as `""`, a missing status
/// as 0). Use [`ErrorResponse::parse_lenient`] for a body of unknown shape (legacy `{"error": msg}`,
/// text, empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ErrorResponse {
    /// The HTTP status code.
    #[serde(default)]
    pub status_code: u16,
    /// Human-readable message.
    #[serde(default, deserialize_with = "null_as_default")]
    pub message: String,
    /// Who produced the error (`"DAYTONA_DAEMON"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The typed error code, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub code: Option<ErrorCode>,
    /// RFC 3339 timestamp with nanoseconds, formatted by the caller (no clock here).
    #[serde(default, deserialize_with = "null_as_default")]
    pub timestamp: String,
    /// The request path.
    #[serde(default, deserialize_with = "null_as_default")]
    pub path: String,
    /// The request method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Additive: combined output produced before the failure (e.g. an exec timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// Additive: stdout produced before the failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    /// Additive: stderr produced before the failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    /// Additive: `true` when the failure is a timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timed_out: Option<bool>,
    /// Additive: the exit code of the killed run (e.g. `-1` or `137`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Additive: `true` when the partial output was capped (head and tail kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
    /// Additive: how many output bytes the run produced in total (before any cap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_bytes: Option<u64>,
}

impl ErrorResponse {
    /// An envelope with `source: "DAYTONA_DAEMON"` and no code; `timestamp` is passed in (RFC 3339
    /// with nanoseconds) because this crate has no clock.
    pub fn new(
        status_code: u16,
        message: impl Into<String>,
        timestamp: impl Into<String>,
        path: impl Into<String>,
        method: impl Into<String>,
    ) -> Self {
        ErrorResponse {
            status_code,
            message: message.into(),
            source: Some(ERROR_SOURCE_DAEMON.to_owned()),
            code: None,
            timestamp: timestamp.into(),
            path: path.into(),
            method: Some(method.into()),
            result: None,
            stdout: None,
            stderr: None,
            timed_out: None,
            exit_code: None,
            truncated: None,
            total_bytes: None,
        }
    }

    /// Sets the typed code.
    #[must_use]
    pub fn with_code(mut self, code: ErrorCode) -> Self {
        self.code = Some(code);
        self
    }

    /// Adds the partial run of a timed-out exec (the 408's additive fields): `timedOut: true`,
    /// the exit code, the combined output and, when the run split its streams, stdout/stderr.
    #[must_use]
    pub fn with_partial_run(mut self, run: &super::exec::ExecuteResponse) -> Self {
        self.timed_out = Some(true);
        self.exit_code = Some(run.exit_code);
        self.result = Some(run.result.clone());
        self.stdout.clone_from(&run.stdout);
        self.stderr.clone_from(&run.stderr);
        self.truncated = run.truncated;
        self.total_bytes = run.total_bytes;
        self
    }

    /// Reads an error body of any shape, never failing:
    /// the envelope; the legacy `{"error": msg}` (also `error_code` for the code); a JSON string;
    /// any other body as lossy UTF-8 text (trimmed); an empty body gets an empty message.
    /// `status_code` is the HTTP status and is used when the body carries none.
    pub fn parse_lenient(status_code: u16, body: &[u8]) -> ErrorResponse {
        let mut out = ErrorResponse {
            status_code,
            message: String::new(),
            source: None,
            code: None,
            timestamp: String::new(),
            path: String::new(),
            method: None,
            result: None,
            stdout: None,
            stderr: None,
            timed_out: None,
            exit_code: None,
            truncated: None,
            total_bytes: None,
        };
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(serde_json::Value::Object(map)) => {
                if let Ok(mut env) = serde_json::from_value::<ErrorResponse>(map.clone().into()) {
                    if env.status_code == 0 {
                        env.status_code = status_code;
                    }
                    out = env;
                }
                if out.message.is_empty() {
                    if let Some(serde_json::Value::String(m)) = map.get("error") {
                        out.message.clone_from(m);
                    }
                }
                if out.code.is_none() {
                    if let Some(serde_json::Value::String(c)) = map.get("error_code") {
                        out.code = Some(ErrorCode::parse(c));
                    }
                }
            }
            Ok(serde_json::Value::String(s)) => out.message = s,
            _ => String::from_utf8_lossy(body)
                .trim()
                .clone_into(&mut out.message),
        }
        out
    }
}

impl fmt::Display for ErrorResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (status {}", self.message, self.status_code)?;
        if let Some(code) = &self.code {
            write!(f, ", code {code}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_408_partial_run_is_written_and_read_by_one_type() {
        let run = crate::wire::ExecuteResponse::new(-1, "before\n")
            .with_split("before\n", "")
            .with_truncation(true, 12345);
        let env = ErrorResponse::new(
            408,
            "command execution timeout",
            "T",
            "/process/execute",
            "POST",
        )
        .with_code(ErrorCode::ProcessExecutionTimeout)
        .with_partial_run(&run);
        let json: serde_json::Value = serde_json::to_value(&env).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "statusCode": 408, "message": "command execution timeout", "source": "DAYTONA_DAEMON",
                "code": "PROCESS_EXECUTION_TIMEOUT", "timestamp": "T", "path": "/process/execute",
                "method": "POST", "exitCode": -1, "result": "before\n", "stdout": "before\n",
                "stderr": "", "timedOut": true, "truncated": true, "totalBytes": 12345
            })
        );
        let back = ErrorResponse::parse_lenient(408, json.to_string().as_bytes());
        assert_eq!(back, env);
        // Without a cap there are no truncation keys, and no split without splitOutput.
        let plain = ErrorResponse::new(408, "m", "T", "/p", "POST")
            .with_partial_run(&crate::wire::ExecuteResponse::new(137, "x"));
        let json = serde_json::to_value(&plain).unwrap();
        for absent in ["truncated", "totalBytes", "stdout", "stderr", "code"] {
            assert!(json.get(absent).is_none(), "{absent} in {json}");
        }
        assert_eq!(json["exitCode"], 137);
    }
}
