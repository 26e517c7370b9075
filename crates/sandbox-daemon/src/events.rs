//! `GET /api/socket.io/?EIO=4&transport=websocket`: the small Socket.IO v5 / Engine.IO v4
//! subset the official SDKs use for state events (spec §2.7), over the WebSocket transport only.
//!
//! Frames: we send the Engine.IO open packet (`0{…}`); the client's CONNECT (`40{"token":…}`)
//! is authenticated like a Bearer header (any token when sandboxd has no API key) and answered
//! `40{"sid":…}` or `44{"message":"Unauthorized"}`; then every state change of every sandbox
//! goes out as `42["sandbox.state.updated",{"sandbox":…,"oldState":…,"newState":…}]`, and we
//! ping (`2`) every [`PING_INTERVAL`]. Without a working channel the TypeScript SDK keeps
//! retrying the connection for minutes, which keeps a finished Node program from exiting.

use std::time::Duration;

use fastwebsockets::{FragmentCollectorRead, Frame, OpCode, Payload, WebSocket, WebSocketWrite};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::WriteHalf;
use tokio::sync::{broadcast, mpsc};

use crate::manager::{Manager, StateEvent};

type Io = TokioIo<Upgraded>;
type Writer = WebSocketWrite<WriteHalf<Io>>;

/// How often we ping; the client gives up after `PING_INTERVAL + PING_TIMEOUT` of silence.
const PING_INTERVAL: Duration = Duration::from_secs(25);
const PING_TIMEOUT: Duration = Duration::from_secs(20);
/// Largest message a client may send (they send only CONNECT, pongs and DISCONNECT).
const MAX_PAYLOAD: usize = 64 * 1024;
/// Deadline for writing one frame.
const WRITE_DEADLINE: Duration = Duration::from_secs(10);

/// Checks a CONNECT token: `Some(key)` = it must match; `None` = any token.
pub(crate) type TokenCheck = Box<dyn Fn(&str) -> bool + Send + Sync>;

/// The Engine.IO open packet.
fn open_packet(sid: &str) -> String {
    serde_json::json!({
        "sid": sid,
        "upgrades": [],
        "pingInterval": PING_INTERVAL.as_millis() as u64,
        "pingTimeout": PING_TIMEOUT.as_millis() as u64,
        "maxPayload": MAX_PAYLOAD,
    })
    .to_string()
}

/// `42["sandbox.state.updated", {...}]` for one change.
fn state_packet(event: &StateEvent) -> String {
    let body = serde_json::json!([
        "sandbox.state.updated",
        {
            "sandbox": event.sandbox,
            "oldState": event.old_state,
            "newState": event.new_state,
        }
    ]);
    format!("42{body}")
}

/// What a client's text message asks for.
#[derive(Debug, PartialEq, Eq)]
enum ClientPacket {
    /// `40` / `40{"token": …}` (the token, if any).
    Connect(Option<String>),
    /// `41`.
    Disconnect,
    /// `2` (a ping from the client: answered `3`).
    Ping,
    /// `3`.
    Pong,
    /// Anything else (ignored).
    Other,
}

fn parse_client(text: &str) -> ClientPacket {
    match text {
        "2" => ClientPacket::Ping,
        "3" => ClientPacket::Pong,
        "41" => ClientPacket::Disconnect,
        _ => match text.strip_prefix("40") {
            Some("") => ClientPacket::Connect(None),
            Some(json) => {
                let token = serde_json::from_str::<serde_json::Value>(json)
                    .ok()
                    .and_then(|v| v.get("token").and_then(|t| t.as_str()).map(str::to_owned));
                ClientPacket::Connect(token)
            }
            None => ClientPacket::Other,
        },
    }
}

async fn send(wr: &mut Writer, text: &str) -> bool {
    let frame = Frame::text(Payload::Borrowed(text.as_bytes()));
    matches!(
        tokio::time::timeout(WRITE_DEADLINE, wr.write_frame(frame)).await,
        Ok(Ok(()))
    )
}

