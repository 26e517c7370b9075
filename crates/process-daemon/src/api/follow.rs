//! `GET …/logs`: the whole log as JSON (or text for legacy clients), or with
//! `Upgrade: websocket` a stream of binary frames (spec §4).
//!
//! A whole-log answer of a log longer than [`STREAM_ABOVE`] is streamed: a blocking task reads
//! the log in 64 KiB chunks (three passes for the JSON: `output`, `stdout`, `stderr`), demuxes
//! and escapes them incrementally (`LogsJsonEncoder`, byte-identical to the one-piece answer)
//! and hands them to the body through a 4-chunk channel, so a GET costs a few hundred KiB
//! whatever the log's size. At most `max_log_reads` such answers stream at once; past that the
//! GET is 429 `TOO_MANY_REQUESTS` (with `Retry-After`).
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

use bytes::Bytes;
use http::{Response, StatusCode};
use process_proto::log::LogsJsonEncoder;
use process_proto::text::{strip_markers, MarkerStripper};
use process_proto::wire::close::CloseCode;

use crate::api::session::text_response;
use crate::error::{json_response, ApiError};
use crate::http::{Flavor, QueryMap, WsUpgrade};
use crate::session::CommandRec;
use crate::ws::{self, ServerSocket};
use crate::Body;

/// Largest data frame sent to a follower (backlog is coalesced up to this size).
pub(crate) const MAX_FRAME: usize = 64 * 1024;

/// Whole-log answers of logs longer than this are streamed (and count against the limit of
/// concurrent streamed reads); shorter ones are answered in one piece.
pub(crate) const STREAM_ABOVE: u64 = 256 * 1024;

/// Bytes read from the log at a time when streaming a whole-log answer.
const READ_CHUNK: usize = 64 * 1024;

/// Largest message a follower may send (they send none; anything bigger is refused unread).
const FOLLOWER_MESSAGE: usize = 64 * 1024;

