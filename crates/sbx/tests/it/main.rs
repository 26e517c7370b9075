//! sbx's integration tests: the real `sbx` binary against a real processd on 127.0.0.1.

mod cp;
mod exec;
mod sandbox;
mod session;
mod shell;
mod support;
