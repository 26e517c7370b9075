//! Issue 13's limits: a whitespace-only token is refused at startup (item 4); a PTY cannot be
//! resized to 0×0 (item 5); a whole-log GET streams in bounded daemon memory and long ones
//! past `max_log_reads` get 429 (item 1).

//!
//! `memory.rs`: the bounded-memory tests (log GET, sync exec answer) and their helpers.

mod memory;

use memory::{finished_command, get_head};
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use serde_json::json;

use crate::pty::{http, PtyClient};
use crate::support::TestDaemon;

#[test]
fn a_whitespace_only_token_is_refused() {
    for listen in ["0.0.0.0:0", "127.0.0.1:0"] {
        let out = Command::new(env!("CARGO_BIN_EXE_processd"))
            .args(["--listen", listen, "--token", "   "])
            .output()
            .expect("run processd");
        assert_eq!(out.status.code(), Some(2), "{listen}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("only whitespace"), "{err}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_processd"))
        .args(["--listen", "0.0.0.0:0"])
        .env("PROCESSD_TOKEN", "\t \n")
        .output()
        .expect("run processd");
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn resizing_a_pty_to_zero_is_a_bad_request() {
    let d = TestDaemon::start().await;
    let _c = PtyClient::create(d.addr, "id=zero").await;
    for (cols, rows) in [(0, 0), (0, 24), (80, 0)] {
        let (status, body) = http(
            d.addr,
            "POST",
            "/process/pty/zero/resize",
            Some(json!({"cols": cols, "rows": rows})),
        )
        .await;
        assert_eq!(status, 400, "{cols}x{rows}: {body}");
        assert!(body.to_string().contains("at least 1"), "{body}");
    }
    let (status, info) = http(
        d.addr,
        "POST",
        "/process/pty/zero/resize",
        Some(json!({"cols": 100, "rows": 30})),
    )
    .await;
    assert_eq!(status, 200, "{info}");
    let (_, info) = http(d.addr, "GET", "/process/pty/zero", None).await;
    assert_eq!(
        (info["cols"].as_u64(), info["rows"].as_u64()),
        (Some(100), Some(30))
    );
    http(d.addr, "DELETE", "/process/pty/zero", None).await;
}

/// Item 1: long whole-log GETs stream at most `max_log_reads` at once; past that the GET is
/// 429 with the envelope and `Retry-After`; short logs are not counted; a permit comes back
/// when its reader leaves.
#[tokio::test]
async fn streamed_log_reads_past_the_cap_get_429() {
    let d = TestDaemon::start_with(|c| c.max_log_reads = 1).await;
    // 16 MiB: far more than socket buffers and the body channel hold, so an unread answer
    // keeps its permit.
    let big = finished_command(d.addr, "big", "head -c 16777216 /dev/zero | tr '\\0' x").await;
    let small = finished_command(d.addr, "small", "echo hi").await;
    let path = format!("/process/session/big/command/{big}/logs");
    let held = get_head(d.addr, &path, &[]).await;
    assert_eq!(held.status(), 200);

    let r = d.get(&path).await;
    assert_eq!(r.status, http::StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers["retry-after"], "1");
    let env = r.json();
    assert_eq!(env["code"], "TOO_MANY_REQUESTS");
    assert_eq!(env["statusCode"], 429);
    assert!(
        env["message"].as_str().unwrap().contains("--max-log-reads"),
        "{env}"
    );
    // Legacy (text) answers share the cap.
    let r = d
        .call(
            http::Method::GET,
            &path,
            None,
            &[("x-daytona-sdk-version", "0.100.0")],
        )
        .await;
    assert_eq!(r.status, http::StatusCode::TOO_MANY_REQUESTS);
    // A short log is answered in one piece, outside the cap.
    let r = d
        .get(&format!("/process/session/small/command/{small}/logs"))
        .await;
    assert_eq!(r.status, http::StatusCode::OK);
    assert_eq!(r.json()["stdout"], "hi\n");

    // The reader leaves: its permit comes back.
    drop(held);
    let mut ok = false;
    for _ in 0..100 {
        let resp = get_head(d.addr, &path, &[]).await;
        if resp.status() == 200 {
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(json["stdout"].as_str().unwrap().len(), 16 * 1024 * 1024);
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "the permit of a reader that left never came back");
    d.stop().await;
}

/// Checks a 429 envelope naming `flag`.
fn assert_capped(status: u16, body: &serde_json::Value, flag: &str) {
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "TOO_MANY_REQUESTS", "{body}");
    assert_eq!(body["statusCode"], 429);
    assert!(body["message"].as_str().unwrap().contains(flag), "{body}");
}

/// Item 9: past the caps on sessions, PTYs, interpreter contexts and running one-shot
/// commands a request is 429 with the envelope; freeing one makes room again.
#[tokio::test]
async fn caps_on_sessions_ptys_contexts_and_execs_answer_429() {
    let d = TestDaemon::start_with(|c| {
        c.max_sessions = 2;
        c.max_ptys = 1;
        c.max_contexts = 1;
        c.max_execs = 1;
    })
    .await;
    let a = d.addr;
    for sid in ["s1", "s2"] {
        let (status, _) = http(
            a,
            "POST",
            "/process/session",
            Some(json!({"sessionId": sid})),
        )
        .await;
        assert_eq!(status, 201);
    }
    let (status, body) = http(
        a,
        "POST",
        "/process/session",
        Some(json!({"sessionId": "s3"})),
    )
    .await;
    assert_capped(status, &body, "--max-sessions");
    let r = d
        .post("/process/session", &json!({"sessionId": "s3"}))
        .await;
    assert_eq!(r.headers["retry-after"], "1");
    assert_eq!(http(a, "DELETE", "/process/session/s1", None).await.0, 204);
    let (status, _) = http(
        a,
        "POST",
        "/process/session",
        Some(json!({"sessionId": "s3"})),
    )
    .await;
    assert_eq!(status, 201);

    let home = crate::pty::test_home();
    let pty = |id: &str| json!({"id": id, "lazyStart": true, "envs": {"HOME": home}});
    assert_eq!(
        http(a, "POST", "/process/pty", Some(pty("p1"))).await.0,
        201
    );
    let (status, body) = http(a, "POST", "/process/pty", Some(pty("p2"))).await;
    assert_capped(status, &body, "--max-ptys");
    // create-connect's 429 is the envelope too (its 400/409 stay the original's plain body).
    let (status, body) = crate::pty::ws_connect(a, "/process/pty/create-connect?id=p2", &[])
        .await
        .err()
        .expect("create-connect past --max-ptys must not upgrade");
    assert_capped(status, &body, "--max-ptys");
    http(a, "DELETE", "/process/pty/p1", None).await;
    assert_eq!(
        http(a, "POST", "/process/pty", Some(pty("p2"))).await.0,
        201
    );

    // One exec runs (a unique `sleep`); a second is refused until it ends.
    let secs = crate::support::unique_seconds();
    let sleep = format!("sleep {secs}");
    let running = tokio::spawn(async move {
        http(
            a,
            "POST",
            "/process/execute",
            Some(json!({ "command": sleep })),
        )
        .await
    });
    assert!(
        crate::support::eventually(Duration::from_secs(30), || {
            !crate::support::processes_with(&format!("sleep {secs}")).is_empty()
        })
        .await,
        "the first exec never started"
    );
    let (status, body) = http(
        a,
        "POST",
        "/process/execute",
        Some(json!({"command": "echo no"})),
    )
    .await;
    assert_capped(status, &body, "--max-execs");
    let (status, body) = http(
        a,
        "POST",
        "/process/code-run",
        Some(json!({"code": "print(1)", "language": "python"})),
    )
    .await;
    assert_capped(status, &body, "--max-execs");
    for pid in crate::support::processes_with(&format!("sleep {secs}")) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
    }
    let (status, _) = running.await.unwrap();
    assert_eq!(status, 200);
    let (status, body) = http(
        a,
        "POST",
        "/process/execute",
        Some(json!({"command": "echo yes"})),
    )
    .await;
    assert_eq!((status, body["result"].as_str()), (200, Some("yes\n")));

    if crate::support::test_python().is_some() {
        let path = "/process/interpreter/context";
        let (status, ctx) = http(a, "POST", path, Some(json!({}))).await;
        assert_eq!(status, 200, "{ctx}");
        let (status, body) = http(a, "POST", path, Some(json!({}))).await;
        assert_capped(status, &body, "--max-contexts");
        let id = ctx["id"].as_str().unwrap();
        http(a, "DELETE", &format!("{path}/{id}"), None).await;
        let (status, ctx) = http(a, "POST", path, Some(json!({}))).await;
        assert_eq!(status, 200, "{ctx}");
    }
    d.stop().await;
}

/// Item 9: past `max_connections` a new connection's request is answered 429 with the
/// envelope and the connection closed; once one closes, new connections are served.
#[tokio::test]
async fn connections_past_the_cap_get_429() {
    let d = TestDaemon::start_with(|c| c.max_connections = 2).await;
    let connect = || async {
        let stream = tokio::net::TcpStream::connect(d.addr).await.unwrap();
        let (sender, conn) =
            hyper::client::conn::http1::handshake::<_, http_body_util::Empty<Bytes>>(TokioIo::new(
                stream,
            ))
            .await
            .unwrap();
        tokio::spawn(conn);
        sender
    };
    let get =
        |sender: &mut hyper::client::conn::http1::SendRequest<http_body_util::Empty<Bytes>>| {
            let req = http::Request::get("/process/session")
                .header("host", d.addr.to_string())
                .body(http_body_util::Empty::new())
                .unwrap();
            sender.send_request(req)
        };
    // Two kept-alive connections, each answered once (so the daemon has accepted both).
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut s = connect().await;
        assert_eq!(get(&mut s).await.unwrap().status(), 200);
        open.push(s);
    }
    let mut third = connect().await;
    let resp = get(&mut third).await.unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["connection"], "close");
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let env: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_capped(429, &env, "--max-connections");
    // The kept connections still work.
    assert_eq!(get(&mut open[0]).await.unwrap().status(), 200);
    drop(open.pop());
    let mut served = false;
    for _ in 0..100 {
        let mut s = connect().await;
        if get(&mut s).await.unwrap().status() == 200 {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "a closed connection's slot never came back");
    d.stop().await;
}

/// Item 9: the binary raises its open-file soft limit to the hard limit at start.
#[test]
fn the_binary_raises_its_fd_soft_limit_to_the_hard_limit() {
    use std::io::BufRead;
    let work = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut child = Command::new("prlimit")
        .arg("--nofile=256:4096")
        .arg(env!("CARGO_BIN_EXE_processd"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--log-level",
            "warn",
            "--workdir",
        ])
        .arg(work.path())
        .arg("--state-dir")
        .arg(state.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run prlimit (util-linux)");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("processd listening on"), "{line}");
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let row = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let nums: Vec<&str> = row.split_whitespace().skip(3).take(2).collect();
    assert_eq!(nums, ["4096", "4096"], "{row}");
}
