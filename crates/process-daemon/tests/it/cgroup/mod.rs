//! A cgroup per unit (issue 13 item 7), against the real `processd` binary: a process that left
//! the unit's process group (`setsid`), cleared its environment (no `PROCESS_RUN_ID`) and was
//! re-parented (double fork) dies with its session, PTY, interpreter context or exec, because
//! the daemon kills the unit's cgroup. Each test gives the daemon a cgroup root of its own below
//! this process's cgroup v2 directory and skips, saying why, where there is none to write.
//! Without a cgroup root the ordinary tree still dies.
//!
//! `mod.rs`: the escapee, the process and cgroup helpers and the binary daemon; `session.rs`:
//! sessions, their commands and a restart; `exec.rs`: cold and warm execs and the bash gate;
//! `units.rs`: PTYs, interpreter contexts, `auto` and no root; `gate.rs`: the spawn gate of
//! every other cold spawn (a test-only delay before each move widens the window it closes);
//! `commands.rs`: session command cgroups made ahead, and in a non-bash session.

mod commands;
mod exec;
mod gate;
mod session;
mod units;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::Method;
use serde_json::{json, Value};

use crate::durability::Daemon;
use crate::support::eventually;

/// Starts an escapee and writes its pid to `pidfile`: `setsid` (a new session and process
/// group), `env -i` (no `PROCESS_RUN_ID`), and a double fork (its parent `sh` exits, so it is
/// re-parented and no longer a descendant of the unit).
pub(super) fn escapee(marker: &str, pidfile: &Path) -> String {
    format!(
        "setsid -f env -i /bin/sh -c 'sleep {marker} </dev/null >/dev/null 2>&1 & echo $! > {}'",
        pidfile.display()
    )
}

/// A process named by pid and start time (never a bare pid: pids are recycled).
#[derive(Debug, Clone, Copy)]
pub(super) struct Proc {
    pub(super) pid: i32,
    pub(super) start: u64,
}

impl Proc {
    /// Whether it still runs (a zombie or a recycled pid does not count).
    pub(super) fn alive(self) -> bool {
        process_daemon::proc::start_time(self.pid) == Some(self.start)
            && process_daemon::proc::proc_state(self.pid).is_some_and(|s| s != 'Z')
    }

    /// The cgroup v2 path it is in (`/proc/<pid>/cgroup`'s `0::` line).
    pub(super) fn cgroup(self) -> Option<String> {
        let text = std::fs::read_to_string(format!("/proc/{}/cgroup", self.pid)).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("0::"))
            .map(str::to_owned)
    }
}

/// Waits for `pidfile` to name a live process.
pub(super) async fn started(pidfile: &Path) -> Proc {
    let mut found = None;
    let ok = eventually(Duration::from_secs(20), || {
        found = std::fs::read_to_string(pidfile)
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok())
            .and_then(|pid| {
                Some(Proc {
                    pid,
                    start: process_daemon::proc::start_time(pid)?,
                })
            });
        found.is_some()
    })
    .await;
    assert!(ok, "the escapee never started ({})", pidfile.display());
    let p = found.expect("found");
    assert!(p.alive(), "{p:?} is not running");
    p
}

/// Asserts that `p` dies within 10 s.
pub(super) async fn dies(p: Proc, what: &str) {
    assert!(
        eventually(Duration::from_secs(10), || !p.alive()).await,
        "{what}: the escapee {p:?} survived (in cgroup {:?})",
        p.cgroup()
    );
}

/// The cgroup2 mount point.
pub(super) fn mount() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    mounts.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        if right.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        let mut f = left.split_whitespace();
        (f.nth(3)? == "/").then(|| PathBuf::from(f.next().unwrap_or_default()))
    })
}

/// The directory of the cgroup v2 path `rel` (as `/proc/<pid>/cgroup` names it).
pub(super) fn cgroup_dir(rel: &str) -> Option<PathBuf> {
    Some(mount()?.join(rel.trim_start_matches('/')))
}

/// This process's cgroup v2 directory.
pub(super) fn own_cgroup_dir() -> Option<PathBuf> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    cgroup_dir(own.lines().find_map(|l| l.strip_prefix("0::"))?)
}

/// A cgroup directory for one test's daemon; everything below it is killed and removed on drop.
pub(super) struct Root {
    pub(super) dir: PathBuf,
}

impl Root {
    /// A fresh root below our own cgroup, or `None` (with the reason printed) where cgroup v2
    /// is missing or not writable, or has no `cgroup.kill`.
    pub(super) fn new(test: &str) -> Option<Root> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let Some(own) = own_cgroup_dir() else {
            eprintln!("skipping {test}: no cgroup v2 directory of our own");
            return None;
        };
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = own.join(format!("processd-it-{}-{n}", std::process::id()));
        if let Err(err) = std::fs::create_dir(&dir) {
            eprintln!("skipping {test}: cannot create {}: {err}", dir.display());
            return None;
        }
        if !dir.join("cgroup.kill").exists() {
            let _ = std::fs::remove_dir(&dir);
            eprintln!("skipping {test}: no cgroup.kill (Linux < 5.14)");
            return None;
        }
        Some(Root { dir })
    }

    pub(super) fn arg(&self) -> String {
        self.dir.display().to_string()
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = std::fs::write(self.dir.join("cgroup.kill"), "1");
        for _ in 0..100 {
            remove_tree(&self.dir);
            if !self.dir.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Removes the cgroup directories below `dir` and `dir`, deepest first.
pub(super) fn remove_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// A binary daemon with its scratch dirs.
pub(super) struct Bin {
    pub(super) daemon: Daemon,
    pub(super) work: tempfile::TempDir,
    _state: tempfile::TempDir,
}

impl Bin {
    pub(super) fn start(args: &[&str]) -> Bin {
        let work = tempfile::tempdir().expect("work");
        let state = tempfile::tempdir().expect("state");
        let python = crate::support::test_python()
            .unwrap_or_else(|| PathBuf::from("/usr/bin/python3"))
            .display()
            .to_string();
        let mut all = vec!["--python", python.as_str()];
        all.extend_from_slice(args);
        let daemon = Daemon::start(work.path(), state.path(), &all);
        Bin {
            daemon,
            work,
            _state: state,
        }
    }

    pub(super) fn addr(&self) -> SocketAddr {
        self.daemon
            .url
            .trim_start_matches("http://")
            .parse()
            .expect("addr")
    }

    pub(super) fn pidfile(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    pub(super) async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.daemon.call(method, path, body).await;
        assert!((200..300).contains(&status), "{path}: {status} {v}");
        v
    }

    pub(super) async fn session(&self, sid: &str) {
        self.call(
            Method::POST,
            "/process/session",
            Some(json!({"sessionId": sid})),
        )
        .await;
    }

    /// Runs `command` asynchronously in session `sid`; returns its command id.
    pub(super) async fn run_async(&self, sid: &str, command: &str) -> String {
        let v = self
            .call(
                Method::POST,
                &format!("/process/session/{sid}/exec"),
                Some(json!({"command": command, "runAsync": true})),
            )
            .await;
        v["cmdId"].as_str().expect("cmdId").to_owned()
    }
}
