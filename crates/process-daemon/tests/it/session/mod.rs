//! Sessions: lifecycle and errors, persistent shell state, survival of `exit`/`set -e`,
//! byte-exact labelled logs, async commands, input, deletion, legacy SDK shapes, and the
//! entrypoint session; following logs over WebSocket and the log cap are in `follow.rs`.

use std::time::Duration;

use fastwebsockets::OpCode;
use http::{Method, StatusCode};
use serde_json::json;

use crate::support::{eventually, processes_with, session_exec, unique_seconds, TestDaemon, Ws};

mod follow;

async fn create(d: &TestDaemon, sid: &str) {
    let r = d
        .post("/process/session", &json!({ "sessionId": sid }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert!(r.body.is_empty());
}

async fn exec_async(d: &TestDaemon, sid: &str, command: &str) -> String {
    let r = d
        .post(
            &format!("/process/session/{sid}/exec"),
            &json!({"command": command, "runAsync": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    let body = r.json();
    for key in ["output", "stdout", "stderr", "exitCode"] {
        assert!(body[key].is_null(), "{key} should be null: {body}");
    }
    body["cmdId"].as_str().unwrap().to_owned()
}

async fn exit_code_of(d: &TestDaemon, sid: &str, cid: &str) -> Option<i64> {
    let r = d
        .get(&format!("/process/session/{sid}/command/{cid}"))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    r.json()["exitCode"].as_i64()
}

async fn wait_exit(d: &TestDaemon, sid: &str, cid: &str) -> i64 {
    for _ in 0..400 {
        if let Some(code) = exit_code_of(d, sid, cid).await {
            return code;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("command {cid} did not finish within 10 s");
}

/// Reads a follow stream to its close; returns the data bytes and the close code.
async fn read_follow(ws: &mut Ws) -> (Vec<u8>, u16) {
    let mut data = Vec::new();
    let fut = async {
        loop {
            let frame = ws.read_frame().await.expect("frame");
            match frame.opcode {
                OpCode::Binary => data.extend_from_slice(&frame.payload),
                OpCode::Text => panic!("log frames must be binary"),
                OpCode::Close => {
                    let code = u16::from_be_bytes([frame.payload[0], frame.payload[1]]);
                    return code;
                }
                _ => {}
            }
        }
    };
    let code = tokio::time::timeout(Duration::from_secs(15), fut)
        .await
        .expect("the follow stream did not close within 15 s");
    (data, code)
}

#[tokio::test]
async fn lifecycle_and_errors() {
    let d = TestDaemon::start().await;
    create(&d, "s1").await;
    create(&d, "s 2").await;
    let r = d
        .post("/process/session", &json!({"sessionId": "s1"}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json()["message"], "conflict: session already exists");
    let r = d
        .post("/process/session", &json!({"sessionId": "entrypoint"}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = d.post("/process/session", &json!({})).await;
    assert_eq!(r.json()["code"], "INVALID_REQUEST_BODY");

    let list = d.get("/process/session").await.json();
    let mut ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sessionId"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["s 2", "s1"]);

    let got = d.get("/process/session/s%202").await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.json(), json!({"sessionId": "s 2", "commands": []}));

    let r = d.get("/process/session/nope").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let body = r.json();
    assert_eq!(body["code"], "PROCESS_NOT_FOUND");
    assert_eq!(body["message"], "session not found");
    assert_eq!(body["source"], "DAYTONA_DAEMON");
    let r = d
        .post("/process/session/nope/exec", &json!({"command": "true"}))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = d.get("/process/session/s1/command/nope").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["message"], "command not found");
    let r = d
        .post("/process/session/s1/exec", &json!({"command": " "}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    for bad in ["..", "a%2Fb", "%2e%2e", "a%00b"] {
        let r = d.get(&format!("/process/session/{bad}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let r = d.delete("/process/session/entrypoint").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = d.delete("/process/session/s1").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = d.delete("/process/session/s1").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    d.stop().await;
}

#[tokio::test]
async fn state_persists_between_commands() {
    let d = TestDaemon::start().await;
    create(&d, "st").await;
    let sub = d.workdir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    session_exec(
        &d,
        "st",
        "cd sub && export FOO=bar; x=5; greet() { echo \"hi $1\"; }",
    )
    .await;
    let out = session_exec(&d, "st", "pwd; echo $FOO $x; greet you").await;
    assert_eq!(out["stdout"], format!("{}\nbar 5\nhi you\n", sub.display()));
    assert_eq!(out["exitCode"], 0);
    // A heredoc works (the command is sourced from a file).
    let out = session_exec(&d, "st", "cat <<'EOF'\nline $x\nEOF").await;
    assert_eq!(out["stdout"], "line $x\n");
    d.stop().await;
}

#[tokio::test]
async fn exit_and_set_e_do_not_hang_later_commands() {
    let d = TestDaemon::start().await;
    create(&d, "ex").await;
    session_exec(&d, "ex", "cd / && export KEEP=1").await;
    let out = session_exec(&d, "ex", "echo before; exit 3").await;
    assert_eq!(out["exitCode"], 3);
    assert_eq!(out["stdout"], "before\n");
    // The session continues, with the saved cwd and exports.
    let out = session_exec(&d, "ex", "pwd; echo $KEEP").await;
    assert_eq!(out["stdout"], "/\n1\n");
    let out = session_exec(&d, "ex", "set -e").await;
    assert_eq!(out["exitCode"], 0);
    let out = session_exec(&d, "ex", "false; echo not reached").await;
    assert_eq!(out["exitCode"], 1);
    assert_eq!(out["stdout"], "");
    let out = session_exec(&d, "ex", "echo alive").await;
    assert_eq!(out["stdout"], "alive\n");
    // `exec` replaces the shell: same story.
    let out = session_exec(&d, "ex", "exec sh -c 'echo replaced; exit 4'").await;
    assert_eq!(out["exitCode"], 4);
    assert_eq!(out["stdout"], "replaced\n");
    let out = session_exec(&d, "ex", "echo again").await;
    assert_eq!(out["stdout"], "again\n");
    d.stop().await;
}

#[tokio::test]
async fn output_is_byte_exact_and_labelled_as_it_arrives() {
    let d = TestDaemon::start().await;
    create(&d, "b").await;
    let out = session_exec(
        &d,
        "b",
        "printf 'a\\000b'; sleep 0.2; printf 'no-newline' >&2; sleep 0.2; printf 'C\\r\\n'",
    )
    .await;
    assert_eq!(
        out["output"],
        "\u{1}\u{1}\u{1}a\u{0}b\u{2}\u{2}\u{2}no-newline\u{1}\u{1}\u{1}C\r\n"
    );
    assert_eq!(out["stdout"], "a\u{0}bC\r\n");
    assert_eq!(out["stderr"], "no-newline");

    let cid = out["cmdId"].as_str().unwrap();
    let logs = d
        .get(&format!("/process/session/b/command/{cid}/logs"))
        .await;
    assert_eq!(logs.status, StatusCode::OK);
    assert_eq!(
        logs.json(),
        json!({"output": out["output"], "stdout": out["stdout"], "stderr": out["stderr"]})
    );
    // A command's background child does not hold a sync exec.
    let m = unique_seconds();
    let out = session_exec(&d, "b", &format!("sleep {m} & echo hi")).await;
    assert_eq!(out["stdout"], "hi\n");
    d.stop().await;
    assert!(
        eventually(Duration::from_secs(8), || processes_with(&format!(
            "sleep {m}"
        ))
        .is_empty())
        .await
    );
}

#[tokio::test]
async fn async_commands_run_concurrently_with_sync_ones() {
    let d = TestDaemon::start().await;
    create(&d, "a").await;
    let m = unique_seconds();
    let cid = exec_async(&d, "a", &format!("echo started; sleep {m}")).await;
    // A sync exec is not queued behind the running async command.
    let started = std::time::Instant::now();
    let out = session_exec(&d, "a", "echo sync").await;
    assert_eq!(out["stdout"], "sync\n");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(exit_code_of(&d, "a", &cid).await, None);
    let session = d.get("/process/session/a").await.json();
    let cmds = session["commands"].as_array().unwrap();
    assert_eq!(cmds.len(), 2);
    assert!(cmds[0].get("exitCode").is_none());
    assert_eq!(cmds[1]["exitCode"], 0);

    let quick = exec_async(&d, "a", "echo out; echo err >&2; exit 5").await;
    assert_eq!(wait_exit(&d, "a", &quick).await, 5);
    let logs = d
        .get(&format!("/process/session/a/command/{quick}/logs"))
        .await
        .json();
    assert_eq!(logs["stdout"], "out\n");
    assert_eq!(logs["stderr"], "err\n");

    // Deleting the session kills the running command's tree.
    let r = d.delete("/process/session/a").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(
        eventually(Duration::from_secs(8), || processes_with(&format!(
            "sleep {m}"
        ))
        .is_empty())
        .await,
        "the session's processes survived its deletion"
    );
}

#[tokio::test]
async fn input_reaches_async_commands() {
    let d = TestDaemon::start().await;
    create(&d, "in").await;
    let cid = exec_async(
        &d,
        "in",
        "read a; echo \"got [$a]\"; read b; echo \"got [$b]\"",
    )
    .await;
    let path = format!("/process/session/in/command/{cid}/input");
    let r = d.post(&path, &json!({"data": "one"})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let logs_path = format!("/process/session/in/command/{cid}/logs");
    for _ in 0..200 {
        let logs = d.get(&logs_path).await.json();
        if logs["stdout"].as_str().unwrap().contains("got [one]") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let r = d.post(&path, &json!({"data": "two\n"})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(wait_exit(&d, "in", &cid).await, 0);
    let logs = d
        .get(&format!("/process/session/in/command/{cid}/logs"))
        .await
        .json();
    assert_eq!(logs["stdout"], "one\ngot [one]\ntwo\ngot [two]\n");

    let r = d.post(&path, &json!({"data": "late"})).await;
    assert_eq!(r.status, StatusCode::GONE);
    assert_eq!(r.json()["code"], "COMMAND_ALREADY_COMPLETED");
    let r = d.post(&path, &json!({"data": ""})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // suppressInputEcho: the input is not echoed into the log.
    let r = d
        .post(
            "/process/session/in/exec",
            &json!({"command": "read a; echo \"got [$a]\"", "runAsync": true, "suppressInputEcho": true}),
        )
        .await;
    let cid = r.json()["cmdId"].as_str().unwrap().to_owned();
    let r = d
        .post(
            &format!("/process/session/in/command/{cid}/input"),
            &json!({"data": "secret"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    wait_exit(&d, "in", &cid).await;
    let logs = d
        .get(&format!("/process/session/in/command/{cid}/logs"))
        .await
        .json();
    assert_eq!(logs["stdout"], "got [secret]\n");

    // A sync command reads /dev/null: `cat` ends at once.
    let out = session_exec(&d, "in", "cat; echo done").await;
    assert_eq!(out["stdout"], "done\n");
    d.stop().await;
}

#[tokio::test]
async fn legacy_sdk_versions_get_legacy_shapes() {
    let d = TestDaemon::start().await;
    create(&d, "old").await;
    let out = session_exec(&d, "old", "echo out; sleep 0.1; echo err >&2").await;
    let cid = out["cmdId"].as_str().unwrap();
    let path = format!("/process/session/old/command/{cid}/logs");
    let r = d
        .call(
            Method::GET,
            &path,
            None,
            &[("X-Daytona-SDK-Version", "0.100.0")],
        )
        .await;
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(r.text(), "\u{1}\u{1}\u{1}out\n\u{2}\u{2}\u{2}err\n");
    let r = d
        .call(
            Method::GET,
            &path,
            None,
            &[("X-Daytona-SDK-Version", "0.20.0")],
        )
        .await;
    assert_eq!(r.text(), "out\nerr\n");
    let r = d
        .call(
            Method::POST,
            "/process/session/old/exec",
            Some(&json!({"command": "echo x"})),
            &[("X-Daytona-SDK-Version", "0.20.0")],
        )
        .await
        .json();
    assert_eq!(r["output"], "x\n");
    assert!(r["stdout"].is_null());
    // "unknown" (an SDK that could not read its own version) gets the modern JSON.
    let r = d
        .call(
            Method::GET,
            &path,
            None,
            &[("X-Daytona-SDK-Version", "unknown")],
        )
        .await;
    assert_eq!(r.json()["stdout"], "out\n");
    d.stop().await;
}

#[tokio::test]
async fn the_entrypoint_session_runs_the_given_command() {
    let d = TestDaemon::start_with(|c| {
        c.entrypoint = vec![
            "sh".into(),
            "-c".into(),
            "echo 'it''s up'; echo warn >&2".into(),
        ];
    })
    .await;
    let mut ws = d
        .ws("/process/session/entrypoint/logs?follow=true", &[])
        .await
        .expect("upgrade");
    let (data, code) = read_follow(&mut ws).await;
    assert_eq!(code, 1000);
    let (out, err) = process_proto::log::demux_log(&data);
    assert_eq!(
        (out.as_slice(), err.as_slice()),
        (&b"its up\n"[..], &b"warn\n"[..])
    );
    let s = d.get("/process/session/entrypoint").await.json();
    assert_eq!(s["sessionId"], "entrypoint");
    assert_eq!(s["commands"][0]["id"], "entrypoint_command");
    assert_eq!(
        s["commands"][0]["command"],
        "'sh' '-c' 'echo '\\''it'\\'''\\''s up'\\''; echo warn >&2'"
    );
    assert_eq!(s["commands"][0]["exitCode"], 0);
    let logs = d.get("/process/session/entrypoint/logs").await.json();
    assert_eq!(logs["stdout"], "its up\n");
    assert_eq!(d.get("/process/session").await.json(), json!([]));
    let r = d
        .post(
            "/process/session/entrypoint/exec",
            &json!({"command": "true"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    d.stop().await;

    let plain = TestDaemon::start().await;
    let r = plain.get("/process/session/entrypoint").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = plain.get("/process/session/entrypoint/logs").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_sync_exec_waiting_when_the_session_is_deleted_gets_an_error() {
    let d = std::sync::Arc::new(TestDaemon::start().await);
    create(&d, "del").await;
    let m = unique_seconds();
    let d2 = d.clone();
    let waiter = tokio::spawn(async move {
        d2.post(
            "/process/session/del/exec",
            &json!({"command": format!("sleep {m}")}),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        d.delete("/process/session/del").await.status,
        StatusCode::NO_CONTENT
    );
    let r = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["message"], "bad request: session cancelled");
}

#[tokio::test]
async fn orphans_of_session_commands_are_reaped() {
    let d = TestDaemon::start().await;
    create(&d, "z").await;
    for _ in 0..20 {
        session_exec(&d, "z", "(sleep 0.01 &); sh -c 'sleep 0.01 &'; true").await;
    }
    let me = std::process::id() as i32;
    // Zombie `sleep`s whose parent is this process (the in-process daemon is the subreaper).
    let zombies = || {
        process_daemon::proc::children_of(me)
            .into_iter()
            .filter(|p| process_daemon::proc::proc_state(*p) == Some('Z'))
            .filter(|p| {
                std::fs::read_to_string(format!("/proc/{p}/stat"))
                    .is_ok_and(|s| s.contains("(sleep)"))
            })
            .count()
    };
    assert!(
        eventually(Duration::from_secs(5), || zombies() == 0).await,
        "{} zombies left",
        zombies()
    );
    d.stop().await;
}
