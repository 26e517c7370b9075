//! Following a command's log over WebSocket: [`LogStream`] (labelled byte chunks) and
//! [`TextLogStream`] (labelled UTF-8 text), both `futures::Stream`s that end when the command
//! does.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use bytes::BytesMut;
use futures_util::Stream as _;
use process_proto::log::{Demuxer, LogChunk, Stream, TextDemuxer};
use process_transport::ws::{Message, WsReceiver};

use crate::error::Context;
use crate::Error;

/// A piece of a command's output as text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogText {
    /// Which stream it was written to.
    pub stream: Stream,
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

enum State {
    Open,
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
                        Some(Ok(Message::Binary(bytes))) => self.buf.extend_from_slice(&bytes),
                        Some(Ok(Message::Text(text))) => {
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
                            self.state = State::Draining(Some(self.ctx.stream_error(err)));
                        }
                        None => {
                            self.state = State::Draining(Some(
                                self.ctx
                                    .stream_error(process_transport::Error::ConnectionLost),
                            ));
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
    pub(crate) fn new(rx: WsReceiver, ctx: Context) -> LogStream {
        LogStream {
            inner: Follow {
                rx,
                buf: BytesMut::new(),
                decoder: Demuxer::new(),
                state: State::Open,
                ctx,
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
            ..
        } = self.inner;
        TextLogStream {
            inner: Follow {
                rx,
                buf,
                decoder: TextDemuxer::new(),
                state,
                ctx,
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
