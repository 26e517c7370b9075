//! Sessions: long-lived shells that keep state (cwd, variables) between commands; their
//! commands, logs (whole, streamed, or through callbacks) and input, and the entrypoint session.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

use futures_util::StreamExt;
use http::Method;
use process_proto::log::{parse_session_command_logs, OutputStream};
use process_proto::wire::{
    self, endpoint, Command, CreateSessionRequest, Session, SessionCommandLogsResponse,
    ENTRYPOINT_COMMAND_ID, ENTRYPOINT_SESSION_ID,
};
use process_transport::timeout::RequestTimeout;

use crate::client::Answer;
use crate::error::Context;
use crate::handles::SessionHandle;
use crate::logs::LogStream;
use crate::{Client, Error};

/// A command to run in a session (the SDK's `SessionExecuteRequest`). Plain strings convert
/// into a synchronous request.
///
/// ```
/// use process::CommandRequest;
/// let sync: CommandRequest = "cat test.txt".into();
/// let background = CommandRequest::new("python3 -m http.server").run_async(true);
/// # let _ = (sync, background);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandRequest {
    /// The command text, run by the session's shell (so `cd` and `export` persist).
    pub command: String,
    /// Return at once with the command id instead of waiting for the exit code.
    pub run_async: bool,
    /// Do not echo [`Client::send_session_command_input`] data into the command's log.
    pub suppress_input_echo: bool,
}

impl CommandRequest {
    /// A synchronous request for `command`.
    pub fn new(command: impl Into<String>) -> CommandRequest {
        CommandRequest {
            command: command.into(),
            run_async: false,
            suppress_input_echo: false,
        }
    }

    /// Runs in the background: the call returns the command id at once; follow the output
    /// with [`Client::stream_session_command_logs`] and feed it with
    /// [`Client::send_session_command_input`].
    #[must_use]
    pub fn run_async(mut self, run_async: bool) -> CommandRequest {
        self.run_async = run_async;
        self
    }

    /// Keeps input sent to the command out of its log.
    #[must_use]
    pub fn suppress_input_echo(mut self, suppress: bool) -> CommandRequest {
        self.suppress_input_echo = suppress;
        self
    }
}

impl From<&str> for CommandRequest {
    fn from(command: &str) -> CommandRequest {
        CommandRequest::new(command)
    }
}

impl From<String> for CommandRequest {
    fn from(command: String) -> CommandRequest {
        CommandRequest::new(command)
    }
}

/// The answer to [`Client::execute_session_command`] (the SDK's `SessionExecuteResponse`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandOutput {
    /// The command's id, for [`Client::get_session_command`] and the log calls.
    pub cmd_id: String,
    /// The raw log, stdout and stderr marked (empty for asynchronous commands).
    pub output: String,
    /// What the command wrote to stdout (empty for asynchronous commands).
    pub stdout: String,
    /// What the command wrote to stderr (empty for asynchronous commands).
    pub stderr: String,
    /// The exit code; `None` for asynchronous commands.
    pub exit_code: Option<i32>,
}

impl CommandOutput {
    fn from_wire(resp: wire::SessionExecuteResponse, ctx: &Context) -> Result<Self, Error> {
        let cmd_id = resp
            .cmd_id
            .ok_or_else(|| Error::protocol(ctx, "the answer has no cmdId"))?;
        let output = resp.output.unwrap_or_default();
        // Daemons that do not split the streams send only the marked log: split it here.
        let (stdout, stderr) = match (resp.stdout, resp.stderr) {
            (None, None) if !output.is_empty() => {
                let logs = parse_session_command_logs(output.as_bytes());
                (logs.stdout, logs.stderr)
            }
            (out, err) => (out.unwrap_or_default(), err.unwrap_or_default()),
        };
        Ok(CommandOutput {
            cmd_id,
            output,
            stdout,
            stderr,
            exit_code: resp.exit_code,
        })
    }
}

type BoxFuture<R> = Pin<Box<dyn Future<Output = Result<R, Error>> + Send>>;

/// A command to run in a session, built by [`Client::execute_session_command`]; `.await` it.
#[must_use = "a SessionExec does nothing until it is awaited"]
pub struct SessionExec {
    client: Client,
    session_id: String,
    request: CommandRequest,
    timeout: Option<Duration>,
}

impl SessionExec {
    pub(crate) fn new(client: Client, session_id: String, request: CommandRequest) -> SessionExec {
        SessionExec {
            client,
            session_id,
            request,
            timeout: None,
        }
    }

