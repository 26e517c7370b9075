//! The one WebSocket server socket (HTTP edge): every server-side socket (log follow, PTY,
//! interpreter) is a [`ServerSocket`] built from an accepted upgrade.
//!
//! A socket is two tasks. The *reader* reads the client's frames: data goes to an optional
//! sink (in arrival order, with backpressure), pings and closes go to the *writer*, which owns
//! the connection's write half. The writer answers every ping before the next outgoing frame
//! (a ping is never dropped, whatever the owner is doing), echoes the client's close, and
//! writes the owner's frames one at a time, each within the write deadline: a client that stops
//! reading is dropped after [`Options::write_deadline`] instead of pinning the socket. The owner
//! ends with [`ServerSocket::close`] (code and truncated reason, then a short wait for the
//! client's answer so it reads the close frame rather than a reset).
//!
//! Domain modules see only this type, [`Data`] and [`Event`]; they never name a WebSocket or
//! HTTP crate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fastwebsockets::{Frame, OpCode, Payload, WebSocket, WebSocketError, WebSocketRead};
use hyper_util::rt::TokioIo;
use process_proto::wire::close::{truncate_reason, CloseCode};
use tokio::io::ReadHalf;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The upgraded connection type.
pub(crate) type Io = TokioIo<hyper::upgrade::Upgraded>;

/// An upgraded connection with its options, not yet served: the owner starts it once it
/// knows where the client's data goes.
pub(crate) struct Pending {
    ws: WebSocket<Io>,
    opts: Options,
}

impl Pending {
    /// `ws` served with `opts` once started.
    pub(crate) fn new(ws: WebSocket<Io>, opts: Options) -> Pending {
        Pending { ws, opts }
    }

    /// Starts serving; data frames go to `data` (see [`ServerSocket::start`]).
    pub(crate) fn start<D: From<Data> + Send + 'static>(
        self,
        data: Option<mpsc::Sender<D>>,
    ) -> ServerSocket {
        ServerSocket::start(self.ws, self.opts, data)
    }
}

/// Accepts an upgrade: waits for the connection, then wraps it. `None` (logged) if the
/// client went away during the handshake.
pub(crate) async fn accept(
    fut: fastwebsockets::upgrade::UpgradeFut,
    opts: Options,
    what: &str,
) -> Option<Pending> {
    match fut.await {
        Ok(ws) => Some(Pending::new(ws, opts)),
        Err(err) => {
            tracing::debug!(error = %err, "{what} WebSocket upgrade failed");
            None
        }
    }
}

/// Deadline for writing one frame (spec §8.8: 10 s).
pub(crate) const WRITE_DEADLINE: Duration = Duration::from_secs(10);
/// After our close frame, how long to wait for the client's.
pub(crate) const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// What differs between the sockets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    /// Largest data message (over it: [`Event::TooBig`] once, and no more data is forwarded).
    pub(crate) max_message: usize,
    /// Largest frame read at all; a larger one ends the reader ([`Event::TooBig`]).
    pub(crate) max_frame: usize,
    /// Deadline for writing one frame.
    pub(crate) write_deadline: Duration,
}

impl Options {
    /// `max_message` bytes per message, frames read up to `max_frame`, the default deadline.
    pub(crate) fn new(max_message: usize, max_frame: usize) -> Options {
        Options {
            max_message,
            max_frame,
            write_deadline: WRITE_DEADLINE,
        }
    }

    /// Replaces the write deadline.
    #[must_use]
    pub(crate) fn write_deadline(mut self, deadline: Duration) -> Options {
        self.write_deadline = deadline;
        self
    }
}

/// One data frame from the client.
#[derive(Debug)]
pub(crate) struct Data {
    /// The payload (text and binary alike, verbatim).
    pub(crate) payload: Bytes,
    /// The first frame of a message.
    pub(crate) first: bool,
    /// The last frame of a message.
    pub(crate) last: bool,
}

/// A PTY forwards payloads verbatim.
impl From<Data> for Bytes {
    fn from(data: Data) -> Bytes {
        data.payload
    }
}

/// What happened on the socket, for its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// The client closed (with this code, if any); its close was echoed.
    Closed(Option<u16>),
    /// A message over [`Options::max_message`] (or a frame over [`Options::max_frame`]).
    TooBig,
    /// The connection broke, or a write missed its deadline.
    Gone,
}

/// The socket is gone: nothing more can be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the WebSocket client is gone")]
pub(crate) struct Gone;

/// A frame for the writer, and where to report that it was written.
struct Out {
    frame: OutFrame,
    done: oneshot::Sender<Result<(), Gone>>,
}

enum OutFrame {
    Text(Bytes),
    Binary(Bytes),
    Ping,
    Close(CloseCode, String),
}

/// What the reader hands the writer.
enum Control {
    Ping(Bytes),
    Closed(Option<u16>),
    TooBig,
    Gone,
}