/// Serves one upgraded Socket.IO connection until the client leaves.
pub(crate) async fn serve(
    manager: Manager,
    check: TokenCheck,
    fut: fastwebsockets::upgrade::UpgradeFut,
) {
    let ws = match fut.await {
        Ok(ws) => ws,
        Err(err) => {
            tracing::debug!(error = %err, "socket.io upgrade failed");
            return;
        }
    };
    run(manager, check, ws).await;
}

async fn run(manager: Manager, check: TokenCheck, mut ws: WebSocket<Io>) {
    ws.set_max_message_size(MAX_PAYLOAD);
    let (rd, mut wr) = ws.split(tokio::io::split);
    let mut rd = FragmentCollectorRead::new(rd);
    // The reader forwards text messages and the frames it owes the peer (pong, close echo).
    let (in_tx, mut in_rx) = mpsc::channel::<(OpCode, Vec<u8>)>(16);
    let reader = tokio::spawn(async move {
        loop {
            let owed = in_tx.clone();
            let mut oblige = move |frame: Frame<'_>| {
                let _ = owed.try_send((frame.opcode, frame.payload.to_vec()));
                std::future::ready(Ok::<(), std::convert::Infallible>(()))
            };
            match rd.read_frame(&mut oblige).await {
                Ok(frame) if frame.opcode == OpCode::Text => {
                    if in_tx
                        .send((OpCode::Text, frame.payload.to_vec()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Ok(frame) if frame.opcode == OpCode::Close => return,
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    let sid = uuid::Uuid::new_v4().simple().to_string();
    let mut events: Option<broadcast::Receiver<StateEvent>> = None;
    let mut ping =
        tokio::time::interval_at(tokio::time::Instant::now() + PING_INTERVAL, PING_INTERVAL);
    if send(&mut wr, &format!("0{}", open_packet(&sid))).await {
        loop {
            tokio::select! {
                msg = in_rx.recv() => {
                    let Some((opcode, payload)) = msg else { break };
                    if opcode != OpCode::Text {
                        // A pong or close echo the reader owes.
                        let frame = Frame::new(true, opcode, None, Payload::Owned(payload));
                        let _ = wr.write_frame(frame).await;
                        if opcode == OpCode::Close { break; }
                        continue;
                    }
                    let text = String::from_utf8_lossy(&payload);
                    let ok = match parse_client(&text) {
                        ClientPacket::Connect(token) => {
                            if check(token.as_deref().unwrap_or_default()) {
                                events = Some(manager.subscribe());
                                send(&mut wr, &format!("40{}", serde_json::json!({"sid": sid}))).await
                            } else {
                                let _ = send(&mut wr, r#"44{"message":"Unauthorized"}"#).await;
                                false
                            }
                        }
                        ClientPacket::Ping => send(&mut wr, "3").await,
                        ClientPacket::Disconnect => false,
                        ClientPacket::Pong | ClientPacket::Other => true,
                    };
                    if !ok { break; }
                }
                event = async {
                    match events.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                } => {
                    match event {
                        Ok(event) => {
                            if !send(&mut wr, &state_packet(&event)).await { break; }
                        }
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            tracing::debug!(missed = n, "socket.io client missed state events");
                        }
                        Err(broadcast::error::RecvError::Closed) => break,
                    }
                }
                _ = ping.tick() => {
                    if !send(&mut wr, "2").await { break; }
                }
            }
        }
    }
    reader.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_packets_parse() {
        assert_eq!(
            parse_client(r#"40{"token":"k"}"#),
            ClientPacket::Connect(Some("k".into()))
        );
        assert_eq!(parse_client("40"), ClientPacket::Connect(None));
        assert_eq!(parse_client("40{}"), ClientPacket::Connect(None));
        assert_eq!(parse_client("3"), ClientPacket::Pong);
        assert_eq!(parse_client("2"), ClientPacket::Ping);
        assert_eq!(parse_client("41"), ClientPacket::Disconnect);
        assert_eq!(parse_client("42[\"x\"]"), ClientPacket::Other);
    }

    #[test]
    fn open_packet_says_websocket_only() {
        let v: serde_json::Value = serde_json::from_str(&open_packet("s1")).unwrap();
        assert_eq!(v["sid"], "s1");
        assert_eq!(v["upgrades"], serde_json::json!([]));
        assert_eq!(v["pingInterval"], 25_000);
    }
}
