//! Stateful Python execution: [`CodeInterpreter`] (the SDK's `sandbox.code_interpreter`),
//! interpreter contexts, and [`RunCode`], a run whose output arrives as typed [`RunEvent`]s,
//! through callbacks, or collected into an [`ExecutionResult`].
//!
//! # How it behaves
//!
//! - A **context** is one long-lived Python process with its own globals: variables, imports
//!   and functions defined by one run are there for the next run in the same context. Runs
//!   that name no context go to the daemon's `default` context. Contexts are isolated from each
//!   other. [`CodeInterpreter::list_contexts`] never lists `default`, which cannot be deleted.
//! - **Output** is what the code wrote to its stdout and stderr *file descriptors*, so output
//!   of `os.system`, subprocesses and C extensions arrives too, in order with `print`, with no
//!   line-length limit. Text is delivered in pieces as it is written; the pieces of one stream
//!   concatenate to exactly what was written (UTF-8, never split inside a character).
//! - An uncaught exception ends the run with one [`RunEvent::Error`] (class name, `str()`
//!   value, traceback of your code's frames); the run itself still completes normally.
//!   `sys.exit()` is not an error.
//! - Figures shown with matplotlib's `plt.show()` arrive as [`RunEvent::Chart`]s, in place
//!   between the output printed before and after them (the official SDK ignores these).
//! - **Timeout** (default 600 s on the daemon; [`RunCode::timeout`]`(Duration::ZERO)` = none):
//!   the code gets `KeyboardInterrupt`, the context keeps its state, and the run fails with an
//!   error whose [`is_timeout`](Error::is_timeout) is true. Code that ignores the interrupt for
//!   2 s is killed with its whole process tree: the context then restarts empty on its next
//!   run, which the error message says.
//! - `envs` apply to one run (`os.environ`, inherited by subprocesses) and are restored after.
//! - Runs of one context queue and run one at a time, in order.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), process::Error> {
//! let client = process::Client::embedded().await?;
//! let interpreter = client.interpreter();
//!
//! let ctx = interpreter.create_context().await?;
//! interpreter.run_code("x = 100").context(&ctx).await?;
//! let result = interpreter
//!     .run_code("import os\nprint(x)\nos.system('echo from a subprocess')")
//!     .context(&ctx)
//!     .on_stdout(|text| print!("OUT: {text}"))
//!     .await?;
//! assert_eq!(result.stdout, "100\nfrom a subprocess\n");
//!
//! let failed = interpreter.run_code("1 / 0").context(&ctx).await?;
//! assert_eq!(failed.error.unwrap().name, "ZeroDivisionError");
//!
//! interpreter.delete_context(&ctx).await?;
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use http::Method;
use process_proto::wire::{
    self, endpoint, InterpreterClientState, InterpreterEnd, InterpreterEvent, InterpreterRequest,
};
use process_transport::ws::{Message, WsReceiver, WsSender};

use crate::error::{Context, ErrorKind};
use crate::{Client, Error, TypedChart};

pub use process_proto::wire::InterpreterContext;

type BoxFuture<R> = Pin<Box<dyn Future<Output = Result<R, Error>> + Send>>;

/// The stateful Python interpreter of a daemon (SDK: `sandbox.code_interpreter`); get it with
/// [`Client::interpreter`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct CodeInterpreter {
    client: Client,
}

impl Client {
    /// The stateful Python interpreter: contexts and [`run_code`](CodeInterpreter::run_code)
    /// (SDK: `sandbox.code_interpreter`). See [the module docs](crate::interpreter).
    pub fn interpreter(&self) -> CodeInterpreter {
        CodeInterpreter {
            client: self.clone(),
        }
    }
}

/// An uncaught exception of a run (the SDK's `ExecutionError`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ExecutionError {
    /// The exception's class name, e.g. `ValueError`.
    pub name: String,
    /// `str()` of the exception.
    pub value: String,
    /// The formatted traceback (your code's frames only; cells are named `<cell-N>`).
    pub traceback: String,
}

