//! The client-side reliability criteria of `shared/research/reliability.md` §3.9: a lost stream
//! is never an exit (K2), client timeouts are client-local (K4), tokens never reach logs or
//! errors (K6, in its own test binary: `tests/token_logs.rs`).

use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fastwebsockets::{Frame, Payload};
use futures_util::StreamExt;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use process::transport::HttpTransport;
use process::Client;

use crate::support::{Fixture, Kind};

crate::both_transports!(client_timeouts_leave_the_command_running);

/// A stub that upgrades, sends `frames` (text when they start with `{`), then cuts the
/// connection without a close frame.
fn cutting_stub(frames: Vec<&'static [u8]>) -> Client {
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        let frames = frames.clone();
        async move {
            let (resp, fut) = fastwebsockets::upgrade::upgrade(&mut req).unwrap();
            tokio::spawn(async move {
                let mut ws = fut.await.unwrap();
                for f in frames {
                    let frame = if f.first() == Some(&b'{') {
                        Frame::text(Payload::Borrowed(f))
                    } else {
                        Frame::binary(Payload::Borrowed(f))
                    };
                    ws.write_frame(frame).await.unwrap();
                }
                drop(ws); // no close frame
            });
            let (parts, _) = resp.into_parts();
            Ok::<_, Infallible>(Response::from_parts(parts, Full::new(Bytes::new())))
        }
    });
    Client::new(HttpTransport::in_memory(service).unwrap())
}

#[tokio::test]
async fn a_cut_pty_connection_is_not_an_exit() {
    let client = cutting_stub(vec![br#"{"type":"control","status":"connected"}"#, b"$ "]);
    let mut pty = client.connect_pty_session("p").await.unwrap();
    let result = pty.wait().await.unwrap();
    assert_eq!(
        result.exit_code, None,
        "no exit code was received: {result:?}"
    );
    assert!(result.error.is_some(), "{result:?}");
    assert!(!pty.is_connected());
}

#[tokio::test]
async fn a_cut_log_stream_is_an_error_not_an_end() {
    let client = cutting_stub(vec![b"\x01\x01\x01half a log"]);
    let mut stream = client.stream_session_command_logs("s", "c").await.unwrap();
    assert_eq!(
        &stream.next().await.unwrap().unwrap().data[..],
        b"half a log"
    );
    let err = stream.next().await.unwrap().unwrap_err();
    assert!(err.is_closed(), "{err:?}");
    assert!(stream.next().await.is_none());
}

async fn client_timeouts_leave_the_command_running(kind: Kind) {
    let f = Fixture::start(kind).await;
    let c = &f.client;
    c.create_session("s").await.unwrap();
    let started = Instant::now();
    let err = c
        .execute_session_command("s", "sleep 3; echo finished")
        .timeout(Duration::from_millis(500))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    // Generous bound: the client gave up well before the command's 3 s.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // The command kept running on the daemon and finishes there.
    let session = c.get_session("s").await.unwrap();
    let cmd = &session.commands[0];
    assert_eq!(cmd.exit_code, None);
    let mut out = String::new();
    c.follow_session_command_logs("s", &cmd.id, |s| out.push_str(s), |_| {})
        .await
        .unwrap();
    assert_eq!(out, "finished\n");
    assert_eq!(
        c.get_session_command("s", &cmd.id).await.unwrap().exit_code,
        Some(0)
    );
}
