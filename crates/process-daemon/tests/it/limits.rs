//! Issue 13's limits: a whitespace-only token is refused at startup (item 4); a PTY cannot be
//! resized to 0×0 (item 5); a whole-log GET streams in bounded daemon memory and long ones
//! past `max_log_reads` get 429 (item 1).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
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

/// Starts an async command in a new session `sid` and waits until it has exited.
async fn finished_command(addr: SocketAddr, sid: &str, command: &str) -> String {
    let (status, _) = http(
        addr,
        "POST",
        "/process/session",
        Some(json!({"sessionId": sid})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, body) = http(
        addr,
        "POST",
        &format!("/process/session/{sid}/exec"),
        Some(json!({"command": command, "runAsync": true})),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let cid = body["cmdId"].as_str().unwrap().to_owned();
    for _ in 0..2400 {
        let (_, rec) = http(
            addr,
            "GET",
            &format!("/process/session/{sid}/command/{cid}"),
            None,
        )
        .await;
        if rec["exitCode"].as_i64().is_some() {
            assert_eq!(rec["exitCode"], 0, "{rec}");
            return cid;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{command} did not finish within 120 s");
}

/// The on-disk log of command `cid` under `state`.
fn log_file(state: &Path, cid: &str) -> PathBuf {
    fn walk(dir: &Path, cid: &str) -> Option<PathBuf> {
        for entry in std::fs::read_dir(dir).ok()?.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n == cid) && path.join("output.log").is_file() {
                    return Some(path.join("output.log"));
                }
                if let Some(found) = walk(&path, cid) {
                    return Some(found);
                }
            }
        }
        None
    }
    walk(state, cid).unwrap_or_else(|| panic!("no log of {cid} under {}", state.display()))
}

/// A GET whose response head has arrived; the body is left unread.
async fn get_head(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> http::Response<hyper::body::Incoming> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = http::Request::get(path).header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(http_body_util::Empty::<Bytes>::new()).unwrap();
    tokio::time::timeout(Duration::from_mins(1), sender.send_request(req))
        .await
        .expect("no response head within a minute")
        .unwrap()
}

fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// Item 1: a whole-log GET of a 64 MiB log (stdout and stderr, text that needs escaping) grows
/// a `processd` process's peak memory by at most 32 MiB, and the answer is byte-identical to
/// the one-piece JSON of the log on disk, in every flavor.
#[tokio::test]
async fn a_log_get_streams_in_bounded_daemon_memory() {
    use tokio::io::AsyncBufReadExt;
    let work = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_processd"))
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
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next_line().await.unwrap().unwrap();
    let addr: SocketAddr = line
        .rsplit("http://")
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();

    // 48 MiB of stdout and 16 MiB of stderr: quotes, backslashes, tabs, control bytes, UTF-8.
    let big = finished_command(
        addr,
        "big",
        "yes 'out \"q\" \\\\ \t \u{1} é €' | head -c 50331648; yes 'err \\\\ ü' | head -c 16777216 >&2",
    )
    .await;
    // Warm up the streaming path (a blocking thread, the body channel) on a short log.
    let small = finished_command(addr, "small", "head -c 400000 /dev/zero | tr '\\0' x").await;
    let resp = get_head(
        addr,
        &format!("/process/session/small/command/{small}/logs"),
        &[],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let _ = resp.into_body().collect().await.unwrap();
    let base = vm_hwm_kib(pid);

    let log = std::fs::read(log_file(state.path(), &big)).unwrap();
    assert!(log.len() > 64 * 1024 * 1024, "{}", log.len());
    let modern = serde_json::to_vec(&process_proto::log::parse_session_command_logs(&log)).unwrap();
    let legacy: &[(&str, &str)] = &[("x-daytona-sdk-version", "0.100.0")];
    let cases = [(&[][..], modern), (legacy, log.clone())];
    drop(log);
    for (headers, want) in cases {
        let resp = get_head(
            addr,
            &format!("/process/session/big/command/{big}/logs"),
            headers,
        )
        .await;
        assert_eq!(resp.status(), 200);
        let mut body = resp.into_body();
        let mut at = 0;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.unwrap().into_data() {
                assert!(
                    at + data.len() <= want.len(),
                    "longer than the one-piece answer"
                );
                assert!(
                    want[at..at + data.len()] == data[..],
                    "differs at byte {at}"
                );
                at += data.len();
            }
        }
        assert_eq!(at, want.len(), "shorter than the one-piece answer");
    }
    let grown_mib = vm_hwm_kib(pid).saturating_sub(base) / 1024;
    assert!(
        grown_mib <= 32,
        "daemon peak memory grew by {grown_mib} MiB"
    );
    child.kill().await.unwrap();
}

/// A POST with a JSON body whose response head has arrived; the body is left unread.
async fn post_head(
    addr: SocketAddr,
    path: &str,
    body: &serde_json::Value,
    headers: &[(&str, &str)],
) -> http::Response<hyper::body::Incoming> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = http::Request::post(path)
        .header("host", addr.to_string())
        .header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(http_body_util::Full::new(Bytes::from(body.to_string())))
        .unwrap();
    tokio::time::timeout(Duration::from_mins(2), sender.send_request(req))
        .await
        .expect("no response head within two minutes")
        .unwrap()
}