/// The word of a run's final [`RunEvent::Control`] (the wire's type: `completed`,
/// `interrupted`, or another word from a newer daemon).
pub use process_proto::wire::InterpreterControl;

/// One piece of a run's output, in the order the daemon sent it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RunEvent {
    /// Text written to stdout.
    Stdout(String),
    /// Text written to stderr.
    Stderr(String),
    /// The run's uncaught exception.
    Error(ExecutionError),
    /// A matplotlib figure shown with `plt.show()` (boxed: charts are large).
    Chart(Box<TypedChart>),
    /// The run's end (always the last event of a run that was not cut short).
    Control(InterpreterControl),
}

/// A finished run (the SDK's `ExecutionResult`, plus the charts).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct ExecutionResult {
    /// Everything written to stdout.
    pub stdout: String,
    /// Everything written to stderr.
    pub stderr: String,
    /// The uncaught exception, if any.
    pub error: Option<ExecutionError>,
    /// Charts shown with `plt.show()`, in order.
    pub charts: Vec<TypedChart>,
}

impl ExecutionResult {
    /// Adds one event to the result.
    fn absorb(&mut self, event: &RunEvent) {
        match event {
            RunEvent::Stdout(text) => self.stdout.push_str(text),
            RunEvent::Stderr(text) => self.stderr.push_str(text),
            RunEvent::Error(err) => self.error = Some(err.clone()),
            RunEvent::Chart(chart) => self.charts.push((**chart).clone()),
            RunEvent::Control(_) => {}
        }
    }
}

impl CodeInterpreter {
    /// Creates an isolated context in the daemon's working directory (SDK: `create_context`).
    pub async fn create_context(&self) -> Result<InterpreterContext, Error> {
        self.create(wire::CreateContextRequest::new()).await
    }

    /// Creates an isolated context whose code runs in `cwd` (relative paths start at the
    /// daemon's working directory) (SDK: `create_context(cwd=…)`).
    pub async fn create_context_in(
        &self,
        cwd: impl Into<String>,
    ) -> Result<InterpreterContext, Error> {
        self.create(wire::CreateContextRequest::new().with_cwd(cwd))
            .await
    }

    async fn create(&self, req: wire::CreateContextRequest) -> Result<InterpreterContext, Error> {
        let ctx = Context::new("create_context");
        self.client
            .send_json(
                &ctx,
                Method::POST,
                endpoint::INTERPRETER_CONTEXTS.template(),
                &req,
                None,
            )
            .await?
            .json(&ctx)
    }

    /// The contexts created with [`create_context`](Self::create_context), oldest first
    /// (never `default`) (SDK: `list_contexts`).
    pub async fn list_contexts(&self) -> Result<Vec<InterpreterContext>, Error> {
        let ctx = Context::new("list_contexts");
        let list: wire::ListContextsResponse = self
            .client
            .get_json(&ctx, endpoint::INTERPRETER_CONTEXTS.template())
            .await?;
        Ok(list.contexts)
    }

    /// Deletes a context and stops its Python process and everything it started; a run in
    /// progress there fails (SDK: `delete_context`). Takes the context or its id.
    pub async fn delete_context(&self, context: impl AsRef<str>) -> Result<(), Error> {
        let ctx = Context::new("delete_context");
        let path = endpoint::INTERPRETER_CONTEXT.path(&[context.as_ref()]);
        self.client
            .send(&ctx, Method::DELETE, &path, None, None)
            .await
            .map(drop)
    }
}

