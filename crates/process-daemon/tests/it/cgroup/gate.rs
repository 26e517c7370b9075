//! The spawn gate of every cold spawn besides a plain bash exec (the daemon's `gate.rs`
//! trampoline; a PTY joins its cgroup before its `exec`): the daemon runs with a test-only
//! pause (`--test-adopt-delay-ms`) between starting a unit's process and moving it into its
//! cgroup, and the unit starts an escapee at once (a code-run program, an exec whose
//! environment refuses the bash gate, Python's start-up in a worker, a session shell's
//! `BASH_ENV`, a PTY's login profile). Held at the gate, the escapee is born inside the cgroup
//! and dies with the unit; without the gate it has the whole pause to leave (and survived).

use http::Method;
use process_daemon::proc::table;
use serde_json::{json, Value};

use super::{dies, escapee, started, Bin, Root};

use crate::support::{processes_with, unique_seconds};

/// The pause between a unit's spawn and its move: far longer than an escapee needs to leave.
const DELAY_MS: &str = "1500";

/// A binary daemon with its own cgroup root, no warm shells (every exec is cold) and the pause.
fn gated(root: &Root) -> Bin {
    Bin::start(&[
        "--cgroup-root",
        &root.arg(),
        "--warm-shells",
        "0",
        "--test-adopt-delay-ms",
        DELAY_MS,
    ])
}

/// Writes an executable script `name` into the daemon's work dir and returns its path.
fn script(d: &Bin, name: &str, text: &str) -> String {
    let path = d.work.path().join(name);
    std::fs::write(&path, text).expect("script");
    path.display().to_string()
}

#[tokio::test]
async fn an_exec_whose_environment_refuses_the_bash_gate_is_held_by_the_trampoline() {
    let Some(root) =
        Root::new("an_exec_whose_environment_refuses_the_bash_gate_is_held_by_the_trampoline")
    else {
        return;
    };
    let d = gated(&root);
    for envs in [
        json!({"BASH_ENV": "/dev/null"}),
        json!({"SHELLOPTS": "braceexpand:hashall:interactive-comments"}),
        json!({"LD_PRELOAD": ""}),
    ] {
        let marker = unique_seconds();
        let pidfile = d.pidfile("escapee");
        let _ = std::fs::remove_file(&pidfile);
        let ((status, v), p) = tokio::join!(
            d.daemon.call(
                Method::POST,
                "/process/execute",
                Some(json!({
                    "command": format!("{}; sleep {marker}", escapee(&marker, &pidfile)),
                    "envs": envs,
                    "timeout": 3,
                })),
            ),
            started(&pidfile)
        );
        assert_eq!(
            (status, v["timedOut"].as_bool()),
            (408, Some(true)),
            "{envs}: {v}"
        );
        dies(p, &format!("exec with {envs}")).await;
    }
}

#[tokio::test]
async fn a_code_run_interpreter_is_held_until_it_is_in_its_cgroup() {
    let Some(root) = Root::new("a_code_run_interpreter_is_held_until_it_is_in_its_cgroup") else {
        return;
    };
    let d = gated(&root);
    let marker = unique_seconds();
    let pidfile = d.pidfile("escapee");
    let code = format!(
        "import subprocess, time\nsubprocess.run(['/bin/sh', '-c', {:?}], check=True)\ntime.sleep(60)\n",
        escapee(&marker, &pidfile)
    );
    let ((status, v), p) = tokio::join!(
        d.daemon.call(
            Method::POST,
            "/process/code-run",
            Some(json!({"code": code, "language": "python", "timeout": 4})),
        ),
        started(&pidfile)
    );
    assert_eq!(status, 408, "{v}");
    dies(p, "code-run timeout").await;
}

