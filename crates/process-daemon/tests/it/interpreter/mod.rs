//! Interpreter contexts (spec §7): REST, the execute WebSocket, workers, timeouts, output capture.
//! This file holds the clients and helpers; the tests are grouped by concern below.

use std::time::Duration;

use bytes::Bytes;
use fastwebsockets::{Frame, OpCode, Payload, WebSocket};
use http::{Method, Request, StatusCode};
use http_body_util::Empty;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

use crate::support::{SpawnExecutor, TestDaemon};

mod lifecycle;
mod rest;
mod runs;
mod streaming;

/// Bound on any single run in these tests (detects hangs, not a timing assertion).
const RUN_LIMIT: Duration = Duration::from_mins(1);

/// A REST call; returns the status and the JSON body (`Null` if empty or not JSON).
async fn call(
    d: &TestDaemon,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let resp = d.call(method, path, body.as_ref(), &[]).await;
    (
        resp.status,
        serde_json::from_slice(&resp.body).unwrap_or(Value::Null),
    )
}

async fn create_context(d: &TestDaemon, body: Value) -> String {
    let (status, ctx) = call(d, Method::POST, "/process/interpreter/context", Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{ctx}");
    ctx["id"].as_str().unwrap().to_owned()
}

/// Opens the execute socket, offering `protocols` (comma-joined) if any.
async fn connect(
    d: &TestDaemon,
    protocols: Option<&str>,
) -> (
    WebSocket<TokioIo<Upgraded>>,
    http::Response<hyper::body::Incoming>,
) {
    connect_at(d.addr, protocols).await
}

/// [`connect`] to the daemon at `addr` (usable from a spawned task).
async fn connect_at(
    addr: std::net::SocketAddr,
    protocols: Option<&str>,
) -> (
    WebSocket<TokioIo<Upgraded>>,
    http::Response<hyper::body::Incoming>,
) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = Request::builder()
        .method("GET")
        .uri(format!("http://{addr}/process/interpreter/execute"))
        .header("host", addr.to_string())
        .header("upgrade", "websocket")
        .header("connection", "upgrade")
        .header(
            "sec-websocket-key",
            fastwebsockets::handshake::generate_key(),
        )
        .header("sec-websocket-version", "13");
    if let Some(p) = protocols {
        req = req.header("sec-websocket-protocol", p);
    }
    let req = req.body(Empty::<Bytes>::new()).unwrap();
    let (mut ws, resp) = fastwebsockets::handshake::client(&SpawnExecutor, req, stream)
        .await
        .unwrap();
    ws.set_auto_close(true);
    (ws, resp)
}

/// Everything a run produced.
#[derive(Debug, Default)]
struct Run {
    frames: Vec<Value>,
    /// Sizes of the text frames' payloads.
    sizes: Vec<usize>,
    close: Option<(u16, String)>,
}

impl Run {
    fn text(&self, kind: &str) -> String {
        self.frames
            .iter()
            .filter(|f| f["type"] == kind)
            .map(|f| f["text"].as_str().unwrap())
            .collect()
    }
    fn stdout(&self) -> String {
        self.text("stdout")
    }
    fn stderr(&self) -> String {
        self.text("stderr")
    }
    fn errors(&self) -> Vec<&Value> {
        self.frames
            .iter()
            .filter(|f| f["type"] == "error")
            .collect()
    }
    fn control(&self) -> Option<&str> {
        self.frames
            .iter()
            .rev()
            .find(|f| f["type"] == "control")
            .and_then(|f| f["text"].as_str())
    }
    fn code(&self) -> u16 {
        self.close.as_ref().map_or(0, |c| c.0)
    }
}

/// Reads frames until the daemon closes; `on_frame` sees each text frame as it arrives.
async fn collect(ws: &mut WebSocket<TokioIo<Upgraded>>, mut on_frame: impl FnMut(&Value)) -> Run {
    let mut run = Run::default();
    let read = async {
        loop {
            let Ok(frame) = ws.read_frame().await else {
                break;
            };
            match frame.opcode {
                OpCode::Text => {
                    run.sizes.push(frame.payload.len());
                    let v: Value = serde_json::from_slice(&frame.payload).unwrap();
                    on_frame(&v);
                    run.frames.push(v);
                }
                OpCode::Close => {
                    let p = &frame.payload;
                    let code = if p.len() >= 2 {
                        u16::from_be_bytes([p[0], p[1]])
                    } else {
                        0
                    };
                    let reason =
                        String::from_utf8_lossy(p.get(2..).unwrap_or_default()).into_owned();
                    run.close = Some((code, reason));
                    break;
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(RUN_LIMIT, read)
        .await
        .expect("run did not finish in time");
    run
}

/// Sends `request` as the first message and collects the run.
async fn run_json(d: &TestDaemon, request: Value) -> Run {
    let (mut ws, _) = connect(d, None).await;
    ws.write_frame(Frame::text(Payload::Owned(
        request.to_string().into_bytes(),
    )))
    .await
    .unwrap();
    collect(&mut ws, |_| {}).await
}

async fn run_code(d: &TestDaemon, code: &str) -> Run {
    run_json(d, json!({ "code": code })).await
}

async fn run_in(d: &TestDaemon, ctx: &str, code: &str) -> Run {
    run_json(d, json!({ "code": code, "contextId": ctx })).await
}

/// Starts `code` in context `ctx` and returns the socket once its first output frame came.
async fn start_in(d: &TestDaemon, ctx: &str, code: &str) -> WebSocket<TokioIo<Upgraded>> {
    let (mut ws, _) = connect(d, None).await;
    ws.write_frame(Frame::text(Payload::Owned(
        json!({"code": code, "contextId": ctx})
            .to_string()
            .into_bytes(),
    )))
    .await
    .unwrap();
    let frame = tokio::time::timeout(RUN_LIMIT, ws.read_frame())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(frame.opcode, OpCode::Text);
    ws
}

fn assert_completed(run: &Run) {
    assert_eq!(run.control(), Some("completed"), "{run:?}");
    assert_eq!(run.code(), 1000, "{run:?}");
}
