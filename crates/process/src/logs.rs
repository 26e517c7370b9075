//! Following a command's log over WebSocket: [`LogStream`] (labelled byte chunks) and
//! [`TextLogStream`] (labelled UTF-8 text), both `futures::Stream`s that end when the command
//! does.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use bytes::BytesMut;
use futures_util::Stream as _;
use process_proto::log::{Demuxer, LogChunk, OutputStream, TextDemuxer};
use process_transport::ws::{Message, WsReceiver};

use crate::error::Context;
use crate::Error;

/// A piece of a command's output as text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogText {
    /// Which stream it was written to.
    pub stream: OutputStream,
    /// The text (never empty; never splits a character).
    pub text: String,
}

/// Turns buffered log bytes into items; the two demuxers of `process_proto::log`.
trait Decode {
    type Item;
    fn decode(&mut self, src: &mut BytesMut) -> Option<Self::Item>;
    fn decode_eof(&mut self, src: &mut BytesMut) -> Option<Self::Item>;
}

// The default policy (drop bytes before the first marker, as the SDK does) never fails, so
// `Ok(None)` and `Err` both mean "nothing more here".
impl Decode for Demuxer {
    type Item = LogChunk;
    fn decode(&mut self, src: &mut BytesMut) -> Option<LogChunk> {
        Demuxer::decode(self, src).ok().flatten()
    }
    fn decode_eof(&mut self, src: &mut BytesMut) -> Option<LogChunk> {
        Demuxer::decode_eof(self, src).ok().flatten()
    }
}

impl Decode for TextDemuxer {
    type Item = LogText;
    fn decode(&mut self, src: &mut BytesMut) -> Option<LogText> {
        TextDemuxer::decode(self, src)
            .ok()
            .flatten()
            .map(|(stream, text)| LogText { stream, text })
    }
    fn decode_eof(&mut self, src: &mut BytesMut) -> Option<LogText> {
        TextDemuxer::decode_eof(self, src)
            .ok()
            .flatten()
            .map(|(stream, text)| LogText { stream, text })
    }
}

/// Reopens a dropped follow at a byte offset (a spawned task: the stream stays `Sync`).
pub(crate) type Reopen = std::sync::Arc<
    dyn Fn(u64, u32) -> tokio::task::JoinHandle<Result<WsReceiver, Error>> + Send + Sync,
>;

/// Consecutive failed reconnects after which a dropped follow reports its error.
pub(crate) const MAX_RECONNECTS: u32 = 8;

enum State {
    Open,
    /// The connection dropped; a reconnect at the offset is under way.
    Reconnecting(tokio::task::JoinHandle<Result<WsReceiver, Error>>),
    /// The socket is done; hand out what is buffered, then the error if any.
    Draining(Option<Error>),
    Done,
}

struct Follow<D> {
    rx: WsReceiver,
    buf: BytesMut,
    decoder: D,
    state: State,
    ctx: Context,
    /// Bytes received so far (the offset to resume at).
    offset: u64,
    /// How to resume, when the daemon supports it.
    reopen: Option<Reopen>,
    /// Consecutive failed reconnects.
    failures: u32,
}

