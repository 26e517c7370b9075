//! One attached client (spec §5.3): `connected`, then scrollback and live output as binary
//! frames, input funnelled to the PTY, and the `exited` message and close frame after the last
//! output.
//!
//! Each client has a reader task (input, pings, close) and a writer (this module's loop), so
//! pings are answered while output is being written. The writer pulls output from the session's
//! log at its own pace and reports its position for flow control: a slow client never holds up
//! the other clients, and is closed with 1008 `slow consumer` if it falls behind the
//! scrollback.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fastwebsockets::{
    Frame, OpCode, Payload, WebSocket, WebSocketError, WebSocketRead, WebSocketWrite,
};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use process_proto::wire::close::{truncate_reason, CloseCode};
use process_proto::wire::{PtyCloseReason, PtyControl};
use tokio::io::{ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::session::{Finish, PtySession};

type Io = TokioIo<Upgraded>;

/// Largest input message (larger → close 1009).
pub(crate) const MAX_INPUT_MESSAGE: usize = 64 * 1024;
/// Largest output frame; backlog is coalesced up to this size.
const MAX_OUTPUT_FRAME: usize = 32 * 1024;
/// A frame that cannot be written within this time ends the connection.
const WRITE_DEADLINE: Duration = Duration::from_secs(10);
/// The server pings an idle client this often...
const PING_EVERY: Duration = Duration::from_secs(15);
/// ...and drops it after this long without hearing anything (pong, ping or data).
const SILENCE_LIMIT: Duration = Duration::from_secs(45);
/// After our close frame, how long to wait for the client's.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// Frames up to this size are read (and discarded if over [`MAX_INPUT_MESSAGE`]) so the
/// connection can close cleanly with 1009; larger ones are refused unread.
const MAX_FRAME_READ: usize = 1024 * 1024;

/// What the reader task tells the writer.
enum Event {
    /// Answer with a pong carrying this payload.
    Ping(Bytes),
    /// The client sent a close frame (echo it, with its code if any).
    Closed(Option<u16>),
    /// An input message over [`MAX_INPUT_MESSAGE`].
    TooBig,
    /// The connection broke.
    Gone,
}

/// How the writer loop ends.
enum End {
    /// Send this close frame, then wait briefly for the client's.
    Close(CloseCode, String),
    /// The session finished: `exited` (if opted in) then the close frame.
    Finished(Finish),
    /// Nothing more can or needs to be written.
    Drop,
}

/// Sends the `error` control message and closes with 1011 (reason = the message, truncated).
pub(crate) async fn fail(ws: WebSocket<Io>, message: &str) {
    let (_rd, wr) = ws.split(tokio::io::split);
    let mut writer = Writer { wr };
    let text = PtyControl::Error {
        error: message.to_owned(),
    }
    .to_json();
    if writer.text(&text).await.is_ok() {
        let _ = writer
            .close(CloseCode::INTERNAL, truncate_reason(message))
            .await;
    }
}

/// Serves one client attached to `session` until the session ends or the client leaves.
pub(crate) async fn serve(
    ws: WebSocket<Io>,
    session: Arc<PtySession>,
    exit_control: bool,
    offset: Option<u64>,
) {
    let sub = match session.subscribe_at(offset) {
        Ok(sub) => sub,
        Err(err) => return fail(ws, &format!("Failed to connect to PTY session: {err}")).await,
    };
    let (mut rd, wr) = ws.split(tokio::io::split);
    rd.set_auto_pong(false);
    rd.set_auto_close(false);
    rd.set_max_message_size(MAX_FRAME_READ + 1);
    let started = Instant::now();
    let heard = Arc::new(AtomicU64::new(0));
    let (events_tx, mut events) = mpsc::channel(16);
    let reader = tokio::spawn(read_input(
        rd,
        sub.input.clone(),
        events_tx,
        heard.clone(),
        started,
    ));
    let mut writer = Writer { wr };
    let mut progress = sub.progress.clone();
    let mut offset = sub.offset;
    let mut buf = Vec::with_capacity(MAX_OUTPUT_FRAME);
    let mut ping = tokio::time::interval_at(started + PING_EVERY, PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    let end = 'run: {
        if writer.text(&PtyControl::Connected.to_json()).await.is_err() {
            break 'run End::Drop;
        }
        loop {
            // Mark the current progress seen *before* reading, so any append after this
            // point wakes us up.
            let snapshot = progress.borrow_and_update().clone();
            buf.clear();
            match session.read_output(offset, MAX_OUTPUT_FRAME, &mut buf) {
                // Still replaying scrollback that new output pushed out: skip ahead.
                Err(_) if offset < sub.replay_end => {
                    offset = session.replay_start();
                    continue;
                }
                Err(_) => break 'run End::Close(CloseCode::POLICY, "slow consumer".into()),
                Ok(0) => {}
                Ok(n) => {
                    offset += n as u64;
                    // Pings first, so a stream of output cannot starve them.
                    while let Ok(event) = events.try_recv() {
                        if let Some(end) = writer.on_event(event).await {
                            break 'run end;
                        }
                    }
                    if writer.binary(&buf).await.is_err() {
                        break 'run End::Drop;
                    }
                    sub.cursor.advance(offset);
                    continue;
                }
            }
            if let Some(finish) = snapshot.finished {
                if offset >= snapshot.end {
                    break 'run End::Finished(finish);
                }
                continue;
            }
            tokio::select! {
                biased;
                event = events.recv() => {
                    let Some(event) = event else { break 'run End::Drop };
                    if let Some(end) = writer.on_event(event).await {
                        break 'run end;
                    }
                }
                changed = progress.changed() => {
                    if changed.is_err() {
                        break 'run End::Close(CloseCode::INTERNAL, "PTY session unavailable".into());
                    }
                }
                _ = ping.tick() => {
                    let silent = started.elapsed().saturating_sub(Duration::from_millis(heard.load(Ordering::Relaxed)));
                    if silent > SILENCE_LIMIT {
                        tracing::debug!(id = %session.spec.id, "PTY client silent too long; dropping it");
                        break 'run End::Drop;
                    }
                    if writer.send(Frame::new(true, OpCode::Ping, None, Payload::Borrowed(b""))).await.is_err() {
                        break 'run End::Drop;
                    }
                }
            }
        }
    };

    let closed = match end {
        End::Drop => false,
        End::Close(code, reason) => writer.close(code, &reason).await.is_ok(),
        End::Finished(finish) => {
            let reason = PtyCloseReason::new(finish.code, finish.reason.clone());
            let mut ok = true;
            if exit_control && !finish.killed {
                let exited = PtyControl::Exited {
                    exit_code: finish.code,
                    exit_reason: finish.reason.clone(),
                };
                ok = writer.text(&exited.to_json()).await.is_ok();
            }
            ok && writer
                .close(reason.close_code(), &reason.to_json())
                .await
                .is_ok()
        }
    };
    if closed {
        // Give the client a moment to read our close frame and answer it before the TCP close
        // (closing with unread input would reset the connection and could destroy the frame).
        let _ = tokio::time::timeout(CLOSE_WAIT, async {
            loop {
                match events.recv().await {
                    Some(Event::Closed(_) | Event::Gone) => break,
                    Some(_) => {}
                    // The reader stopped without the client's answer (oversized frame): wait.
                    None => std::future::pending::<()>().await,
                }
            }
        })
        .await;
    }
    reader.abort();
}

struct Writer {
    wr: WebSocketWrite<WriteHalf<Io>>,
}

impl Writer {
    async fn send(&mut self, frame: Frame<'_>) -> Result<(), ()> {
        match tokio::time::timeout(WRITE_DEADLINE, self.wr.write_frame(frame)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => {
                tracing::debug!(error = %err, "PTY client write failed");
                Err(())
            }
            Err(_) => {
                tracing::debug!("PTY client write timed out");
                Err(())
            }
        }
    }

    async fn text(&mut self, text: &str) -> Result<(), ()> {
        self.send(Frame::text(Payload::Borrowed(text.as_bytes())))
            .await
    }

    async fn binary(&mut self, data: &[u8]) -> Result<(), ()> {
        self.send(Frame::binary(Payload::Borrowed(data))).await
    }

    async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), ()> {
        self.send(Frame::close(code.0, truncate_reason(reason).as_bytes()))
            .await?;
        let _ = tokio::time::timeout(WRITE_DEADLINE, self.wr.flush()).await;
        Ok(())
    }

    /// Handles a reader event; `Some` when the connection should end.
    async fn on_event(&mut self, event: Event) -> Option<End> {
        match event {
            Event::Ping(payload) => {
                if self
                    .send(Frame::pong(Payload::Borrowed(&payload)))
                    .await
                    .is_err()
                {
                    return Some(End::Drop);
                }
                None
            }
            Event::Closed(code) => {
                // Echo the client's close and stop.
                let frame = match code {
                    Some(code) if fastwebsockets::CloseCode::from(code).is_allowed() => {
                        Frame::close(code, b"")
                    }
                    Some(_) => Frame::close(CloseCode::PROTOCOL.0, b""),
                    None => Frame::close_raw(Payload::Borrowed(b"")),
                };
                let _ = self.send(frame).await;
                Some(End::Drop)
            }
            Event::TooBig => Some(End::Close(
                CloseCode::TOO_BIG,
                format!("input message larger than {MAX_INPUT_MESSAGE} bytes"),
            )),
            Event::Gone => Some(End::Drop),
        }
    }
}

/// Reads the client's frames: data (text or binary, verbatim) goes to the PTY's input queue in
/// arrival order; pings and closes go to the writer.
async fn read_input(
    mut rd: WebSocketRead<ReadHalf<Io>>,
    input: mpsc::Sender<Bytes>,
    events: mpsc::Sender<Event>,
    heard: Arc<AtomicU64>,
    started: Instant,
) {
    // Auto-pong and auto-close are off, so the reader never has frames to send itself.
    let mut no_obligations = |_: Frame<'_>| std::future::ready(Ok::<(), Infallible>(()));
    let mut input = Some(input);
    let mut message_len = 0usize;
    loop {
        let frame = match rd.read_frame(&mut no_obligations).await {
            Ok(frame) => frame,
            Err(WebSocketError::FrameTooLarge) => {
                let _ = events.send(Event::TooBig).await;
                return;
            }
            Err(err) => {
                tracing::debug!(error = %err, "PTY client read ended");
                let _ = events.send(Event::Gone).await;
                return;
            }
        };
        heard.store(
            u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        match frame.opcode {
            OpCode::Text | OpCode::Binary | OpCode::Continuation => {
                if frame.opcode != OpCode::Continuation {
                    message_len = 0;
                }
                message_len += frame.payload.len();
                if message_len > MAX_INPUT_MESSAGE && input.is_some() {
                    // Stop forwarding input, but keep reading until the client answers our
                    // close frame.
                    input = None;
                    if events.send(Event::TooBig).await.is_err() {
                        return;
                    }
                }
                if frame.payload.is_empty() {
                    continue;
                }
                let data = match frame.payload {
                    Payload::Bytes(b) => b.freeze(),
                    other => Bytes::copy_from_slice(&other),
                };
                // Once the session is gone, input is dropped; the writer sends the end.
                if let Some(tx) = &input {
                    if tx.send(data).await.is_err() {
                        input = None;
                    }
                }
            }
            OpCode::Ping => {
                let payload = Bytes::copy_from_slice(&frame.payload);
                if events.send(Event::Ping(payload)).await.is_err() {
                    return;
                }
            }
            OpCode::Pong => {}
            OpCode::Close => {
                let code = (frame.payload.len() >= 2)
                    .then(|| u16::from_be_bytes([frame.payload[0], frame.payload[1]]));
                let _ = events.send(Event::Closed(code)).await;
                return;
            }
        }
    }
}
