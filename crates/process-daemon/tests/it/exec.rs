//! `POST /process/execute`: completion at exit, tree-killing timeouts with partial output,
//! stdin, bounded output, exit-code conventions, env/cwd validation, split streams.

use std::time::Duration;

use http::StatusCode;
use serde_json::{json, Value};

use crate::support::{eventually, processes_with, unique_seconds, TestDaemon};

async fn exec(d: &TestDaemon, body: Value) -> (StatusCode, Value) {
    let r = d.post("/process/execute", &body).await;
    (r.status, r.json())
}

fn kill_all(marker: &str) {
    for pid in processes_with(marker) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

#[tokio::test]
async fn a_background_child_holding_the_pipes_does_not_hold_the_call() {
    let d = TestDaemon::start().await;
    let m = unique_seconds();
    let started = std::time::Instant::now();
    let (status, body) = exec(&d, json!({"command": format!("sleep {m} & echo hi")})).await;
    // The holder sleeps 300 s: without completion-at-exit this call would hang far longer.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the call waited for the holder"
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["exitCode"], 0);
    assert_eq!(body["result"], "hi\n");
    // Split streams only on request.
    assert!(body.get("stdout").is_none(), "{body}");
    // Policy: a successful command's background children are left running.
    assert!(!processes_with(&format!("sleep {m}")).is_empty());
    kill_all(&format!("sleep {m}"));

    let m2 = unique_seconds();
    let (_, body) = exec(
        &d,
        json!({"command": format!("setsid sleep {m2} & echo hi")}),
    )
    .await;
    assert_eq!(body["result"], "hi\n");
    kill_all(&format!("sleep {m2}"));
}

#[tokio::test]
async fn a_timeout_kills_the_whole_tree_and_returns_the_partial_output() {
    let d = TestDaemon::start().await;
    let m = unique_seconds();
    let marker = format!("sleep {m}");
    let cmd = format!("echo partial; echo oops >&2; sleep {m} & sleep {m} & wait");
    let (status, body) = exec(
        &d,
        json!({"command": cmd, "timeout": 1, "splitOutput": true}),
    )
    .await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT, "{body}");
    assert_eq!(body["code"], "PROCESS_EXECUTION_TIMEOUT");
    assert_eq!(body["message"], "command execution timeout");
    assert_eq!(body["statusCode"], 408);
    assert_eq!(body["timedOut"], true);
    assert_eq!(body["stdout"], "partial\n");
    assert_eq!(body["stderr"], "oops\n");
    let result = body["result"].as_str().unwrap();
    assert!(
        result.contains("partial\n") && result.contains("oops\n"),
        "{result}"
    );
    assert!(
        eventually(Duration::from_secs(5), || processes_with(&marker)
            .is_empty())
        .await,
        "processes of the timed-out command survived"
    );
}

#[tokio::test]
async fn a_child_ignoring_sigterm_is_killed_after_the_grace() {
    let d = TestDaemon::start().await;
    let m = unique_seconds();
    let marker = format!("sleep {m}");
    let cmd = format!("trap '' TERM; sleep {m} & wait; wait");
    let (status, _) = exec(&d, json!({"command": cmd, "timeout": 1})).await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
    assert!(
        eventually(Duration::from_secs(8), || processes_with(&marker)
            .is_empty())
        .await,
        "a SIGTERM-ignoring child survived"
    );
}

#[tokio::test]
async fn stdin_is_not_the_script() {
    let d = TestDaemon::start().await;
    let (_, body) = exec(&d, json!({"command": "head -n1\necho second\necho third"})).await;
    assert_eq!(body["result"], "second\nthird\n");
    // `cat` sees /dev/null at once.
    let (_, body) = exec(&d, json!({"command": "cat; echo after"})).await;
    assert_eq!(body["result"], "after\n");
}

