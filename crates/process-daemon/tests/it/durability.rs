//! Crash durability (issue 13 item 2, research C1): the real `processd` binary is SIGKILLed and
//! restarted on the same state dir. Sessions, command records and finished logs come back; the
//! commands that were running are reported lost and their whole trees (a `setsid` escapee
//! included) are dead; one daemon per state dir.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use http::Method;
use serde_json::{json, Value};

use crate::support::{eventually, processes_with, unique_seconds};

/// A `processd` child process on a given state dir; SIGKILLed when dropped.
pub struct Daemon {
    pub child: std::process::Child,
    pub url: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    /// Starts the binary on `state` (work dir `work`) with extra `args`.
    pub fn start(work: &Path, state: &Path, args: &[&str]) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_processd"))
            .args(["--listen", "127.0.0.1:0", "--log-level", "warn"])
            .arg("--workdir")
            .arg(work)
            .arg("--state-dir")
            .arg(state)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start processd");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("first line");
        let url = line
            .trim()
            .strip_prefix("processd listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Daemon { child, url }
    }

    /// SIGKILLs the daemon and reaps it.
    pub fn crash(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// One request; `(status, JSON body or Null)`.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        call(&self.url, method, path, body, &[]).await
    }
}

/// One HTTP request to `url` with extra headers; `(status, JSON body or Null, raw body)`.
pub async fn call_raw(
    url: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (u16, bytes::Bytes) {
    use http_body_util::BodyExt;
    let addr = url.trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req = req.header("host", addr);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(http_body_util::Full::new(bytes::Bytes::from(
            body.map(|b| serde_json::to_vec(&b).expect("json"))
                .unwrap_or_default(),
        )))
        .expect("request");
    let resp = tokio::time::timeout(Duration::from_secs(30), sender.send_request(req))
        .await
        .expect("timely answer")
        .expect("answer");
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (status, bytes)
}

/// One HTTP request; `(status, JSON body or Null)`.
pub async fn call(
    url: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let (status, bytes) = call_raw(url, method, path, body, headers).await;
    let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, v)
}

