//! Per-command control in sessions (issue 13 item 8): signalling one running command and a
//! per-command timeout kill the processes the command started (a `setsid` escapee included)
//! and leave the session shell, its state and other commands alone.

use std::time::{Duration, Instant};

use http::StatusCode;
use serde_json::{json, Value};

use crate::support::{eventually, processes_with, session_exec, unique_seconds, TestDaemon};

async fn exec(d: &TestDaemon, sid: &str, body: Value) -> Value {
    let r = d.post(&format!("/process/session/{sid}/exec"), &body).await;
    assert!(r.status.is_success(), "{} {}", r.status, r.text());
    r.json()
}

async fn command(d: &TestDaemon, sid: &str, cid: &str) -> Value {
    let r = d
        .get(&format!("/process/session/{sid}/command/{cid}"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

async fn wait_exit(d: &TestDaemon, sid: &str, cid: &str) -> Value {
    for _ in 0..400 {
        let c = command(d, sid, cid).await;
        if c["exitCode"].is_i64() {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("command {cid} did not finish within 10 s");
}

#[tokio::test]
async fn signalling_one_command_kills_its_tree_and_spares_the_shell_and_the_others() {
    let d = TestDaemon::start().await;
    let r = d
        .post("/process/session", &json!({"sessionId": "ctl"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let pid_before = session_exec(&d, "ctl", "KEEP=kept; echo $$").await["stdout"].clone();
    let (victim, escapee, bystander) = (unique_seconds(), unique_seconds(), unique_seconds());
    let target = exec(
        &d,
        "ctl",
        json!({"command": format!("setsid sleep {escapee} & sleep {victim}; echo after"), "runAsync": true}),
    )
    .await["cmdId"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = exec(
        &d,
        "ctl",
        json!({"command": format!("sleep {bystander}"), "runAsync": true}),
    )
    .await["cmdId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        eventually(Duration::from_secs(10), || {
            [&victim, &escapee, &bystander]
                .iter()
                .all(|m| !processes_with(m).is_empty())
        })
        .await
    );
    // Errors first: an unsupported signal, an unknown command.
    let r = d
        .post(
            &format!("/process/session/ctl/command/{target}/signal"),
            &json!({"signal": "SEGV"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let r = d
        .post(
            "/process/session/ctl/command/nope/signal",
            &json!({"signal": "KILL"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let r = d
        .post(
            &format!("/process/session/ctl/command/{target}/signal"),
            &json!({"signal": "TERM"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let done = wait_exit(&d, "ctl", &target).await;
    assert_eq!(done["exitCode"], 143, "{done}");
    assert!(
        eventually(Duration::from_secs(5), || processes_with(&victim)
            .is_empty()
            && processes_with(&escapee).is_empty())
        .await,
        "the command's processes survived"
    );
    // The other command still runs; the shell and its state are the same.
    assert!(!processes_with(&bystander).is_empty());
    assert_eq!(command(&d, "ctl", &other).await["exitCode"], Value::Null);
    let after = session_exec(&d, "ctl", "echo $$ $KEEP").await;
    assert_eq!(
        after["stdout"].as_str().unwrap().trim(),
        format!("{} kept", pid_before.as_str().unwrap().trim())
    );
    // A finished command cannot be signalled.
    let r = d
        .post(
            &format!("/process/session/ctl/command/{target}/signal"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::GONE, "{}", r.text());
    // Default signal: KILL.
    let r = d
        .post(
            &format!("/process/session/ctl/command/{other}/signal"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(wait_exit(&d, "ctl", &other).await["exitCode"], 137);
    d.stop().await;
}

#[tokio::test]
async fn a_command_timeout_kills_the_command_not_the_session() {
    let d = TestDaemon::start().await;
    let r = d
        .post("/process/session", &json!({"sessionId": "to"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let pid_before = session_exec(&d, "to", "export KEEP=kept; echo $$").await["stdout"].clone();
    // A sync command: the reply comes after the timeout with the signal's exit code.
    let m = unique_seconds();
    let started = Instant::now();
    let r = exec(
        &d,
        "to",
        json!({"command": format!("sleep {m}; echo not-reached"), "timeout": 1}),
    )
    .await;
    assert_eq!(r["exitCode"], 143, "{r}");
    assert!(started.elapsed() < Duration::from_secs(20));
    let rec = command(&d, "to", r["cmdId"].as_str().unwrap()).await;
    assert_eq!(rec["status"], "timed_out", "{rec}");
    assert!(processes_with(&m).is_empty());
    // An async command that ignores SIGTERM gets SIGKILL after the grace.
    let m = unique_seconds();
    let cid = exec(
        &d,
        "to",
        json!({"command": format!("trap '' TERM; sleep {m}"), "runAsync": true, "timeout": 1}),
    )
    .await["cmdId"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = wait_exit(&d, "to", &cid).await;
    assert_eq!(done["exitCode"], 137, "{done}");
    assert_eq!(done["status"], "timed_out");
    assert!(eventually(Duration::from_secs(3), || processes_with(&m).is_empty()).await);
    // Same shell, same state.
    let after = session_exec(&d, "to", "echo $$ $KEEP").await;
    assert_eq!(
        after["stdout"].as_str().unwrap().trim(),
        format!("{} kept", pid_before.as_str().unwrap().trim())
    );
    // A sync command made of builtins only (no process to signal) is abandoned by the shell,
    // which goes on with the same state.
    let r = exec(
        &d,
        "to",
        json!({"command": "trap '' TERM; while :; do :; done", "timeout": 1}),
    )
    .await;
    assert_eq!(r["exitCode"], 143, "{r}");
    let after = session_exec(&d, "to", "echo $$ $KEEP").await;
    assert_eq!(
        after["stdout"].as_str().unwrap().trim(),
        format!("{} kept", pid_before.as_str().unwrap().trim())
    );
    d.stop().await;
}

#[tokio::test]
async fn input_to_a_command_that_does_not_read_is_refused_promptly() {
    let d = TestDaemon::start().await;
    let r = d
        .post("/process/session", &json!({"sessionId": "deaf"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let m = unique_seconds();
    let cid = exec(
        &d,
        "deaf",
        json!({"command": format!("sleep {m}"), "runAsync": true, "suppressInputEcho": true}),
    )
    .await["cmdId"]
        .as_str()
        .unwrap()
        .to_owned();
    let chunk = "x".repeat(16 * 1024);
    let mut refused = None;
    // The pipe holds 64 KiB; a few chunks fill it, then the daemon must say so.
    for i in 0..16 {
        let started = Instant::now();
        let r = d
            .post(
                &format!("/process/session/deaf/command/{cid}/input"),
                &json!({"data": chunk}),
            )
            .await;
        if r.status != StatusCode::NO_CONTENT {
            refused = Some((i, r.status, r.text(), started.elapsed()));
            break;
        }
    }
    let (i, status, body, took) =
        refused.expect("input to a command that never reads kept being accepted");
    assert!(i >= 3, "refused after only {i} chunks: {body}");
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("not reading its standard input"), "{body}");
    // Hang guard only (the old behaviour blocked 5 s per request).
    assert!(took < Duration::from_secs(3), "{took:?}");
    d.stop().await;
}
