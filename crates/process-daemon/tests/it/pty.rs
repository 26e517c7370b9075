//! PTY sessions (spec §5) end to end: a WebSocket client (fastwebsockets over a TCP stream)
//! and a small REST client against a real in-process daemon on 127.0.0.1.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fastwebsockets::{Frame, OpCode, Payload, Role, WebSocket};
use http_body_util::{BodyExt, Full};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpStream;

use crate::support::TestDaemon;
use process_daemon::proc::table;

const EXIT_CONTROL: &str = "X-Daytona-Pty-Exit-Control";

/// `HOME` for test shells: an empty directory, so no login profile of the machine's user runs
/// (e.g. pyenv's `rehash`, which blocks on a lock file left by a killed shell).
pub fn test_home() -> String {
    let dir = std::env::temp_dir().join("processd-pty-test-home");
    std::fs::create_dir_all(&dir).unwrap();
    dir.display().to_string()
}

/// The envs subprotocol token for `envs` (as Python builds it: JSON, base64url unpadded).
pub fn envs_token(envs: &Value) -> String {
    format!(
        "X-Daytona-Pty-Envs~{}",
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            envs.to_string()
        )
    )
}
/// Generous bound that only catches hangs.
const HANG: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// Clients

/// One REST call; returns the status and the body parsed as JSON (`Null` if empty/not JSON).
pub async fn http(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let bytes = body
        .map(|b| serde_json::to_vec(&b).unwrap())
        .unwrap_or_default();
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(bytes)))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// A message from the daemon.
#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    Text(String),
    Binary(Vec<u8>),
    Close(u16, String),
    Pong(Vec<u8>),
}

/// A PTY WebSocket client that records what it receives.
pub struct PtyClient {
    ws: WebSocket<TokioIo<Upgraded>>,
    /// Every message, in order.
    pub log: Vec<Msg>,
    /// Output bytes so far (binary frames).
    pub output: Vec<u8>,
}

/// Opens a WebSocket on `path`; `Err((status, body))` when the daemon answers without upgrading.
pub async fn ws_connect(
    addr: SocketAddr,
    path: &str,
    protocols: &[&str],
) -> Result<(PtyClient, Option<String>), (u16, Value)> {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    let mut req = http::Request::builder()
        .method("GET")
        .uri(path)
        .header("host", addr.to_string())
        .header("upgrade", "websocket")
        .header("connection", "upgrade")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("sec-websocket-version", "13");
    if !protocols.is_empty() {
        req = req.header("sec-websocket-protocol", protocols.join(", "));
    }
    let req = req.body(http_body_util::Empty::<Bytes>::new()).unwrap();
    let mut resp = sender.send_request(req).await.unwrap();
    if resp.status() != http::StatusCode::SWITCHING_PROTOCOLS {
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        return Err((status, serde_json::from_slice(&body).unwrap_or(Value::Null)));
    }
    let protocol = resp
        .headers()
        .get("sec-websocket-protocol")
        .map(|v| v.to_str().unwrap().to_owned());
    let upgraded = hyper::upgrade::on(&mut resp).await.unwrap();
    let ws = WebSocket::after_handshake(TokioIo::new(upgraded), Role::Client);
    Ok((
        PtyClient {
            ws,
            log: Vec::new(),
            output: Vec::new(),
        },
        protocol,
    ))
}

impl PtyClient {
    /// `create-connect` with the exit-control subprotocol and `HOME` = [`test_home`].
    pub async fn create(addr: SocketAddr, query: &str) -> PtyClient {
        let token = envs_token(&json!({ "HOME": test_home() }));
        let protocols = [EXIT_CONTROL, token.as_str()];
        let path = format!("/process/pty/create-connect?{query}");
        let (mut c, _) = ws_connect(addr, &path, &protocols).await.unwrap();
        c.expect_connected().await;
        c
    }

    /// `/{id}/connect` with the exit-control subprotocol.
    pub async fn connect(addr: SocketAddr, id: &str) -> PtyClient {
        let path = format!("/process/pty/{id}/connect");
        let (mut c, _) = ws_connect(addr, &path, &[EXIT_CONTROL]).await.unwrap();
        c.expect_connected().await;
        c
    }

    /// The next message, or `None` on timeout / EOF.
    pub async fn next(&mut self, within: Duration) -> Option<Msg> {
        let frame = tokio::time::timeout(within, self.ws.read_frame())
            .await
            .ok()?
            .ok()?;
        let msg = match frame.opcode {
            OpCode::Text => Msg::Text(String::from_utf8(frame.payload.to_vec()).unwrap()),
            OpCode::Binary => Msg::Binary(frame.payload.to_vec()),
            OpCode::Close => {
                let p = frame.payload.to_vec();
                let code = if p.len() >= 2 {
                    u16::from_be_bytes([p[0], p[1]])
                } else {
                    1005
                };
                let reason = String::from_utf8(p.get(2..).unwrap_or_default().to_vec()).unwrap();
                Msg::Close(code, reason)
            }
            OpCode::Pong => Msg::Pong(frame.payload.to_vec()),
            other => panic!("unexpected frame {other:?}"),
        };
        if let Msg::Binary(b) = &msg {
            assert!(b.len() <= 32 * 1024, "output frame of {} bytes", b.len());
            self.output.extend_from_slice(b);
        }
        self.log.push(msg.clone());
        Some(msg)
    }