#[tokio::test]
async fn output_is_capped_keeping_head_and_tail() {
    let d = TestDaemon::start_with(|c| c.max_output_bytes = 1000).await;
    let (_, body) = exec(
        &d,
        json!({"command": "printf START; head -c 100000 /dev/zero | tr '\\0' a; printf END"}),
    )
    .await;
    let result = body["result"].as_str().unwrap();
    assert_eq!(result.len(), 1000);
    assert!(result.starts_with("STARTaaa") && result.ends_with("aaaEND"));
    assert_eq!(body["truncated"], true);
    assert_eq!(body["totalBytes"], 100_008);
    assert_eq!(body["exitCode"], 0);

    let (_, body) = exec(&d, json!({"command": "echo small"})).await;
    assert!(body.get("truncated").is_none());
}

#[tokio::test]
async fn exit_codes_follow_the_shell_conventions() {
    let d = TestDaemon::start().await;
    for (cmd, code) in [
        ("/etc", 126),
        ("no-such-cmd-xyz", 127),
        ("kill -9 $$", 137),
        ("exit 300", 44),
        ("false", 1),
        ("true", 0),
    ] {
        let (status, body) = exec(&d, json!({ "command": cmd })).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["exitCode"], code, "{cmd}: {body}");
    }
}

#[tokio::test]
async fn stdout_and_stderr_are_split_on_request() {
    let d = TestDaemon::start().await;
    let (_, body) = exec(
        &d,
        json!({"command": "echo out; sleep 0.1; echo err >&2; sleep 0.1; echo out2", "splitOutput": true}),
    )
    .await;
    assert_eq!(body["result"], "out\nerr\nout2\n");
    assert_eq!(body["stdout"], "out\nout2\n");
    assert_eq!(body["stderr"], "err\n");
}

