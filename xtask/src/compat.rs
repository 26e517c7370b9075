//! `cargo xtask compat`: the official Python SDK (`daytona==0.226.1`) against a real `processd`.
//!
//! Builds `processd`, starts it on 127.0.0.1 port 0 with scratch directories, and runs the pytest
//! suite in `tests/compat/` with `PROCESSD_URL` pointing at it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::util::{built_binary, ensure_ts_runtime, ensure_venv, path_with, root, sh};

/// The bearer token the compat daemon requires (loopback only; it proves the SDK's auth header
/// reaches us and that the daemon enforces it).
const COMPAT_TOKEN: &str = "compat-suite-token";

pub(crate) fn run(_args: &[String]) -> Result<(), String> {
    let python = ensure_venv()?;
    let path = path_with(ensure_ts_runtime()?.as_deref());
    run_with(&python, &path)
}

pub(crate) fn run_with(python: &Path, path: &std::ffi::OsStr) -> Result<(), String> {
    let bin = built_binary("process-daemon", "processd")?;
    let scratch = root().join("target").join("compat-scratch");
    let _ = std::fs::remove_dir_all(&scratch);
    let workdir = scratch.join("work");
    let state = scratch.join("state");
    let home = scratch.join("home");
    std::fs::create_dir_all(&home).map_err(|e| format!("cannot create {}: {e}", home.display()))?;
    std::fs::create_dir_all(&workdir)
        .map_err(|e| format!("cannot create {}: {e}", workdir.display()))?;
    let mut child = Command::new(&bin)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--log-level",
            "warn",
            "--token",
            COMPAT_TOKEN,
        ])
        .arg("--workdir")
        .arg(&workdir)
        .arg("--state-dir")
        .arg(&state)
        .env("PROCESSD_PYTHON", python)
        .env("PATH", path)
        // Login shells (PTYs) source the user's rc files; a scratch HOME keeps the suite
        // independent of them (e.g. a pyenv rehash lock left by a killed shell stalls
        // every later `bash -l` for 60 s).
        .env("HOME", &home)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let url = {
        let stdout = child.stdout.take().ok_or("processd has no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| format!("reading processd stdout: {e}"))?;
        line.trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    if !url.starts_with("http://127.0.0.1:") {
        let _ = child.kill();
        return Err(format!("processd did not print its address (got {url:?})"));
    }
    let result = sh(Command::new(python)
        .env("PATH", path)
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/compat",
        ])
        .env("PROCESSD_URL", &url)
        .env("PROCESSD_TOKEN_FOR_TESTS", COMPAT_TOKEN)
        .env("PROCESSD_WORKDIR", &workdir));
    let _ = child.kill();
    let _ = child.wait();
    result
}
