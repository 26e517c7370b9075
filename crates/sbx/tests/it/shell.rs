//! `sbx shell` under a real terminal (tmux): typing, resize on SIGWINCH, the exit code, the
//! terminal restored afterwards, detach and reattach with the scrollback replayed.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{sbx_bin, TestDaemon};

/// One tmux server of our own (its own socket), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new() -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            assert!(
                std::env::var("CI").is_err(),
                "tmux is required in CI (.ci/run installs it)"
            );
            eprintln!("skipping: tmux is not installed");
            return None;
        }
        Some(Tmux {
            socket: format!(
                "sbx-test-{}",
                u64::from(std::process::id()) * 1000 + u64::from(rand_u16())
            ),
        })
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket, "-f", "/dev/null"]);
        c
    }

    /// Starts `shell_cmd` (run by sh) in a detached 100x30 session named `name`.
    fn start(&self, name: &str, shell_cmd: &str) {
        let ok = self
            .cmd()
            .args([
                "new-session",
                "-d",
                "-s",
                name,
                "-x",
                "100",
                "-y",
                "30",
                shell_cmd,
            ])
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux new-session failed");
    }

    fn keys(&self, name: &str, keys: &[&str]) {
        let ok = self
            .cmd()
            .args(["send-keys", "-t", name])
            .args(keys)
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux send-keys failed");
    }

    fn screen(&self, name: &str) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-t", name, "-S", "-100"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen of `name` contains `needle` (panics with the screen after 30 s).
    fn wait_for(&self, name: &str, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen(name);
            if screen.contains(needle) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "'{needle}' never appeared; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

fn rand_u16() -> u16 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (t.subsec_nanos() % 997) as u16
}

/// Waits for `file` to exist and returns its content.
fn wait_file(file: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(s) = std::fs::read_to_string(file) {
            if s.ends_with('\n') {
                return s;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The shell command tmux runs: records the terminal settings before and after sbx, and sbx's
/// exit code, in `dir`.
fn wrapped(dir: &Path, url: &str, args: &str) -> String {
    let d = dir.display();
    format!(
        "stty -g > {d}/before; {bin} --daemon {url} shell local {args}; echo $? > {d}/rc; \
         stty -g > {d}/after; sleep 60",
        bin = sbx_bin()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn shell_types_resizes_exits_with_the_code_and_restores_the_terminal() {
    let Some(tmux) = Tmux::new() else { return };
    let d = TestDaemon::start(None).await;
    let dir = tempfile::tempdir().unwrap();
    tmux.start("t", &wrapped(dir.path(), &d.url, "--name first"));
    let tmux = std::sync::Arc::new(tmux);
    let t = tmux.clone();
    tokio::task::spawn_blocking(move || {
        t.keys("t", &["echo typed-$((6*7))", "Enter"]);
        t.wait_for("t", "typed-42");
        // The remote terminal has our size, and follows a resize (SIGWINCH).
        t.keys("t", &["stty size", "Enter"]);
        t.wait_for("t", "30 100");
        let ok = t
            .cmd()
            .args(["resize-window", "-t", "t", "-x", "120", "-y", "40"])
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux resize-window failed");
        std::thread::sleep(Duration::from_millis(500));
        t.keys("t", &["stty size", "Enter"]);
        t.wait_for("t", "40 120");
        t.keys("t", &["exit 3", "Enter"]);
    })
    .await
    .unwrap();
    assert_eq!(wait_file(&dir.path().join("rc")).trim(), "3");
    let before = wait_file(&dir.path().join("before"));
    let after = wait_file(&dir.path().join("after"));
    assert_eq!(before, after, "the terminal settings were not restored");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn detach_leaves_the_shell_running_and_reattach_replays_the_scrollback() {
    let Some(tmux) = Tmux::new() else { return };
    let d = TestDaemon::start(None).await;
    let dir = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    tmux.start("a", &wrapped(dir.path(), &d.url, "--name keep"));
    let tmux = std::sync::Arc::new(tmux);
    let t = tmux.clone();
    let url = d.url.clone();
    let second_dir = second.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        t.keys("a", &["echo marker-$((40+2))", "Enter"]);
        t.wait_for("a", "marker-42");
        // Ctrl-] detaches.
        t.keys("a", &["C-]"]);
        t.wait_for("a", "detached from PTY session 'keep'");
        // Reattach from another terminal: the earlier output is replayed, and it is live.
        t.start("b", &wrapped(&second_dir, &url, "--attach keep"));
        t.wait_for("b", "marker-42");
        t.keys("b", &["echo again-$((1+1))", "Enter"]);
        t.wait_for("b", "again-2");
        t.keys("b", &["exit", "Enter"]);
    })
    .await
    .unwrap();
    assert_eq!(
        wait_file(&dir.path().join("rc")).trim(),
        "0",
        "detach is exit 0"
    );
    assert_eq!(
        wait_file(&dir.path().join("before")),
        wait_file(&dir.path().join("after")),
        "the terminal settings were not restored after detaching"
    );
    assert_eq!(wait_file(&second.path().join("rc")).trim(), "0");
    d.stop().await;
}
