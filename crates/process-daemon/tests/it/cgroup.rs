//! A cgroup per unit (issue 13 item 7), against the real `processd` binary: a process that left
//! the unit's process group (`setsid`), cleared its environment (no `PROCESS_RUN_ID`) and was
//! re-parented (double fork) dies with its session, PTY, interpreter context or exec, because
//! the daemon kills the unit's cgroup. Each test gives the daemon a cgroup root of its own below
//! this process's cgroup v2 directory and skips, saying why, where there is none to write.
//! Without a cgroup root the ordinary tree still dies.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fastwebsockets::{Frame, OpCode, Payload};
use http::Method;
use serde_json::{json, Value};

use crate::durability::Daemon;
use crate::support::{eventually, unique_seconds, ws_at};

/// Starts an escapee and writes its pid to `pidfile`: `setsid` (a new session and process
/// group), `env -i` (no `PROCESS_RUN_ID`), and a double fork (its parent `sh` exits, so it is
/// re-parented and no longer a descendant of the unit).
fn escapee(marker: &str, pidfile: &Path) -> String {
    format!(
        "setsid -f env -i /bin/sh -c 'sleep {marker} </dev/null >/dev/null 2>&1 & echo $! > {}'",
        pidfile.display()
    )
}

/// A process named by pid and start time (never a bare pid: pids are recycled).
#[derive(Debug, Clone, Copy)]
struct Proc {
    pid: i32,
    start: u64,
}

impl Proc {
    /// Whether it still runs (a zombie or a recycled pid does not count).
    fn alive(self) -> bool {
        process_daemon::proc::start_time(self.pid) == Some(self.start)
            && process_daemon::proc::proc_state(self.pid).is_some_and(|s| s != 'Z')
    }

    /// The cgroup v2 path it is in (`/proc/<pid>/cgroup`'s `0::` line).
    fn cgroup(self) -> Option<String> {
        let text = std::fs::read_to_string(format!("/proc/{}/cgroup", self.pid)).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("0::"))
            .map(str::to_owned)
    }
}