#[tokio::test]
async fn an_interpreter_worker_is_held_until_it_is_in_its_cgroup() {
    let Some(root) = Root::new("an_interpreter_worker_is_held_until_it_is_in_its_cgroup") else {
        return;
    };
    let d = gated(&root);
    let marker = unique_seconds();
    let pidfile = d.pidfile("escapee");
    // Python imports `sitecustomize` from its path at start-up, before the worker's own code.
    let site = d.work.path().join("site");
    std::fs::create_dir(&site).expect("site dir");
    std::fs::write(
        site.join("sitecustomize.py"),
        format!(
            "import subprocess\nsubprocess.run(['/bin/sh', '-c', {:?}], check=True)\n",
            escapee(&marker, &pidfile)
        ),
    )
    .expect("sitecustomize");
    d.call(
        Method::POST,
        "/env",
        Some(json!({"set": {"PYTHONPATH": site.display().to_string()}})),
    )
    .await;
    let ctx = d
        .call(
            Method::POST,
            "/process/interpreter/context",
            Some(json!({})),
        )
        .await;
    let id = ctx["id"].as_str().expect("id").to_owned();
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
async fn a_session_shell_is_held_until_it_is_in_its_cgroup() {
    let Some(root) = Root::new("a_session_shell_is_held_until_it_is_in_its_cgroup") else {
        return;
    };
    let d = gated(&root);
    let marker = unique_seconds();
    let pidfile = d.pidfile("escapee");
    // A non-interactive bash sources `$BASH_ENV` as it starts, before it reads a command.
    let start = script(&d, "start.sh", &format!("{}\n", escapee(&marker, &pidfile)));
    d.call(
        Method::POST,
        "/env",
        Some(json!({"set": {"BASH_ENV": start}})),
    )
    .await;
    d.session("s").await;
    let v = d
        .call(
            Method::POST,
            "/process/session/s/exec",
            Some(json!({"command": "echo up"})),
        )
        .await;
    assert_eq!(v["exitCode"], 0, "{v}");
    let p = started(&pidfile).await;
    d.call(Method::DELETE, "/process/session/s", None).await;
    dies(p, "session delete").await;
}

#[tokio::test]
async fn a_pty_shell_joins_its_cgroup_before_it_reads_its_profile() {
    let Some(root) = Root::new("a_pty_shell_joins_its_cgroup_before_it_reads_its_profile") else {
        return;
    };
    let d = gated(&root);
    let marker = unique_seconds();
    let pidfile = d.pidfile("escapee");
    // A login shell reads `~/.bash_profile` (bash) or `~/.profile` before its first prompt.
    let home = d.work.path().join("home");
    std::fs::create_dir(&home).expect("home");
    for profile in [".bash_profile", ".profile", ".zprofile"] {
        std::fs::write(
            home.join(profile),
            format!("{}\n", escapee(&marker, &pidfile)),
        )
        .expect("profile");
    }
    let v: Value = d
        .call(
            Method::POST,
            "/process/pty",
            Some(json!({"id": "p", "envs": {"HOME": home.display().to_string()}})),
        )
        .await;
    assert!(v.is_object(), "{v}");
    let p = started(&pidfile).await;
    d.call(Method::DELETE, "/process/pty/p", None).await;
    dies(p, "PTY delete").await;
}

/// Through the trampoline a program sees what it would see started directly: the same
/// environment (odd names and values included; its order carries no meaning), descriptors,
/// signal dispositions and argv, and nothing of `sh` or `env`.
#[tokio::test]
async fn a_trampolined_exec_sees_exactly_what_an_ungated_one_sees() {
    let Some(root) = Root::new("a_trampolined_exec_sees_exactly_what_an_ungated_one_sees") else {
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
    let dump = "tr '\\0' '\\n' </proc/$$/environ | grep -v '^PROCESS_RUN_ID=' | LC_ALL=C sort; \
        tr '\\0' ' ' </proc/$$/cmdline; echo; \
        for f in /proc/$$/fd/*; do echo \"${f##*/} $(readlink $f | cut -d'[' -f1)\"; done; \
        grep -E '^flags' /proc/$$/fdinfo/0; grep -E '^SigIgn|^NoNewPrivs' /proc/$$/status; \
        grep -E '^Sig(Blk|Ign)' /proc/self/status; \
        echo \"$0|$-|$?\"; umask";
    let body = json!({
        "command": dump,
        // Each refuses the bash gate, so the gated daemon uses the trampoline.
        "envs": {
            "BASH_ENV": "/dev/null",
            "LD_PRELOAD": "",
            "PPID": "5",
            "OPTIND": "7",
            "IFS": ":",
            "PWD": "/nonexistent",
            "ODD": "a'b\"c\nd $(x) `y`",
            "SECRET": "kept",
        },
    });
    let g = gated.post("/process/execute", &body).await;
    let p = plain.post("/process/execute", &body).await;
    assert_eq!((g.status.as_u16(), p.status.as_u16()), (200, 200));
    let (g, p) = (g.json(), p.json());
    assert_eq!(g["exitCode"], 0, "{g}");
    assert_eq!(
        g["result"], p["result"],
        "a trampolined shell differs from a direct one"
    );
}

/// No request variable but start-up settings is ever on a command line, which every user of
/// the host can read: while the trampoline waits at the gate, no process's `cmdline` holds a
/// secret's value (its environment, readable by its owner only, does).
#[tokio::test]
async fn a_secret_in_the_environment_never_shows_in_a_command_line() {
    let Some(root) = Root::new("a_secret_in_the_environment_never_shows_in_a_command_line") else {
        return;
    };
    let d = gated(&root);
    let secret = format!("s3cr3t-{}", unique_seconds());
    let watch = async {
        // The gate holds the spawn for DELAY_MS: look while it waits.
        let (mut cmdline, mut environ) = (false, false);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(1200);
        while tokio::time::Instant::now() < deadline {
            cmdline |= !processes_with(&secret).is_empty();
            environ |= table::pids()
                .into_iter()
                .any(|pid| table::env_var(pid, "TOKEN").as_deref() == Some(secret.as_bytes()));
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        (cmdline, environ)
    };
    let ((status, v), (cmdline, environ)) = tokio::join!(
        d.daemon.call(
            Method::POST,
            "/process/execute",
            Some(json!({
                "command": "echo \"${TOKEN#s3cr3t-}\"",
                // POSIXLY_CORRECT refuses the bash gate: the trampoline runs.
                "envs": {"POSIXLY_CORRECT": "1", "TOKEN": secret},
            })),
        ),
        watch
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["result"].as_str().map(str::trim),
        secret.strip_prefix("s3cr3t-"),
        "{v}"
    );
    assert!(!cmdline, "the secret showed in a process's command line");
    assert!(
        environ,
        "the probe never saw the waiting trampoline's environment"
    );
}

/// A loader setting of the request's own (here `LD_LIBRARY_PATH`, where a planted library
/// would run before bash reads its gate) sends a bash exec through the trampoline: while the
/// move is held, the waiting process is the trampoline, not bash.
#[tokio::test]
async fn a_requests_own_library_path_takes_the_trampoline() {
    let Some(root) = Root::new("a_requests_own_library_path_takes_the_trampoline") else {
        return;
    };
    let d = gated(&root);
    let marker = format!("lib-path-{}", unique_seconds());
    let watch = async {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(1200);
        let mut seen = None;
        while seen.is_none() && tokio::time::Instant::now() < deadline {
            seen = processes_with(&marker)
                .first()
                .and_then(|&pid| table::cmdline(pid))
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " "));
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        seen
    };
    let ((status, v), seen) = tokio::join!(
        d.daemon.call(
            Method::POST,
            "/process/execute",
            Some(json!({
                "command": format!(": {marker}"),
                "envs": {"LD_LIBRARY_PATH": "/nonexistent-processd-test-lib"},
            })),
        ),
        watch
    );
    assert_eq!(status, 200, "{v}");
    let seen = seen.expect("the held process was never seen");
    assert!(seen.contains("processd-gate"), "not the trampoline: {seen}");
}
