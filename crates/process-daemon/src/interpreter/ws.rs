//! `GET /process/interpreter/execute`: the WebSocket upgrade, the first-message protocol and
//! its validation close codes, and the single writer that forwards a job's frames to the client.

use std::collections::HashMap;
use std::time::Duration;

use fastwebsockets::{
    FragmentCollectorRead, Frame, OpCode, Payload, WebSocket, WebSocketError, WebSocketWrite,
};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use process_proto::wire::close::truncate_reason;
use process_proto::wire::{CloseCode, InterpreterRequest, DEFAULT_TIMEOUT_SECS};
use tokio::io::{ReadHalf, WriteHalf};
use tokio::sync::{mpsc, oneshot};

use super::context::{Event, Job, SubmitError, QUEUE_CAPACITY};
use crate::Daemon;

type Io = TokioIo<Upgraded>;
type Writer = WebSocketWrite<WriteHalf<Io>>;
type Reader = FragmentCollectorRead<ReadHalf<Io>>;

/// Deadline for writing one frame to the client (spec §8.8: 10 s).
const WRITE_DEADLINE: Duration = Duration::from_secs(10);
/// How long to wait for the client's close reply after our close frame.
const CLOSE_LINGER: Duration = Duration::from_secs(2);
/// Frames buffered between a job's runner and its socket.
const EVENT_BUFFER: usize = 4;
/// Largest first message accepted.
const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// Serves an accepted interpreter socket once its upgrade completes.
pub(crate) async fn serve_upgraded(daemon: Daemon, fut: fastwebsockets::upgrade::UpgradeFut) {
    match fut.await {
        Ok(ws) => serve(daemon, ws).await,
        Err(err) => tracing::debug!(error = %err, "interpreter WebSocket upgrade failed"),
    }
}

/// A frame the reader must have written (pong, close echo), as owned data.
struct Obligation {
    opcode: OpCode,
    payload: Vec<u8>,
}