    /// Gives up waiting after `timeout` (client side only: sessions have no server-side
    /// timeout, so the command keeps running — follow it with its id from
    /// [`Client::get_session`], or delete the session to stop it). The error's
    /// [`is_timeout`](Error::is_timeout) is true.
    pub fn timeout(mut self, timeout: Duration) -> SessionExec {
        self.timeout = Some(timeout);
        self
    }
}

impl IntoFuture for SessionExec {
    type Output = Result<CommandOutput, Error>;
    type IntoFuture = BoxFuture<CommandOutput>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let ctx = Context::new("execute_session_command").session(&self.session_id);
            let mut body = wire::SessionExecuteRequest::new(self.request.command)
                .with_run_async(self.request.run_async);
            if self.request.suppress_input_echo {
                body = body.with_suppress_input_echo(true);
            }
            let path = endpoint::SESSION_EXEC.path(&[&self.session_id]);
            let answer = self
                .client
                .send_json(
                    &ctx,
                    Method::POST,
                    &path,
                    &body,
                    // Client-side only (sessions have no server timeout): exactly this long.
                    self.timeout.map(|t| RequestTimeout(Some(t))),
                )
                .await?;
            CommandOutput::from_wire(answer.json(&ctx)?, &ctx)
        })
    }
}

pub(crate) fn logs_of(answer: &Answer, ctx: &Context) -> Result<SessionCommandLogsResponse, Error> {
    if answer.is_json() || answer.body.first() == Some(&b'{') {
        answer.json(ctx)
    } else {
        // Daemons answering old clients send the raw log as text: split it here.
        Ok(parse_session_command_logs(&answer.body))
    }
}

impl Client {
    /// Creates a session: a shell that keeps its state between commands (SDK:
    /// `create_session`). Returns its [`SessionHandle`]; the flat methods taking a session id
    /// work as well.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), process::Error> {
    /// let client = process::Client::embedded().await?;
    /// client.create_session("my-session").await?;
    /// client.execute_session_command("my-session", "export GREETING=hi").await?;
    /// let result = client.execute_session_command("my-session", "echo $GREETING").await?;
    /// assert_eq!(result.stdout, "hi\n");
    /// assert_eq!(result.exit_code, Some(0));
    /// client.delete_session("my-session").await?;
    /// # Ok(()) }
    /// ```
    pub async fn create_session(&self, session_id: &str) -> Result<SessionHandle, Error> {
        let ctx = Context::new("create_session").session(session_id);
        self.send_json(
            &ctx,
            Method::POST,
            endpoint::SESSIONS.template(),
            &CreateSessionRequest::new(session_id),
            None,
        )
        .await?;
        Ok(self.session(session_id))
    }

    /// The handle of an existing session (nothing is sent): [`SessionHandle::exec`],
    /// [`SessionHandle::spawn`], [`SessionHandle::command`].
    pub fn session(&self, session_id: &str) -> SessionHandle {
        SessionHandle::new(self.clone(), session_id)
    }

    /// The session and the commands it ran (SDK: `get_session`).
    pub async fn get_session(&self, session_id: &str) -> Result<Session, Error> {
        let ctx = Context::new("get_session").session(session_id);
        self.get_json(&ctx, &endpoint::SESSION.path(&[session_id]))
            .await
    }

    /// Every session except the entrypoint's, in no particular order (SDK: `list_sessions`).
    pub async fn list_sessions(&self) -> Result<Vec<Session>, Error> {
        self.get_json(
            &Context::new("list_sessions"),
            endpoint::SESSIONS.template(),
        )
        .await
    }

    /// Ends the session's shell and everything it started, and forgets it (SDK:
    /// `delete_session`).
    pub async fn delete_session(&self, session_id: &str) -> Result<(), Error> {
        let ctx = Context::new("delete_session").session(session_id);
        self.send(
            &ctx,
            Method::DELETE,
            &endpoint::SESSION.path(&[session_id]),
            None,
            None,
        )
        .await?;
        Ok(())
    }

    /// Runs a command in a session (SDK: `execute_session_command`). Pass a string for a
    /// synchronous command, or a [`CommandRequest`] with `run_async(true)` to start it in
    /// the background; set a client-side timeout on the returned builder, then `.await` it.
    ///
    /// Commands of one session run one after another: a background command holds the session
    /// until it ends.
    pub fn execute_session_command(
        &self,
        session_id: &str,
        request: impl Into<CommandRequest>,
    ) -> SessionExec {
        self.session(session_id).exec(request)
    }

    /// A command of a session, with its exit code once it has ended (SDK:
    /// `get_session_command`).
    pub async fn get_session_command(
        &self,
        session_id: &str,
        command_id: &str,
    ) -> Result<Command, Error> {
        self.session(session_id).command(command_id).info().await
    }