/// Waits for `pidfile` to name a live process.
async fn started(pidfile: &Path) -> Proc {
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
async fn dies(p: Proc, what: &str) {
    assert!(
        eventually(Duration::from_secs(10), || !p.alive()).await,
        "{what}: the escapee {p:?} survived (in cgroup {:?})",
        p.cgroup()
    );
}

/// The cgroup2 mount point.
fn mount() -> Option<PathBuf> {
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
fn cgroup_dir(rel: &str) -> Option<PathBuf> {
    Some(mount()?.join(rel.trim_start_matches('/')))
}

/// This process's cgroup v2 directory.
fn own_cgroup_dir() -> Option<PathBuf> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    cgroup_dir(own.lines().find_map(|l| l.strip_prefix("0::"))?)
}

/// A cgroup directory for one test's daemon; everything below it is killed and removed on drop.
struct Root {
    dir: PathBuf,
}

impl Root {
    /// A fresh root below our own cgroup, or `None` (with the reason printed) where cgroup v2
    /// is missing or not writable, or has no `cgroup.kill`.
    fn new(test: &str) -> Option<Root> {
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

    fn arg(&self) -> String {
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
fn remove_tree(dir: &Path) {
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
struct Bin {
    daemon: Daemon,
    work: tempfile::TempDir,
    _state: tempfile::TempDir,
}

impl Bin {
    fn start(args: &[&str]) -> Bin {
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

    fn addr(&self) -> SocketAddr {
        self.daemon
            .url
            .trim_start_matches("http://")
            .parse()
            .expect("addr")
    }

    fn pidfile(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.daemon.call(method, path, body).await;
        assert!((200..300).contains(&status), "{path}: {status} {v}");
        v
    }

    async fn session(&self, sid: &str) {
        self.call(
            Method::POST,
            "/process/session",
            Some(json!({"sessionId": sid})),
        )
        .await;
    }

    /// Runs `command` asynchronously in session `sid`; returns its command id.
    async fn run_async(&self, sid: &str, command: &str) -> String {
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

#[tokio::test]
async fn session_delete_kills_an_escapee_and_removes_its_cgroup() {
    let Some(root) = Root::new("session_delete_kills_an_escapee_and_removes_its_cgroup") else {
        return;
    };
    let d = Bin::start(&["--cgroup-root", &root.arg()]);
    d.session("s").await;
    let marker = unique_seconds();
    let pidfile = d.pidfile("escapee");
    d.run_async(
        "s",
        &format!("{}; sleep {marker}", escapee(&marker, &pidfile)),
    )
    .await;
    let p = started(&pidfile).await;
    let cgroup = p.cgroup().expect("cgroup");
    assert!(
        cgroup.contains("/processd-it-"),
        "the escapee is not in the session's cgroup: {cgroup}"
    );
    d.call(Method::DELETE, "/process/session/s", None).await;
    dies(p, "session delete").await;
    // The session's cgroup goes once it is empty.
    let unit = cgroup_dir(&cgroup).expect("cgroup dir");
    assert!(
        eventually(Duration::from_secs(10), || !unit.exists()).await,
        "{} was not removed",
        unit.display()
    );
}

#[tokio::test]
async fn session_command_kill_kills_an_escapee_and_spares_the_session() {
    let Some(root) = Root::new("session_command_kill_kills_an_escapee_and_spares_the_session")
    else {
        return;
    };
    let d = Bin::start(&["--cgroup-root", &root.arg()]);
    d.session("s").await;
    let marker = unique_seconds();
    let pidfile = d.pidfile("escapee");
    let cid = d
        .run_async(
            "s",
            &format!("{}; sleep {marker}", escapee(&marker, &pidfile)),
        )
        .await;
    let p = started(&pidfile).await;
    d.call(
        Method::POST,
        &format!("/process/session/s/command/{cid}/signal"),
        Some(json!({"signal": "KILL"})),
    )
    .await;
    dies(p, "session command kill").await;
    // The session shell and its state survive.
    let v = d
        .call(
            Method::POST,
            "/process/session/s/exec",
            Some(json!({"command": "echo still here"})),
        )
        .await;
    assert_eq!(v["exitCode"], 0, "{v}");
    assert!(
        v["output"]
            .as_str()
            .unwrap_or_default()
            .contains("still here"),
        "{v}"
    );
}

/// A sync command runs in the session shell itself, which moves into the command's own cgroup
/// while it runs: killing the command (from another request, here its per-command signal, and
/// by its timeout) takes an escapee that cleared its environment, and the shell, moved out
/// first, survives with its state.
#[tokio::test]
async fn sync_session_command_kill_and_timeout_kill_an_escapee_and_spare_the_session() {
    let Some(root) =
        Root::new("sync_session_command_kill_and_timeout_kill_an_escapee_and_spare_the_session")
    else {
        return;
    };
    let d = Bin::start(&["--cgroup-root", &root.arg()]);
    d.session("s").await;
    d.call(
        Method::POST,
        "/process/session/s/exec",
        Some(json!({"command": "export KEPT=yes; cd /tmp"})),
    )
    .await;
    for how in ["signal", "timeout"] {
        let marker = unique_seconds();
        let pidfile = d.pidfile(&format!("escapee-{how}"));
        let mut body =
            json!({"command": format!("{}; sleep {marker}", escapee(&marker, &pidfile))});
        if how == "timeout" {
            body["timeout"] = json!(3);
        }
        let run = d
            .daemon
            .call(Method::POST, "/process/session/s/exec", Some(body));
        let kill = async {
            let p = started(&pidfile).await;
            if how == "signal" {
                let s = d.call(Method::GET, "/process/session/s", None).await;
                let cid = s["commands"]
                    .as_array()
                    .expect("commands")
                    .iter()
                    .find(|c| c["exitCode"].is_null())
                    .and_then(|c| c["id"].as_str())
                    .expect("the running command")
                    .to_owned();
                d.call(
                    Method::POST,
                    &format!("/process/session/s/command/{cid}/signal"),
                    Some(json!({"signal": "KILL"})),
                )
                .await;
            }
            p
        };
        let ((status, v), p) = tokio::join!(run, kill);
        assert!((200..300).contains(&status), "{how}: {status} {v}");
        assert_ne!(v["exitCode"], 0, "{how}: {v}");
        dies(p, &format!("sync session command {how}")).await;
    }
    // The session shell and its state survive.
    let v = d
        .call(
            Method::POST,
            "/process/session/s/exec",
            Some(json!({"command": "echo \"$KEPT $PWD\""})),
        )
        .await;
    assert_eq!(v["exitCode"], 0, "{v}");
    assert_eq!(
        v["stdout"].as_str().unwrap_or_default(),
        "yes /tmp\n",
        "{v}"
    );
}

#[tokio::test]
async fn a_restart_kills_the_escapees_of_the_previous_incarnation() {
    let Some(root) = Root::new("a_restart_kills_the_escapees_of_the_previous_incarnation") else {
        return;
    };
    let work = tempfile::tempdir().expect("work");
    let state = tempfile::tempdir().expect("state");
    let args = ["--cgroup-root", &root.arg()];
    let first = Daemon::start(work.path(), state.path(), &args);
    let (status, _) = first
        .call(
            Method::POST,
            "/process/session",
            Some(json!({"sessionId": "s"})),
        )
        .await;
    assert!((200..300).contains(&status));
    let marker = unique_seconds();
    let pidfile = work.path().join("escapee");
    let (status, _) = first
        .call(
            Method::POST,
            "/process/session/s/exec",
            Some(json!({"command": escapee(&marker, &pidfile), "runAsync": true})),
        )
        .await;
    assert!((200..300).contains(&status));
    let p = started(&pidfile).await;
    first.crash();
    assert!(p.alive(), "the escapee died with the daemon");
    let _second = Daemon::start(work.path(), state.path(), &args);
    dies(p, "restart").await;
}

#[tokio::test]
async fn exec_timeout_kills_an_escapee() {
    let Some(root) = Root::new("exec_timeout_kills_an_escapee") else {
        return;
    };
    // Cold: no warm shell could take it.
    let d = Bin::start(&["--cgroup-root", &root.arg(), "--warm-shells", "0"]);
    let marker = unique_seconds();
    let pidfile = d.pidfile("escapee");
    // Found while the exec runs (the timeout kills it before the answer). The escapee is the
    // first thing the command does: the shell must already be in its cgroup (it waits at a
    // gate until the daemon has moved it, see `oneshot::bash_gate`), else it would escape.
    let ((status, v), p) = tokio::join!(
        d.daemon.call(
            Method::POST,
            "/process/execute",
            Some(json!({
                "command": format!("{}; sleep {marker}", escapee(&marker, &pidfile)),
                "timeout": 3,
            })),
        ),
        started(&pidfile)
    );
    assert_eq!((status, v["timedOut"].as_bool()), (408, Some(true)), "{v}");
    dies(p, "exec timeout").await;
}

/// The gate that holds a cold exec's bash until it is in its cgroup leaves nothing of itself
/// for the command to see: everything a command can observe about its shell (the warm tests'
/// dump) is what a cold daemon without cgroups gives, but for the cgroup itself.
#[tokio::test]
async fn a_gated_cold_exec_sees_exactly_what_an_ungated_one_sees() {
    let Some(root) = Root::new("a_gated_cold_exec_sees_exactly_what_an_ungated_one_sees") else {
        return;
    };
    let dir = root.dir.clone();
    let gated = crate::support::TestDaemon::start_with(move |c| {
        c.warm_shells = 0;
        c.cgroup_root = process_daemon::CgroupRoot::Path(dir);
    })
    .await;
    let workdir = gated.workdir.path().to_owned();
    let plain = crate::support::TestDaemon::start_with(move |c| {
        c.workdir = workdir;
        c.warm_shells = 0;
    })
    .await;
    let without_cgroup = |v: &Value| -> String {
        let text = v["result"].as_str().unwrap_or_default();
        // The documented difference (`oneshot::bash_gate`): sourcing the gate fills
        // `BASH_ARGC`/`BASH_ARGV` early, so after `set --` they read `0`/`()` there.
        text.lines()
            .filter(|l| !l.starts_with("0::") && !l.starts_with("declare -a BASH_ARGC="))
            .flat_map(|l| [l, "\n"])
            .collect()
    };
    for command in [
        crate::warm::DUMP,
        // Lone programs are exec'd in place of the shell: they see the same descriptors.
        "ls /proc/self/fd",
        "echo \"$0|$_|$BASH_EXECUTION_STRING|$-|$?|$LINENO\"; printenv BASH_ENV; echo $?",
        "if then",
        "nosuchcommand --flag",
        "echo $((1/0)); exit 3",
        "cat; read -r x; echo \"read=$?\"",
    ] {
        let body = json!({"command": command});
        let g = gated.post("/process/execute", &body).await;
        let p = plain.post("/process/execute", &body).await;
        assert_eq!((g.status.as_u16(), p.status.as_u16()), (200, 200));
        let (g, p) = (g.json(), p.json());
        assert_eq!(g["exitCode"], p["exitCode"], "{command}: {g} vs {p}");
        assert_eq!(
            without_cgroup(&g),
            without_cgroup(&p),
            "{command}: a gated shell differs from an ungated one"
        );
        if command == crate::warm::DUMP {
            // Its cgroup is the gated daemon's (the unit below the root), the other's is not.
            let cgroup = |v: &Value| {
                v["result"]
                    .as_str()
                    .unwrap_or_default()
                    .lines()
                    .find(|l| l.starts_with("0::"))
                    .map(str::to_owned)
            };
            let rel = root
                .dir
                .strip_prefix(mount().expect("mount"))
                .expect("below the mount");
            let gated_cg = cgroup(&g).expect("a cgroup line");
            assert!(
                gated_cg.starts_with(&format!("0::/{}/", rel.display())),
                "{gated_cg}"
            );
            assert_ne!(cgroup(&p), Some(gated_cg));
        }
    }
}

/// A warm shell enters its cgroup while it waits, before it runs anything: an escapee started
/// at once (no head start needed, unlike the cold exec above) dies with the exec's timeout.
#[tokio::test]
async fn a_warm_exec_timeout_kills_an_escapee_started_at_once() {
    let Some(root) = Root::new("a_warm_exec_timeout_kills_an_escapee_started_at_once") else {
        return;
    };
    let dir = root.dir.clone();
    let d = crate::support::TestDaemon::start_with(move |c| {
        c.warm_shells = 2;
        c.cgroup_root = process_daemon::CgroupRoot::Path(dir);
    })
    .await;
    d.warm_ready(2).await;
    let marker = unique_seconds();
    let pidfile = d.workdir.path().join("escapee.pid");
    let body = json!({
        "command": format!(
            "tr '\\0' ' ' < /proc/$$/cmdline | grep -q 'read -r -[N] 8' || exit 99; {}; sleep {marker}",
            escapee(&marker, &pidfile)
        ),
        "timeout": 3,
    });
    let (r, p) = tokio::join!(d.post("/process/execute", &body), started(&pidfile));
    let v = r.json();
    assert_eq!(
        (r.status.as_u16(), v["timedOut"].as_bool()),
        (408, Some(true)),
        "{v}"
    );
    dies(p, "warm exec timeout").await;
}

#[tokio::test]
async fn pty_kill_kills_an_escapee() {
    let Some(root) = Root::new("pty_kill_kills_an_escapee") else {
        return;
    };
    let d = Bin::start(&["--cgroup-root", &root.arg()]);
    let mut c = crate::pty::PtyClient::create(d.addr(), "id=p").await;
    let marker = unique_seconds();
    let pidfile = d.pidfile("escapee");
    c.send(format!("{}\n", escapee(&marker, &pidfile)).as_bytes())
        .await;
    let p = started(&pidfile).await;
    d.call(Method::DELETE, "/process/pty/p", None).await;
    dies(p, "PTY kill").await;
}

#[tokio::test]
async fn interpreter_context_delete_kills_an_escapee() {
    let Some(root) = Root::new("interpreter_context_delete_kills_an_escapee") else {
        return;
    };
    let d = Bin::start(&["--cgroup-root", &root.arg()]);
    let ctx = d
        .call(
            Method::POST,
            "/process/interpreter/context",
            Some(json!({})),
        )
        .await;
    let id = ctx["id"].as_str().expect("id").to_owned();
    let marker = unique_seconds();
    let pidfile = d.pidfile("escapee");
    let code = format!(
        "import subprocess\nsubprocess.run(['/bin/sh', '-c', {:?}], check=True)\n",
        escapee(&marker, &pidfile)
    );
    let mut ws = ws_at(d.addr(), "/process/interpreter/execute", &[])
        .await
        .expect("upgrade");
    ws.write_frame(Frame::text(Payload::Owned(
        serde_json::to_vec(&json!({"code": code, "contextId": id})).expect("json"),
    )))
    .await
    .expect("send");
    let mut frames = Vec::new();
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), ws.read_frame())
            .await
            .expect("frames in time")
            .expect("frame");
        match frame.opcode {
            OpCode::Close => break,
            OpCode::Text => frames.push(String::from_utf8_lossy(&frame.payload).into_owned()),
            _ => {}
        }
    }
    assert!(
        frames.iter().any(|f| f.contains("completed")),
        "the run did not complete: {frames:?}"
    );
    let p = started(&pidfile).await;
    d.call(
        Method::DELETE,
        &format!("/process/interpreter/context/{id}"),
        None,
    )
    .await;
    dies(p, "context delete").await;
}

#[tokio::test]
async fn auto_puts_sessions_below_the_daemons_own_cgroup() {
    let Some(own) = own_cgroup_dir() else {
        eprintln!("skipping auto_puts_sessions_below_the_daemons_own_cgroup: no cgroup v2");
        return;
    };
    if std::fs::create_dir(own.join("processd-it-probe")).is_err() {
        eprintln!("skipping auto_puts_sessions_below_the_daemons_own_cgroup: not writable");
        return;
    }
    let _ = std::fs::remove_dir(own.join("processd-it-probe"));
    let d = Bin::start(&[]);
    d.session("s").await;
    let marker = unique_seconds();
    let pidfile = d.pidfile("escapee");
    d.run_async("s", &escapee(&marker, &pidfile)).await;
    let p = started(&pidfile).await;
    let cgroup = p.cgroup().expect("cgroup");
    // `<own>/processd-<hash of the state dir>/<pid>-<n>/<command id>`.
    let parts: Vec<&str> = cgroup.split('/').collect();
    let at = parts
        .iter()
        .position(|c| c.starts_with("processd-") && !c.starts_with("processd-it"));
    // The SIGKILLed daemon leaves its (empty) base behind: removed at the end.
    let leftover = at.and_then(|i| cgroup_dir(&parts[..=i].join("/")));
    assert!(
        at.is_some_and(|i| parts.len() == i + 3),
        "not in a command cgroup of a unit of the daemon's own cgroup: {cgroup}"
    );
    d.call(Method::DELETE, "/process/session/s", None).await;
    dies(p, "session delete (auto)").await;
    drop(d);
    drop(leftover.map(|dir| Root { dir }));
}

#[tokio::test]
async fn without_a_cgroup_root_the_tree_still_dies() {
    let d = Bin::start(&["--cgroup-root", "off"]);
    d.session("s").await;
    let marker = unique_seconds();
    let pidfile = d.pidfile("child");
    // A background child and an orphaned grandchild, both in the session's process group.
    d.run_async(
        "s",
        &format!(
            "sleep {marker} & echo $! > {}; (sleep {marker} &); sleep {marker}",
            pidfile.display()
        ),
    )
    .await;
    let p = started(&pidfile).await;
    assert!(
        p.cgroup().is_none_or(|c| !c.contains("processd-")),
        "a cgroup was made with --cgroup-root off: {:?}",
        p.cgroup()
    );
    d.call(Method::DELETE, "/process/session/s", None).await;
    dies(p, "session delete without cgroups").await;
    assert!(
        eventually(Duration::from_secs(10), || crate::support::processes_with(
            &format!("sleep {marker}")
        )
        .is_empty())
        .await,
        "part of the tree survived"
    );
}