impl CodeInterpreter {
    /// Runs Python `code` (SDK: `run_code`). Choose the context, environment, timeout and
    /// callbacks on the returned builder, then `.await` it for the [`ExecutionResult`], or call
    /// [`RunCode::stream`] for the events as they come.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), process::Error> {
    /// use std::time::Duration;
    /// let client = process::Client::embedded().await?;
    /// let interpreter = client.interpreter();
    /// interpreter.run_code("total = 41").await?;
    /// let result = interpreter
    ///     .run_code("import os\nprint(total + int(os.environ['STEP']))")
    ///     .env("STEP", "1")
    ///     .timeout(Duration::from_secs(10))
    ///     .await?;
    /// assert_eq!(result.stdout, "42\n");
    ///
    /// let err = interpreter
    ///     .run_code("import time\ntime.sleep(30)")
    ///     .timeout(Duration::from_secs(1))
    ///     .await
    ///     .unwrap_err();
    /// assert!(err.is_timeout());
    /// # Ok(()) }
    /// ```
    pub fn run_code(&self, code: impl Into<String>) -> RunCode {
        RunCode {
            client: self.client.clone(),
            request: InterpreterRequest::new(code),
            on_stdout: None,
            on_stderr: None,
            on_error: None,
            on_chart: None,
        }
    }
}

type TextCallback = Box<dyn FnMut(&str) + Send>;
type ErrorCallback = Box<dyn FnMut(&ExecutionError) + Send>;
type ChartCallback = Box<dyn FnMut(&TypedChart) + Send>;

/// A run of Python code, built by [`CodeInterpreter::run_code`]. `.await` it for the
/// [`ExecutionResult`] (callbacks see the output as it comes), or turn it into a stream of
/// [`RunEvent`]s with [`stream`](RunCode::stream).
#[must_use = "a RunCode does nothing until it is awaited or streamed"]
pub struct RunCode {
    client: Client,
    request: InterpreterRequest,
    on_stdout: Option<TextCallback>,
    on_stderr: Option<TextCallback>,
    on_error: Option<ErrorCallback>,
    on_chart: Option<ChartCallback>,
}

impl std::fmt::Debug for RunCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunCode")
            .field("request", &self.request)
            .finish_non_exhaustive()
    }
}

impl RunCode {
    /// Runs in this context (default: the daemon's `default` context). Takes the context or
    /// its id.
    pub fn context(mut self, context: impl AsRef<str>) -> RunCode {
        self.request.context_id = Some(context.as_ref().to_owned());
        self
    }

    /// Sets an environment variable for this run only.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> RunCode {
        self.request
            .envs
            .get_or_insert_with(BTreeMap::new)
            .insert(key.into(), value.into());
        self
    }

    /// Sets several environment variables for this run only.
    pub fn envs<K, V>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> RunCode
    where
        K: Into<String>,
        V: Into<String>,
    {
        let envs = self.request.envs.get_or_insert_with(BTreeMap::new);
        for (k, v) in vars {
            envs.insert(k.into(), v.into());
        }
        self
    }

    /// Interrupts the code after `timeout` (rounded up to whole seconds; zero means no
    /// limit; unset means the daemon's default of 600 s). The run then fails with an error
    /// whose [`is_timeout`](Error::is_timeout) is true.
    pub fn timeout(mut self, timeout: Duration) -> RunCode {
        let secs = timeout
            .as_secs()
            .saturating_add(u64::from(timeout.subsec_nanos() > 0));
        self.request.timeout = Some(i64::try_from(secs).unwrap_or(i64::MAX));
        self
    }

    /// Calls `f` with each piece of stdout as it arrives (SDK: `on_stdout`).
    pub fn on_stdout(mut self, f: impl FnMut(&str) + Send + 'static) -> RunCode {
        self.on_stdout = Some(Box::new(f));
        self
    }

    /// Calls `f` with each piece of stderr as it arrives (SDK: `on_stderr`).
    pub fn on_stderr(mut self, f: impl FnMut(&str) + Send + 'static) -> RunCode {
        self.on_stderr = Some(Box::new(f));
        self
    }

    /// Calls `f` with the run's uncaught exception (SDK: `on_error`).
    pub fn on_error(mut self, f: impl FnMut(&ExecutionError) + Send + 'static) -> RunCode {
        self.on_error = Some(Box::new(f));
        self
    }

    /// Calls `f` with each chart as it arrives.
    pub fn on_chart(mut self, f: impl FnMut(&TypedChart) + Send + 'static) -> RunCode {
        self.on_chart = Some(Box::new(f));
        self
    }
}