    /// A command's whole log so far: `stdout`, `stderr`, and the raw marked `output` (SDK:
    /// `get_session_command_logs`).
    pub async fn get_session_command_logs(
        &self,
        session_id: &str,
        command_id: &str,
    ) -> Result<SessionCommandLogsResponse, Error> {
        self.session(session_id).command(command_id).output().await
    }

    /// Follows a command's log from its beginning until the command ends, as a `Stream` of
    /// labelled chunks (the streaming form of the SDK's `get_session_command_logs_async`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), process::Error> {
    /// use futures_util::StreamExt;
    /// use process::{CommandRequest, OutputStream};
    /// let client = process::Client::embedded().await?;
    /// client.create_session("build").await?;
    /// let started = client
    ///     .execute_session_command("build", CommandRequest::new("echo out; echo err >&2").run_async(true))
    ///     .await?;
    /// let mut logs = client.stream_session_command_logs("build", &started.cmd_id).await?.text();
    /// let (mut out, mut err) = (String::new(), String::new());
    /// while let Some(piece) = logs.next().await {
    ///     let piece = piece?;
    ///     match piece.stream {
    ///         OutputStream::Stdout => out.push_str(&piece.text),
    ///         OutputStream::Stderr => err.push_str(&piece.text),
    ///     }
    /// }
    /// assert_eq!((out.as_str(), err.as_str()), ("out\n", "err\n"));
    /// # client.delete_session("build").await?;
    /// # Ok(()) }
    /// ```
    #[doc(alias = "get_session_command_logs_async")]
    pub async fn stream_session_command_logs(
        &self,
        session_id: &str,
        command_id: &str,
    ) -> Result<LogStream, Error> {
        self.session(session_id).command(command_id).logs().await
    }

    /// Opens a log follow at `path`; when the daemon selects
    /// [`LOG_OFFSET_PROTOCOL`](process_proto::wire::LOG_OFFSET_PROTOCOL), a dropped connection
    /// is reopened at the offset already received (up to
    /// [`MAX_RECONNECTS`](crate::logs::MAX_RECONNECTS) failed tries in a row, with backoff).
    pub(crate) async fn resumable_follow(
        &self,
        ctx: Context,
        path: String,
    ) -> Result<LogStream, Error> {
        let protocols = [process_proto::wire::LOG_OFFSET_PROTOCOL];
        let ws = self.open_websocket(&ctx, &path, &protocols).await?;
        let resumable = ws.protocol() == Some(process_proto::wire::LOG_OFFSET_PROTOCOL);
        let (_tx, rx) = ws.split();
        let reopen: Option<crate::logs::Reopen> = resumable.then(|| {
            let client = self.clone();
            let ctx = ctx.clone();
            let reopen: crate::logs::Reopen =
                std::sync::Arc::new(move |offset: u64, failures: u32| {
                    let client = client.clone();
                    let ctx = ctx.clone();
                    let path = format!("{path}&offset={offset}");
                    tokio::spawn(async move {
                        if failures > 0 {
                            tokio::time::sleep(Duration::from_millis(50 << failures.min(6))).await;
                        }
                        tracing::debug!(op = ctx.op, offset, "resuming a dropped log follow");
                        let ws = client.open_websocket(&ctx, &path, &protocols).await?;
                        Ok(ws.split().1)
                    })
                });
            reopen
        });
        Ok(LogStream::resumable(rx, ctx, reopen))
    }

    /// Follows a command's log until it ends, calling `on_stdout` and `on_stderr` with each
    /// piece of text as it arrives (SDK: `get_session_command_logs_async(session_id,
    /// command_id, on_stdout, on_stderr)`). Pieces never split a character.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), process::Error> {
    /// use process::CommandRequest;
    /// let client = process::Client::embedded().await?;
    /// client.create_session("s").await?;
    /// let cmd = client
    ///     .execute_session_command("s", CommandRequest::new("echo hi").run_async(true))
    ///     .await?;
    /// let mut seen = String::new();
    /// client
    ///     .follow_session_command_logs("s", &cmd.cmd_id, |out| seen.push_str(out), |err| eprint!("{err}"))
    ///     .await?;
    /// assert_eq!(seen, "hi\n");
    /// # client.delete_session("s").await?;
    /// # Ok(()) }
    /// ```
    #[doc(alias = "get_session_command_logs_async")]
    pub async fn follow_session_command_logs(
        &self,
        session_id: &str,
        command_id: &str,
        on_stdout: impl FnMut(&str),
        on_stderr: impl FnMut(&str),
    ) -> Result<(), Error> {
        let stream = self
            .stream_session_command_logs(session_id, command_id)
            .await?;
        drive_callbacks(stream, on_stdout, on_stderr).await
    }

