//! Execs: a cold exec's timeout kills an escapee (the bash gate), the gate is invisible, and a
//! warm shell is in its cgroup before it runs anything.

use http::Method;
use serde_json::{json, Value};

use super::{dies, escapee, mount, started, Bin, Root};
use crate::support::unique_seconds;

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
