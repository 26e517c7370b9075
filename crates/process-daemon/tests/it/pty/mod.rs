//! PTY sessions (spec §5) end to end: a WebSocket client (fastwebsockets over a TCP stream)
//! and a small REST client against a real in-process daemon on 127.0.0.1. This file holds the
//! clients and helpers; the tests are grouped by concern in the modules below.

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

mod fds;
mod latency;
mod lifecycle;
mod rest;
mod resume;

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
