//! A blocking client for scripts and tests (feature `blocking`), reqwest style: each
//! [`blocking::Client`](Client) owns a tokio runtime on its own thread and waits for the async
//! client's answers there, so callers need no runtime of their own.
//!
//! ```
//! # fn main() -> Result<(), process::Error> {
//! let client = process::blocking::Client::embedded()?;
//! let out = client.exec("uname -s").send()?;
//! assert!(out.status().success());
//!
//! let session = client.create_session("s")?;
//! session.exec("export X=1")?;
//! assert_eq!(session.exec("echo $X")?.stdout, "1\n");
//! let job = session.spawn("echo hi; exit 2")?;
//! let text: String = job.logs()?.map(|piece| piece.map(|p| p.text)).collect::<Result<_, _>>()?;
//! assert_eq!(text, "hi\n");
//! assert_eq!(job.wait()?.code(), 2);
//! # Ok(()) }
//! ```
//!
//! Like `reqwest::blocking`, these calls must not be made from inside an async runtime (they
//! block the calling thread; tokio refuses that on its own threads): use [`crate::Client`]
//! there.

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use process_proto::wire::{Command, Language, Session, SessionCommandLogsResponse};

use crate::{CodeRunParams, CommandOutput, CommandRequest, Error, ExecOutput, ExitStatus, LogText};

/// A blocking client: the async [`crate::Client`] driven on a runtime thread this value owns.
/// Cheap to clone; the runtime stops when the last clone is dropped (after shutting an
/// embedded daemon down).
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    client: Option<crate::Client>,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // Stop an embedded daemon while the runtime still runs, then let the client go
            // inside it (its guard finds the runtime).
            self.runtime.block_on(client.shutdown());
            let _entered = self.runtime.enter();
            drop(client);
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("process-blocking")
        .enable_all()
        .build()
        .map_err(|e| {
            Error::invalid_input(format!("cannot start the blocking client's runtime: {e}"))
        })
}

impl Client {
    /// A blocking client for the daemon at `url` (see [`crate::Client::connect`]).
    pub fn connect(url: impl Into<String>) -> Result<Client, Error> {
        Client::from_builder(crate::Client::builder(url))
    }

    /// A blocking client from a configured builder (token, timeout, TLS…).
    pub fn from_builder(builder: crate::ClientBuilder) -> Result<Client, Error> {
        let runtime = runtime()?;
        let client = {
            let _entered = runtime.enter();
            builder.build()?
        };
        Ok(Client::wrap(client, runtime))
    }

    /// A blocking client whose daemon runs inside this process (feature `embedded`; see
    /// [`crate::Client::embedded`]).
    #[cfg(feature = "embedded")]
    pub fn embedded() -> Result<Client, Error> {
        let runtime = runtime()?;
        let client = runtime.block_on(crate::Client::embedded())?;
        Ok(Client::wrap(client, runtime))
    }

    fn wrap(client: crate::Client, runtime: tokio::runtime::Runtime) -> Client {
        Client {
            inner: Arc::new(Inner {
                client: Some(client),
                runtime,
            }),
        }
    }

    /// The async client underneath, for calls this one does not wrap: run them with
    /// [`Client::wait`].
    pub fn as_async(&self) -> &crate::Client {
        self.inner
            .client
            .as_ref()
            .expect("the client is only taken when the last clone is dropped")
    }

    /// Runs any future of the async client to completion on this client's runtime, e.g.
    /// `client.wait(client.as_async().list_pty_sessions())`.
    pub fn wait<F: IntoFuture>(&self, future: F) -> F::Output {
        self.inner.runtime.block_on(future.into_future())
    }

    /// A shell command to run (SDK: `exec`); set options, then [`Exec::send`].
    pub fn exec(&self, command: impl Into<String>) -> Exec {
        Exec {
            client: self.clone(),
            inner: self.as_async().exec(command),
        }
    }

    /// Code to run with the client's default language (SDK: `code_run`); set options, then
    /// [`CodeRun::send`].
    pub fn code_run(&self, code: impl Into<String>) -> CodeRun {
        CodeRun {
            client: self.clone(),
            inner: self.as_async().code_run(code),
        }
    }

    /// Creates a session and returns its handle (SDK: `create_session`).
    pub fn create_session(&self, session_id: &str) -> Result<SessionHandle, Error> {
        let handle = self.wait(self.as_async().create_session(session_id))?;
        Ok(SessionHandle {
            client: self.clone(),
            inner: handle,
        })
    }

    /// The handle of an existing session (nothing is sent).
    pub fn session(&self, session_id: &str) -> SessionHandle {
        SessionHandle {
            client: self.clone(),
            inner: self.as_async().session(session_id),
        }
    }

    /// Every session except the entrypoint's (SDK: `list_sessions`).
    pub fn list_sessions(&self) -> Result<Vec<Session>, Error> {
        self.wait(self.as_async().list_sessions())
    }

    /// Runs a command in a session and waits for it (SDK: `execute_session_command`).
    pub fn execute_session_command(
        &self,
        session_id: &str,
        request: impl Into<CommandRequest>,
    ) -> Result<CommandOutput, Error> {
        self.wait(self.as_async().execute_session_command(session_id, request))
    }

    /// A command's whole log so far (SDK: `get_session_command_logs`).
    pub fn get_session_command_logs(
        &self,
        session_id: &str,
        command_id: &str,
    ) -> Result<SessionCommandLogsResponse, Error> {
        self.wait(
            self.as_async()
                .get_session_command_logs(session_id, command_id),
        )
    }

