//! PTY lifecycle and protocol: exit codes, subprotocols, signals, resize, replay, several and
//! stalled clients, pings, input limits.

use super::*;

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
