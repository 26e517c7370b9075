//! `cargo xtask sandboxd-compat`: the official Python SDK (sync and async, `daytona==0.226.1`)
//! against a real `sandboxd`, configured only with `api_url` and `api_key`.
//!
//! Builds `sandboxd`, starts it on 127.0.0.1 port 0 with a scratch state dir and runs the pytest
//! suite in `tests/sandboxd-compat/`. Until the runc provider is on main the server runs with the
//! unisolated test provider (hidden flag; sandboxes are plain host processes), which exercises
//! the whole control plane and toolbox proxy but not the isolation.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::util::{cargo, ensure_ts_runtime, ensure_venv, path_with, root, sh};

/// The API key the suite's sandboxd requires.
const KEY: &str = "sandboxd-compat-key";

pub(crate) fn run(_args: &[String]) -> Result<(), String> {
    let python = ensure_venv()?;
    let path = path_with(ensure_ts_runtime()?.as_deref());
    run_with(&python, &path)
}

pub(crate) fn run_with(python: &Path, path: &std::ffi::OsStr) -> Result<(), String> {
    sh(cargo().args([
        "build",
        "--quiet",
        "-p",
        "sandbox-daemon",
        "--bin",
        "sandboxd",
    ]))?;
    let target =
        std::env::var("CARGO_TARGET_DIR").map_or_else(|_| root().join("target"), Into::into);
    let bin = target.join("debug").join("sandboxd");
    // Short: Unix socket paths under it must fit in 108 bytes.
    let scratch = std::env::temp_dir().join(format!("sandboxd-compat-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)
        .map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
    let mut child = Command::new(&bin)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--log-level",
            "warn",
            "--api-key",
            KEY,
        ])
        .arg("--state-dir")
        .arg(scratch.join("state"))
        .arg("--test-unisolated-provider")
        .env("PROCESSD_PYTHON", python)
        .env("PATH", path)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let api = {
        let stdout = child.stdout.take().ok_or("sandboxd has no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| format!("reading sandboxd stdout: {e}"))?;
        line.trim()
            .rsplit('=')
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    if !api.starts_with("http://127.0.0.1:") {
        let _ = child.kill();
        return Err(format!("sandboxd did not print its api_url (got {api:?})"));
    }
    let result = sh(Command::new(python)
        .env("PATH", path)
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/sandboxd-compat",
        ])
        .env("SANDBOXD_API_URL", &api)
        .env("SANDBOXD_API_KEY_FOR_TESTS", KEY));
    let _ = child.kill();
    let _ = child.wait();
    // Sandboxes outlive sandboxd by design; the suite's must not outlive the suite.
    if let Ok(dirs) = std::fs::read_dir(scratch.join("state").join("unisolated")) {
        for dir in dirs.flatten() {
            if let Some(pid) = std::fs::read_to_string(dir.path().join("pid"))
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
            {
                let _ = Command::new("kill")
                    .args(["-KILL", &format!("-{pid}")])
                    .status();
            }
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    result
}