/// Issue 13: the answer of a *sync* session exec whose log is 40 MiB (stdout and stderr, text
/// that needs escaping) grows the daemon's peak memory by at most 32 MiB (the one-piece answer
/// holds the log several times over), and says what the one-piece answer says, in every flavor.
#[tokio::test]
async fn a_sync_exec_answer_streams_in_bounded_daemon_memory() {
    use tokio::io::AsyncBufReadExt;
    let work = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_processd"))
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
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next_line().await.unwrap().unwrap();
    let addr: SocketAddr = line
        .rsplit("http://")
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let (status, _) = http(
        addr,
        "POST",
        "/process/session",
        Some(json!({"sessionId": "s"})),
    )
    .await;
    assert_eq!(status, 201);
    let command = "yes 'out \"q\" \\\\ \t \u{1} é €' | head -c 33554432; yes 'err \\\\ ü' | head -c 8388608 >&2; exit 7";
    // Warm up the streaming path on a short log.
    let warm = post_head(
        addr,
        "/process/session/s/exec",
        &json!({"command": "head -c 400000 /dev/zero | tr '\\0' x"}),
        &[],
    )
    .await;
    assert_eq!(warm.status(), 200);
    let _ = warm.into_body().collect().await.unwrap();
    let base = vm_hwm_kib(pid);
    let legacy: &[(&str, &str)] = &[("x-daytona-sdk-version", "0.100.0")];
    for headers in [&[][..], legacy] {
        let resp = post_head(
            addr,
            "/process/session/s/exec",
            &json!({"command": command}),
            headers,
        )
        .await;
        assert_eq!(resp.status(), 200);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let got: serde_json::Value = serde_json::from_slice(&body).unwrap();
        drop(body);
        let cid = got["cmdId"].as_str().unwrap().to_owned();
        assert_eq!(got["exitCode"], 7);
        let log = std::fs::read(log_file(state.path(), &cid)).unwrap();
        assert!(log.len() > 40 * 1024 * 1024, "{}", log.len());
        if headers.is_empty() {
            let want = process_proto::log::parse_session_command_logs(&log);
            assert!(got["output"] == want.output.as_str(), "output differs");
            assert!(got["stdout"] == want.stdout.as_str(), "stdout differs");
            assert!(got["stderr"] == want.stderr.as_str(), "stderr differs");
        } else {
            // This legacy flavor: the raw log, markers included, as `output`.
            assert!(
                got["output"] == String::from_utf8_lossy(&log).as_ref(),
                "legacy output differs"
            );
            assert!(
                got["stdout"].is_null() && got["stderr"].is_null(),
                "{}",
                got["stdout"]
            );
        }
    }
    let grown_mib = vm_hwm_kib(pid).saturating_sub(base) / 1024;
    assert!(
        grown_mib <= 32,
        "daemon peak memory grew by {grown_mib} MiB"
    );
    child.kill().await.unwrap();
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
