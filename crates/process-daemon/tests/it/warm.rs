//! The warm shell pool (`--warm-shells`): a command handed to a shell started ahead of time
//! must see exactly what a fresh `bash -c` would (compared line by line with a cold daemon on
//! the same work dir), keep every exec semantic (timeout and tree kill, 408 with partial
//! output, split streams, stdin), fall back to the cold path where it cannot be exact, and the
//! pool must refill without ever holding more than its size.

use std::time::Duration;

use http::StatusCode;
use serde_json::{json, Value};

use crate::support::{eventually, processes_with, unique_seconds, TestDaemon};

/// Prints `WARM` or `COLD` first (whether this shell is a warm one: its command line is the
/// pool's boot script; the state at the command's start is captured before that), then
/// everything a command can observe about its shell.
pub const DUMP: &str = r#"start="_=[$_] ?=$? #=$# 0=$0 -=$- LINENO=$LINENO sub=$BASH_SUBSHELL seconds_small=$(( SECONDS < 2 ))"
tr '\0' ' ' < /proc/$$/cmdline | grep -q 'read -r -[N] 8' && echo WARM || echo COLD
echo "start: $start"
echo "exec_string=[$BASH_EXECUTION_STRING]" | head -c 40; echo
stat=$(cat /proc/$$/stat); stat=${stat##*) }; set -- $stat
echo "pgid_is_self=$(( $3 == $$ )) pid_is_bashpid=$(( $$ == BASHPID )) ppid=$PPID nice=${17}"
echo "fds:"; ls /proc/$$/fd; echo ":fds"
echo "stdin=$(readlink /proc/$$/fd/0)"
[ "$(readlink /proc/$$/fd/1)" = "$(readlink /proc/$$/fd/2)" ] && echo "stdout_is_stderr=1" || echo "stdout_is_stderr=0"
grep -h '^flags' /proc/$$/fdinfo/0 /proc/$$/fdinfo/1 /proc/$$/fdinfo/2
set --
echo "--- vars"
declare -p | grep -Ev '^declare -[-a-zA-Z]* (BASHPID|RANDOM|SRANDOM|EPOCHREALTIME|EPOCHSECONDS|SECONDS|PROCESS_RUN_ID|BASH_COMMAND|stat)='
echo "--- env"
env -0 | sort -z | tr '\0' '\n' | grep -Ev '^(PROCESS_RUN_ID|_)='
echo "--- options"
set -o; shopt; trap -p; alias; declare -F; hash; jobs; dirs; umask; umask -S
echo "--- limits"
ulimit -a; ulimit -Ha
echo "--- proc"
grep -E '^(Sig(Ign|Cgt)|Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp)' /proc/$$/status
grep -E '^Sig(Blk|Ign)' /proc/self/status
cat /proc/$$/oom_score_adj /proc/$$/cgroup
echo "--- cwd"
pwd; pwd -P; echo "PWD=$PWD OLDPWD=${OLDPWD-unset}"
echo "stderr line" >&2
"#;

async fn exec(d: &TestDaemon, body: Value) -> (StatusCode, Value) {
    let r = d.post("/process/execute", &body).await;
    (r.status, r.json())
}

/// Runs `body` once the pool is full, so it is served warm.
async fn exec_warm(d: &TestDaemon, body: Value) -> (StatusCode, Value) {
    d.warm_ready(d.daemon.config().warm_shells).await;
    exec(d, body).await
}

/// A daemon with the pool of the `processd` binary's default size (2).
async fn warm_daemon() -> TestDaemon {
    TestDaemon::start_with(|c| c.warm_shells = 2).await
}

/// A warm daemon and a cold one (`--warm-shells 0`) on the same work dir.
async fn warm_and_cold() -> (TestDaemon, TestDaemon) {
    let warm = warm_daemon().await;
    let workdir = warm.workdir.path().to_owned();
    let cold = TestDaemon::start_with(|c| {
        c.workdir = workdir;
        c.warm_shells = 0;
    })
    .await;
    (warm, cold)
}

fn result(body: &Value) -> String {
    body["result"].as_str().unwrap_or_default().to_owned()
}

/// The descriptors a child of this test process starts with: 0–2 plus any the test harness
/// left inheritable (e.g. a terminal multiplexer's); what a fresh shell has, and all it has.
fn expected_fds() -> String {
    let mut fds = vec![0, 1, 2];
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        // `flags:` in fdinfo is octal and includes O_CLOEXEC (0o2000000) for close-on-exec fds.
        let inherited = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}"))
            .ok()
            .and_then(|info| {
                let flags = info.lines().find_map(|l| l.strip_prefix("flags:"))?;
                u32::from_str_radix(flags.trim(), 8).ok()
            })
            .is_some_and(|flags| flags & 0o2_000_000 == 0);
        if fd > 2 && inherited {
            fds.push(fd);
        }
    }
    // As `ls` lists them.
    let mut names: Vec<String> = fds.iter().map(ToString::to_string).collect();
    names.sort();
    let mut listed = names.join("\n");
    listed.push('\n');
    listed
}