/// A server-side WebSocket (see the module docs).
pub(crate) struct ServerSocket {
    out: mpsc::Sender<Out>,
    events: mpsc::UnboundedReceiver<Event>,
    heard: Arc<AtomicU64>,
    started: Instant,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl ServerSocket {
    /// Starts serving `ws`; data frames go to `data` (dropped once its receiver is gone, or
    /// always when `None`).
    pub(crate) fn start<D: From<Data> + Send + 'static>(
        ws: WebSocket<Io>,
        opts: Options,
        data: Option<mpsc::Sender<D>>,
    ) -> ServerSocket {
        let (mut rd, wr) = ws.split(tokio::io::split);
        rd.set_auto_pong(false);
        rd.set_auto_close(false);
        rd.set_max_message_size(opts.max_frame.saturating_add(1));
        let started = Instant::now();
        let heard = Arc::new(AtomicU64::new(0));
        let (control_tx, control_rx) = mpsc::channel(16);
        let (out_tx, out_rx) = mpsc::channel(1);
        let (events_tx, events) = mpsc::unbounded_channel();
        let reader = tokio::spawn(read(rd, opts, data, control_tx, heard.clone(), started));
        let writer = tokio::spawn(write(wr, opts, control_rx, out_rx, events_tx));
        ServerSocket {
            out: out_tx,
            events,
            heard,
            started,
            reader,
            writer,
        }
    }

    async fn send(&self, frame: OutFrame) -> Result<(), Gone> {
        let (done, written) = oneshot::channel();
        self.out.send(Out { frame, done }).await.map_err(|_| Gone)?;
        written.await.map_err(|_| Gone)?
    }

    /// Writes a text frame; returns once it is written.
    pub(crate) async fn text(&self, text: impl Into<Bytes>) -> Result<(), Gone> {
        self.send(OutFrame::Text(text.into())).await
    }

    /// Writes a binary frame; returns once it is written.
    pub(crate) async fn binary(&self, data: impl Into<Bytes>) -> Result<(), Gone> {
        self.send(OutFrame::Binary(data.into())).await
    }

    /// Pings the client (keep-alive; see [`ServerSocket::silent_for`]).
    pub(crate) async fn ping(&self) -> Result<(), Gone> {
        self.send(OutFrame::Ping).await
    }

    /// The next event (cancel-safe); `Gone` once the socket's tasks have ended.
    pub(crate) async fn event(&mut self) -> Event {
        self.events.recv().await.unwrap_or(Event::Gone)
    }

    /// The next event if one is waiting.
    pub(crate) fn try_event(&mut self) -> Option<Event> {
        match self.events.try_recv() {
            Ok(event) => Some(event),
            Err(mpsc::error::TryRecvError::Empty) => None,
            Err(mpsc::error::TryRecvError::Disconnected) => Some(Event::Gone),
        }
    }

    /// How long since the client last sent anything (data, ping, pong, close).
    pub(crate) fn silent_for(&self) -> Duration {
        self.started
            .elapsed()
            .saturating_sub(Duration::from_millis(self.heard.load(Ordering::Relaxed)))
    }

    /// Sends a close frame (`reason` truncated to fit), then waits up to [`CLOSE_WAIT`] for the
    /// client's close before the connection is dropped. After the client closed (or the
    /// connection broke), it only drops the connection.
    pub(crate) async fn close(mut self, code: CloseCode, reason: &str) {
        let reason = truncate_reason(reason).to_owned();
        if self.send(OutFrame::Close(code, reason)).await.is_ok() {
            let _ = tokio::time::timeout(CLOSE_WAIT, async {
                loop {
                    match self.events.recv().await {
                        Some(Event::Closed(_) | Event::Gone) => break,
                        Some(Event::TooBig) => {}
                        // Both tasks ended without the client's answer: wait out the linger.
                        None => std::future::pending::<()>().await,
                    }
                }
            })
            .await;
        }
    }
}

impl Drop for ServerSocket {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
    }
}