/// Answers `GET …/logs` for `rec`. `entrypoint` logs are never marker-stripped. `reads`
/// bounds how many long whole-log answers stream at once.
pub(crate) fn logs(
    deadline: std::time::Duration,
    reads: &Arc<tokio::sync::Semaphore>,
    mut flavor: Flavor,
    query: &QueryMap,
    upgrade: WsUpgrade,
    rec: Arc<CommandRec>,
    entrypoint: bool,
) -> Result<Response<Body>, ApiError> {
    if entrypoint && flavor == Flavor::Combined {
        flavor = Flavor::SkipDemux;
    }
    if let Some(offer) = upgrade.offer() {
        let follow = query.get("follow") == Some("true");
        let offset = query.offset()?.unwrap_or(0);
        let (resp, fut) = offer.accept()?;
        tokio::spawn(async move {
            match fut.await {
                Ok(ws) => {
                    let strip = flavor == Flavor::Combined;
                    let opts = ws::Options::new(FOLLOWER_MESSAGE, FOLLOWER_MESSAGE)
                        .write_deadline(deadline);
                    let ws = ServerSocket::start::<ws::Data>(ws, opts, None);
                    if let Err(err) = stream(ws, rec, follow, strip, offset).await {
                        tracing::debug!(error = %err, "log follower ended with an error");
                    }
                }
                Err(err) => tracing::debug!(error = %err, "log WebSocket upgrade failed"),
            }
        });
        return Ok(resp);
    }
    let len = rec.log.state().len;
    if len > STREAM_ABOVE {
        let permit = reads.clone().try_acquire_owned().map_err(|_| {
            ApiError::too_many_requests(
                "too many log reads are streaming at once (see --max-log-reads); retry when one has ended",
            )
        })?;
        return Ok(streamed(permit, flavor, rec, len, None));
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

/// The answer of a finished sync session exec (`cmdId`, `exitCode` and the log in the
/// flavor's shape), streamed like a whole-log GET when the log is longer than
/// [`STREAM_ABOVE`], so its memory does not depend on the log's size either; `None` when the
/// log is short enough to answer in one piece.
///
/// The command has run already: instead of refusing, the answer waits for its turn among the
/// `max_log_reads` streamed reads.
pub(crate) async fn exec_streamed(
    reads: &Arc<tokio::sync::Semaphore>,
    flavor: Flavor,
    rec: &Arc<CommandRec>,
    exit_code: i32,
) -> Option<Response<Body>> {
    let len = rec.log.state().len;
    if len <= STREAM_ABOVE {
        return None;
    }
    // The semaphore is never closed.
    let permit = reads.clone().acquire_owned().await.ok()?;
    let answer = ExecAnswer {
        cmd_id: rec.id.clone(),
        exit_code,
    };
    Some(streamed(permit, flavor, rec.clone(), len, Some(answer)))
}

/// What wraps the log in a sync exec's answer.
struct ExecAnswer {
    cmd_id: String,
    exit_code: i32,
}

impl ExecAnswer {
    /// `{"cmdId":…,"exitCode":…,` (the log's fields follow).
    fn head(&self) -> Vec<u8> {
        let mut head = b"{\"cmdId\":".to_vec();
        // Writing a `str` to a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut head, &self.cmd_id);
        head.extend_from_slice(format!(",\"exitCode\":{},", self.exit_code).as_bytes());
        head
    }
}

/// The whole-log answer for the first `len` bytes of `rec`'s log, streamed (see the module
/// docs), holding `permit` (one of `max_log_reads`) while it streams. With `exec`, the answer
/// of a sync exec.
fn streamed(
    permit: tokio::sync::OwnedSemaphorePermit,
    flavor: Flavor,
    rec: Arc<CommandRec>,
    len: u64,
    exec: Option<ExecAnswer>,
) -> Response<Body> {
    let json = flavor == Flavor::Modern || exec.is_some();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let result = match &exec {
            None => produce(&rec, len, flavor, &tx),
            Some(exec) => produce_exec(&rec, len, flavor, exec, &tx),
        };
        if let Err(err) = result {
            tracing::warn!(error = %err, log = %rec.log.path().display(), "reading a log for a GET failed");
            let _ = tx.blocking_send(Err(err));
        }
    });
    let stream =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) });
    let mut resp = Response::new(Body::from_stream(stream));
    let content_type = if json {
        "application/json; charset=utf-8"
    } else {
        "text/plain; charset=utf-8"
    };
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    resp
}

