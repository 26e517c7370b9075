//! PTYs: create-connect with size/cwd/env, I/O, resize, list/info, kill, exit codes, several
//! attachments, AsyncRead/AsyncWrite.

use std::time::Duration;

use process::PtySize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{Fixture, Kind};

crate::both_transports!(
    create_with_options_and_exit_code,
    list_info_resize_kill,
    second_attachment_sees_output,
    unknown_pty_is_not_found,
    duplicate_pty_is_a_conflict,
    async_read_write,
    invalid_sizes_are_refused_before_sending,
);

/// Reads output until `needle` appears (bounded by the test's hang guard).
async fn read_until(pty: &mut process::PtyHandle, needle: &str) -> String {
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains(needle) {
        match pty.recv().await {
            Some(Ok(data)) => seen.extend_from_slice(&data),
            other => panic!(
                "output ended before {needle:?}: {other:?}; got {:?}",
                String::from_utf8_lossy(&seen)
            ),
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

async fn create_with_options_and_exit_code(kind: Kind) {
    let f = Fixture::start(kind).await;
    std::fs::create_dir(f.workdir.path().join("sub dir")).unwrap();
    let cwd = f.workdir().join("sub dir");
    let mut pty = f
        .client
        .create_pty_session("my-pty")
        .cwd(cwd.to_str().unwrap())
        .env("VAR", "value with spaces")
        .size(PtySize::new(30, 100))
        .await
        .unwrap();
    assert_eq!(pty.session_id(), "my-pty");
    assert!(pty.is_connected());
    pty.send_input("echo \"[$VAR]\"; pwd; stty size; exit 5\n")
        .await
        .unwrap();
    let mut screen = Vec::new();
    let result = pty
        .wait_with(|d| screen.extend_from_slice(d))
        .await
        .unwrap();
    let screen = String::from_utf8_lossy(&screen);
    assert!(screen.contains("[value with spaces]"), "{screen}");
    assert!(screen.contains(cwd.to_str().unwrap()), "{screen}");
    assert!(screen.contains("30 100"), "{screen}");
    assert_eq!(result.exit_code, Some(5));
    assert_eq!(result.error.as_deref(), Some("non-zero exit"));
    assert_eq!(pty.exit_code(), Some(5));
    assert!(!pty.is_connected());
}

async fn list_info_resize_kill(kind: Kind) {
    let f = Fixture::start(kind).await;
    let c = &f.client;
    let mut pty = c.create_pty_session("p1").await.unwrap();
    let listed = c.list_pty_sessions().await.unwrap();
    assert!(listed.iter().any(|s| s.id == "p1" && s.active));
    let info = c.get_pty_session_info("p1").await.unwrap();
    assert_eq!((info.rows, info.cols), (24, 80));
    assert_eq!(
        info.envs.get("TERM").map(String::as_str),
        Some("xterm-256color")
    );

    let resized = c
        .resize_pty_session("p1", PtySize::new(40, 150))
        .await
        .unwrap();
    assert_eq!((resized.rows, resized.cols), (40, 150));
    let via_handle = pty.resize(PtySize::new(41, 151)).await.unwrap();
    assert_eq!((via_handle.rows, via_handle.cols), (41, 151));
    pty.send_input("stty size\n").await.unwrap();
    read_until(&mut pty, "41 151").await;

    pty.kill().await.unwrap();
    let result = pty.wait().await.unwrap();
    assert_eq!(result.exit_code, Some(137));
    assert_eq!(result.error.as_deref(), Some("SIGKILL"));
    let err = c.get_pty_session_info("p1").await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert!(!c
        .list_pty_sessions()
        .await
        .unwrap()
        .iter()
        .any(|s| s.id == "p1"));
}

async fn second_attachment_sees_output(kind: Kind) {
    let f = Fixture::start(kind).await;
    let mut first = f.client.create_pty_session("shared").await.unwrap();
    let mut second = f.client.connect_pty_session("shared").await.unwrap();
    // Input from the second attachment; output reaches both.
    second.send_input("echo marker-$((40+2))\n").await.unwrap();
    read_until(&mut second, "marker-42").await;
    read_until(&mut first, "marker-42").await;
    // A cloned input handle works from another task.
    let input = first.input();
    tokio::spawn(async move { input.send_input("exit\n").await.unwrap() })
        .await
        .unwrap();
    assert_eq!(first.wait().await.unwrap().exit_code, Some(0));
    assert_eq!(second.wait().await.unwrap().exit_code, Some(0));
}

async fn unknown_pty_is_not_found(kind: Kind) {
    let f = Fixture::start(kind).await;
    let err = f.client.connect_pty_session("ghost").await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert!(
        err.to_string().starts_with("PTY session 'ghost' not found"),
        "{err}"
    );
    let err = f.client.kill_pty_session("ghost").await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
}

async fn duplicate_pty_is_a_conflict(kind: Kind) {
    let f = Fixture::start(kind).await;
    let pty = f.client.create_pty_session("twice").await.unwrap();
    let err = f.client.create_pty_session("twice").await.unwrap_err();
    assert!(err.is_conflict(), "{err:?}");
    assert!(err.to_string().contains("connect_pty_session"), "{err}");
    pty.kill().await.unwrap();
}

async fn async_read_write(kind: Kind) {
    let f = Fixture::start(kind).await;
    let pty = f.client.create_pty_session("io").await.unwrap();
    let mut io = pty.into_io();
    io.write_all(b"printf 'A%.0s' $(seq 1 5000); echo; exit 0\n")
        .await
        .unwrap();
    io.flush().await.unwrap();
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), io.read_to_end(&mut all))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&all);
    assert!(text.contains(&"A".repeat(5000)), "{} bytes", all.len());
    assert_eq!(io.result().exit_code, Some(0));
}

async fn invalid_sizes_are_refused_before_sending(kind: Kind) {
    let f = Fixture::start(kind).await;
    let err = f
        .client
        .create_pty_session("bad")
        .size(PtySize::new(0, 80))
        .await
        .unwrap_err();
    assert!(err.is_invalid(), "{err:?}");
    let err = f
        .client
        .resize_pty_session("bad", PtySize::new(24, 1001))
        .await
        .unwrap_err();
    assert!(err.is_invalid(), "{err:?}");
    // Nothing was created.
    assert!(f.client.list_pty_sessions().await.unwrap().is_empty());
}
