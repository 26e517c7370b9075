//! Sessions: `/process/session...` bodies ([`CreateSessionRequest`], [`Session`], [`Command`],
//! [`SessionExecuteRequest`], [`SessionExecuteResponse`], [`SessionSendInputRequest`],
//! [`SessionCommandLogsResponse`]).

use serde::{Deserialize, Serialize};

use crate::serde_util::null_as_default;

/// The reserved id of the entrypoint session.
pub const ENTRYPOINT_SESSION_ID: &str = "entrypoint";
/// The command id of the entrypoint session's only command.
pub const ENTRYPOINT_COMMAND_ID: &str = "entrypoint_command";

/// Additive WebSocket subprotocol of a log follow (`…/logs?follow=true`): a client that offers
/// it and sees it selected may reconnect with `&offset=N`, N counted in bytes of the stream as
/// the daemon sent it (binary frame payloads), and gets exactly the bytes from N on.
pub const LOG_OFFSET_PROTOCOL: &str = "X-Process-Log-Offset";

/// `POST /process/session` body: `{"sessionId"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CreateSessionRequest {
    /// The new session's id (non-empty; `entrypoint` is reserved).
    pub session_id: String,
}

impl CreateSessionRequest {
    /// A request creating session `session_id`.
    pub fn new(session_id: impl Into<String>) -> Self {
        CreateSessionRequest {
            session_id: session_id.into(),
        }
    }
}

/// A session: `{"sessionId", "commands": [Command]}` (`commands` always an array).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Session {
    /// The session id.
    pub session_id: String,
    /// Commands run in the session, in no particular order (`null` reads as empty).
    #[serde(default, deserialize_with = "null_as_default")]
    pub commands: Vec<Command>,
}

impl Session {
    /// A session with these commands.
    pub fn new(session_id: impl Into<String>, commands: Vec<Command>) -> Self {
        Session {
            session_id: session_id.into(),
            commands,
        }
    }
}

/// A command of a session: `{"id", "command", "exitCode"?}` (`exitCode` absent while running).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Command {
    /// Command id (a UUID; `entrypoint_command` for the entrypoint).
    pub id: String,
    /// The command text.
    pub command: String,
    /// Exit status once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Additive: when the command started (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// Additive: when it finished (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Additive: `lost` when it was running as the daemon died (its `exitCode` is then -1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Additive: why it ended abnormally (e.g. `lost: the daemon restarted`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Command {
    /// A command record.
    pub fn new(id: impl Into<String>, command: impl Into<String>, exit_code: Option<i32>) -> Self {
        Command {
            id: id.into(),
            command: command.into(),
            exit_code,
            started_at: None,
            finished_at: None,
            status: None,
            error: None,
        }
    }
}

/// `POST /process/session/{id}/exec` body:
/// `{"command", "runAsync"?, "async"? (deprecated alias), "suppressInputEcho"?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SessionExecuteRequest {
    /// The command text (non-blank).
    pub command: String,
    /// Run asynchronously (answer 202 at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_async: Option<bool>,
    /// Deprecated alias of `runAsync` (wire name `async`); OR-ed with it.
    #[serde(rename = "async", default, skip_serializing_if = "Option::is_none")]
    pub async_: Option<bool>,
    /// Do not echo input sent with `…/input` into the command's log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress_input_echo: Option<bool>,
    /// Additive: seconds the command may run before its processes are killed (SIGTERM, 2 s,
    /// SIGKILL); the session shell survives. Absent or 0: no timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
}

impl SessionExecuteRequest {
    /// A synchronous request (no flags set).
    pub fn new(command: impl Into<String>) -> Self {
        SessionExecuteRequest {
            command: command.into(),
            run_async: None,
            async_: None,
            suppress_input_echo: None,
            timeout: None,
        }
    }

    /// Sets the additive `timeout` (seconds).
    #[must_use]
    pub fn with_timeout(mut self, seconds: u64) -> Self {
        self.timeout = Some(seconds);
        self
    }

    /// Sets `runAsync`.
    #[must_use]
    pub fn with_run_async(mut self, run_async: bool) -> Self {
        self.run_async = Some(run_async);
        self
    }

    /// Sets `suppressInputEcho`.
    #[must_use]
    pub fn with_suppress_input_echo(mut self, suppress: bool) -> Self {
        self.suppress_input_echo = Some(suppress);
        self
    }

