//! Handles: [`SessionHandle`] (a session bound to its id) and [`CommandHandle`] (one command of
//! a session), the Rust-shaped API over sessions. The SDK-named flat methods on [`Client`]
//! (`execute_session_command`, `send_session_command_input`, …) are a mirror on top of these:
//! one code path.

use std::time::Duration;

use http::Method;
use process_proto::wire::{
    endpoint, Command, Session, SessionCommandLogsResponse, SessionSendInputRequest,
};

use crate::error::Context;
use crate::logs::LogStream;
use crate::session::{logs_of, SessionExec};
use crate::{Client, CommandRequest, Error, ErrorKind, ExitStatus};

/// A session bound to its id, from [`Client::create_session`] or [`Client::session`]. Cheap to
/// clone.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), process::Error> {
/// let client = process::Client::embedded().await?;
/// let build = client.create_session("build").await?;
/// build.exec("cd /tmp").await?;
/// assert_eq!(build.exec("pwd").await?.stdout, "/tmp\n");
///
/// let job = build.spawn("echo working; exit 4").await?;
/// let mut logs = job.logs().await?.text();
/// # use futures_util::TryStreamExt;
/// while let Some(piece) = logs.try_next().await? {
///     print!("{}", piece.text);
/// }
/// assert_eq!(job.wait().await?.code(), 4);
/// build.delete().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SessionHandle {
    client: Client,
    id: String,
}

impl SessionHandle {
    pub(crate) fn new(client: Client, id: impl Into<String>) -> SessionHandle {
        SessionHandle {
            client,
            id: id.into(),
        }
    }

    /// The session's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Runs a command in the session and waits for it (a string, or a [`CommandRequest`]);
    /// `.await` the builder. Same as [`Client::execute_session_command`].
    pub fn exec(&self, command: impl Into<CommandRequest>) -> SessionExec {
        SessionExec::new(self.client.clone(), self.id.clone(), command.into())
    }

    /// Starts `command` in the background and returns its handle at once.
    pub async fn spawn(&self, command: impl Into<String>) -> Result<CommandHandle, Error> {
        let started = self
            .exec(CommandRequest::new(command).run_async(true))
            .await?;
        Ok(self.command(started.cmd_id))
    }

    /// The handle of one of the session's commands, by id (nothing is sent).
    pub fn command(&self, command_id: impl Into<String>) -> CommandHandle {
        CommandHandle {
            session: self.clone(),
            id: command_id.into(),
        }
    }

    /// The session and the commands it ran (SDK: `get_session`).
    pub async fn info(&self) -> Result<Session, Error> {
        self.client.get_session(&self.id).await
    }

    /// Ends the session's shell and everything it started (SDK: `delete_session`).
    pub async fn delete(&self) -> Result<(), Error> {
        self.client.delete_session(&self.id).await
    }
}

/// One command of a session, from [`SessionHandle::spawn`] or [`SessionHandle::command`]: its
/// log, its input and its exit status. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CommandHandle {
    session: SessionHandle,
    id: String,
}

/// How long [`CommandHandle::wait`] waits between two reads of a command whose log ended
/// before its exit code was recorded.
const WAIT_POLL: Duration = Duration::from_millis(50);

/// How many such reads [`CommandHandle::wait`] makes before it gives up.
const WAIT_POLLS: u32 = 100;

impl CommandHandle {
    /// The command's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The session this command belongs to.
    pub fn session(&self) -> &SessionHandle {
        &self.session
    }

    /// Follows the command's log from its beginning until it ends, as a `Stream` of labelled
    /// chunks (SDK: `get_session_command_logs_async`; same as
    /// [`Client::stream_session_command_logs`]).
    pub async fn logs(&self) -> Result<LogStream, Error> {
        let path = format!("{}?follow=true", self.path(endpoint::SESSION_COMMAND_LOGS));
        self.session
            .client
            .resumable_follow(self.context("stream_session_command_logs"), path)
            .await
    }

    fn context(&self, op: &'static str) -> Context {
        Context::new(op).session(&self.session.id).command(&self.id)
    }

    fn path(&self, endpoint: endpoint::Endpoint) -> String {
        endpoint.path(&[&self.session.id, &self.id])
    }

    /// The command's whole log so far (SDK: `get_session_command_logs`).
    pub async fn output(&self) -> Result<SessionCommandLogsResponse, Error> {
        let ctx = self.context("get_session_command_logs");
        let path = self.path(endpoint::SESSION_COMMAND_LOGS);
        let answer = self
            .session
            .client
            .send(&ctx, Method::GET, &path, None, None)
            .await?;
        logs_of(&answer, &ctx)
    }

    /// Writes `data` to the command's standard input; a newline is added if missing (SDK:
    /// `send_session_command_input`).
    pub async fn input(&self, data: &str) -> Result<(), Error> {
        let ctx = self.context("send_session_command_input");
        if data.is_empty() {
            return Err(Error::invalid_input(
                "send_session_command_input: the daemon refuses empty input; send at least a newline",
            ));
        }
        self.session
            .client
            .send_json(
                &ctx,
                Method::POST,
                &self.path(endpoint::SESSION_COMMAND_INPUT),
                &SessionSendInputRequest::new(data),
                None,
            )
            .await?;
        Ok(())
    }

    /// The command's record, with its exit code once it has ended (SDK:
    /// `get_session_command`).
    pub async fn info(&self) -> Result<Command, Error> {
        let ctx = self.context("get_session_command");
        self.session
            .client
            .get_json(&ctx, &self.path(endpoint::SESSION_COMMAND))
            .await
    }

    /// Waits until the command ends and returns its exit status. The wait follows the log
    /// (pushed by the daemon, no polling) and then reads the recorded exit code.
    pub async fn wait(&self) -> Result<ExitStatus, Error> {
        let mut logs = self.logs().await?;
        while let Some(chunk) = futures_util::StreamExt::next(&mut logs).await {
            chunk?;
        }
        for _ in 0..WAIT_POLLS {
            if let Some(code) = self.info().await?.exit_code {
                return Ok(ExitStatus::from_code(code));
            }
            tokio::time::sleep(WAIT_POLL).await;
        }
        Err(Error::new(
            ErrorKind::Protocol,
            format!(
                "wait: command '{}' of session '{}' ended its log but the daemon recorded no \
                 exit code within {:?}; read it later with get_session_command",
                self.id,
                self.session.id,
                WAIT_POLL * WAIT_POLLS
            ),
        ))
    }
}
