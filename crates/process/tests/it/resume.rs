//! Resumable log follow (issue 13 item 6, research S1/K2): a follow through a proxy that cuts
//! the TCP connection again and again delivers every byte exactly once: the facade reconnects
//! at the offset it has received and the daemon resumes there.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures_util::StreamExt;
use process::{Client, CommandRequest};
use process_proto::log::OutputStream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{Fixture, Kind};

/// A TCP proxy to `upstream` that rewrites the request's Host to the upstream's and cuts each
/// connection after `budget(n)` bytes towards the client, for the first `cuts` connections.
async fn cutting_proxy(upstream: std::net::SocketAddr, cuts: usize) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let counter = done.clone();
    tokio::spawn(async move {
        let mut n = 0usize;
        while let Ok((mut client, _)) = listener.accept().await {
            n += 1;
            let cut = n <= cuts;
            // Varying cut points: inside frame headers, payloads, anywhere.
            let budget = 40_000 + (n * 7919) % 50_000;
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut server = tokio::net::TcpStream::connect(upstream).await.unwrap();
                // The request head, with Host rewritten for the daemon's rebinding guard.
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let text = String::from_utf8_lossy(&head).into_owned();
                let rewritten: String = text
                    .split("\r\n")
                    .map(|line| {
                        if line.to_ascii_lowercase().starts_with("host:") {
                            format!("host: {upstream}")
                        } else {
                            line.to_owned()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\r\n");
                server.write_all(rewritten.as_bytes()).await.unwrap();
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut cr, &mut sw).await;
                });
                let mut sent = 0usize;
                let mut buf = vec![0u8; 16 * 1024];
                while let Ok(k) = sr.read(&mut buf).await {
                    if k == 0 {
                        break;
                    }
                    if cut && sent + k >= budget {
                        let _ = cw.write_all(&buf[..budget - sent]).await;
                        counter.fetch_add(1, Ordering::Relaxed);
                        break; // dropped: no close frame, no FIN ordering guarantees
                    }
                    if cw.write_all(&buf[..k]).await.is_err() {
                        break;
                    }
                    sent += k;
                }
                up.abort();
            });
        }
    });
    (format!("http://{addr}"), done)
}

#[tokio::test]
async fn a_follow_across_dropped_connections_delivers_every_byte_exactly_once() {
    let drops: usize = std::env::var("PROCESS_RESUME_DROPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let f = Fixture::start(Kind::Tcp).await;
    let url = f.url.clone().unwrap();
    let upstream: std::net::SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let (proxy, cut) = cutting_proxy(upstream, drops).await;
    let lines = 40_000 + drops * 12_000;
    let c = &f.client;
    c.create_session("r").await.unwrap();
    let cmd = c
        .execute_session_command(
            "r",
            CommandRequest::new(format!(
                "seq 1 {half}; seq 1 1000 >&2; sleep 0.3; seq {next} {lines}",
                half = lines / 2,
                next = lines / 2 + 1
            ))
            .run_async(true),
        )
        .await
        .unwrap();
    let through = Client::builder(proxy).build().unwrap();
    let mut stream = through
        .stream_session_command_logs("r", &cmd.cmd_id)
        .await
        .unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.unwrap_or_else(|e| panic!("after {} drops: {e}", cut.load(Ordering::Relaxed)));
        match chunk.stream {
            OutputStream::Stdout => out.extend_from_slice(&chunk.data),
            OutputStream::Stderr => err.extend_from_slice(&chunk.data),
        }
    }
    let expected_out = (1..=lines).fold(String::new(), |mut s, i| {
        s.push_str(&i.to_string());
        s.push('\n');
        s
    });
    let expected_err = (1..=1000).fold(String::new(), |mut s, i| {
        s.push_str(&i.to_string());
        s.push('\n');
        s
    });
    let dropped = cut.load(Ordering::Relaxed);
    let (out_lost, out_extra) = lost_and_extra(&out, expected_out.as_bytes());
    let (err_lost, err_extra) = lost_and_extra(&err, expected_err.as_bytes());
    let (lost, duplicated) = (out_lost + err_lost, out_extra + err_extra);
    assert_eq!(dropped, drops, "the proxy did not cut as often as asked");
    assert_eq!(
        (lost, duplicated),
        (0, 0),
        "bytes lost and duplicated (or garbled) across {dropped} dropped connections"
    );
    assert!(
        out == expected_out.as_bytes(),
        "stdout differs (same lines, other order): {} vs {} bytes",
        out.len(),
        expected_out.len()
    );
    assert_eq!(String::from_utf8_lossy(&err), expected_err);
    println!(
        "resumable follow: {dropped} dropped connections, {} bytes received, lost {lost}, duplicated {duplicated}",
        out.len() + err.len()
    );
    c.delete_session("r").await.unwrap();
}

/// Bytes of `expected` missing from `received` and bytes of `received` beyond `expected`
/// (duplicates and garbage), compared as multisets of lines: every line of both is distinct
/// text, so a lost chunk shows as missing lines and a replayed one as extra copies.
fn lost_and_extra(received: &[u8], expected: &[u8]) -> (usize, usize) {
    let mut want: std::collections::HashMap<&[u8], usize> = std::collections::HashMap::new();
    for line in expected.split_inclusive(|b| *b == b'\n') {
        *want.entry(line).or_default() += 1;
    }
    let mut matched = 0;
    for line in received.split_inclusive(|b| *b == b'\n') {
        if let Some(n) = want.get_mut(line).filter(|n| **n > 0) {
            *n -= 1;
            matched += line.len();
        }
    }
    (expected.len() - matched, received.len() - matched)
}

#[test]
fn lost_and_extra_counts_bytes() {
    assert_eq!(lost_and_extra(b"1\n2\n3\n", b"1\n2\n3\n"), (0, 0));
    assert_eq!(lost_and_extra(b"1\n3\n", b"1\n2\n3\n"), (2, 0));
    assert_eq!(lost_and_extra(b"1\n2\n2\n3\n", b"1\n2\n3\n"), (0, 2));
    // A cut mid-line that lost the rest of "20\n" and the start of "21\n": both lines lost,
    // the garbled "21\n" fragment counts as extra.
    assert_eq!(lost_and_extra(b"19\n2", b"19\n20\n21\n"), (6, 1));
}