    /// Deletes a session (SDK: `delete_session`).
    pub fn delete_session(&self, session_id: &str) -> Result<(), Error> {
        self.wait(self.as_async().delete_session(session_id))
    }
}

/// A blocking [`crate::Exec`]: set options, then [`Exec::send`].
#[must_use = "an Exec does nothing until it is sent"]
pub struct Exec {
    client: Client,
    inner: crate::Exec,
}

impl Exec {
    /// Runs in `dir`.
    pub fn cwd(self, dir: impl Into<String>) -> Exec {
        Exec {
            inner: self.inner.cwd(dir),
            ..self
        }
    }

    /// Sets an environment variable.
    pub fn env(self, key: impl Into<String>, value: impl Into<String>) -> Exec {
        Exec {
            inner: self.inner.env(key, value),
            ..self
        }
    }

    /// Kills the command after `timeout` (see [`crate::Exec::timeout`]).
    pub fn timeout(self, timeout: Duration) -> Exec {
        Exec {
            inner: self.inner.timeout(timeout),
            ..self
        }
    }

    /// Also returns stdout and stderr apart.
    pub fn split_output(self, split: bool) -> Exec {
        Exec {
            inner: self.inner.split_output(split),
            ..self
        }
    }

    /// Runs the command and waits for it.
    pub fn send(self) -> Result<ExecOutput, Error> {
        self.client.wait(self.inner)
    }
}

/// A blocking [`crate::CodeRun`]: set options, then [`CodeRun::send`].
#[must_use = "a CodeRun does nothing until it is sent"]
pub struct CodeRun {
    client: Client,
    inner: crate::CodeRun,
}

impl CodeRun {
    /// Sets the arguments and environment.
    pub fn params(self, params: CodeRunParams) -> CodeRun {
        CodeRun {
            inner: self.inner.params(params),
            ..self
        }
    }

    /// Runs the code in another language.
    pub fn language(self, language: Language) -> CodeRun {
        CodeRun {
            inner: self.inner.language(language),
            ..self
        }
    }

    /// Kills the run after `timeout`.
    pub fn timeout(self, timeout: Duration) -> CodeRun {
        CodeRun {
            inner: self.inner.timeout(timeout),
            ..self
        }
    }

    /// Runs the code and waits for it.
    pub fn send(self) -> Result<ExecOutput, Error> {
        self.client.wait(self.inner)
    }
}

/// A blocking [`crate::SessionHandle`].
#[derive(Debug, Clone)]
pub struct SessionHandle {
    client: Client,
    inner: crate::SessionHandle,
}

impl SessionHandle {
    /// The session's id.
    pub fn id(&self) -> &str {
        self.inner.id()
    }

    /// Runs a command in the session and waits for it.
    pub fn exec(&self, command: impl Into<CommandRequest>) -> Result<CommandOutput, Error> {
        self.client.wait(self.inner.exec(command))
    }

    /// Starts a command in the background and returns its handle.
    pub fn spawn(&self, command: impl Into<String>) -> Result<CommandHandle, Error> {
        let inner = self.client.wait(self.inner.spawn(command))?;
        Ok(CommandHandle {
            client: self.client.clone(),
            inner,
        })
    }

    /// The handle of one of the session's commands (nothing is sent).
    pub fn command(&self, command_id: &str) -> CommandHandle {
        CommandHandle {
            client: self.client.clone(),
            inner: self.inner.command(command_id),
        }
    }

    /// The session and its commands.
    pub fn info(&self) -> Result<Session, Error> {
        self.client.wait(self.inner.info())
    }

    /// Deletes the session.
    pub fn delete(&self) -> Result<(), Error> {
        self.client.wait(self.inner.delete())
    }
}

/// A blocking [`crate::CommandHandle`].
#[derive(Debug, Clone)]
pub struct CommandHandle {
    client: Client,
    inner: crate::CommandHandle,
}

impl CommandHandle {
    /// The command's id.
    pub fn id(&self) -> &str {
        self.inner.id()
    }

    /// Follows the log until the command ends: an iterator of text pieces.
    pub fn logs(&self) -> Result<Logs, Error> {
        let stream = self.client.wait(self.inner.logs())?.text();
        Ok(Logs {
            client: self.client.clone(),
            stream,
        })
    }

    /// The whole log so far.
    pub fn output(&self) -> Result<SessionCommandLogsResponse, Error> {
        self.client.wait(self.inner.output())
    }

    /// Writes to the command's standard input (a newline is added if missing).
    pub fn input(&self, data: &str) -> Result<(), Error> {
        self.client.wait(self.inner.input(data))
    }

    /// The command's record.
    pub fn info(&self) -> Result<Command, Error> {
        self.client.wait(self.inner.info())
    }

    /// Waits until the command ends and returns its exit status.
    pub fn wait(&self) -> Result<ExitStatus, Error> {
        self.client.wait(self.inner.wait())
    }
}

/// A followed log, as a blocking iterator of labelled text pieces; ends when the command
/// ends.
pub struct Logs {
    client: Client,
    stream: crate::TextLogStream,
}

impl std::fmt::Debug for Logs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logs").finish_non_exhaustive()
    }
}

impl Iterator for Logs {
    type Item = Result<LogText, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let client = self.client.clone();
        client.wait(self.stream.next())
    }
}