    /// `runAsync || async`.
    pub fn is_async(&self) -> bool {
        self.run_async.unwrap_or(false) || self.async_.unwrap_or(false)
    }

    /// `suppressInputEcho`, false when absent.
    pub fn suppresses_input_echo(&self) -> bool {
        self.suppress_input_echo.unwrap_or(false)
    }
}

/// `POST /process/session/{id}/exec` answer:
/// `{"cmdId", "output", "stdout", "stderr", "exitCode"}` — all five keys always written (`null`
/// when `None`).
///
/// Async (202): only `cmdId`. Sync (200): `output` raw with markers, `stdout`/`stderr` demuxed,
/// `exitCode`. The SDK requires `cmdId` to be a string: a daemon always sets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SessionExecuteResponse {
    /// The new command's id.
    #[serde(default)]
    pub cmd_id: Option<String>,
    /// The command's raw log (markers included).
    #[serde(default)]
    pub output: Option<String>,
    /// Demuxed stdout.
    #[serde(default)]
    pub stdout: Option<String>,
    /// Demuxed stderr.
    #[serde(default)]
    pub stderr: Option<String>,
    /// Exit status.
    #[serde(default)]
    pub exit_code: Option<i32>,
}

impl SessionExecuteResponse {
    /// The 202 answer of an async exec: only `cmdId`.
    pub fn started(cmd_id: impl Into<String>) -> Self {
        SessionExecuteResponse {
            cmd_id: Some(cmd_id.into()),
            output: None,
            stdout: None,
            stderr: None,
            exit_code: None,
        }
    }

    /// The 200 answer of a sync exec.
    pub fn completed(
        cmd_id: impl Into<String>,
        output: impl Into<String>,
        stdout: impl Into<String>,
        stderr: impl Into<String>,
        exit_code: i32,
    ) -> Self {
        SessionExecuteResponse {
            cmd_id: Some(cmd_id.into()),
            output: Some(output.into()),
            stdout: Some(stdout.into()),
            stderr: Some(stderr.into()),
            exit_code: Some(exit_code),
        }
    }
}

/// Additive `POST /process/session/{id}/command/{cid}/signal` body: `{"signal"?}`, a name
/// (`KILL`, `TERM`, `INT`, `HUP`, `QUIT`, `USR1`, `USR2`, `WINCH`, `STOP`, `CONT`, with or
/// without `SIG`) or number; absent: `KILL`. It reaches the processes the command started (an
/// async command's subshell tree, a sync command's programs), never the session shell. 204 on
/// success, 410 once the command has finished.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct SessionCommandSignalRequest {
    /// The signal; `None` means `KILL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
}

impl SessionCommandSignalRequest {
    /// A request sending `signal`.
    pub fn new(signal: impl Into<String>) -> Self {
        SessionCommandSignalRequest {
            signal: Some(signal.into()),
        }
    }
}

/// `POST /process/session/{id}/command/{cid}/input` body: `{"data"}` (non-empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct SessionSendInputRequest {
    /// Text to write to the command's stdin (the daemon appends `\n` if missing).
    pub data: String,
}

impl SessionSendInputRequest {
    /// A request sending `data`.
    pub fn new(data: impl Into<String>) -> Self {
        SessionSendInputRequest { data: data.into() }
    }
}

/// `GET …/logs` answer: `{"output", "stdout", "stderr"}` (all required by the SDK).
///
/// `output` is the raw log with markers; build one from log bytes with
/// [`parse_session_command_logs`](crate::log::parse_session_command_logs).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct SessionCommandLogsResponse {
    /// Raw log text, markers included.
    #[serde(default, deserialize_with = "null_as_default")]
    pub output: String,
    /// Demuxed stdout.
    #[serde(default, deserialize_with = "null_as_default")]
    pub stdout: String,
    /// Demuxed stderr.
    #[serde(default, deserialize_with = "null_as_default")]
    pub stderr: String,
}

impl SessionCommandLogsResponse {
    /// A logs answer.
    pub fn new(
        output: impl Into<String>,
        stdout: impl Into<String>,
        stderr: impl Into<String>,
    ) -> Self {
        SessionCommandLogsResponse {
            output: output.into(),
            stdout: stdout.into(),
            stderr: stderr.into(),
        }
    }
}
