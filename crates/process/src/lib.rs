//! The sandbox process API client: run shell commands and code (with matplotlib charts),
//! keep stateful sessions, stream their logs, and drive interactive terminals (PTYs) — the
//! `sandbox.process` API of the official Daytona SDKs, in async Rust.
//!
//! # Quick start
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), process::Error> {
//! use process::{Client, CommandRequest};
//!
//! // A daemon inside this process (feature `embedded`, on by default); for a daemon elsewhere,
//! // `Client::connect("http://127.0.0.1:2280")` or `Client::builder(url).token(..).build()`.
//! let client = Client::embedded().await?;
//!
//! // One-shot commands.
//! let response = client.exec("echo 'Hello'").await?;
//! assert_eq!(response.exit_code, 0);
//! assert_eq!(response.artifacts.stdout, "Hello\n");
//!
//! // Sessions keep state between commands.
//! client.create_session("my-session").await?;
//! client.execute_session_command("my-session", "cd /tmp").await?;
//! let pwd = client.execute_session_command("my-session", "pwd").await?;
//! assert_eq!(pwd.stdout, "/tmp\n");
//!
//! // Background commands, followed as they write.
//! let cmd = client
//!     .execute_session_command("my-session", CommandRequest::new("echo out; echo err >&2").run_async(true))
//!     .await?;
//! let (mut out, mut err) = (String::new(), String::new());
//! client
//!     .follow_session_command_logs("my-session", &cmd.cmd_id, |s| out.push_str(s), |s| err.push_str(s))
//!     .await?;
//! assert_eq!((out.as_str(), err.as_str()), ("out\n", "err\n"));
//! client.delete_session("my-session").await?;
//!
//! // Errors say what went wrong and can be branched on.
//! let missing = client.get_session("my-session").await.unwrap_err();
//! assert!(missing.is_not_found());
//! # Ok(()) }
//! ```
//!
//! # Handles
//!
//! Besides the SDK-named flat methods (which take ids), sessions have handles:
//! [`Client::create_session`] / [`Client::session`] give a [`SessionHandle`] (`exec`, `spawn`),
//! and [`SessionHandle::spawn`] a [`CommandHandle`] (`logs`, `input`, `wait` → [`ExitStatus`]).
//! The flat methods are a mirror on top of the handles: one code path. For scripts without an
//! async runtime, `process::blocking` (feature `blocking`) wraps the same calls.
//!
//! # Map of the API
//!
//! | SDK (`sandbox.process.…`) | [`Client`] |
//! | --- | --- |
//! | `exec(cmd, cwd, env, timeout)` | [`exec`](Client::exec)`(cmd).cwd(..).env(..).timeout(..)` |
//! | `code_run(code, params, timeout)` | [`code_run`](Client::code_run)`(code).params(..).timeout(..)` → typed [`TypedChart`]s |
//! | `create_session` / `get_session` / `list_sessions` / `delete_session` | same names |
//! | `execute_session_command(id, req, timeout)` | [`execute_session_command`](Client::execute_session_command)`(id, req).timeout(..)` |
//! | `get_session_command` / `get_session_command_logs` | same names |
//! | `get_session_command_logs_async(id, cmd, on_stdout, on_stderr)` | [`follow_session_command_logs`](Client::follow_session_command_logs), or [`stream_session_command_logs`](Client::stream_session_command_logs) for a `Stream` |
//! | `get_session_command_logs_async(id, cmd, on_logs)`, TS `getSessionCommandLogs(id, cmd, onLogs)` | [`follow_session_command_logs_combined`](Client::follow_session_command_logs_combined) |
//! | `send_session_command_input` | same name |
//! | `get_entrypoint_session` / `get_entrypoint_logs` / `get_entrypoint_logs_async` | same names; [`follow_entrypoint_logs`](Client::follow_entrypoint_logs) / [`stream_entrypoint_logs`](Client::stream_entrypoint_logs) |
//! | `create_pty_session(id, cwd, envs, pty_size)` / `connect_pty_session` | [`create_pty_session`](Client::create_pty_session)`(id).cwd(..).env(..).size(..)`, [`connect_pty_session`](Client::connect_pty_session) → [`PtyHandle`] |
//! | `list_pty_sessions` / `get_pty_session_info` / `resize_pty_session` / `kill_pty_session` | same names |
//! | `PtyHandle.send_input` / `resize` / `kill` / `wait` / `disconnect` / `exit_code` / `error` / `is_connected` | same names on [`PtyHandle`]; `on_data` is [`PtyHandle::wait_with`]; output as a `Stream` or `AsyncRead` ([`PtyHandle::into_io`]) |
//! | `demux_log(data)` / `parse_session_command_logs(data)` | [`proto::log::demux_log`] / [`proto::log::parse_session_command_logs`] |
//! | `ExecuteResponse` | [`ExecOutput`] (plus [`ExitStatus`], split streams, truncation) |
//! | `SessionExecuteRequest`, `SessionExecuteResponse` | [`CommandRequest`], [`CommandOutput`] (renamed: the wire types of those names are in [`proto::wire`]) |
//! | `Chart` (`LineChart`, `BarChart`, …) | [`TypedChart`], an enum with one variant per chart type (renamed: the wire's untyped chart object is [`proto::Chart`]) |
//! | `ExecutionArtifacts`, `CodeRunParams`, `SessionCommandLogsResponse`, `Session`, `Command`, `PtySize`, `PtySessionInfo`, `PtyResult` | same names |
//!
//! # Transports
//!
//! [`Client`] runs over any `tower::Service` of `http::Request<Body>` → `http::Response<Body>`
//! (see `process_transport`), erased at construction ([`Client::new`]), so neither `Client` nor
//! its builders carry a type parameter. The default,
//! [`HttpTransport`](process_transport::HttpTransport), is hyper's pooled HTTP/1.1 client with
//! WebSockets through fastwebsockets, over TCP or in memory; its layers add the token, the
//! `X-Daytona-SDK-Version` header, timeouts, retries of idempotent reads and tracing spans.
//! [`proto`] is the door to the wire types.
#![forbid(unsafe_code)]

#[cfg(feature = "blocking")]
pub mod blocking;
mod chart;
mod client;
#[cfg(feature = "embedded")]
pub mod embedded;
mod error;
mod exec;
mod fs;
mod git;
mod handles;
pub mod interpreter;
mod logs;
mod pty;
pub mod sandboxes;
mod session;
mod status;

/// The wire protocol (`process_proto`): request and response types, the log codec, the chart
/// schema.
pub use process_proto as proto;
/// The transports and layers (`process_transport`).
pub use process_transport as transport;

pub use chart::{
    Axes, BarChart, BarElement, BoxAndWhiskerChart, BoxElement, ChartType, CompositeChart,
    PieChart, PieElement, PointChart, PointsElement, TypedChart,
};
pub use client::{Client, ClientBuilder};
pub use error::{Error, ErrorKind};
pub use exec::{CodeRun, CodeRunParams, Exec, ExecOutput, ExecutionArtifacts, SplitOutput};
pub use fs::{ByteStream, FileUpload, Fs, Permissions, UploadSource};
pub use git::{Auth, CloneOptions, Git};
pub use handles::{CommandHandle, SessionHandle};
pub use interpreter::{
    CodeInterpreter, ExecutionError, ExecutionResult, InterpreterContext, RunCode, RunEvent,
};
pub use logs::{LogStream, LogText, TextLogStream};
pub use process_proto::chart::Tick;
pub use process_proto::log::{LogChunk, OutputStream};
pub use process_proto::wire::{
    CloseCode, Command, Language, PtySessionInfo, Session, SessionCommandLogsResponse,
};
/// The file-system and git types of [`Fs`] and [`Git`] (from the protocol crate).
pub use process_proto::wire::{
    FileInfo, FileStatus, GitFileState, GitStatus, ListBranchResponse, Match, ReplaceResult,
    UploadedFileEntry,
};
pub use process_proto::wire::{FindOptions, FindResponse};
pub use pty::{CreatePty, PtyHandle, PtyInput, PtyIo, PtyResult, PtySize};
pub use sandboxes::{CreateSandboxParams, Resources, Sandbox, Sandboxes};
pub use session::{CommandOutput, CommandRequest, SessionExec};
pub use status::ExitStatus;