    /// The first message must be the `connected` control message.
    pub async fn expect_connected(&mut self) {
        let first = self.next(HANG).await.expect("no message after the upgrade");
        let Msg::Text(text) = &first else {
            panic!("first message is not `connected`: {first:?}")
        };
        let v: Value = serde_json::from_str(text).unwrap();
        assert_eq!(v, json!({"type": "control", "status": "connected"}));
    }

    pub async fn send(&mut self, data: &[u8]) {
        self.ws
            .write_frame(Frame::binary(Payload::Owned(data.to_vec())))
            .await
            .unwrap();
    }

    /// Output as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.output).into_owned()
    }

    /// Reads until the output contains `needle`; panics (showing the output) on timeout.
    pub async fn read_until(&mut self, needle: &str) {
        let needle = needle.as_bytes();
        let deadline = Instant::now() + HANG;
        let mut from = 0;
        loop {
            if self.output[from..]
                .windows(needle.len())
                .any(|w| w == needle)
            {
                return;
            }
            from = self.output.len().saturating_sub(needle.len());
            let left = deadline.saturating_duration_since(Instant::now());
            let needle = String::from_utf8_lossy(needle);
            match self.next(left).await {
                Some(Msg::Close(code, reason)) => {
                    panic!(
                        "closed {code} {reason:?} before {needle:?}; output: {}",
                        self.text()
                    )
                }
                Some(_) => {}
                None => panic!("no {needle:?} within {HANG:?}; output: {:?}", self.text()),
            }
        }
    }

    /// Reads until the close frame; returns its code and reason.
    pub async fn read_to_close(&mut self) -> (u16, String) {
        let deadline = Instant::now() + HANG;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Some(Msg::Close(code, reason)) => return (code, reason),
                Some(_) => {}
                None => panic!("no close frame; output: {:?}", self.text()),
            }
        }
    }

    /// The control messages received (parsed).
    pub fn controls(&self) -> Vec<Value> {
        self.log
            .iter()
            .filter_map(|m| match m {
                Msg::Text(t) => serde_json::from_str(t).ok(),
                _ => None,
            })
            .collect()
    }

    /// Sends a close frame and drops the connection.
    pub async fn disconnect(mut self) {
        let _ = self.ws.write_frame(Frame::close(1000, b"")).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), self.ws.read_frame()).await;
    }
}

/// Pids of `sleep` processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<i32> {
    crate::support::processes_with(marker)
        .into_iter()
        .filter(|&pid| table::cmdline(pid).is_some_and(|c| c.starts_with(b"sleep\0")))
        .collect()
}