async fn serve(daemon: Daemon, ws: WebSocket<Io>) {
    let (rd, mut wr) = ws.split(tokio::io::split);
    let mut rd = FragmentCollectorRead::new(rd);
    let (obl_tx, mut obl_rx) = mpsc::channel::<Obligation>(16);
    let mut oblige = {
        let obl_tx = obl_tx.clone();
        move |frame: Frame<'_>| {
            let _ = obl_tx.try_send(Obligation {
                opcode: frame.opcode,
                payload: frame.payload.to_vec(),
            });
            std::future::ready(Ok::<(), std::convert::Infallible>(()))
        }
    };

    // 1. The first message: the request.
    let first = rd.read_frame(&mut oblige).await;
    flush_obligations(&mut wr, &mut obl_rx).await;
    let request = match first {
        Ok(frame) if matches!(frame.opcode, OpCode::Text | OpCode::Binary) => {
            if frame.payload.len() > MAX_MESSAGE {
                return close(
                    &mut wr,
                    &mut rd,
                    &mut oblige,
                    CloseCode::TOO_BIG,
                    "first message too large",
                )
                .await;
            }
            match serde_json::from_slice::<InterpreterRequest>(&frame.payload) {
                Ok(r) => r,
                Err(_) => {
                    return close(
                        &mut wr,
                        &mut rd,
                        &mut oblige,
                        CloseCode::PROTOCOL,
                        "invalid JSON payload",
                    )
                    .await
                }
            }
        }
        Ok(frame) if frame.opcode == OpCode::Close => return, // echoed by the obligation
        _ => {
            return close(
                &mut wr,
                &mut rd,
                &mut oblige,
                CloseCode::PROTOCOL,
                "failed to read first message",
            )
            .await
        }
    };

    // 2. Validation (spec §7.2 step 3).
    if request.code.is_empty() {
        return close(
            &mut wr,
            &mut rd,
            &mut oblige,
            CloseCode::POLICY,
            "code is required",
        )
        .await;
    }
    let timeout = match request.timeout {
        Some(t) if t < 0 => {
            return close(
                &mut wr,
                &mut rd,
                &mut oblige,
                CloseCode::POLICY,
                "timeout must be greater than or equal to 0",
            )
            .await
        }
        Some(0) => None,
        Some(t) => Some(Duration::from_secs(t as u64)),
        None => Some(Duration::from_secs(DEFAULT_TIMEOUT_SECS as u64)),
    };
    let context = match daemon
        .inner
        .interpreter
        .context_for_run(request.context_id.as_deref())
    {
        Ok(ctx) => ctx,
        Err(err) => {
            let reason = err.to_string();
            return close(&mut wr, &mut rd, &mut oblige, err.close_code(), &reason).await;
        }
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
            return close(&mut wr, &mut rd, &mut oblige, CloseCode(1013), &reason).await;
        }
        Err(SubmitError::Closed) => {
            return close(
                &mut wr,
                &mut rd,
                &mut oblige,
                CloseCode::GOING_AWAY,
                "context shutdown",
            )
            .await
        }
    }
    drop(context);

    // 4. Later client messages are read for ping/close handling and otherwise ignored.
    let (gone_tx, mut gone) = oneshot::channel::<()>();
    let reader = tokio::spawn(async move {
        loop {
            match rd.read_frame(&mut oblige).await {
                Ok(frame) if frame.opcode == OpCode::Close => break,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let _ = gone_tx.send(());
    });
    drop(obl_tx);

    // 5. The single writer.
    let mut client_left = false;
    loop {
        tokio::select! {
            biased;
            obligation = obl_rx.recv() => {
                let Some(o) = obligation else { continue };
                let is_close = o.opcode == OpCode::Close;
                let frame = Frame::new(true, o.opcode, None, Payload::Owned(o.payload));
                if write(&mut wr, frame).await.is_err() || is_close {
                    client_left = true;
                    break;
                }
            }
            event = events.recv() => match event {
                Some(Event::Frame(frame)) => {
                    let text = frame.to_json();
                    let frame = Frame::text(Payload::Owned(text.into_bytes()));
                    if write(&mut wr, frame).await.is_err() {
                        client_left = true;
                        break;
                    }
                }
                Some(Event::Close(code, reason)) => {
                    let _ = write(&mut wr, close_frame(code, &reason)).await;
                    break;
                }
                None => {
                    let _ = write(&mut wr, close_frame(CloseCode::GOING_AWAY, "context shutdown")).await;
                    break;
                }
            },
            _ = &mut gone => {
                client_left = true;
                break;
            }
        }
    }
    drop(events); // a runner still producing for this job now discards its output
    if !client_left {
        // Let the client's close reply arrive before the connection is dropped, so it reads
        // our close frame instead of a reset.
        let _ = tokio::time::timeout(CLOSE_LINGER, &mut gone).await;
    }
    reader.abort();
}

/// Writes what the reader owes the peer (pongs, close echo) before anything else.
async fn flush_obligations(wr: &mut Writer, rx: &mut mpsc::Receiver<Obligation>) {
    while let Ok(o) = rx.try_recv() {
        let frame = Frame::new(true, o.opcode, None, Payload::Owned(o.payload));
        if write(wr, frame).await.is_err() {
            return;
        }
    }
}

fn close_frame(code: CloseCode, reason: &str) -> Frame<'static> {
    let mut payload = code.0.to_be_bytes().to_vec();
    payload.extend_from_slice(truncate_reason(reason).as_bytes());
    Frame::close_raw(Payload::Owned(payload))
}

/// Closes with `code` and `reason` (a validation failure before any job ran), then waits
/// briefly for the client's close reply so it reads our close frame rather than a reset.
async fn close<F>(wr: &mut Writer, rd: &mut Reader, oblige: &mut F, code: CloseCode, reason: &str)
where
    F: FnMut(Frame<'_>) -> std::future::Ready<Result<(), std::convert::Infallible>>,
{
    tracing::debug!(code = code.0, reason, "closing interpreter socket");
    if write(wr, close_frame(code, reason)).await.is_err() {
        return;
    }
    let linger = async {
        loop {
            match rd.read_frame(oblige).await {
                Ok(frame) if frame.opcode == OpCode::Close => break,
                Ok(_) => {}
                Err(_) => break,
            }
        }
    };
    let _ = tokio::time::timeout(CLOSE_LINGER, linger).await;
}

async fn write(wr: &mut Writer, frame: Frame<'_>) -> Result<(), WebSocketError> {
    match tokio::time::timeout(WRITE_DEADLINE, wr.write_frame(frame)).await {
        Ok(res) => res,
        Err(_) => Err(WebSocketError::ConnectionClosed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_frames_carry_code_and_truncated_reason() {
        let frame = close_frame(CloseCode::POLICY, &"x".repeat(300));
        assert_eq!(frame.opcode, OpCode::Close);
        assert_eq!(&frame.payload[..2], &1008u16.to_be_bytes());
        assert_eq!(frame.payload.len(), 2 + 123);
    }
}
