//! `processd`, the in-sandbox daemon that serves the Daytona-compatible process API.
//!
//! The daemon is a [`Daemon`] (cheap to clone) whose [`Daemon::service`] is a hyper/tower service
//! over `Request<Incoming>`. [`serve`] accepts TCP connections and serves each with it;
//! [`Daemon::serve_connection`] serves any byte stream (the client's in-memory transport uses it
//! over `tokio::io::duplex`).
#![deny(unsafe_code)] // only `pty::sys` opts out: pre_exec + TIOCSCTTY/TIOCSWINSZ, with SAFETY notes

mod api;
mod capture;
mod config;
pub mod error;
mod http;
pub mod interpreter;
mod oneshot;
pub mod proc;
pub mod pty;
pub mod reaper;
mod router;
mod runtimes;
mod server;
mod session;

pub use config::{Cli, Config};
pub use error::{ApiError, Error};
pub use router::DaemonService;
pub use server::{init_tracing, run, serve, Daemon};

/// The body type of every response the daemon produces.
pub type Body = http_body_util::combinators::BoxBody<bytes::Bytes, std::convert::Infallible>;