async fn wait_gone(marker: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if processes_with(marker).is_empty() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Lines of the output that look like `{prefix}<number>`, as numbers, in order.
fn numbered(output: &str, prefix: &str) -> Vec<u32> {
    output
        .split(['\r', '\n'])
        .filter_map(|l| l.strip_prefix(prefix)?.parse().ok())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Lifecycle and protocol

#[tokio::test]
async fn exit_code_reaches_the_client_after_the_last_output() {
    let d = TestDaemon::start().await;
    let mut c = PtyClient::create(d.addr, "id=exit3").await;
    c.send(b"echo LAST_$((40+2)); exit 3\n").await;
    let (code, reason) = c.read_to_close().await;
    assert!(c.text().contains("LAST_42"), "output: {}", c.text());
    assert_eq!(code, 1011);
    let reason: Value = serde_json::from_str(&reason).unwrap();
    assert_eq!(
        reason,
        json!({"exitCode": 3, "exitReason": "non-zero exit"})
    );
    let controls = c.controls();
    assert_eq!(
        controls.last().unwrap(),
        &json!({"type": "control", "status": "exited", "exitCode": 3, "exitReason": "non-zero exit"})
    );
    // `exited` comes after every output frame.
    let exited_at = c
        .log
        .iter()
        .position(|m| matches!(m, Msg::Text(t) if t.contains("exited")))
        .unwrap();
    assert!(c.log[exited_at + 1..]
        .iter()
        .all(|m| matches!(m, Msg::Close(..))));
    // The session left the registry with its process.
    let (status, _) = http(d.addr, "GET", "/process/pty/exit3", None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn exit_zero_closes_normally_and_without_exit_control_no_exited_message() {
    let d = TestDaemon::start().await;
    // Offered only the envs token: it is echoed, and no `exited` message is sent.
    let token = envs_token(&json!({ "HOME": test_home() }));
    let (mut c, protocol) = ws_connect(d.addr, "/process/pty/create-connect?id=exit0", &[&token])
        .await
        .unwrap();
    assert_eq!(protocol.as_deref(), Some(token.as_str()));
    c.expect_connected().await;
    c.send(b"exit\n").await;
    let (code, reason) = c.read_to_close().await;
    assert_eq!((code, reason.as_str()), (1000, r#"{"exitCode":0}"#));
    assert_eq!(c.controls().len(), 1, "only `connected`: {:?}", c.log);
}

#[tokio::test]
async fn first_offered_subprotocol_is_echoed_and_envs_cwd_size_apply() {
    let d = TestDaemon::start().await;
    let sub = d.workdir.path().join("my dir");
    std::fs::create_dir(&sub).unwrap();
    // Python's encoding of {"A_VAR": "x y", "U": "ä"} (json.dumps escapes non-ASCII).
    let home = test_home();
    let envs = format!(r#"{{"A_VAR": "x y", "U": "\u00e4", "HOME": "{home}"}}"#);
    let token = format!(
        "X-Daytona-Pty-Envs~{}",
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &envs)
    );
    let path = "/process/pty/create-connect?id=my+id%2F1&cols=100&rows=30&cwd=my+dir";
    let (mut c, protocol) = ws_connect(d.addr, path, &[EXIT_CONTROL, &token])
        .await
        .unwrap();
    assert_eq!(protocol.as_deref(), Some(EXIT_CONTROL));
    c.expect_connected().await;
    c.send(b"echo \"V=[$A_VAR][$U][$TERM]\"; pwd; stty size\n")
        .await;
    c.read_until("V=[x y][ä][xterm-256color]").await;
    c.read_until(&format!("{}\r\n", sub.display())).await;
    c.read_until("30 100").await;
    // The id with a space and a slash is addressable percent-encoded.
    let (status, info) = http(d.addr, "GET", "/process/pty/my%20id%2F1", None).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["id"], "my id/1");
    assert_eq!(info["cols"], 100);
    assert_eq!(info["rows"], 30);
    assert_eq!(info["active"], true);
    assert_eq!(info["lazyStart"], false);
    assert_eq!(
        info["envs"],
        json!({"A_VAR": "x y", "U": "ä", "TERM": "xterm-256color", "HOME": home})
    );
    assert_eq!(info["cwd"], sub.to_str().unwrap());
    let (status, _) = http(d.addr, "DELETE", "/process/pty/my%20id%2F1", None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn ctrl_c_interrupts_the_foreground_job_and_the_shell_goes_on() {
    let d = TestDaemon::start().await;
    let mut c = PtyClient::create(d.addr, "id=jobs").await;
    c.send(b"sleep 100.4711; echo AFTER_$((1+1))\n").await;
    let deadline = Instant::now() + HANG;
    while processes_with("sleep 100.4711").is_empty() {
        assert!(
            Instant::now() < deadline,
            "sleep never started: {}",
            c.text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    c.send(b"\x03").await;
    assert!(
        wait_gone("sleep 100.4711").await,
        "Ctrl-C did not stop the sleep"
    );
    c.send(b"echo NEXT_$((2+3))\n").await;
    c.read_until("NEXT_5").await;
    // Ctrl-C cancelled the whole command line, as in a terminal.
    assert!(!c.text().contains("AFTER_2"));
    assert!(!c.text().contains("no job control"), "{}", c.text());
    http(d.addr, "DELETE", "/process/pty/jobs", None).await;
}

#[tokio::test]
async fn resize_reaches_stty_and_sigwinch() {
    let d = TestDaemon::start().await;
    let mut c = PtyClient::create(d.addr, "id=rs&cols=100&rows=30").await;
    c.send(b"stty size\n").await;
    c.read_until("30 100").await;
    // A foreground job that reports SIGWINCH (delivered to the terminal's foreground group).
    c.send(b"bash -c 'trap \"echo WINCH_\\$((6*7)); exit\" WINCH; echo READY_$((1+2)); while :; do sleep 0.05; done'\n").await;
    c.read_until("READY_3").await;
    let (status, info) = http(
        d.addr,
        "POST",
        "/process/pty/rs/resize",
        Some(json!({"cols": 132, "rows": 40})),
    )
    .await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(
        (info["cols"].as_u64(), info["rows"].as_u64()),
        (Some(132), Some(40))
    );
    c.read_until("WINCH_42").await;
    c.send(b"stty size\n").await;
    c.read_until("40 132").await;
    let (_, info) = http(d.addr, "GET", "/process/pty/rs", None).await;
    assert_eq!(info["cols"], 132);
    http(d.addr, "DELETE", "/process/pty/rs", None).await;
}

#[tokio::test]
async fn kill_ends_the_tree_and_closes_clients_with_sigkill() {
    let d = TestDaemon::start().await;
    let mut a = PtyClient::create(d.addr, "id=k").await;
    let mut b = PtyClient::connect(d.addr, "k").await;
    // A background job, an orphaned grandchild, a `setsid` escapee and a foreground job.
    a.send(b"sleep 300.2468 & (sleep 300.2468 &); setsid sleep 300.2468 & sleep 300.2468\n")
        .await;
    let deadline = Instant::now() + HANG;
    while processes_with("sleep 300.2468").len() < 4 {
        assert!(Instant::now() < deadline, "sleeps never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, body) = http(d.addr, "DELETE", "/process/pty/k", None).await;
    assert_eq!(
        (status, body),
        (200, json!({"message": "PTY session deleted"}))
    );
    for c in [&mut a, &mut b] {
        let (code, reason) = c.read_to_close().await;
        assert_eq!(code, 1011);
        assert_eq!(reason, r#"{"exitCode":137,"exitReason":"SIGKILL"}"#);
        assert!(!c.controls().iter().any(|v| v["status"] == "exited"));
    }
    assert!(
        wait_gone("sleep 300.2468").await,
        "processes survived the kill: {:?}",
        processes_with("sleep 300.2468")
            .iter()
            .map(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default())
            .collect::<Vec<_>>()
    );
    let (status, _) = http(d.addr, "GET", "/process/pty/k", None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_background_holder_does_not_keep_the_session_open() {
    let d = TestDaemon::start().await;
    let mut c = PtyClient::create(d.addr, "id=linger").await;
    c.send(b"sleep 300.1357 & exit 4\n").await;
    let (code, reason) = c.read_to_close().await;
    assert_eq!(
        (code, reason.as_str()),
        (1011, r#"{"exitCode":4,"exitReason":"non-zero exit"}"#)
    );
    assert!(
        wait_gone("sleep 300.1357").await,
        "the background holder survived the hang-up"
    );
}

#[tokio::test]
async fn output_before_a_client_attaches_is_replayed_once() {
    let d = TestDaemon::start().await;
    let mut a = PtyClient::create(d.addr, "id=replay").await;
    // Output produced while nobody is attached.
    a.send(b"sleep 0.3; for i in $(seq 1 2000); do echo R$i; done; echo END_$((3*3))\n")
        .await;
    a.read_until("seq 1 2000").await; // the echo of the command line
    a.disconnect().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut b = PtyClient::connect(d.addr, "replay").await;
    b.read_until("END_9").await;
    assert_eq!(numbered(&b.text(), "R"), (1..=2000).collect::<Vec<_>>());
    http(d.addr, "DELETE", "/process/pty/replay", None).await;
}

#[tokio::test]
async fn reconnect_during_output_has_no_gap_or_duplicate_at_the_seam() {
    let d = TestDaemon::start().await;
    let mut a = PtyClient::create(d.addr, "id=seam").await;
    a.send(b"for i in $(seq 1 3000); do echo S$i; [ $((i % 300)) = 0 ] && sleep 0.1; done; echo END_$((4*4))\n")
        .await;
    a.read_until("S100\r\n").await;
    a.disconnect().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut b = PtyClient::connect(d.addr, "seam").await;
    b.read_until("END_16").await;
    assert_eq!(numbered(&b.text(), "S"), (1..=3000).collect::<Vec<_>>());
    http(d.addr, "DELETE", "/process/pty/seam", None).await;
}

#[tokio::test]
async fn attaching_to_a_flooding_pty_replays_from_a_line_start_without_lag() {
    let d = TestDaemon::start().await;
    let mut a = PtyClient::create(d.addr, "id=flood").await;
    a.send(b"i=0; while :; do echo FLOOD_$i; i=$((i+1)); done\n")
        .await;
    a.read_until("FLOOD_1\r\n").await;
    a.disconnect().await;
    // Far more than the 1 MiB scrollback is written while nobody is attached.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for _ in 0..3 {
        let mut b = PtyClient::connect(d.addr, "flood").await;
        let mut first = None;
        let mut got = 0usize;
        while got < 2 * 1024 * 1024 {
            match b.next(HANG).await {
                Some(Msg::Binary(data)) => {
                    first.get_or_insert(data.clone());
                    got += data.len();
                }
                other => panic!("after {got} bytes: {other:?}"),
            }
            if b.output.len() > 64 * 1024 {
                b.output.drain(..b.output.len() - 64);
            }
        }
        // The replay starts at the beginning of a line.
        let first = first.unwrap();
        assert!(
            first.starts_with(b"FLOOD_"),
            "{:?}",
            String::from_utf8_lossy(&first[..40])
        );
        b.disconnect().await;
    }
    http(d.addr, "DELETE", "/process/pty/flood", None).await;
}

#[tokio::test]
async fn two_clients_share_output_and_both_type() {
    let d = TestDaemon::start().await;
    let mut a = PtyClient::create(d.addr, "id=duo").await;
    let mut b = PtyClient::connect(d.addr, "duo").await;
    a.send(b"echo FROM_A_$((1+1))\n").await;
    a.read_until("FROM_A_2").await;
    b.read_until("FROM_A_2").await;
    b.send(b"echo FROM_B_$((1+2))\n").await;
    a.read_until("FROM_B_3").await;
    b.read_until("FROM_B_3").await;
    a.send(b"exit 0\n").await;
    assert_eq!(a.read_to_close().await.0, 1000);
    assert_eq!(b.read_to_close().await.0, 1000);
}

#[tokio::test]
async fn a_stalled_client_neither_blocks_the_pty_nor_the_others() {
    let d = TestDaemon::start().await;
    let mut a = PtyClient::create(d.addr, "id=stall").await;
    // Attached, but never reads (until the end of the test).
    let mut stalled = PtyClient::connect(d.addr, "stall").await;
    // 24 MB: far more than the scrollback plus the socket buffers of the stalled client.
    a.send(b"head -c 24000000 /dev/zero | tr '\\0' x; echo; echo DONE_$((5*5))\n")
        .await;
    let started = Instant::now();
    let deadline = started + Duration::from_mins(1);
    let mut total = 0usize;
    loop {
        let msg = a
            .next(deadline.saturating_duration_since(Instant::now()))
            .await;
        match msg {
            Some(Msg::Binary(b)) => total += b.len(),
            other => assert!(
                matches!(other, Some(Msg::Text(_))),
                "the active client ended after {total} bytes: {other:?}"
            ),
        }
        // Keep memory flat: only the tail matters.
        if a.output.len() > 64 * 1024 {
            a.output.drain(..a.output.len() - 64);
        }
        if a.text().contains("DONE_25") {
            break;
        }
    }
    assert!(total > 24_000_000, "{total}");
    println!("active client got 24 MB in {:?}", started.elapsed());
    // The stalled client is told it fell behind (or was dropped by the write deadline).
    let deadline = Instant::now() + HANG;
    let end = loop {
        match stalled
            .next(deadline.saturating_duration_since(Instant::now()))
            .await
        {
            Some(Msg::Close(code, reason)) => break Some((code, reason)),
            Some(_) => {}
            None => break None,
        }
    };
    println!("stalled client ended with {end:?}");
    if let Some((code, reason)) = end {
        assert_eq!((code, reason.as_str()), (1008, "slow consumer"));
    }
    http(d.addr, "DELETE", "/process/pty/stall", None).await;
}

#[tokio::test]
async fn pings_are_answered_while_output_streams() {
    let d = TestDaemon::start().await;
    let mut c = PtyClient::create(d.addr, "id=ping").await;
    c.send(b"head -c 3000000 /dev/zero | tr '\\0' p; echo; echo PINGDONE_$((2*2))\n")
        .await;
    c.read_until("pppp").await;
    c.ws.write_frame(Frame::new(
        true,
        OpCode::Ping,
        None,
        Payload::Borrowed(b"are-you-there"),
    ))
    .await
    .unwrap();
    let deadline = Instant::now() + HANG;
    loop {
        match c
            .next(deadline.saturating_duration_since(Instant::now()))
            .await
        {
            Some(Msg::Pong(p)) => {
                assert_eq!(p, b"are-you-there");
                break;
            }
            Some(Msg::Close(code, reason)) => panic!("closed {code} {reason}"),
            Some(_) => {
                if c.output.len() > 64 * 1024 {
                    c.output.drain(..c.output.len() - 64);
                }
            }
            None => panic!("no pong"),
        }
    }
    c.read_until("PINGDONE_4").await;
    http(d.addr, "DELETE", "/process/pty/ping", None).await;
}

/// The write deadline of the test below (processd's default is 10 s; the PTY path takes the
/// configured one).
const STALL_DEADLINE: Duration = Duration::from_secs(1);

#[tokio::test]
async fn a_lone_stalled_client_pauses_the_pty_only_until_it_is_dropped() {
    let d = TestDaemon::start_with(|c| c.ws_write_deadline = STALL_DEADLINE).await;
    let mut a = PtyClient::create(d.addr, "id=lone").await;
    a.send(b"head -c 24000000 /dev/zero | tr '\\0' y; echo; echo LONE_$((6*6))\n")
        .await;
    // `a` stops reading: flow control pauses the PTY until a frame to `a` misses the write
    // deadline and `a` is dropped; then the shell runs free and a new client finds the end in
    // the scrollback. The pause covers the command's start-up as well as the deadline.
    tokio::time::sleep(STALL_DEADLINE + Duration::from_millis(1500)).await;
    // Dropped, not merely paused: `a` gets what was in flight, then the end of the connection
    // (no close frame), never the end of the output. A writer without the configured deadline
    // would still be waiting on `a` here and now deliver everything.
    let mut a_saw_end = false;
    while let Some(msg) = a.next(HANG).await {
        assert!(
            !matches!(msg, Msg::Close(..)),
            "the stalled client got {msg:?}"
        );
        a_saw_end |= a.text().contains("LONE_36");
        if a.output.len() > 64 * 1024 {
            a.output.drain(..a.output.len() - 64);
        }
    }
    assert!(!a_saw_end, "the stalled client was never dropped");
    let mut b = PtyClient::connect(d.addr, "lone").await;
    let deadline = Instant::now() + HANG;
    loop {
        let msg = b
            .next(deadline.saturating_duration_since(Instant::now()))
            .await;
        assert!(msg.is_some(), "no end of output after the stalled client");
        if b.output.len() > 64 * 1024 {
            b.output.drain(..b.output.len() - 64);
        }
        if b.text().contains("LONE_36") {
            break;
        }
    }
    http(d.addr, "DELETE", "/process/pty/lone", None).await;
}

#[tokio::test]
async fn input_over_64_kib_closes_with_1009() {
    let d = TestDaemon::start().await;
    let mut c = PtyClient::create(d.addr, "id=big").await;
    c.send(&vec![b'#'; 64 * 1024 + 1]).await;
    let (code, _) = c.read_to_close().await;
    assert_eq!(code, 1009);
    // A frame too large to even read is refused the same way.
    let mut c = PtyClient::connect(d.addr, "big").await;
    c.send(&vec![b'#'; 2 * 1024 * 1024]).await;
    let (code, _) = c.read_to_close().await;
    assert_eq!(code, 1009);
    // The session itself is unharmed.
    let (status, info) = http(d.addr, "GET", "/process/pty/big", None).await;
    assert_eq!((status, info["active"].as_bool()), (200, Some(true)));
    http(d.addr, "DELETE", "/process/pty/big", None).await;
}

#[tokio::test]
async fn rest_create_list_info_lazy_start_and_kill() {
    let d = TestDaemon::start().await;
    let (status, body) = http(
        d.addr,
        "POST",
        "/process/pty",
        Some(json!({"id": "r1", "cols": 90, "rows": 20, "envs": {"K": "v", "HOME": test_home()}})),
    )
    .await;
    assert_eq!((status, body), (201, json!({"sessionId": "r1"})));
    let (status, body) = http(
        d.addr,
        "POST",
        "/process/pty",
        Some(json!({"id": "lazy", "lazyStart": true, "envs": {"HOME": test_home()}})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (_, list) = http(d.addr, "GET", "/process/pty", None).await;
    let ids: BTreeSet<_> = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, BTreeSet::from(["r1".to_owned(), "lazy".to_owned()]));
    let (_, info) = http(d.addr, "GET", "/process/pty/lazy", None).await;
    assert_eq!(
        (info["active"].as_bool(), info["lazyStart"].as_bool()),
        (Some(false), Some(true))
    );
    // Resizing a lazy session that has not started is an error, as in the original.
    let (status, _) = http(
        d.addr,
        "POST",
        "/process/pty/lazy/resize",
        Some(json!({"cols": 10, "rows": 10})),
    )
    .await;
    assert_eq!(status, 500);
    // Connecting starts it.
    let mut c = PtyClient::connect(d.addr, "lazy").await;
    c.send(b"echo LAZY_$((2*4))\n").await;
    c.read_until("LAZY_8").await;
    let (_, info) = http(d.addr, "GET", "/process/pty/lazy", None).await;
    assert_eq!(info["active"], true);
    // A REST-created session's output from before the first attach is replayed.
    let mut r = PtyClient::connect(d.addr, "r1").await;
    r.send(b"echo \"$K\" $((7*7)); stty size\n").await;
    r.read_until("v 49").await;
    r.read_until("20 90").await;
    for id in ["r1", "lazy"] {
        let (status, _) = http(d.addr, "DELETE", &format!("/process/pty/{id}"), None).await;
        assert_eq!(status, 200);
    }
    let (_, list) = http(d.addr, "GET", "/process/pty", None).await;
    assert_eq!(list, json!({"sessions": []}));
}

#[tokio::test]
async fn error_paths() {
    let d = TestDaemon::start().await;
    let a = d.addr;
    // Duplicate id: REST 409 envelope, create-connect 409 {"error"}.
    assert_eq!(
        http(
            a,
            "POST",
            "/process/pty",
            Some(json!({"id": "dup", "envs": {"HOME": test_home()}}))
        )
        .await
        .0,
        201
    );
    let (status, body) = http(a, "POST", "/process/pty", Some(json!({"id": "dup"}))).await;
    assert_eq!(status, 409);
    assert_eq!(
        body["message"],
        "conflict: PTY session with ID 'dup' already exists"
    );
    assert_eq!(body["code"], "CONFLICT");
    let err = ws_connect(a, "/process/pty/create-connect?id=dup", &[EXIT_CONTROL])
        .await
        .err()
        .unwrap();
    assert_eq!(
        err,
        (
            409,
            json!({"error": "PTY session with ID 'dup' already exists"})
        )
    );
    // Bad sizes.
    let (status, body) = http(
        a,
        "POST",
        "/process/pty",
        Some(json!({"id": "x", "cols": 1001})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["message"],
        "bad request: invalid value for cols - must be less than 1000"
    );
    let err = ws_connect(a, "/process/pty/create-connect?id=x&cols=1001", &[])
        .await
        .err()
        .unwrap();
    assert_eq!(
        err,
        (
            400,
            json!({"error": "cols and rows must be less than 1000"})
        )
    );
    let err = ws_connect(a, "/process/pty/create-connect?id=x&rows=abc", &[])
        .await
        .err()
        .unwrap();
    assert_eq!(
        err,
        (
            400,
            json!({"error": "rows must be an integer between 0 and 65535"})
        )
    );
    let err = ws_connect(a, "/process/pty/create-connect?cols=10", &[])
        .await
        .err()
        .unwrap();
    assert_eq!(
        err,
        (
            400,
            json!({"error": "session ID is required (query param 'id')"})
        )
    );
    let err = ws_connect(
        a,
        "/process/pty/create-connect?id=x",
        &["X-Daytona-Pty-Envs~!!!"],
    )
    .await
    .err()
    .unwrap();
    assert_eq!(err.0, 400);
    assert!(
        err.1["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid envs subprotocol: "),
        "{}",
        err.1
    );
    let long = format!("X-Daytona-Pty-Envs~{}", "A".repeat(65_537));
    let err = ws_connect(a, "/process/pty/create-connect?id=x", &[&long])
        .await
        .err()
        .unwrap();
    assert_eq!(err.0, 400, "{}", err.1);
    let (status, body) = http(a, "POST", "/process/pty", Some(json!({"id": ""}))).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("bad request: session ID is required"))
    );
    let (status, body) = http(a, "POST", "/process/pty", Some(json!({"cols": "wide"}))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("INVALID_REQUEST_BODY"))
    );
    // Unknown ids.
    let (status, body) = http(a, "GET", "/process/pty/nope", None).await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], "PROCESS_NOT_FOUND");
    assert_eq!(body["message"], "PTY session not found");
    assert_eq!(http(a, "DELETE", "/process/pty/nope", None).await.0, 404);
    let (status, body) = http(
        a,
        "POST",
        "/process/pty/nope/resize",
        Some(json!({"cols": 10, "rows": 10})),
    )
    .await;
    assert_eq!(status, 410);
    assert_eq!(body["code"], "SESSION_ENDED");
    let (status, _) = http(
        a,
        "POST",
        "/process/pty/dup/resize",
        Some(json!({"cols": 10, "rows": 1001})),
    )
    .await;
    assert_eq!(status, 400);
    // Connect to an unknown session: upgrade, then the error in-band, then 1011.
    let (mut c, _) = ws_connect(a, "/process/pty/no%20such/connect", &[EXIT_CONTROL])
        .await
        .unwrap();
    let Some(Msg::Text(msg)) = c.next(HANG).await else {
        panic!("no error message")
    };
    let expected = "Failed to connect to PTY session: PTY session no such not found";
    let msg: Value = serde_json::from_str(&msg).unwrap();
    assert_eq!(
        msg,
        json!({"type": "control", "status": "error", "error": expected})
    );
    assert_eq!(c.read_to_close().await, (1011, expected.to_owned()));
    // A start failure (cwd missing) is reported in-band and leaves no session behind.
    let (mut c, _) = ws_connect(
        a,
        "/process/pty/create-connect?id=nocwd&cwd=%2Fno%2Fsuch%2Fdir",
        &[],
    )
    .await
    .unwrap();
    let Some(Msg::Text(text)) = c.next(HANG).await else {
        panic!("no error message")
    };
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["status"], "error");
    assert!(v["error"].as_str().unwrap().contains("/no/such/dir"), "{v}");
    assert_eq!(c.read_to_close().await.0, 1011);
    assert_eq!(http(a, "GET", "/process/pty/nocwd", None).await.0, 404);
    let (status, body) = http(
        a,
        "POST",
        "/process/pty",
        Some(json!({"id": "nocwd2", "cwd": "/no/such/dir"})),
    )
    .await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(http(a, "GET", "/process/pty/nocwd2", None).await.0, 404);
    http(a, "DELETE", "/process/pty/dup", None).await;
}

// ---------------------------------------------------------------------------------------------
// fd hygiene (runs in a child process: `/proc/self/fd` must not see other tests' sockets)

const FD_CHILD_ENV: &str = "PROCESSD_PTY_FD_CHILD";

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn fd_targets() -> BTreeSet<(String, String)> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .map(|e| {
            let t = std::fs::read_link(e.path()).unwrap_or_default();
            (
                e.file_name().to_string_lossy().into_owned(),
                t.display().to_string(),
            )
        })
        .collect()
}

fn ptmx_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter(|e| std::fs::read_link(e.path()).is_ok_and(|p| p.ends_with("ptmx")))
        .count()
}

#[test]
fn fds_return_to_baseline_after_many_sessions() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "pty::fd_churn_in_own_process",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(FD_CHILD_ENV, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the fd churn child failed");
    assert!(
        stdout.contains("1 passed"),
        "the fd churn child did not run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by fds_return_to_baseline_after_many_sessions in its own process"]
async fn fd_churn_in_own_process() {
    if std::env::var_os(FD_CHILD_ENV).is_none() {
        return;
    }
    let d = TestDaemon::start().await;
    // Warm up: first connections and lazily created runtime fds.
    http(d.addr, "GET", "/process/pty", None).await;
    let mut c = PtyClient::create(d.addr, "id=warm").await;
    // Neither the shell nor its children inherit anything of the daemon: their 0, 1, 2 are the
    // terminal, and no other descriptor of theirs is one the daemon holds (the login profile
    // may open its own, e.g. pyenv's pipe).
    c.send(b"sleep 60.8642\n").await;
    let deadline = Instant::now() + HANG;
    let child = loop {
        if let Some(&pid) = processes_with("sleep 60.8642").first() {
            break pid;
        }
        assert!(Instant::now() < deadline, "sleep never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let fds_of = |pid: &str| -> Vec<(String, String)> {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .flatten()
            .map(|e| {
                let target = std::fs::read_link(e.path()).unwrap_or_default();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    target.display().to_string(),
                )
            })
            .collect()
    };
    let daemon_fds: BTreeSet<String> = fds_of("self")
        .into_iter()
        .map(|(_, t)| t)
        .filter(|t| !t.starts_with("/dev/null") && !t.starts_with("/dev/pts/"))
        .collect();
    let shell: i32 = table::stat(child).unwrap().ppid;
    for pid in [child, shell] {
        let fds = fds_of(&pid.to_string());
        for (name, target) in &fds {
            if ["0", "1", "2"].contains(&name.as_str()) {
                assert!(target.starts_with("/dev/pts/"), "{pid}: {fds:?}");
            }
            assert!(
                !daemon_fds.contains(target),
                "{pid} inherited {target} from the daemon: {fds:?}; daemon: {:?}",
                fds_of("self")
            );
            assert!(
                !target.contains("ptmx") && !target.starts_with("socket:"),
                "{pid}: {fds:?}"
            );
        }
    }
    c.send(b"\x03").await;
    assert!(wait_gone("sleep 60.8642").await);
    c.send(b"exit\n").await;
    c.read_to_close().await;
    drop(c);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = fd_count();
    let before_list = fd_targets();
    // 100 create/kill cycles, 10 at a time; every third session also gets a client.
    let addr = d.addr;
    for batch in 0..10 {
        let cycles = (0..10).map(|j| async move {
            let i = batch * 10 + j;
            let id = format!("churn{i}");
            let body = json!({"id": id, "envs": {"HOME": test_home()}});
            let (status, _) = http(addr, "POST", "/process/pty", Some(body)).await;
            assert_eq!(status, 201);
            if i % 3 == 0 {
                let mut c = PtyClient::connect(addr, &id).await;
                c.send(b"echo $((i+1))hi\n").await;
                c.read_until("1hi").await;
                drop(c);
            }
            let (status, _) = http(addr, "DELETE", &format!("/process/pty/{id}"), None).await;
            assert_eq!(status, 200);
        });
        futures_util::future::join_all(cycles).await;
    }
    // Sockets of dropped clients close asynchronously.
    let deadline = Instant::now() + Duration::from_secs(5);
    while fd_count() > before && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = fd_count();
    let after_list = fd_targets();
    println!(
        "fds added: {:?}",
        after_list.difference(&before_list).collect::<Vec<_>>()
    );
    println!(
        "daemon fds: before churn {before}, after 100 create/kill cycles {after}; ptmx open: {}",
        ptmx_count()
    );
    assert!(after <= before + 2, "fd leak: {before} → {after}");
    assert_eq!(ptmx_count(), 0);
    // And no shell (or zombie) of ours is left.
    let me = i32::try_from(std::process::id()).unwrap();
    let children =
        || -> Vec<table::Stat> { table::all().into_iter().filter(|s| s.ppid == me).collect() };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !children().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(children(), Vec::<table::Stat>::new());
}

// ---------------------------------------------------------------------------------------------
// Keystroke echo latency (measurement, no assertion on timing)

/// `cargo test -p process-daemon --test it -- --ignored pty::echo_latency --nocapture`
/// (`PTY_ECHO_SAMPLES=N` for more samples). Daemon and client share one 2-worker runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: prints echo latency percentiles"]
async fn echo_latency() {
    let d = TestDaemon::start().await;
    let mut c = PtyClient::create(d.addr, "id=lat").await;
    // Raw mode, no echo, then `cat` echoes every byte back as soon as it is read.
    c.send(b"stty raw -echo; echo READY_$((1+1)); exec cat\n")
        .await;
    c.read_until("READY_2").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    while c.next(Duration::from_millis(100)).await.is_some() {}
    let mut samples = Vec::new();
    let n: u32 = std::env::var("PTY_ECHO_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
        .clamp(10, 100_000);
    for i in 0..n {
        let byte = b'a' + (i % 26) as u8;
        let t0 = Instant::now();
        c.send(&[byte]).await;
        loop {
            match c.next(HANG).await {
                Some(Msg::Binary(b)) if b.contains(&byte) => break,
                Some(_) => {}
                None => panic!("no echo"),
            }
        }
        samples.push(t0.elapsed());
    }
    samples.sort();
    let p = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    println!(
        "PTY keystroke echo latency over {} samples: p50 {:?}, p99 {:?}, max {:?}",
        samples.len(),
        p(0.50),
        p(0.99),
        samples[samples.len() - 1]
    );
    http(d.addr, "DELETE", "/process/pty/lat", None).await;
}

// ---------------------------------------------------------------------------------------------
// Resume at an output offset (issue 13 item 6)

#[tokio::test]
async fn connect_with_an_offset_resumes_exactly_there() {
    let d = TestDaemon::start().await;
    let mut c = PtyClient::create(d.addr, "id=resume&cols=200").await;
    c.send(b"for i in $(seq 1 3000); do echo L$i; done; echo DONE\"\"-MARK\n")
        .await;
    c.read_until("DONE-MARK").await;
    let full = c.output.clone();
    c.disconnect().await;
    let k = full.len() / 2;
    let path = format!("/process/pty/resume/connect?offset={k}");
    let (mut r, _) = ws_connect(d.addr, &path, &[EXIT_CONTROL]).await.unwrap();
    r.expect_connected().await;
    r.read_until("DONE-MARK").await;
    assert!(
        r.output.len() >= full.len() - k && r.output[..full.len() - k] == full[k..],
        "the resumed output does not continue at byte {k}"
    );
    drop(r);
    // Beyond the end: a clear error, not a silent gap.
    let path = format!("/process/pty/resume/connect?offset={}", full.len() * 10);
    let (mut bad, _) = ws_connect(d.addr, &path, &[EXIT_CONTROL]).await.unwrap();
    let (code, reason) = bad.read_to_close().await;
    assert_eq!(code, 1011, "{reason}");
    assert!(reason.contains("outside the scrollback"), "{reason}");
    let (status, _) = http(d.addr, "DELETE", "/process/pty/resume", None).await;
    assert_eq!(status, 200);
}
