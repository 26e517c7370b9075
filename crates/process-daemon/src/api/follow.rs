//! `GET …/logs`: the whole log as JSON (or text for legacy clients), or with
//! `Upgrade: websocket` a stream of binary frames (spec §4).
//!
//! `?offset=N` (additive) starts the stream at byte N of what this follower is sent (see
//! `process_proto::wire::LOG_OFFSET_PROTOCOL`), so a client resumes a dropped follow exactly.
//!
//! The WebSocket side has a single writer task: it replays the log from offset 0 in frames of
//! up to 64 KiB, then waits for the log's watch channel (notified on every append: no polling),
//! and sends close 1000 strictly after the last data frame once the exit code is published
//! (which happens only after all output is in the log). Pongs and close echoes from the reader
//! are written before the next data frame.

use std::sync::Arc;

use fastwebsockets::{Frame, OpCode, Payload, WebSocketError};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;

use crate::api::session::text_response;
use crate::error::{json_response, ApiError};
use crate::http::{accept_ws, flavor, is_ws_upgrade, query_param, Flavor};
use crate::session::CommandRec;
use crate::Body;

/// Largest data frame sent to a follower (backlog is coalesced up to this size).
pub(crate) const MAX_FRAME: usize = 64 * 1024;

/// Answers `GET …/logs` for `rec`. `entrypoint` logs are never marker-stripped.
pub(crate) fn logs(
    mut req: Request<Incoming>,
    rec: Arc<CommandRec>,
    entrypoint: bool,
) -> Result<Response<Body>, ApiError> {
    let mut flavor = flavor(&req);
    if entrypoint && flavor == Flavor::Combined {
        flavor = Flavor::SkipDemux;
    }
    if is_ws_upgrade(&req) {
        let follow = query_param(&req, "follow").as_deref() == Some("true");
        let offset = match query_param(&req, "offset").filter(|o| !o.is_empty()) {
            None => 0,
            Some(o) => o.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!(
                    "offset must be a byte count (a non-negative integer), not {o:?}"
                ))
            })?,
        };
        let (resp, fut) = accept_ws(&mut req)?;
        tokio::spawn(async move {
            match fut.await {
                Ok(ws) => {
                    let strip = flavor == Flavor::Combined;
                    if let Err(err) = stream(ws, rec, follow, strip, offset).await {
                        tracing::debug!(error = %err, "log follower ended with an error");
                    }
                }
                Err(err) => tracing::debug!(error = %err, "log WebSocket upgrade failed"),
            }
        });
        return Ok(resp);
    }
    let log = rec
        .log
        .read_all()
        .map_err(|e| ApiError::not_found(format!("open {}: {e}", rec.log.path().display())))?;
    Ok(match flavor {
        Flavor::Modern => json_response(
            StatusCode::OK,
            &process_proto::log::parse_session_command_logs(&log),
        ),
        Flavor::SkipDemux => text_response(log),
        Flavor::Combined => text_response(strip_markers(&log)),
    })
}

/// Removes every stdout/stderr marker (legacy "combined output").
pub(crate) fn strip_markers(log: &[u8]) -> Vec<u8> {
    let mut s = MarkerStripper::default();
    let mut out = s.push(log);
    out.extend(s.finish());
    out
}

/// Streaming marker removal: holds back up to two trailing bytes that may start a marker split
/// across chunks (spec §3.4).
#[derive(Debug, Default)]
pub(crate) struct MarkerStripper {
    held: Vec<u8>,
}

impl MarkerStripper {
    /// Strips markers from `chunk` (continuing earlier chunks).
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut buf = std::mem::take(&mut self.held);
        buf.extend_from_slice(chunk);
        let mut out = Vec::with_capacity(buf.len());
        let mut i = 0;
        while i < buf.len() {
            let b = buf[i];
            if b == 1 || b == 2 {
                if i + 3 <= buf.len() {
                    if buf[i + 1] == b && buf[i + 2] == b {
                        i += 3;
                        continue;
                    }
                } else if buf[i..].iter().all(|&x| x == b) {
                    // A possible marker cut by the chunk boundary.
                    self.held = buf[i..].to_vec();
                    return out;
                }
            }
            out.push(b);
            i += 1;
        }
        out
    }

    /// The bytes held back at the end of the stream.
    pub(crate) fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.held)
    }
}