/// The reader task: data to `data`, control frames to the writer.
async fn read<D: From<Data>>(
    mut rd: WebSocketRead<ReadHalf<Io>>,
    opts: Options,
    mut data: Option<mpsc::Sender<D>>,
    control: mpsc::Sender<Control>,
    heard: Arc<AtomicU64>,
    started: Instant,
) {
    // Auto-pong and auto-close are off: the reader never has frames to write itself.
    let mut no_obligations =
        |_: Frame<'_>| std::future::ready(Ok::<(), std::convert::Infallible>(()));
    let mut message_len = 0usize;
    let mut too_big = false;
    loop {
        let frame = match rd.read_frame(&mut no_obligations).await {
            Ok(frame) => frame,
            Err(WebSocketError::FrameTooLarge) => {
                let _ = control.send(Control::TooBig).await;
                return;
            }
            Err(err) => {
                tracing::debug!(error = %err, "WebSocket read ended");
                let _ = control.send(Control::Gone).await;
                return;
            }
        };
        heard.store(
            u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        match frame.opcode {
            OpCode::Text | OpCode::Binary | OpCode::Continuation => {
                let first = frame.opcode != OpCode::Continuation;
                if first {
                    message_len = 0;
                }
                message_len = message_len.saturating_add(frame.payload.len());
                if message_len > opts.max_message && !too_big {
                    // No more data is forwarded, but the reader goes on until the client
                    // answers the close frame the owner will send.
                    too_big = true;
                    data = None;
                    if control.send(Control::TooBig).await.is_err() {
                        return;
                    }
                }
                let Some(tx) = &data else { continue };
                let payload = match frame.payload {
                    Payload::Bytes(b) => b.freeze(),
                    other => Bytes::copy_from_slice(&other),
                };
                let item = Data {
                    payload,
                    first,
                    last: frame.fin,
                };
                if tx.send(D::from(item)).await.is_err() {
                    data = None;
                }
            }
            OpCode::Ping => {
                let payload = Bytes::copy_from_slice(&frame.payload);
                if control.send(Control::Ping(payload)).await.is_err() {
                    return;
                }
            }
            OpCode::Pong => {}
            OpCode::Close => {
                let code = (frame.payload.len() >= 2)
                    .then(|| u16::from_be_bytes([frame.payload[0], frame.payload[1]]));
                let _ = control.send(Control::Closed(code)).await;
                return;
            }
        }
    }
}

/// The writer task: pongs and close echoes first, then the owner's frames, each within the
/// deadline.
async fn write(
    mut wr: fastwebsockets::WebSocketWrite<tokio::io::WriteHalf<Io>>,
    opts: Options,
    mut control: mpsc::Receiver<Control>,
    mut out: mpsc::Receiver<Out>,
    events: mpsc::UnboundedSender<Event>,
) {
    let deadline = opts.write_deadline;
    let mut closed_sent = false;
    let mut control_open = true;
    loop {
        tokio::select! {
            biased;
            c = control.recv(), if control_open => match c {
                Some(Control::Ping(payload)) => {
                    if closed_sent {
                        continue;
                    }
                    if put(&mut wr, deadline, Frame::pong(Payload::Borrowed(&payload))).await.is_err() {
                        let _ = events.send(Event::Gone);
                        return;
                    }
                }
                Some(Control::Closed(code)) => {
                    if !closed_sent {
                        // Echo the client's close (its code if it is one a peer may send).
                        let frame = match code {
                            Some(code) if fastwebsockets::CloseCode::from(code).is_allowed() => {
                                Frame::close(code, b"")
                            }
                            Some(_) => Frame::close(CloseCode::PROTOCOL.0, b""),
                            None => Frame::close_raw(Payload::Borrowed(b"")),
                        };
                        let _ = put(&mut wr, deadline, frame).await;
                    }
                    let _ = events.send(Event::Closed(code));
                    return;
                }
                Some(Control::TooBig) => {
                    let _ = events.send(Event::TooBig);
                }
                Some(Control::Gone) => {
                    let _ = events.send(Event::Gone);
                    return;
                }
                None => control_open = false,
            },
            o = out.recv() => {
                let Some(Out { frame, done }) = o else { return };
                if closed_sent {
                    let _ = done.send(Err(Gone));
                    continue;
                }
                let result = match frame {
                    OutFrame::Text(t) => put(&mut wr, deadline, Frame::text(Payload::Borrowed(&t))).await,
                    OutFrame::Binary(b) => put(&mut wr, deadline, Frame::binary(Payload::Borrowed(&b))).await,
                    OutFrame::Ping => {
                        put(&mut wr, deadline, Frame::new(true, OpCode::Ping, None, Payload::Borrowed(b""))).await
                    }
                    OutFrame::Close(code, reason) => {
                        closed_sent = true;
                        let sent = put(&mut wr, deadline, Frame::close(code.0, reason.as_bytes())).await;
                        let _ = tokio::time::timeout(deadline, wr.flush()).await;
                        sent
                    }
                };
                let failed = result.is_err();
                let _ = done.send(result);
                if failed {
                    let _ = events.send(Event::Gone);
                    return;
                }
            }
        }
    }
}

/// Writes (and flushes) one frame within `deadline`.
async fn put(
    wr: &mut fastwebsockets::WebSocketWrite<tokio::io::WriteHalf<Io>>,
    deadline: Duration,
    frame: Frame<'_>,
) -> Result<(), Gone> {
    match tokio::time::timeout(deadline, wr.write_frame(frame)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => {
            tracing::debug!(error = %err, "WebSocket write failed");
            Err(Gone)
        }
        Err(_) => {
            tracing::debug!(
                ?deadline,
                "WebSocket write missed its deadline; dropping the client"
            );
            Err(Gone)
        }
    }
}