impl RunCode {
    /// Starts the run and returns its events as a stream (callbacks set on the builder are not
    /// called). The stream ends after [`RunEvent::Control`]; a timeout or a failure is its
    /// last item, as an error.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), process::Error> {
    /// use futures_util::StreamExt;
    /// use process::interpreter::RunEvent;
    /// let client = process::Client::embedded().await?;
    /// let mut events = client.interpreter().run_code("print('a')\nraise KeyError('k')").stream().await?;
    /// let mut seen = Vec::new();
    /// while let Some(event) = events.next().await {
    ///     match event? {
    ///         RunEvent::Stdout(text) => seen.push(format!("out {}", text.trim())),
    ///         RunEvent::Error(err) => seen.push(format!("error {}", err.name)),
    ///         RunEvent::Control(_) => seen.push("end".to_owned()),
    ///         _ => {}
    ///     }
    /// }
    /// assert_eq!(seen, ["out a", "error KeyError", "end"]);
    /// # Ok(()) }
    /// ```
    pub async fn stream(self) -> Result<RunStream, Error> {
        let ctx = Context::new("run_code");
        let ws = self
            .client
            .open_websocket(&ctx, endpoint::INTERPRETER_EXECUTE.template(), &[])
            .await?;
        let (sender, receiver) = ws.split();
        let first = serde_json::to_string(&self.request).map_err(|e| {
            Error::invalid_input(format!("run_code: cannot encode the request: {e}"))
        })?;
        sender
            .send(Message::Text(first))
            .await
            .map_err(|e| ctx.stream_error(e))?;
        Ok(RunStream {
            _sender: sender,
            receiver,
            context: self.request.context_id.clone(),
            timeout: self.request.timeout,
            state: InterpreterClientState::new(),
            done: false,
            ctx,
        })
    }
}

impl IntoFuture for RunCode {
    type Output = Result<ExecutionResult, Error>;
    type IntoFuture = BoxFuture<ExecutionResult>;

    fn into_future(mut self) -> Self::IntoFuture {
        Box::pin(async move {
            let mut on_stdout = self.on_stdout.take();
            let mut on_stderr = self.on_stderr.take();
            let mut on_error = self.on_error.take();
            let mut on_chart = self.on_chart.take();
            let mut events = self.stream().await?;
            let mut result = ExecutionResult::default();
            while let Some(event) = events.next().await {
                let event = event?;
                match &event {
                    RunEvent::Stdout(text) => {
                        if let Some(f) = on_stdout.as_mut() {
                            f(text);
                        }
                    }
                    RunEvent::Stderr(text) => {
                        if let Some(f) = on_stderr.as_mut() {
                            f(text);
                        }
                    }
                    RunEvent::Error(err) => {
                        if let Some(f) = on_error.as_mut() {
                            f(err);
                        }
                    }
                    RunEvent::Chart(chart) => {
                        if let Some(f) = on_chart.as_mut() {
                            f(chart);
                        }
                    }
                    RunEvent::Control(_) => {}
                }
                result.absorb(&event);
            }
            Ok(result)
        })
    }
}

/// The events of a run, from [`RunCode::stream`]: a `Stream` of `Result<RunEvent, Error>`.
pub struct RunStream {
    /// Keeps the connection's writer alive until the run ends.
    _sender: WsSender,
    receiver: WsReceiver,
    context: Option<String>,
    timeout: Option<i64>,
    /// The protocol state (what the frames and the close mean).
    state: InterpreterClientState,
    done: bool,
    ctx: Context,
}

