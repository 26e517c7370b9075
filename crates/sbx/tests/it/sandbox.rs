//! `sbx create|ls|start|stop|rm` and the process commands through a real `sandboxd` (control
//! plane + toolbox proxy) on loopback, with its unisolated test provider.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

use crate::support::{sbx_bin, text};

const KEY: &str = "sbx-test-key";

/// One sandboxd (killed, with its sandboxes, on drop).
struct Sandboxd {
    child: Child,
    api: String,
    state: tempfile::TempDir,
}

impl Sandboxd {
    fn start() -> Option<Sandboxd> {
        let bin = PathBuf::from(sbx_bin()).with_file_name("sandboxd");
        if !bin.exists() {
            assert!(
                std::env::var("CI").is_err(),
                "{} is missing (cargo test --workspace builds it)",
                bin.display()
            );
            eprintln!("skipping: build sandboxd first (cargo build -p sandbox-daemon)");
            return None;
        }
        let state = tempfile::tempdir().unwrap();
        let mut child = Command::new(bin)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--test-unisolated-provider",
                "--log-level",
                "warn",
            ])
            .args(["--api-key", KEY])
            .arg("--state-dir")
            .arg(state.path())
            .env_remove("SANDBOXD_API_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let api = line
            .trim()
            .rsplit('=')
            .next()
            .unwrap_or_default()
            .to_owned();
        assert!(
            api.starts_with("http://127.0.0.1:"),
            "sandboxd printed {line:?}"
        );
        Some(Sandboxd { child, api, state })
    }

    /// Runs `sbx ARGS…` against this control plane (DAYTONA_API_URL / DAYTONA_API_KEY).
    async fn sbx(&self, args: &[&str]) -> Output {
        let out = tokio::process::Command::new(sbx_bin())
            .args(args)
            .env("DAYTONA_API_URL", &self.api)
            .env("DAYTONA_API_KEY", KEY)
            .env_remove("SBX_DAEMON")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        tokio::time::timeout(std::time::Duration::from_mins(2), out)
            .await
            .expect("sbx did not finish in time")
            .unwrap()
    }
}

impl Drop for Sandboxd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The unisolated sandboxes outlive sandboxd by design; a test's must not.
        if let Ok(dirs) = std::fs::read_dir(self.state.path().join("unisolated")) {
            for dir in dirs.flatten() {
                if let Some(pid) = std::fs::read_to_string(dir.path().join("pid"))
                    .ok()
                    .and_then(|s| s.trim().parse::<i32>().ok())
                {
                    let _ = nix::sys::signal::killpg(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
    }
}

fn state_of(ls_json: &[u8], id: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(ls_json).unwrap();
    v.as_array()?
        .iter()
        .find(|s| s["id"] == id)
        .map(|s| s["state"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_and_exec_through_the_control_plane() {
    let Some(cp) = Sandboxd::start() else { return };
    let out = cp
        .sbx(&[
            "create",
            "--name",
            "sbx-demo",
            "--env",
            "GREETING=hello",
            "--cpu",
            "1",
            "--memory",
            "1",
            "--auto-stop",
            "30",
        ])
        .await;
    let (stdout, stderr, code) = text(&out);
    assert_eq!(code, 0, "{stderr}");
    let id = stdout.trim().to_owned();
    assert!(!id.is_empty() && !id.contains('\n'), "{stdout}");

    let out = cp.sbx(&["ls"]).await;
    let (table, _, _) = text(&out);
    assert!(table.contains(&id) && table.contains("sbx-demo"), "{table}");
    let out = cp.sbx(&["--json", "ls"]).await;
    assert_eq!(state_of(&out.stdout, &id).as_deref(), Some("started"));

    // The process commands reach the sandbox through the toolbox proxy.
    let out = cp.sbx(&["exec", &id, "--", "echo $GREETING; exit 4"]).await;
    assert_eq!(text(&out), ("hello\n".into(), String::new(), 4));

    let out = cp.sbx(&["stop", &id]).await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = cp.sbx(&["--json", "ls"]).await;
    assert_eq!(state_of(&out.stdout, &id).as_deref(), Some("stopped"));
    let out = cp.sbx(&["start", &id]).await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = cp.sbx(&["exec", "sbx-demo", "--", "echo back"]).await;
    assert_eq!(text(&out).0, "back\n", "by name, after a restart");

    let out = cp.sbx(&["rm", &id]).await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // Gone: 127.
    let out = cp.sbx(&["exec", &id, "--", "true"]).await;
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    // Lifecycle commands need a control plane, not --daemon: 125 with a clear message.
    let out = tokio::process::Command::new(sbx_bin())
        .args(["--daemon", "http://127.0.0.1:9", "ls"])
        .env_remove("DAYTONA_API_URL")
        .output()
        .await
        .unwrap();
    let (_, stderr, code) = text(&out);
    assert_eq!(code, 125);
    assert!(stderr.contains("DAYTONA_API_URL"), "{stderr}");
}
