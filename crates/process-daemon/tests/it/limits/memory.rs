//! Bounded daemon memory: a whole-log GET and a sync exec's answer stream, whatever the size
//! (VmHWM read from `/proc`), with the helpers the caps tests share.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use serde_json::json;

use crate::pty::http;

/// Starts an async command in a new session `sid` and waits until it has exited.
pub(super) async fn finished_command(addr: SocketAddr, sid: &str, command: &str) -> String {
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
pub(super) async fn get_head(
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