/// Polls a command until it has an exit code.
async fn wait_exit(d: &Daemon, sid: &str, cid: &str) -> i64 {
    for _ in 0..400 {
        let (_, v) = d
            .call(
                Method::GET,
                &format!("/process/session/{sid}/command/{cid}"),
                None,
            )
            .await;
        if let Some(code) = v["exitCode"].as_i64() {
            return code;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("command {cid} never finished");
}

/// One crash cycle on `state`: a finished sync command, a finished async one, and a running
/// async one with a `setsid` escapee; SIGKILL; restart; check. Returns the restarted daemon and
/// the id of the command it reports lost.
async fn crash_cycle(work: &Path, state: &Path, sid: &str) -> (Daemon, String) {
    let d = Daemon::start(work, state, &[]);
    let (status, _) = d
        .call(
            Method::POST,
            "/process/session",
            Some(json!({"sessionId": sid})),
        )
        .await;
    assert_eq!(status, 201);
    let (status, sync) = d
        .call(
            Method::POST,
            &format!("/process/session/{sid}/exec"),
            Some(json!({"command": "printf 'out\\n'; printf 'err\\n' >&2; (exit 3)"})),
        )
        .await;
    assert_eq!(status, 200, "{sync}");
    assert_eq!(sync["exitCode"], 3);
    let sync_id = sync["cmdId"].as_str().expect("cmdId").to_owned();
    let (_, done) = d
        .call(
            Method::POST,
            &format!("/process/session/{sid}/exec"),
            Some(json!({"command": "seq 1 5000", "runAsync": true})),
        )
        .await;
    let done_id = done["cmdId"].as_str().expect("cmdId").to_owned();
    assert_eq!(wait_exit(&d, sid, &done_id).await, 0);
    let marker = unique_seconds();
    let escapee = unique_seconds();
    let (_, running) = d
        .call(
            Method::POST,
            &format!("/process/session/{sid}/exec"),
            Some(json!({
                "command": format!("echo started; setsid sleep {escapee} & sleep {marker}"),
                "runAsync": true
            })),
        )
        .await;
    let running_id = running["cmdId"].as_str().expect("cmdId").to_owned();
    assert!(
        eventually(Duration::from_secs(10), || !processes_with(&marker)
            .is_empty()
            && !processes_with(&escapee).is_empty())
        .await,
        "the running command never started"
    );
    // The records are written off the reply path, within milliseconds.
    tokio::time::sleep(Duration::from_millis(300)).await;
    d.crash();
    // The old incarnation's processes outlive it (re-parented) until the next start.
    assert!(!processes_with(&marker).is_empty());

    let d = Daemon::start(work, state, &[]);
    assert!(
        eventually(Duration::from_secs(5), || processes_with(&marker)
            .is_empty()
            && processes_with(&escapee).is_empty())
        .await,
        "processes of the previous incarnation survived: {:?} {:?}",
        processes_with(&marker),
        processes_with(&escapee)
    );
    let (status, list) = d.call(Method::GET, "/process/session", None).await;
    assert_eq!(status, 200);
    assert!(
        list.as_array()
            .expect("array")
            .iter()
            .any(|s| s["sessionId"] == sid),
        "{list}"
    );
    let (_, cmd) = d
        .call(
            Method::GET,
            &format!("/process/session/{sid}/command/{sync_id}"),
            None,
        )
        .await;
    assert_eq!(cmd["exitCode"], 3, "{cmd}");
    assert!(
        cmd["startedAt"].is_string() && cmd["finishedAt"].is_string(),
        "{cmd}"
    );
    let (_, logs) = d
        .call(
            Method::GET,
            &format!("/process/session/{sid}/command/{sync_id}/logs"),
            None,
        )
        .await;
    assert_eq!(logs["stdout"], "out\n", "{logs}");
    assert_eq!(logs["stderr"], "err\n", "{logs}");
    let (_, logs) = d
        .call(
            Method::GET,
            &format!("/process/session/{sid}/command/{done_id}/logs"),
            None,
        )
        .await;
    let expected = (1..=5000).fold(String::new(), |mut s, i| {
        s.push_str(&i.to_string());
        s.push('\n');
        s
    });
    assert_eq!(logs["stdout"].as_str(), Some(expected.as_str()));
    let (_, lost) = d
        .call(
            Method::GET,
            &format!("/process/session/{sid}/command/{running_id}"),
            None,
        )
        .await;
    assert_eq!(lost["exitCode"], -1, "{lost}");
    assert_eq!(lost["status"], "lost", "{lost}");
    assert_eq!(lost["error"], "lost: the daemon restarted", "{lost}");
    let (_, logs) = d
        .call(
            Method::GET,
            &format!("/process/session/{sid}/command/{running_id}/logs"),
            None,
        )
        .await;
    assert_eq!(logs["stdout"], "started\n", "{logs}");
    assert!(
        logs["stderr"]
            .as_str()
            .is_some_and(|e| e.contains("lost: the daemon restarted")),
        "{logs}"
    );
    // The restored session takes new commands (a fresh shell).
    let (status, again) = d
        .call(
            Method::POST,
            &format!("/process/session/{sid}/exec"),
            Some(json!({"command": "echo again"})),
        )
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["stdout"], "again\n");
    (d, running_id)
}

/// A lost command's record and log as the daemon serves them.
async fn lost_record(d: &Daemon, sid: &str, id: &str) -> (Value, String) {
    let (_, cmd) = d
        .call(
            Method::GET,
            &format!("/process/session/{sid}/command/{id}"),
            None,
        )
        .await;
    let (_, logs) = d
        .call(
            Method::GET,
            &format!("/process/session/{sid}/command/{id}/logs"),
            None,
        )
        .await;
    (cmd, logs["stderr"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn sigkill_and_restart_keep_records_and_logs_and_kill_the_old_trees() {
    let work = tempfile::tempdir().expect("work");
    let state = tempfile::tempdir().expect("state");
    let cycles: usize = std::env::var("PROCESSD_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    // (session, lost command, its record as first reported)
    let mut lost: Vec<(String, String, Value)> = Vec::new();
    for i in 0..cycles.max(2) {
        let sid = format!("s{i}");
        let (d, running_id) = crash_cycle(work.path(), state.path(), &sid).await;
        // Every earlier cycle's session is still there too.
        let (_, list) = d.call(Method::GET, "/process/session", None).await;
        assert_eq!(list.as_array().map(Vec::len), Some(i + 1), "{list}");
        let (first, _) = lost_record(&d, &sid, &running_id).await;
        lost.push((sid, running_id, first));
        // A command lost to an earlier crash stays lost, unchanged, through every later
        // restart, and its log says so once.
        for (sid, id, first) in &lost {
            let (now, stderr) = lost_record(&d, sid, id).await;
            assert_eq!(&now, first, "the record of lost command {sid}/{id} changed");
            assert_eq!(now["status"], "lost", "{now}");
            assert_eq!(
                stderr.matches("lost: the daemon restarted").count(),
                1,
                "{sid}/{id}: {stderr}"
            );
        }
        d.crash();
    }
}

#[tokio::test]
async fn one_daemon_per_state_dir() {
    let work = tempfile::tempdir().expect("work");
    let state = tempfile::tempdir().expect("state");
    let first = Daemon::start(work.path(), state.path(), &[]);
    let out = Command::new(env!("CARGO_BIN_EXE_processd"))
        .args(["--listen", "127.0.0.1:0"])
        .arg("--state-dir")
        .arg(state.path())
        .output()
        .expect("run processd");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("in use by another processd"), "{err}");
    first.crash();
    // A dead holder leaves no stale lock.
    let second = Daemon::start(work.path(), state.path(), &[]);
    let (status, _) = second.call(Method::GET, "/process/session", None).await;
    assert_eq!(status, 200);
}