#[tokio::test]
async fn env_and_cwd_are_applied_and_validated() {
    let d = TestDaemon::start().await;
    std::fs::create_dir(d.workdir.path().join("sub")).unwrap();
    let (_, body) = exec(
        &d,
        json!({"command": "pwd; printf '%s|' \"$A\" \"$B\" \"$C\"", "cwd": "sub",
               "envs": {"A": "x=y", "B": "ünï cödé", "C": ""}}),
    )
    .await;
    let want = format!("{}\nx=y|ünï cödé||", d.workdir.path().join("sub").display());
    assert_eq!(body["result"], want);

    let (status, body) = exec(&d, json!({"command": "true", "envs": {"A-B": "1"}})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "BAD_REQUEST");
    assert_eq!(
        body["message"],
        "bad request: invalid environment variable name: 'A-B'"
    );

    let (status, body) = exec(&d, json!({"command": "true", "cwd": "/no/such/dir"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["exitCode"], -1);
    assert_eq!(
        body["result"],
        "chdir /no/such/dir: no such file or directory"
    );

    let (status, body) = exec(&d, json!({"command": "  \n "})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["message"],
        "bad request: command cannot be empty or whitespace-only"
    );

    let r = d
        .call_raw(
            http::Method::POST,
            "/process/execute",
            bytes::Bytes::from_static(b"{not json"),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["code"], "INVALID_REQUEST_BODY");
}

#[tokio::test]
async fn a_one_mib_command_runs() {
    let d = TestDaemon::start().await;
    let literal = "x".repeat(1024 * 1024);
    let (_, body) = exec(
        &d,
        json!({"command": format!("printf %s {literal} | wc -c")}),
    )
    .await;
    assert_eq!(body["exitCode"], 0);
    assert_eq!(body["result"].as_str().unwrap().trim(), "1048576");
}

#[tokio::test]
async fn binary_output_is_returned_lossily_but_completely() {
    let d = TestDaemon::start().await;
    let (_, body) = exec(&d, json!({"command": "printf 'a\\000b\\377c'"})).await;
    assert_eq!(body["result"], "a\u{0}b\u{fffd}c");
}

#[tokio::test]
async fn short_commands_run_inline_even_when_they_start_with_a_dash() {
    let d = TestDaemon::start().await;
    // `-c -- command`: a leading `-` is the command's, not an option of the shell.
    let (status, body) = exec(&d, json!({"command": "-x 2>/dev/null; echo ran"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["result"], "ran\n");
    // Inline, `$0` is the shell (as with the original daemon), not a script file.
    let (_, body) = exec(&d, json!({"command": "echo \"$0\""})).await;
    let zero = body["result"].as_str().unwrap();
    assert!(!zero.contains("command.sh"), "{zero}");
    // Nothing is left in the state dir by an inline command.
    let exec_dir = d.state_dir.path().join("exec");
    let leftovers = std::fs::read_dir(&exec_dir).map_or(0, Iterator::count);
    assert_eq!(leftovers, 0);
}

#[tokio::test]
async fn commands_around_the_inline_limit_run_the_same() {
    let d = TestDaemon::start().await;
    // Just under and just over 64 KiB: the first runs inline, the second from a file.
    for size in [64 * 1024 - 64, 64 * 1024 + 64] {
        let filler = "x".repeat(size - 32);
        let cmd = format!("v='{filler}'; echo ${{#v}}");
        let (status, body) = exec(&d, json!({"command": cmd})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["result"], format!("{}\n", filler.len()));
    }
}

#[tokio::test]
async fn result_keeps_the_exact_write_order_of_both_streams() {
    let d = TestDaemon::start().await;
    // Writes alternate between the streams with no pause: with one pipe per stream the reader
    // would see both ready at once and could not know their order.
    let cmd = "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do echo o$i; echo e$i >&2; done";
    let mut expected = String::new();
    for i in 1..=20 {
        expected += &["o", &i.to_string(), "\ne", &i.to_string(), "\n"].concat();
    }
    for _ in 0..5 {
        let (status, body) = exec(&d, json!({ "command": cmd })).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["result"], expected.as_str());
        assert!(body.get("stdout").is_none() && body.get("stderr").is_none());
    }
}

#[tokio::test]
async fn a_timeout_also_kills_escapees_whose_parent_is_gone() {
    let d = TestDaemon::start().await;
    let m = unique_seconds();
    let marker = format!("sleep {m}");
    // The subshell exits at once: its `setsid` child leaves the process group *and* the tree
    // (re-parented to the daemon, a subreaper) before the timeout fires.
    let cmd = format!("(setsid sleep {m} > /dev/null 2>&1 &); echo started; sleep 30");
    let (status, body) = exec(&d, json!({"command": cmd, "timeout": 1})).await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT, "{body}");
    assert_eq!(body["result"], "started\n");
    let gone = eventually(Duration::from_secs(5), || {
        processes_with(&marker).is_empty()
    })
    .await;
    kill_all(&marker);
    assert!(gone, "the setsid escapee survived the timeout");
}

/// A daemon started with a variable that is not UTF-8 keeps serving: the child environment is
/// built without panicking (the variable is left out), and the next exec still runs.
#[tokio::test]
async fn a_daemon_environment_that_is_not_utf8_does_not_break_exec() {
    use std::io::BufRead;
    use std::os::unix::ffi::OsStrExt;
    let work = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_processd"))
        .args(["--listen", "127.0.0.1:0", "--log-level", "warn"])
        .arg("--workdir")
        .arg(work.path())
        .arg("--state-dir")
        .arg(state.path())
        .env(
            std::ffi::OsStr::from_bytes(b"PD_NOT_UTF8"),
            std::ffi::OsStr::from_bytes(b"caf\xe9"),
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start processd");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("first line");
    let url = line
        .trim()
        .strip_prefix("processd listening on ")
        .unwrap_or_default()
        .to_owned();
    // Twice: the environment is built for every exec (and for each warm shell, if a pool is on).
    for _ in 0..2 {
        let (status, body) = crate::durability::call(
            &url,
            http::Method::POST,
            "/process/execute",
            Some(json!({"command": "echo ok; env | grep -c PD_NOT_UTF8"})),
            &[],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"], "ok\n0\n", "{body}");
    }
    let _ = child.kill();
    let _ = child.wait();
}
