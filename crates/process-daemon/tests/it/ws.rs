//! The shared WebSocket server socket, seen from a client: the write deadline on every frame
//! (log follow included) and pings that are always answered (interpreter included).

use std::time::Duration;

use fastwebsockets::{Frame, OpCode, Payload};
use http::StatusCode;
use serde_json::json;

use crate::support::{test_python, TestDaemon};

/// Bound on each wait below (detects hangs, not a timing assertion).
const LIMIT: Duration = Duration::from_mins(1);

/// A follower that stops reading is dropped once a frame misses the write deadline: after it
/// reads again it gets what was in flight and then the end of the connection, never the rest
/// of the log and close 1000 (which a deadline-free writer, merely paused, would send).
#[tokio::test]
async fn a_follower_that_never_reads_is_dropped_after_the_write_deadline() {
    let d = TestDaemon::start_with(|c| c.ws_write_deadline = Duration::from_millis(300)).await;
    let r = d
        .post("/process/session", &json!({ "sessionId": "slow" }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    // Far more than loopback socket buffers hold, so the daemon's writes block.
    const SIZE: usize = 48 * 1024 * 1024;
    let r = d
        .post(
            "/process/session/slow/exec",
            &json!({"command": format!("head -c {SIZE} /dev/zero"), "runAsync": true}),
        )
        .await;
    let cid = r.json()["cmdId"].as_str().unwrap().to_owned();
    let path = format!("/process/session/slow/command/{cid}");
    tokio::time::timeout(LIMIT, async {
        while d.get(&path).await.json()["exitCode"].is_null() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the command did not finish");

    let mut ws = d
        .ws(&format!("{path}/logs?follow=true"), &[])
        .await
        .expect("upgrade");
    // Not reading: the daemon fills the socket buffers, then a frame misses the deadline.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut received = 0usize;
    let mut close = None;
    tokio::time::timeout(LIMIT, async {
        loop {
            match ws.read_frame().await {
                Ok(frame) if frame.opcode == OpCode::Binary => received += frame.payload.len(),
                Ok(frame) if frame.opcode == OpCode::Close => {
                    close = Some(frame.payload.to_vec());
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    })
    .await
    .expect("the connection neither ended nor closed");
    assert_eq!(close, None, "a stalled follower got a close frame");
    assert!(
        received < SIZE,
        "a stalled follower got the whole log ({received} bytes)"
    );
    d.stop().await;
}

/// Pings sent before the first message (while the daemon is still reading it) are each
/// answered; they used to be dropped past the reader's 16-slot queue.
#[tokio::test]
async fn interpreter_pings_are_all_answered() {
    let d = TestDaemon::start_with(|c| c.python = test_python()).await;
    let mut ws = d
        .ws("/process/interpreter/execute", &[])
        .await
        .expect("upgrade");
    ws.set_auto_close(true);
    const PINGS: usize = 200;
    for i in 0..PINGS {
        let payload = format!("p{i}").into_bytes();
        ws.write_frame(Frame::new(
            true,
            OpCode::Ping,
            None,
            Payload::Owned(payload),
        ))
        .await
        .unwrap();
    }
    let first = json!({"code": "print('hi')"}).to_string().into_bytes();
    ws.write_frame(Frame::text(Payload::Owned(first)))
        .await
        .unwrap();
    let mut pongs = Vec::new();
    let mut close_code = None;
    tokio::time::timeout(LIMIT, async {
        loop {
            let Ok(frame) = ws.read_frame().await else {
                break;
            };
            match frame.opcode {
                OpCode::Pong => pongs.push(String::from_utf8_lossy(&frame.payload).into_owned()),
                OpCode::Close => {
                    close_code = frame
                        .payload
                        .get(..2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]));
                    break;
                }
                _ => {}
            }
        }
    })
    .await
    .expect("the run did not end");
    assert_eq!(close_code, Some(1000));
    let expected: Vec<String> = (0..PINGS).map(|i| format!("p{i}")).collect();
    assert_eq!(pongs, expected);
    d.stop().await;
}