impl<D: Decode + Unpin> Follow<D> {
    fn poll_item(&mut self, cx: &mut TaskContext<'_>) -> Poll<Option<Result<D::Item, Error>>> {
        loop {
            match &mut self.state {
                State::Open => {
                    if let Some(item) = self.decoder.decode(&mut self.buf) {
                        return Poll::Ready(Some(Ok(item)));
                    }
                    match std::task::ready!(Pin::new(&mut self.rx).poll_next(cx)) {
                        Some(Ok(Message::Binary(bytes))) => {
                            self.offset += bytes.len() as u64;
                            self.failures = 0;
                            self.buf.extend_from_slice(&bytes);
                        }
                        Some(Ok(Message::Text(text))) => {
                            self.offset += text.len() as u64;
                            self.failures = 0;
                            self.buf.extend_from_slice(text.as_bytes());
                        }
                        Some(Ok(Message::Close(frame))) => {
                            let err = frame
                                .filter(|f| f.code != 1000)
                                .map(|f| self.ctx.close_error(f));
                            self.state = State::Draining(err);
                        }
                        Some(Ok(_)) => {}
                        Some(Err(err)) => {
                            self.state = match &self.reopen {
                                Some(reopen) => State::Reconnecting(reopen(self.offset, 0)),
                                None => State::Draining(Some(self.ctx.stream_error(err))),
                            };
                        }
                        None => {
                            self.state = match &self.reopen {
                                Some(reopen) => State::Reconnecting(reopen(self.offset, 0)),
                                None => State::Draining(Some(
                                    self.ctx
                                        .stream_error(process_transport::Error::ConnectionLost),
                                )),
                            };
                        }
                    }
                }
                State::Reconnecting(task) => {
                    let result = std::task::ready!(Pin::new(task).poll(cx));
                    match result {
                        Ok(Ok(rx)) => {
                            self.rx = rx;
                            self.state = State::Open;
                        }
                        Ok(Err(err)) if self.failures + 1 >= MAX_RECONNECTS => {
                            self.state = State::Draining(Some(err));
                        }
                        Ok(Err(_)) => {
                            self.failures += 1;
                            let reopen = self.reopen.clone();
                            self.state = match reopen {
                                Some(reopen) => {
                                    State::Reconnecting(reopen(self.offset, self.failures))
                                }
                                None => State::Done,
                            };
                        }
                        Err(join) => {
                            self.state = State::Draining(Some(Error::invalid_input(format!(
                                "{}: the reconnect task failed: {join}",
                                self.ctx.op
                            ))));
                        }
                    }
                }
                State::Draining(err) => {
                    if let Some(item) = self.decoder.decode_eof(&mut self.buf) {
                        return Poll::Ready(Some(Ok(item)));
                    }
                    let err = err.take();
                    self.state = State::Done;
                    if let Some(err) = err {
                        return Poll::Ready(Some(Err(err)));
                    }
                }
                State::Done => return Poll::Ready(None),
            }
        }
    }
}

/// A command's output as it is written: labelled byte chunks ([`LogChunk`]: stream + bytes),
/// from the beginning of the log until the command ends. Made by
/// [`Client::stream_session_command_logs`](crate::Client::stream_session_command_logs).
///
/// Chunk boundaries are arbitrary; the concatenation per stream is exactly what the command
/// wrote (as the daemon labelled it). The stream ends with `None` on a normal close; an abnormal
/// close yields one error (after everything received), then `None`. Use [`LogStream::text`] for
/// text that never splits a character.
pub struct LogStream {
    inner: Follow<Demuxer>,
}

impl LogStream {
    /// A stream that, when `reopen` is given, reconnects a dropped connection at the offset of
    /// the last byte it received (the daemon counts in the same bytes), so nothing is lost or
    /// repeated.
    pub(crate) fn resumable(rx: WsReceiver, ctx: Context, reopen: Option<Reopen>) -> LogStream {
        LogStream {
            inner: Follow {
                rx,
                buf: BytesMut::new(),
                decoder: Demuxer::new(),
                state: State::Open,
                ctx,
                offset: 0,
                reopen,
                failures: 0,
            },
        }
    }

    /// The same stream as text: each item is decoded UTF-8 (invalid bytes become U+FFFD), and a
    /// character split across network frames is held until it is complete.
    pub fn text(self) -> TextLogStream {
        let Follow {
            rx,
            buf,
            state,
            ctx,
            offset,
            reopen,
            failures,
            ..
        } = self.inner;
        TextLogStream {
            inner: Follow {
                rx,
                buf,
                decoder: TextDemuxer::new(),
                state,
                ctx,
                offset,
                reopen,
                failures,
            },
        }
    }
}

impl futures_util::Stream for LogStream {
    type Item = Result<LogChunk, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_item(cx)
    }
}

impl std::fmt::Debug for LogStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStream").finish_non_exhaustive()
    }
}

/// A command's output as labelled text ([`LogText`]); see [`LogStream::text`].
pub struct TextLogStream {
    inner: Follow<TextDemuxer>,
}

impl futures_util::Stream for TextLogStream {
    type Item = Result<LogText, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_item(cx)
    }
}

impl std::fmt::Debug for TextLogStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextLogStream").finish_non_exhaustive()
    }
}