/// The dump without its WARM/COLD line.
fn observed(dump: &str) -> &str {
    dump.split_once('\n').map_or("", |(_, rest)| rest)
}

#[tokio::test]
async fn a_warm_shell_sees_exactly_what_a_fresh_shell_sees() {
    let (warm, cold) = warm_and_cold().await;
    for split in [false, true] {
        let body = json!({"command": DUMP, "splitOutput": split});
        let (s1, w) = exec_warm(&warm, body.clone()).await;
        let (s2, c) = exec(&cold, body).await;
        assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
        let (w_body, c_body) = (w, c);
        let (w, c) = (result(&w_body), result(&c_body));
        assert!(w.starts_with("WARM\n"), "not served warm:\n{w}");
        assert!(
            c.starts_with("COLD\n"),
            "the cold daemon used a warm shell:\n{c}"
        );
        if split {
            // Two pipes: how `result` interleaves them depends on timing, so each stream is
            // compared on its own.
            let field = |b: &Value, k: &str| b[k].as_str().unwrap_or_default().to_owned();
            assert_eq!(
                observed(&field(&w_body, "stdout")),
                observed(&field(&c_body, "stdout")),
                "a warm shell's stdout differs from a fresh one's"
            );
            assert_eq!(field(&w_body, "stderr"), "stderr line\n");
            assert_eq!(field(&c_body, "stderr"), "stderr line\n");
        } else {
            assert_eq!(
                observed(&w),
                observed(&c),
                "a warm shell differs from a fresh one (split: {split})"
            );
        }
        // And what "fresh" means, spelled out.
        let me = std::process::id();
        for line in [
            "start: _=[",
            "?=0 #=0 0=/usr/bin/bash -=hBc LINENO=1 sub=0 seconds_small=1",
            "pgid_is_self=1 pid_is_bashpid=1",
            &format!("ppid={me} "),
            &format!("\nfds:\n{}:fds\n", expected_fds()),
            "\nstdin=/dev/null\n",
            if split {
                "stdout_is_stderr=0"
            } else {
                "stdout_is_stderr=1"
            },
            "stderr line",
        ] {
            assert!(w.contains(line), "{line:?} missing from:\n{w}");
        }
    }
}

#[tokio::test]
async fn request_environments_are_honoured_exactly() {
    let (warm, cold) = warm_and_cold().await;
    let envs = json!({
        "ODD": "a b'c\"$d\\e\nf\u{1}\u{7f}é",
        "PATH": "/usr/bin:/bin:/nonexistent",
        "EMPTY": "",
    });
    let body = json!({"command": DUMP, "envs": envs});
    let (_, w) = exec_warm(&warm, body.clone()).await;
    let (_, c) = exec(&cold, body).await;
    let (w, c) = (result(&w), result(&c));
    assert!(w.starts_with("WARM\n"), "{w}");
    assert_eq!(observed(&w), observed(&c));
    assert!(w.contains("declare -x EMPTY=\"\""), "{w}");
    let (_, odd) = exec_warm(
        &warm,
        json!({"command": "printf %s \"$ODD\"", "envs": envs}),
    )
    .await;
    assert_eq!(result(&odd), "a b'c\"$d\\e\nf\u{1}\u{7f}é");
}