/// A control frame the reader owes the peer (pong, close echo).
struct Owed {
    opcode: OpCode,
    payload: Vec<u8>,
}

type Upgraded = TokioIo<hyper::upgrade::Upgraded>;

/// Streams the log from byte `skip` of what this follower is sent (the raw muxed log, or the
/// marker-stripped text for legacy clients).
async fn stream(
    ws: fastwebsockets::WebSocket<Upgraded>,
    rec: Arc<CommandRec>,
    follow: bool,
    strip: bool,
    skip: u64,
) -> Result<(), WebSocketError> {
    let (mut rd, mut wr) = ws.split(tokio::io::split);
    let (owed_tx, mut owed_rx) = mpsc::channel::<Owed>(16);
    // The reader answers pings and notices the peer's close; it never writes itself.
    let reader = tokio::spawn(async move {
        loop {
            let tx = owed_tx.clone();
            let mut send = |f: Frame<'_>| {
                let owed = Owed {
                    opcode: f.opcode,
                    payload: f.payload.to_vec(),
                };
                let tx = tx.clone();
                async move {
                    tx.send(owed)
                        .await
                        .map_err(|_| WebSocketError::ConnectionClosed)
                }
            };
            match rd.read_frame(&mut send).await {
                Ok(frame) if frame.opcode == OpCode::Close => break,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        // Dropping the sender tells the writer the peer is gone.
    });
    let mut state_rx = rec.log.subscribe();
    // The raw stream is the log itself: resume at the offset. Stripped text is counted as sent.
    let mut offset = if strip { 0 } else { skip };
    let mut to_skip = if strip { skip } else { 0 };
    let mut stripper = MarkerStripper::default();
    let mut skip_sent = |mut data: Vec<u8>| -> Vec<u8> {
        let n = usize::try_from(to_skip)
            .unwrap_or(usize::MAX)
            .min(data.len());
        to_skip -= n as u64;
        data.drain(..n);
        data
    };
    let result = async {
        loop {
            while let Ok(owed) = owed_rx.try_recv() {
                let close = owed.opcode == OpCode::Close;
                wr.write_frame(Frame::new(true, owed.opcode, None, Payload::Owned(owed.payload)))
                    .await?;
                if close {
                    return Ok(());
                }
            }
            let state = *state_rx.borrow_and_update();
            if offset < state.len {
                let data = rec.log.read_at(offset, MAX_FRAME).map_err(WebSocketError::IoError)?;
                offset += data.len() as u64;
                let data = if strip { skip_sent(stripper.push(&data)) } else { data };
                if !data.is_empty() {
                    wr.write_frame(Frame::binary(Payload::Owned(data))).await?;
                }
                continue;
            }
            if state.exit_code.is_some() || !follow {
                let tail = skip_sent(stripper.finish());
                if !tail.is_empty() {
                    wr.write_frame(Frame::binary(Payload::Owned(tail))).await?;
                }
                wr.write_frame(Frame::close(1000, b"")).await?;
                return Ok(());
            }
            tokio::select! {
                changed = state_rx.changed() => {
                    if changed.is_err() {
                        wr.write_frame(Frame::close(1011, b"")).await?;
                        return Ok(());
                    }
                }
                owed = owed_rx.recv() => match owed {
                    Some(owed) => {
                        let close = owed.opcode == OpCode::Close;
                        wr.write_frame(Frame::new(true, owed.opcode, None, Payload::Owned(owed.payload))).await?;
                        if close {
                            return Ok(());
                        }
                    }
                    None => return Ok(()), // peer gone
                },
            }
        }
    }
    .await;
    reader.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn strips_markers() {
        assert_eq!(
            strip_markers(b"\x01\x01\x01a\x02\x02\x02b\x01\x01c"),
            b"ab\x01\x01c"
        );
    }

    proptest! {
        #[test]
        fn stripping_is_split_invariant(
            data in proptest::collection::vec(prop_oneof![Just(1u8), Just(2u8), Just(b'x')], 0..64),
            cut in 0usize..64,
        ) {
            let cut = cut.min(data.len());
            let mut s = MarkerStripper::default();
            let mut out = s.push(&data[..cut]);
            out.extend(s.push(&data[cut..]));
            out.extend(s.finish());
            prop_assert_eq!(out, strip_markers(&data));
        }
    }
}
