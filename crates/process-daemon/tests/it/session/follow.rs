//! Sessions: following a command's log over WebSocket (replay, then the live tail, then close
//! 1000; large outputs; reading to the current end) and the log cap on disk.

use crate::support::{session_exec, unique_seconds, TestDaemon};
use fastwebsockets::OpCode;
use http::StatusCode;
use std::time::Duration;

use super::{create, exec_async, read_follow};

#[tokio::test]
async fn a_late_follower_gets_the_replay_then_the_live_tail_then_close_1000() {
    let d = TestDaemon::start().await;
    create(&d, "f").await;
    let cid = exec_async(
        &d,
        "f",
        "printf 'early\\n'; sleep 1; printf 'late\\n' >&2; sleep 0.3; printf end",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let path = format!("/process/session/f/command/{cid}/logs?follow=true");
    let mut ws = d.ws(&path, &[]).await.expect("upgrade");
    let (data, code) = read_follow(&mut ws).await;
    assert_eq!(code, 1000);
    assert_eq!(
        data,
        b"\x01\x01\x01early\n\x02\x02\x02late\n\x01\x01\x01end"
    );
    // After the end: a full replay and a close.
    let mut ws = d.ws(&path, &[]).await.expect("upgrade");
    let (again, code) = read_follow(&mut ws).await;
    assert_eq!((again, code), (data, 1000));
    // Unknown ids are plain 404s before any upgrade.
    let r = d
        .ws("/process/session/f/command/nope/logs?follow=true", &[])
        .await;
    assert_eq!(r.err().map(|r| r.status), Some(StatusCode::NOT_FOUND));
    d.stop().await;
}

#[tokio::test]
async fn following_a_large_output_loses_nothing_and_coalesces_frames() {
    let d = TestDaemon::start().await;
    create(&d, "big").await;
    let cid = exec_async(
        &d,
        "big",
        "head -c 3000000 /dev/zero | tr '\\0' x; printf END",
    )
    .await;
    let mut ws = d
        .ws(
            &format!("/process/session/big/command/{cid}/logs?follow=true"),
            &[],
        )
        .await
        .expect("upgrade");
    let mut frames = 0usize;
    let mut data = Vec::new();
    let fut = async {
        loop {
            let frame = ws.read_frame().await.expect("frame");
            match frame.opcode {
                OpCode::Binary => {
                    frames += 1;
                    data.extend_from_slice(&frame.payload);
                }
                OpCode::Close => break,
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .unwrap();
    let (out, _) = process_proto::log::demux_log(&data);
    assert_eq!(out.len(), 3_000_003);
    assert!(out.ends_with(b"END"));
    // Far fewer frames than 1 KiB frames would need (~2930).
    assert!(frames < 1500, "{frames} frames");
    d.stop().await;
}

#[tokio::test]
async fn follow_without_follow_true_reads_to_the_current_end() {
    let d = TestDaemon::start().await;
    create(&d, "nf").await;
    let m = unique_seconds();
    let cid = exec_async(&d, "nf", &format!("echo first; sleep {m}")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut ws = d
        .ws(&format!("/process/session/nf/command/{cid}/logs"), &[])
        .await
        .expect("upgrade");
    let (data, code) = read_follow(&mut ws).await;
    assert_eq!((data.as_slice(), code), (&b"\x01\x01\x01first\n"[..], 1000));
    // A follower of a running command is closed with 1000 when the session is deleted.
    let mut ws = d
        .ws(
            &format!("/process/session/nf/command/{cid}/logs?follow=true"),
            &[],
        )
        .await
        .expect("upgrade");
    let del = d.delete("/process/session/nf").await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    let (data, code) = read_follow(&mut ws).await;
    assert_eq!((data.as_slice(), code), (&b"\x01\x01\x01first\n"[..], 1000));
}

#[tokio::test]
async fn the_log_is_capped_on_disk_and_reports_dropped_bytes() {
    let d = TestDaemon::start_with(|c| c.max_log_bytes = 1000).await;
    create(&d, "cap").await;
    let out = session_exec(&d, "cap", "head -c 100000 /dev/zero | tr '\\0' a").await;
    assert_eq!(out["exitCode"], 0);
    let output = out["output"].as_str().unwrap();
    assert_eq!(output.len(), 1000);
    let cid = out["cmdId"].as_str().unwrap();
    let cmd = d
        .get(&format!("/process/session/cap/command/{cid}"))
        .await
        .json();
    assert_eq!(cmd["droppedBytes"], 100_000 - 997);
    d.stop().await;
}
