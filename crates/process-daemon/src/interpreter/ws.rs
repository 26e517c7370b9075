//! `GET /process/interpreter/execute` after the upgrade: the first-message protocol and its
//! validation close codes, and the single writer that forwards a job's frames to the client.
//! The socket is a [`crate::ws::ServerSocket`], so pings are answered however busy the job is.

use std::collections::HashMap;
use std::time::Duration;

use bytes::BytesMut;
use process_proto::wire::{CloseCode, InterpreterRequest, DEFAULT_TIMEOUT_SECS};
use tokio::sync::mpsc;

use super::context::{Event, Job, SubmitError, QUEUE_CAPACITY};
use crate::ws::{self, Data, Pending, ServerSocket};
use crate::Daemon;

/// Frames buffered between a job's runner and its socket.
const EVENT_BUFFER: usize = 4;
/// Largest first message accepted.
const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// The socket options of an interpreter client with this write deadline.
pub(crate) fn options(write_deadline: Duration) -> ws::Options {
    ws::Options::new(MAX_MESSAGE, MAX_MESSAGE).write_deadline(write_deadline)
}

/// Why no first message arrived.
enum NoFirst {
    /// The client closed (its close was echoed): nothing more to send.
    Closed,
    /// The read failed (broken connection, oversized or malformed message).
    Failed,
}

/// Collects the client's first message (all its frames).
async fn first_message(
    sock: &mut ServerSocket,
    data: &mut mpsc::Receiver<Data>,
) -> Result<BytesMut, NoFirst> {
    let mut message = BytesMut::new();
    let mut started = false;
    loop {
        tokio::select! {
            biased;
            event = sock.event() => match event {
                ws::Event::Closed(_) => return Err(NoFirst::Closed),
                ws::Event::TooBig | ws::Event::Gone => return Err(NoFirst::Failed),
            },
            frame = data.recv() => {
                let Some(frame) = frame else { return Err(NoFirst::Failed) };
                if frame.first == started {
                    // A continuation without a start, or a new message inside one.
                    return Err(NoFirst::Failed);
                }
                started = true;
                message.extend_from_slice(&frame.payload);
                if frame.last {
                    return Ok(message);
                }
            }
        }
    }
}

/// Serves an accepted interpreter socket.
pub(crate) async fn serve(daemon: Daemon, ws: Pending) {
    let (data_tx, mut data) = mpsc::channel(4);
    let mut sock = ws.start(Some(data_tx));

    // 1. The first message: the request. Later messages are dropped by the reader.
    let first = first_message(&mut sock, &mut data).await;
    drop(data);
    let request = match first {
        Ok(bytes) => match serde_json::from_slice::<InterpreterRequest>(&bytes) {
            Ok(r) => r,
            Err(_) => {
                return sock
                    .close(CloseCode::PROTOCOL, "invalid JSON payload")
                    .await
            }
        },
        Err(NoFirst::Closed) => return,
        Err(NoFirst::Failed) => {
            return sock
                .close(CloseCode::PROTOCOL, "failed to read first message")
                .await
        }
    };

    // 2. Validation (spec §7.2 step 3).
    if request.code.is_empty() {
        return sock.close(CloseCode::POLICY, "code is required").await;
    }
    let timeout = match request.timeout {
        Some(t) if t < 0 => {
            return sock
                .close(
                    CloseCode::POLICY,
                    "timeout must be greater than or equal to 0",
                )
                .await
        }
        Some(0) => None,
        Some(t) => Some(Duration::from_secs(t.unsigned_abs())),
        None => Some(Duration::from_secs(DEFAULT_TIMEOUT_SECS.unsigned_abs())),
    };
    let context = match daemon
        .inner
        .interpreter
        .context_for_run(request.context_id.as_deref())
    {
        Ok(ctx) => ctx,
        Err(err) => return sock.close(err.close_code(), &err.to_string()).await,
    };

    // 3. Queue the job; its frames arrive on `events`.
    let (events_tx, mut events) = mpsc::channel(EVENT_BUFFER);
    let job = Job {
        // Uniformly indented code could only fail: run it dedented (see `crate::dedent`).
        code: crate::dedent::python(&request.code).into_owned(),
        envs: request
            .envs
            .unwrap_or_default()
            .into_iter()
            .collect::<HashMap<_, _>>(),
        timeout,
        events: events_tx,
    };
    match context.submit(job) {
        Ok(()) => {}
        Err(SubmitError::Full) => {
            let reason = format!("context queue is full ({QUEUE_CAPACITY} jobs): try again later");
            return sock.close(CloseCode(1013), &reason).await;
        }
        Err(SubmitError::Closed) => {
            return sock.close(CloseCode::GOING_AWAY, "context shutdown").await
        }
    }
    drop(context);

    // 4. The single writer: the job's frames, then its close.
    let close = loop {
        tokio::select! {
            biased;
            event = sock.event() => match event {
                ws::Event::TooBig => {}
                ws::Event::Closed(_) | ws::Event::Gone => break None,
            },
            event = events.recv() => match event {
                Some(Event::Frame(frame)) => {
                    if sock.text(frame.to_json()).await.is_err() {
                        break None;
                    }
                }
                Some(Event::Close(code, reason)) => break Some((code, reason)),
                None => break Some((CloseCode::GOING_AWAY, "context shutdown".to_owned())),
            },
        }
    };
    drop(events); // a runner still producing for this job now discards its output
    if let Some((code, reason)) = close {
        sock.close(code, &reason).await;
    }
}
