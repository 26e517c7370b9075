//! Commands start with default signal dispositions even when the daemon inherited ignored
//! ones: a script's `processd &` has SIGINT and SIGQUIT ignored, `nohup processd` SIGHUP. The
//! daemon itself still ignores SIGHUP and SIGQUIT then.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use http::Method;
use serde_json::{json, Value};

use crate::durability::call;
use crate::support::test_python;

/// SIGHUP, SIGINT and SIGQUIT: bits 0, 1 and 2 of a `SigIgn` mask.
const HUP_INT_QUIT: u64 = 0b111;

/// Runs `processd` as a shell script would after `trap '' HUP INT QUIT`.
struct Ignoring {
    child: std::process::Child,
    url: String,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

impl Drop for Ignoring {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Ignoring {
    fn start(args: &[&str]) -> Ignoring {
        let work = tempfile::tempdir().expect("workdir");
        let state = tempfile::tempdir().expect("state dir");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", r#"trap '' HUP INT QUIT; exec "$0" "$@""#])
            .arg(env!("CARGO_BIN_EXE_processd"))
            .args(["--listen", "127.0.0.1:0", "--log-level", "warn"])
            .arg("--workdir")
            .arg(work.path())
            .arg("--state-dir")
            .arg(state.path())
            .args(args);
        if let Some(py) = test_python() {
            cmd.arg("--python").arg(py);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start processd");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("first line");
        let url = line
            .trim()
            .strip_prefix("processd listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Ignoring {
            child,
            url,
            _dirs: (work, state),
        }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let (status, body) = call(&self.url, Method::POST, path, Some(body), &[]).await;
        assert!((200..300).contains(&status), "{path}: {status} {body}");
        body
    }

    /// The `SigIgn` mask a command run through `path` reports.
    async fn ignored_in(&self, what: &str, path: &str, body: Value) -> u64 {
        let reply = self.post(path, body).await;
        let text = reply["result"]
            .as_str()
            .or_else(|| reply["output"].as_str())
            .or_else(|| reply["stdout"].as_str())
            .unwrap_or_default();
        mask(text).unwrap_or_else(|| panic!("{what}: no SigIgn line in {reply}"))
    }
}

fn mask(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.trim().strip_prefix("SigIgn:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
}

fn status_of(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status")).expect("daemon status")
}

#[tokio::test]
async fn commands_get_default_dispositions_though_the_daemon_was_started_ignoring_signals() {
    // The premise: what `trap ''` hands on through exec.
    let out = Command::new("sh")
        .args(["-c", "trap '' HUP INT QUIT; exec cat /proc/self/status"])
        .output()
        .expect("sh");
    let premise = mask(&String::from_utf8_lossy(&out.stdout)).expect("SigIgn");
    assert_eq!(
        premise & HUP_INT_QUIT,
        HUP_INT_QUIT,
        "trap '' did not ignore"
    );

    let status = "cat /proc/self/status";
    let warm = Ignoring::start(&[]);
    let cold = Ignoring::start(&["--warm-shells", "0"]);
    let mut seen = vec![
        (
            "warm exec",
            warm.ignored_in(
                "warm exec",
                "/process/execute",
                json!({ "command": status }),
            )
            .await,
        ),
        (
            "cold exec (bash gate)",
            cold.ignored_in(
                "cold exec",
                "/process/execute",
                json!({ "command": status }),
            )
            .await,
        ),
        (
            "cold exec (POSIXLY_CORRECT, no gate)",
            warm.ignored_in(
                "cold exec, no gate",
                "/process/execute",
                json!({ "command": status, "envs": {"POSIXLY_CORRECT": "1"} }),
            )
            .await,
        ),
    ];
    warm.post("/process/session", json!({ "sessionId": "sig" }))
        .await;
    seen.push((
        "session command",
        warm.ignored_in(
            "session command",
            "/process/session/sig/exec",
            json!({ "command": status }),
        )
        .await,
    ));
    if test_python().is_some() {
        seen.push((
            "code-run",
            warm.ignored_in(
                "code-run",
                "/process/code-run",
                json!({ "code": "print(open('/proc/self/status').read())", "language": "python" }),
            )
            .await,
        ));
    }
    for (what, ignored) in &seen {
        assert_eq!(ignored & HUP_INT_QUIT, 0, "{what}: SigIgn {ignored:#x}");
    }

    // The daemon still ignores a hangup and a quit (it catches them and does nothing).
    let pid = warm.child.id();
    let daemon = status_of(pid);
    for signal in [
        nix::sys::signal::Signal::SIGHUP,
        nix::sys::signal::Signal::SIGQUIT,
    ] {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal).expect("kill");
    }
    let again = warm
        .ignored_in(
            "after SIGHUP",
            "/process/execute",
            json!({ "command": status }),
        )
        .await;
    assert_eq!(again & HUP_INT_QUIT, 0);
    let after = status_of(pid);
    assert!(
        !after.contains("State:\tZ"),
        "the daemon died of SIGHUP/SIGQUIT: {after}\nit was: {daemon}"
    );
}