impl std::fmt::Debug for RunStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunStream")
            .field("context", &self.context)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl RunStream {
    /// Maps one data frame to an event (`None`: a frame type this client does not know).
    fn event(&mut self, json: &[u8]) -> Result<Option<RunEvent>, Error> {
        let event = self
            .state
            .handle_frame(json)
            .map_err(|e| Error::protocol(&self.ctx, e))?;
        let Some(event) = event else {
            return Ok(None);
        };
        Ok(Some(match event {
            InterpreterEvent::Stdout(text) => RunEvent::Stdout(text),
            InterpreterEvent::Stderr(text) => RunEvent::Stderr(text),
            InterpreterEvent::Error {
                name,
                value,
                traceback,
            } => RunEvent::Error(ExecutionError {
                name,
                value,
                traceback,
            }),
            InterpreterEvent::Chart(chart) => RunEvent::Chart(Box::new(TypedChart::from(*chart))),
            InterpreterEvent::Control(control) => RunEvent::Control(control),
            // A newer proto's event this facade does not know yet.
            _ => return Ok(None),
        }))
    }

    /// The error for how the run's connection closed (`None`: a normal end).
    fn close_error(&mut self, close: Option<process_transport::ws::CloseFrame>) -> Option<Error> {
        let (code, reason) = close
            .as_ref()
            .map_or((None, ""), |c| (Some(c.code), c.reason.as_str()));
        let context = self.context.as_deref().unwrap_or(wire::DEFAULT_CONTEXT_ID);
        match self.state.handle_close(code, reason) {
            InterpreterEnd::Closed => None,
            InterpreterEnd::TimedOut { restarted } => {
                let limit = match self.timeout {
                    Some(secs) => format!("its timeout of {secs}s"),
                    None => format!(
                        "the daemon's default timeout of {}s",
                        wire::DEFAULT_TIMEOUT_SECS
                    ),
                };
                let state = if restarted {
                    "it ignored the interrupt, so the context's Python process was killed and \
                     the context starts empty on its next run"
                } else {
                    "it was interrupted and the context keeps its state"
                };
                Some(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "run_code: the code did not finish within {limit}; {state}: raise the \
                         timeout, or pass Duration::ZERO for none"
                    ),
                ))
            }
            InterpreterEnd::ContextNotFound => Some(Error::new(
                ErrorKind::NotFound,
                format!(
                    "interpreter context '{context}' not found: create it first with \
                     create_context (list_contexts shows the live ones)"
                ),
            )),
            _ => close.map(|c| self.ctx.close_error(c)),
        }
    }
}

impl Stream for RunStream {
    type Item = Result<RunEvent, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            let message = match self.receiver.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(m) => m,
            };
            let json = match message {
                Some(Ok(Message::Text(text))) => text.into_bytes(),
                Some(Ok(Message::Binary(bytes))) => bytes.to_vec(),
                Some(Ok(Message::Close(close))) => {
                    self.done = true;
                    return Poll::Ready(self.close_error(close).map(Err));
                }
                Some(Ok(_)) => continue,
                Some(Err(err)) => {
                    self.done = true;
                    return Poll::Ready(Some(Err(self.ctx.stream_error(err))));
                }
                None => {
                    self.done = true;
                    return Poll::Ready(Some(Err(self
                        .ctx
                        .stream_error(process_transport::Error::ConnectionLost))));
                }
            };
            match self.event(&json) {
                Ok(Some(event)) => return Poll::Ready(Some(Ok(event))),
                Ok(None) => {}
                Err(err) => {
                    self.done = true;
                    return Poll::Ready(Some(Err(err)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_collect_events_in_order() {
        let mut r = ExecutionResult::default();
        for e in [
            RunEvent::Stdout("a".into()),
            RunEvent::Stderr("w".into()),
            RunEvent::Stdout("b\n".into()),
            RunEvent::Error(ExecutionError {
                name: "E".into(),
                ..ExecutionError::default()
            }),
            RunEvent::Control(InterpreterControl::Completed),
        ] {
            r.absorb(&e);
        }
        assert_eq!(r.stdout, "ab\n");
        assert_eq!(r.stderr, "w");
        assert_eq!(r.error.unwrap().name, "E");
    }

    #[test]
    fn a_context_or_its_id_names_the_context() {
        fn id(c: impl AsRef<str>) -> String {
            c.as_ref().to_owned()
        }
        let ctx = InterpreterContext::new("c1", "/", "", true, "python");
        assert_eq!(id(&ctx), "c1");
        assert_eq!(id(ctx), "c1");
        assert_eq!(id("c2"), "c2");
        assert_eq!(id(String::from("c3")), "c3");
    }
}
