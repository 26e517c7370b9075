//! `cargo xtask sandboxd-compat`: the official Python SDK (sync and async, `daytona==0.226.1`)
//! against a real `sandboxd`, configured only with `api_url` and `api_key`.
//!
//! Builds `sandboxd`, starts it on 127.0.0.1 port 0 with a scratch state dir and runs the pytest
//! suite in `tests/sandboxd-compat/` against real runc sandboxes of the default image (built
//! once per CI run into `SANDBOXD_TEST_IMAGE_DIR`, default `target/sandbox-images`).

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
        .arg("--image-dir")
        .arg(image_dir(&target))
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
    // Sandboxes outlive sandboxd by design; the suite's must not outlive the suite: delete
    // whatever a failed test left, through the API, before stopping sandboxd.
    let cleanup = sh(Command::new(python).args(["-c", CLEANUP, &api, KEY]));
    let _ = child.kill();
    let _ = child.wait();
    if cleanup.is_ok() {
        let _ = std::fs::remove_dir_all(&scratch);
    }
    result.and(cleanup)
}

/// Deletes every sandbox left on the server (argv: api_url, key).
const CLEANUP: &str = r#"
import json, sys, urllib.request
api, key = sys.argv[1], sys.argv[2]
def call(method, path):
    req = urllib.request.Request(api + path, method=method, headers={"Authorization": "Bearer " + key})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"null")
for sb in call("GET", "/sandbox?limit=200")["items"]:
    call("DELETE", "/sandbox/" + sb["id"])
"#;

/// The shared image dir (built once per run; the first user builds it).
fn image_dir(target: &Path) -> std::path::PathBuf {
    std::env::var_os("SANDBOXD_TEST_IMAGE_DIR")
        .map_or_else(|| target.join("sandbox-images"), Into::into)
}
