//! One attached client (spec §5.3): `connected`, then scrollback and live output as binary
//! frames, input funnelled to the PTY, and the `exited` message and close frame after the last
//! output.
//!
//! The socket is a [`crate::ws::ServerSocket`]: its reader forwards input straight to the
//! PTY's input queue and its writer answers pings, so pings are answered while output is being
//! written. This loop pulls output from the session's log at its own pace and reports its
//! position for flow control: a slow client never holds up the other clients, and is closed
//! with 1008 `slow consumer` if it falls behind the scrollback.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use process_proto::wire::close::CloseCode;
use process_proto::wire::{PtyCloseReason, PtyControl};

use super::session::{Finish, PtySession};
use crate::ws::{self, Event, Pending};

/// Largest input message (larger → close 1009).
pub(crate) const MAX_INPUT_MESSAGE: usize = 64 * 1024;
/// Frames up to this size are read (and discarded if over [`MAX_INPUT_MESSAGE`]) so the
/// connection can close cleanly with 1009; larger ones are refused unread.
pub(crate) const MAX_FRAME_READ: usize = 1024 * 1024;
/// Largest output frame; backlog is coalesced up to this size.
const MAX_OUTPUT_FRAME: usize = 32 * 1024;
/// The server pings an idle client this often...
const PING_EVERY: Duration = Duration::from_secs(15);
/// ...and drops it after this long without hearing anything (pong, ping or data).
const SILENCE_LIMIT: Duration = Duration::from_secs(45);

/// The socket options of a PTY client with this write deadline.
pub(crate) fn options(write_deadline: Duration) -> ws::Options {
    ws::Options::new(MAX_INPUT_MESSAGE, MAX_FRAME_READ).write_deadline(write_deadline)
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
pub(crate) async fn fail(ws: Pending, message: &str) {
    let sock = ws.start::<Bytes>(None);
    let text = PtyControl::Error {
        error: message.to_owned(),
    }
    .to_json();
    if sock.text(text).await.is_ok() {
        sock.close(CloseCode::INTERNAL, message).await;
    }
}

/// How a socket event ends the loop (every event does).
fn on_event(event: Event) -> End {
    match event {
        // The client's close was echoed by the socket.
        Event::Closed(_) | Event::Gone => End::Drop,
        Event::TooBig => End::Close(
            CloseCode::TOO_BIG,
            format!("input message larger than {MAX_INPUT_MESSAGE} bytes"),
        ),
    }
}

/// Serves one client attached to `session` until the session ends or the client leaves.
pub(crate) async fn serve(
    ws: Pending,
    session: Arc<PtySession>,
    exit_control: bool,
    offset: Option<u64>,
) {
    let sub = match session.subscribe_at(offset) {
        Ok(sub) => sub,
        Err(err) => return fail(ws, &format!("Failed to connect to PTY session: {err}")).await,
    };
    let mut sock = ws.start(Some(sub.input.clone()));
    let mut progress = sub.progress.clone();
    let mut offset = sub.offset;
    let mut buf = Vec::with_capacity(MAX_OUTPUT_FRAME);
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    let end = 'run: {
        if sock.text(PtyControl::Connected.to_json()).await.is_err() {
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
                    // A stream of output must not hide the client's close or oversized input.
                    if let Some(event) = sock.try_event() {
                        break 'run on_event(event);
                    }
                    if sock.binary(Bytes::copy_from_slice(&buf)).await.is_err() {
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
                event = sock.event() => break 'run on_event(event),
                changed = progress.changed() => {
                    if changed.is_err() {
                        break 'run End::Close(CloseCode::INTERNAL, "PTY session unavailable".into());
                    }
                }
                _ = ping.tick() => {
                    if sock.silent_for() > SILENCE_LIMIT {
                        tracing::debug!(id = %session.spec.id, "PTY client silent too long; dropping it");
                        break 'run End::Drop;
                    }
                    if sock.ping().await.is_err() {
                        break 'run End::Drop;
                    }
                }
            }
        }
    };

    match end {
        End::Drop => {}
        End::Close(code, reason) => sock.close(code, &reason).await,
        End::Finished(finish) => {
            let reason = PtyCloseReason::new(finish.code, finish.reason.clone());
            if exit_control && !finish.killed {
                let exited = PtyControl::Exited {
                    exit_code: finish.code,
                    exit_reason: finish.reason.clone(),
                };
                if sock.text(exited.to_json()).await.is_err() {
                    return;
                }
            }
            sock.close(reason.close_code(), &reason.to_json()).await;
        }
    }
}