#[tokio::test]
async fn nothing_of_an_earlier_exec_remains() {
    let d = warm_daemon().await;
    let (_, baseline) = exec_warm(&d, json!({"command": DUMP})).await;
    let baseline = result(&baseline);
    // More execs than the pool holds, each changing every piece of shell state it can.
    for _ in 0..3 {
        let (_, b) = exec_warm(
            &d,
            json!({"command": "export LEAK=1; cd /; umask 077; ulimit -Sn 64; trap '' INT; \
                    shopt -s extglob; set -u; f() { :; }; alias x=y; exec 7>/dev/null; \
                    echo changed"}),
        )
        .await;
        assert_eq!(result(&b), "changed\n");
    }
    let (_, after) = exec_warm(&d, json!({"command": DUMP})).await;
    let after = result(&after);
    assert!(after.starts_with("WARM\n"), "{after}");
    assert_eq!(observed(&after), observed(&baseline));
    assert!(!after.contains("LEAK"), "{after}");
}

#[tokio::test]
async fn requests_a_warm_shell_cannot_reproduce_take_the_cold_path() {
    let d = warm_daemon().await;
    let first =
        "tr '\\0' ' ' < /proc/$$/cmdline | grep -q 'read -r -[N] 8' && echo WARM || echo COLD";
    // BASH_ENV is read at start-up: only a fresh shell honours it.
    let rc = d.workdir.path().join("rc.sh");
    std::fs::write(&rc, "echo from-bash-env\n").unwrap();
    let (_, b) = exec_warm(
        &d,
        json!({"command": first, "envs": {"BASH_ENV": rc.to_str().unwrap()}}),
    )
    .await;
    assert_eq!(result(&b), "from-bash-env\nCOLD\n");
    // Another working directory: PWD/OLDPWD come from a fresh start there.
    let sub = d.workdir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let (_, b) = exec_warm(
        &d,
        json!({"command": format!("{first}; pwd; echo \"${{OLDPWD-unset}}\""), "cwd": "sub"}),
    )
    .await;
    let r = result(&b);
    assert!(r.starts_with("COLD\n"), "{r}");
    assert!(r.contains(&format!("{}\n", sub.display())), "{r}");
    // A locale variable, and the loader's.
    for key in ["LC_ALL", "LD_LIBRARY_PATH"] {
        let (_, b) = exec_warm(&d, json!({"command": first, "envs": {key: "C"}})).await;
        assert_eq!(result(&b), "COLD\n", "{key}");
    }
    // What it can reproduce is served warm.
    let (_, b) = exec_warm(&d, json!({"command": first, "envs": {"MY_VAR": "1"}})).await;
    assert_eq!(result(&b), "WARM\n");
    // The pool is off (the default of an embedded daemon): always cold.
    let off = TestDaemon::start().await;
    let (_, b) = exec(&off, json!({"command": first})).await;
    assert_eq!(result(&b), "COLD\n");
    assert_eq!(off.daemon.warm_shells_ready(), 0);
}

#[tokio::test]
async fn a_warm_timeout_kills_the_whole_tree_with_partial_output() {
    let d = warm_daemon().await;
    let m = unique_seconds();
    let marker = format!("sleep {m}");
    let cmd = format!(
        "tr '\\0' ' ' < /proc/$$/cmdline | grep -q 'read -r -[N] 8' && echo WARM; \
         echo partial; echo oops >&2; trap '' TERM; sleep {m} & (setsid sleep {m} &); wait"
    );
    let (status, body) = exec_warm(
        &d,
        json!({"command": cmd, "timeout": 1, "splitOutput": true}),
    )
    .await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT, "{body}");
    assert_eq!(body["timedOut"], true);
    assert_eq!(body["stdout"], "WARM\npartial\n");
    assert_eq!(body["stderr"], "oops\n");
    assert!(
        eventually(Duration::from_secs(10), || processes_with(&marker)
            .is_empty())
        .await,
        "processes of the timed-out warm command survived"
    );
}