    /// Follows a command's log with one callback for both streams, in arrival order (the
    /// single-callback form: Python `get_session_command_logs_async(session_id, command_id,
    /// on_logs)`, TypeScript `getSessionCommandLogs(sessionId, commandId, onLogs)`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), process::Error> {
    /// use process::CommandRequest;
    /// let client = process::Client::embedded().await?;
    /// client.create_session("s").await?;
    /// let cmd = client
    ///     .execute_session_command("s", CommandRequest::new("echo a; sleep 0.1; echo b >&2").run_async(true))
    ///     .await?;
    /// let mut all = String::new();
    /// client.follow_session_command_logs_combined("s", &cmd.cmd_id, |chunk| all.push_str(chunk)).await?;
    /// assert_eq!(all, "a\nb\n");
    /// # client.delete_session("s").await?;
    /// # Ok(()) }
    /// ```
    #[doc(alias = "get_session_command_logs_async")]
    #[doc(alias = "getSessionCommandLogs")]
    pub async fn follow_session_command_logs_combined(
        &self,
        session_id: &str,
        command_id: &str,
        mut on_logs: impl FnMut(&str),
    ) -> Result<(), Error> {
        let stream = self
            .stream_session_command_logs(session_id, command_id)
            .await?;
        let mut text = stream.text();
        while let Some(piece) = text.next().await {
            on_logs(&piece?.text);
        }
        Ok(())
    }

    /// Writes `data` to the standard input of a running background command; a newline is
    /// added if missing (SDK: `send_session_command_input`).
    pub async fn send_session_command_input(
        &self,
        session_id: &str,
        command_id: &str,
        data: &str,
    ) -> Result<(), Error> {
        self.session(session_id)
            .command(command_id)
            .input(data)
            .await
    }

    /// The entrypoint session: the one running the command the daemon was started with (SDK:
    /// `get_entrypoint_session`). Not found when there is none.
    pub async fn get_entrypoint_session(&self) -> Result<Session, Error> {
        let ctx = Context::new("get_entrypoint_session").session(ENTRYPOINT_SESSION_ID);
        self.get_json(&ctx, endpoint::ENTRYPOINT_SESSION.template())
            .await
    }

    /// The entrypoint command's whole log so far (SDK: `get_entrypoint_logs`).
    pub async fn get_entrypoint_logs(&self) -> Result<SessionCommandLogsResponse, Error> {
        let ctx = Context::new("get_entrypoint_logs")
            .session(ENTRYPOINT_SESSION_ID)
            .command(ENTRYPOINT_COMMAND_ID);
        let answer = self
            .send(
                &ctx,
                Method::GET,
                endpoint::ENTRYPOINT_LOGS.template(),
                None,
                None,
            )
            .await?;
        logs_of(&answer, &ctx)
    }

    /// Follows the entrypoint command's log as a `Stream` (the streaming form of the SDK's
    /// `get_entrypoint_logs_async`).
    #[doc(alias = "get_entrypoint_logs_async")]
    pub async fn stream_entrypoint_logs(&self) -> Result<LogStream, Error> {
        let ctx = Context::new("stream_entrypoint_logs")
            .session(ENTRYPOINT_SESSION_ID)
            .command(ENTRYPOINT_COMMAND_ID);
        self.resumable_follow(ctx, format!("{}?follow=true", endpoint::ENTRYPOINT_LOGS))
            .await
    }

    /// Follows the entrypoint command's log with callbacks (SDK:
    /// `get_entrypoint_logs_async(on_stdout, on_stderr)`).
    #[doc(alias = "get_entrypoint_logs_async")]
    pub async fn follow_entrypoint_logs(
        &self,
        on_stdout: impl FnMut(&str),
        on_stderr: impl FnMut(&str),
    ) -> Result<(), Error> {
        let stream = self.stream_entrypoint_logs().await?;
        drive_callbacks(stream, on_stdout, on_stderr).await
    }
}

async fn drive_callbacks(
    stream: LogStream,
    mut on_stdout: impl FnMut(&str),
    mut on_stderr: impl FnMut(&str),
) -> Result<(), Error> {
    let mut text = stream.text();
    while let Some(piece) = text.next().await {
        let piece = piece?;
        match piece.stream {
            OutputStream::Stdout => on_stdout(&piece.text),
            OutputStream::Stderr => on_stderr(&piece.text),
        }
    }
    Ok(())
}
