//! `cargo xtask sandboxd-compat`: the official SDKs — Python (sync and async, `daytona==0.226.1`)
//! and TypeScript (`@daytonaio/sdk` 0.218.0) — against a real `sandboxd`, configured only with
//! `api_url` and `api_key`.
//!
//! Builds `sandboxd`, starts it on 127.0.0.1 port 0 with a scratch state dir and runs the pytest
//! suite in `tests/sandboxd-compat/` and the `node --test` suite in `tests/sandboxd-compat/ts/`
//! (the SDK pinned in its `package.json`, installed with npm into `target/sandboxd-compat-ts`)
//! against real runc sandboxes of the default image (built once per CI run into
//! `SANDBOXD_TEST_IMAGE_DIR`, default `target/sandbox-images`).

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
    let python_suite = sh(Command::new(python)
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
    // The TypeScript suite runs even when the Python one failed: both verdicts count.
    let ts_suite = ensure_ts_sdk().and_then(|modules| {
        sh(Command::new("node")
            .env("PATH", path)
            .env("NODE_PATH", modules)
            .args(["--test", "tests/sandboxd-compat/ts/sdk.test.cjs"])
            .env("SANDBOXD_API_URL", &api)
            .env("SANDBOXD_API_KEY_FOR_TESTS", KEY))
    });
    let result = python_suite.and(ts_suite);
    // Sandboxes outlive sandboxd by design; the suite's must not outlive the suite: delete
    // whatever a failed test left, through the API, before stopping sandboxd.
    let cleanup = sh(Command::new(python).args(["-c", CLEANUP, &api, KEY]));
    // SIGTERM: sandboxd removes its spare disk layers (mounts) before it exits.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while matches!(child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
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

/// Installs the official TypeScript SDK pinned in `tests/sandboxd-compat/ts/package.json` into
/// `target/sandboxd-compat-ts` with npm (once; again when the manifest changes) and returns its
/// `node_modules` (the suite is CommonJS, so `NODE_PATH` finds it).
fn ensure_ts_sdk() -> Result<std::path::PathBuf, String> {
    let prefix = root().join("target").join("sandboxd-compat-ts");
    let modules = prefix.join("node_modules");
    let manifest = root()
        .join("tests")
        .join("sandboxd-compat")
        .join("ts")
        .join("package.json");
    let wanted = std::fs::read_to_string(&manifest)
        .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
    let stamp = prefix.join(".installed");
    if modules.join("@daytonaio").join("sdk").exists()
        && std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str())
    {
        return Ok(modules);
    }
    std::fs::create_dir_all(&prefix)
        .map_err(|e| format!("cannot create {}: {e}", prefix.display()))?;
    std::fs::copy(&manifest, prefix.join("package.json"))
        .map_err(|e| format!("cannot copy {}: {e}", manifest.display()))?;
    sh(Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&prefix))?;
    std::fs::write(&stamp, wanted).map_err(|e| format!("cannot write {}: {e}", stamp.display()))?;
    Ok(modules)
}

/// The shared image dir (built once per run; the first user builds it).
fn image_dir(target: &Path) -> std::path::PathBuf {
    std::env::var_os("SANDBOXD_TEST_IMAGE_DIR")
        .map_or_else(|| target.join("sandbox-images"), Into::into)
}
