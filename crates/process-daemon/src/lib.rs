//! `processd`, the in-sandbox daemon that serves the Daytona-compatible process API.
//!
//! The daemon is a [`Daemon`] (cheap to clone) whose [`Daemon::service`] is a hyper/tower service
//! over `Request<Incoming>`. [`serve`] accepts TCP connections and serves each with it;
//! [`Daemon::serve_connection`] serves any byte stream (the client's in-memory transport uses it
//! over `tokio::io::duplex`).
//!
//! ```
//! use std::io::{Read, Write};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let work = tempfile::tempdir()?;
//! let state = tempfile::tempdir()?;
//! let rt = tokio::runtime::Runtime::new()?;
//! let addr = rt.block_on(async {
//!     let daemon = process_daemon::Daemon::new(process_daemon::Config::new(work.path(), state.path()))?;
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//!     let addr = listener.local_addr()?;
//!     tokio::spawn(process_daemon::serve(listener, daemon));
//!     Ok::<_, Box<dyn std::error::Error>>(addr)
//! })?;
//! let body = r#"{"command": "echo hello"}"#;
//! let mut conn = std::net::TcpStream::connect(addr)?;
//! write!(
//!     conn,
//!     "POST /process/execute HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
//!      Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
//!     body.len()
//! )?;
//! let mut response = String::new();
//! conn.read_to_string(&mut response)?;
//! assert!(response.starts_with("HTTP/1.1 200"));
//! assert!(response.contains(r#""exitCode":0,"result":"hello\n""#));
//! # Ok(())
//! # }
//! ```
//!
//! # Behaviour (all compatible with SDK `daytona==0.226.1`; differences from the official daemon)
//!
//! * **exec / code-run**: the script reaches the shell as a private file (no ARG_MAX limit) and
//!   stdin is `/dev/null`; the call ends when the main process exits plus a 200 ms drain, so a
//!   background child holding the output cannot hold it; a timeout kills the whole tree
//!   (SIGTERM, 2 s, SIGKILL) and the 408 error carries the partial output (`result`, `stdout`,
//!   `stderr`, `timedOut`, `exitCode`); output is bounded by `max_output_bytes` (`truncated`,
//!   `totalBytes`); `stdout`/`stderr` are also returned split.
//! * **code-run argv** elements are passed as real argv elements; the official daemon splices
//!   them unquoted into shell text, where they are word-split and expanded. Python charts come
//!   from our own capture module over a private file (printed marker lines are removed from the
//!   output but never become charts); every chart kind of the spec is returned, including bar
//!   charts (string values), full composite sub-charts, default box plots, date axes and figures
//!   left open without `plt.show()`. Python code whose every non-blank line shares an indent (it
//!   could only fail as given, as the SDK docs print it) loses that indent first
//!   (`textwrap.dedent`), in code-run and interpreter contexts alike. TypeScript needs `tsx`,
//!   `ts-node` (run with the compiler options plain scripts need) or node ≥ 22.6.
//! * **sessions**: stdout and stderr come byte-exact from the command's own pipes (no added
//!   newlines, NULs kept, no line buffering). Sync commands run in the session shell one at a
//!   time (state persists); **async commands run concurrently** in a background subshell (they
//!   see the session state at their start, their own `cd`/`export` do not persist), so a sync
//!   exec never waits behind an async one. `exit`, `set -e` or `exec` in a command end that
//!   command with the shell's status; the session continues in a fresh shell that restores the
//!   saved cwd and exported variables. Logs live under the state dir, capped at
//!   `max_log_bytes` (dropped bytes are recorded and reported as `droppedBytes`). Log
//!   followers get a replay from the start, then live output pushed as it is written, then
//!   close 1000 strictly after the last byte (`?offset=N` resumes at byte N). Sessions, command
//!   records and finished logs survive a daemon crash and restart (SQLite in the state dir);
//!   commands that were running then are reported `lost`. A command can be signalled alone
//!   (`…/command/{cid}/signal`) or given a `timeout`, without harming the session shell.
//! * **everywhere**: a bearer token (when configured) guards every route but `GET /health`,
//!   WebSocket upgrades included; without a token a TCP listener answers only requests whose
//!   `Host` is a loopback name with its port (DNS rebinding: 421 otherwise); browser origins
//!   other than the daemon's own (plus `--allow-origin`) are refused; children get fds 0–2
//!   only and an environment without `PROCESSD_*`; the daemon is a child subreaper and reaps
//!   orphans without stealing its own children's statuses; requests
//!   without `X-Daytona-SDK-Version` get the modern response shapes.
#![deny(unsafe_code)] // only `pty::sys` (pre_exec + TIOCSCTTY/TIOCSWINSZ) and the inherited `--listen fd:N` socket and `signals` (sigaction) opt out, with SAFETY notes

mod api;
mod capture;
mod cgroup;
mod config;
mod dedent;
mod drain;
pub mod error;
mod fs;
mod gate;
mod git;
mod http;
mod info;
pub mod interpreter;
mod leftovers;
mod listen;
mod oneshot;
pub mod openapi;
pub mod proc;
pub mod pty;
pub mod reaper;
mod router;
mod runtimes;
mod server;
mod session;
pub mod signals;
mod store;
mod warm;
mod ws;

pub use config::{CgroupRoot, Cli, Config, Listen};
pub use error::{ApiError, Error};
pub use listen::{ListenAddr, Listener};
pub use router::DaemonService;
pub use server::{init_tracing, run, serve, serve_unix, Daemon};

/// The body type of every response the daemon produces.
pub type Body = axum::body::Body;