/// Writes the answer's body into `tx` (blocking); returns early once the client has gone.
fn produce(
    rec: &CommandRec,
    len: u64,
    flavor: Flavor,
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> std::io::Result<()> {
    let send = |buf: &mut Vec<u8>| -> bool {
        buf.is_empty()
            || tx
                .blocking_send(Ok(Bytes::from(std::mem::take(buf))))
                .is_ok()
    };
    let mut out = Vec::new();
    match flavor {
        Flavor::Modern => {
            let mut enc = LogsJsonEncoder::new();
            loop {
                let whole = rec.log.read_range(len, READ_CHUNK, |chunk| {
                    enc.push(chunk, &mut out);
                    send(&mut out)
                })?;
                if !whole {
                    return Ok(());
                }
                let more = enc.end_pass(&mut out);
                if !send(&mut out) || !more {
                    return Ok(());
                }
            }
        }
        Flavor::SkipDemux => {
            rec.log.read_range(len, READ_CHUNK, |chunk| {
                out.extend_from_slice(chunk);
                send(&mut out)
            })?;
        }
        Flavor::Combined => {
            let mut stripper = MarkerStripper::default();
            let whole = rec.log.read_range(len, READ_CHUNK, |chunk| {
                out = stripper.push(chunk);
                send(&mut out)
            })?;
            if whole {
                out = stripper.finish();
                send(&mut out);
            }
        }
    }
    Ok(())
}

/// Writes a sync exec's answer into `tx` (blocking): the head, then the log's fields as the
/// flavor wants them (modern: `output`, `stdout`, `stderr`; legacy: `output` only, raw or
/// without markers), then `}`. Byte-identical in content to the one-piece answer's fields.
fn produce_exec(
    rec: &CommandRec,
    len: u64,
    flavor: Flavor,
    exec: &ExecAnswer,
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> std::io::Result<()> {
    let send = |buf: &mut Vec<u8>| -> bool {
        buf.is_empty()
            || tx
                .blocking_send(Ok(Bytes::from(std::mem::take(buf))))
                .is_ok()
    };
    let mut out = exec.head();
    let head_len = out.len();
    // The encoder opens its object with `{`: the head has opened it already.
    let strip = |out: &mut Vec<u8>| {
        if out.len() > head_len && out[head_len] == b'{' {
            out.remove(head_len);
        }
    };
    let mut enc = LogsJsonEncoder::new();
    let mut first = true;
    let mut stripper = MarkerStripper::default();
    let passes = if flavor == Flavor::Modern {
        LogsJsonEncoder::PASSES
    } else {
        1
    };
    for _ in 0..passes {
        let whole = rec.log.read_range(len, READ_CHUNK, |chunk| {
            if flavor == Flavor::Combined {
                let stripped = stripper.push(chunk);
                enc.push(&stripped, &mut out);
            } else {
                enc.push(chunk, &mut out);
            }
            if std::mem::take(&mut first) {
                strip(&mut out);
            }
            send(&mut out)
        })?;
        if !whole {
            return Ok(());
        }
        if flavor == Flavor::Combined {
            let rest = stripper.finish();
            enc.push(&rest, &mut out);
        }
        let more = enc.end_pass(&mut out);
        if std::mem::take(&mut first) {
            strip(&mut out);
        }
        if !more {
            // The encoder closed the object (`"}`).
            send(&mut out);
            return Ok(());
        }
        if passes == 1 {
            // Legacy: only `output`. Its pass ended without the closing quote.
            out.extend_from_slice(b"\",\"stdout\":null,\"stderr\":null}");
            send(&mut out);
            return Ok(());
        }
        if !send(&mut out) {
            return Ok(());
        }
    }
    Ok(())
}

/// Streams the log from byte `skip` of what this follower is sent (the raw muxed log, or the
/// marker-stripped text for legacy clients), then closes 1000 after the last byte.
async fn stream(
    mut ws: ServerSocket,
    rec: Arc<CommandRec>,
    follow: bool,
    strip: bool,
    skip: u64,
) -> Result<(), String> {
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
    loop {
        let state = *state_rx.borrow_and_update();
        if offset < state.len {
            let data = match rec.log.read_at(offset, MAX_FRAME) {
                Ok(data) => data,
                Err(err) => {
                    ws.close(CloseCode::INTERNAL, "cannot read the log").await;
                    return Err(format!("reading the log: {err}"));
                }
            };
            offset += data.len() as u64;
            let data = if strip {
                skip_sent(stripper.push(&data))
            } else {
                data
            };
            if !data.is_empty() && ws.binary(data).await.is_err() {
                return Ok(()); // the client left, or stopped reading past the write deadline
            }
            continue;
        }
        if state.exit_code.is_some() || !follow {
            let tail = skip_sent(stripper.finish());
            if !tail.is_empty() && ws.binary(tail).await.is_err() {
                return Ok(());
            }
            ws.close(CloseCode::NORMAL, "").await;
            return Ok(());
        }
        tokio::select! {
            changed = state_rx.changed() => {
                if changed.is_err() {
                    ws.close(CloseCode::INTERNAL, "").await;
                    return Ok(());
                }
            }
            event = ws.event() => match event {
                ws::Event::TooBig => {}
                ws::Event::Closed(_) | ws::Event::Gone => return Ok(()),
            },
        }
    }
}
