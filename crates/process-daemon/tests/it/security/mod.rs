//! Access and hygiene: the bearer-token matrix over every route (WebSocket upgrades included),
//! Origin checks, body limits, and the `processd` binary itself (address line, refusing a
//! non-loopback address without a token, scrubbed child environment, child fds, zombie
//! reaping as PID 1).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::json;

use crate::support::{eventually, TestDaemon};

mod access;
mod binary;
mod hostile;

const TOKEN: &str = "test-token-8c1f";