#[tokio::test]
async fn warm_execs_keep_stdin_exit_codes_and_background_semantics() {
    let d = warm_daemon().await;
    let (_, b) = exec_warm(&d, json!({"command": "cat; head -n1; echo after"})).await;
    assert_eq!(result(&b), "after\n");
    let (_, b) = exec_warm(&d, json!({"command": "exit 7"})).await;
    assert_eq!(b["exitCode"], 7);
    let (_, b) = exec_warm(&d, json!({"command": "kill -9 $$"})).await;
    assert_eq!(b["exitCode"], 137);
    let (_, b) = exec_warm(&d, json!({"command": "if"})).await;
    assert_eq!(b["exitCode"], 2);
    // A leading `-` is the command's, not an option of `eval`.
    let (_, b) = exec_warm(&d, json!({"command": "-x 2>/dev/null; echo ran"})).await;
    assert_eq!(result(&b), "ran\n");
    let m = unique_seconds();
    let started = std::time::Instant::now();
    let (_, b) = exec_warm(&d, json!({"command": format!("sleep {m} & echo hi")})).await;
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(result(&b), "hi\n");
    for pid in processes_with(&format!("sleep {m}")) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// A lone simple command that runs a program is exec'd in place of a fresh `bash -c`: it has
/// the shell's pid (its parent is the daemon), the environment bash hands an exec'd program,
/// and when it dies of a signal bash is not there to add a job notice ("line N: PID Killed
/// COMMAND") to its output. The warm shell must do the same.
#[tokio::test]
async fn a_lone_program_runs_in_place_of_the_shell() {
    let (warm, cold) = warm_and_cold().await;
    for (command, code) in [
        ("sh -c 'kill -9 $$'", 137),
        ("python3 -c 'import os; os.kill(os.getpid(), 11)'", 139),
        ("  sh -c 'kill -TERM $$'  ", 143),
    ] {
        for split in [false, true] {
            let body = json!({"command": command, "splitOutput": split});
            let (_, w) = exec_warm(&warm, body.clone()).await;
            let (_, c) = exec(&cold, body).await;
            for (what, b) in [("warm", &w), ("cold", &c)] {
                assert_eq!(b["exitCode"], code, "{what} {command}: {b}");
                assert_eq!(result(b), "", "{what} {command} (split: {split}): {b}");
                if split {
                    assert_eq!(b["stderr"].as_str().unwrap_or_default(), "", "{what}: {b}");
                }
            }
        }
    }
    let me = std::process::id().to_string();
    for command in [
        "sh -c 'echo $PPID; tr \"\\0\" \"\\n\" < /proc/$$/environ | grep -v ^PROCESS_RUN_ID= | sort'",
        "no-such-program-here --flag",
        "./no-such-script.sh",
    ] {
        let body = json!({"command": command});
        let (_, w) = exec_warm(&warm, body.clone()).await;
        let (_, c) = exec(&cold, body).await;
        assert_eq!(w["exitCode"], c["exitCode"], "{command}: {w} {c}");
        assert_eq!(result(&w), result(&c), "{command}");
    }
    let (_, w) = exec_warm(&warm, json!({"command": "sh -c 'echo $PPID'"})).await;
    assert_eq!(
        result(&w),
        format!("{me}\n"),
        "the program's parent is the daemon"
    );
}

/// Pids of this daemon's warm shells still waiting (boot command line, started in its work
/// dir, stdin still the pool's pipe).
fn waiting_shells(d: &TestDaemon) -> Vec<i32> {
    let workdir = std::fs::canonicalize(d.workdir.path()).unwrap();
    processes_with("read -r -N 8")
        .into_iter()
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|c| c == workdir)
                && std::fs::read_link(format!("/proc/{pid}/fd/0"))
                    .is_ok_and(|l| l.to_string_lossy().starts_with("pipe:"))
        })
        .collect()
}

#[tokio::test]
async fn the_pool_refills_off_the_request_path_and_never_exceeds_its_size() {
    let d = TestDaemon::start_with(|c| c.warm_shells = 3).await;
    d.warm_ready(3).await;
    assert_eq!(waiting_shells(&d).len(), 3);
    // A burst of concurrent execs; the waiting shells never number more than the size.
    let mut calls = Vec::new();
    for i in 0..12 {
        calls.push(exec(&d, json!({"command": format!("echo {i}")})));
    }
    let sampler = async {
        let mut most = 0;
        for _ in 0..40 {
            most = most.max(waiting_shells(&d).len());
            assert!(d.daemon.warm_shells_ready() <= 3);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        most
    };
    let (results, most) = tokio::join!(futures_util::future::join_all(calls), sampler);
    for (i, (status, body)) in results.into_iter().enumerate() {
        assert_eq!(status, StatusCode::OK);
        assert_eq!(result(&body), format!("{i}\n"));
    }
    assert!(most <= 3, "{most} warm shells waited at once");
    d.warm_ready(3).await;
    assert_eq!(waiting_shells(&d).len(), 3);
    // Shutdown kills the waiting shells.
    let d2 = d;
    d2.daemon.shutdown().await;
    assert!(
        eventually(Duration::from_secs(10), || waiting_shells(&d2).is_empty()).await,
        "warm shells survived shutdown"
    );
}
