//! The facade's integration suite. Most tests run twice, through the same client code: over the
//! in-memory transport (embedded daemon) and over TCP to a real daemon on 127.0.0.1:0; `mock`
//! swaps in `tower_test::mock` at service level, and `logs::crafted_*` a stub WebSocket server.
#![allow(unreachable_pub)]

mod support;

mod blocking;
mod code_run;
mod errors;
mod exec;
mod fs;
mod host;
mod interpreter;
mod logs;
mod mock;
mod pty;
mod reliability;
mod resume;
mod sessions;
mod tls;
mod traits;
