//! Integration tests for `processd`: a real daemon on 127.0.0.1 port 0.

#![allow(unreachable_pub)] // test-harness modules share items with `pub`

mod cgroup;
mod code_run;
mod durability;
mod edge;
mod exec;
mod files;
mod git;
mod info;
mod interpreter;
mod limits;
mod listen_fd;
mod pty;
mod security;
mod session;
mod session_control;
mod signals;
mod support;
mod warm;
mod ws;
