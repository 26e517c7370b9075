//! [`PtyHandle`]: one attached PTY — its output as a stream of bytes (driven by the sans-IO
//! `PtyClientState`), its exit, and [`PtyInput`], the cloneable sending side (input, resize,
//! kill).

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use futures_util::Stream as _;
use process_proto::wire::{PtyClientState, PtySessionInfo, PtyTextEvent};
use process_transport::ws::{CloseFrame, Message, WsReceiver, WsSender};

use crate::error::{Context, ErrorKind};
use crate::{Client, Error};

use super::{PtyIo, PtyResult, PtySize, CONNECT_TIMEOUT};

/// An open connection to a PTY: send input, read output, resize, kill, wait for the exit code.
///
/// Output is a `Stream` of byte chunks (`Bytes`); control messages are handled for you. The
/// stream ends when the shell exits (or is killed, or the connection closes); then
/// [`PtyHandle::exit_code`] and [`PtyHandle::error`] tell how it ended. Dropping the handle
/// disconnects without killing the shell ([`Client::connect_pty_session`] attaches again).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), process::Error> {
/// let client = process::Client::embedded().await?;
/// let mut pty = client.create_pty_session("doc-pty").await?;
/// pty.send_input("echo $((6 * 7)); exit 3\n").await?;
/// let mut screen = Vec::new();
/// let result = pty.wait_with(|data| screen.extend_from_slice(data)).await?;
/// assert_eq!(result.exit_code, Some(3));
/// assert!(String::from_utf8_lossy(&screen).contains("42"));
/// # Ok(()) }
/// ```
pub struct PtyHandle {
    pub(super) input: PtyInput,
    output: WsReceiver,
    /// Output that arrived before `connected`.
    early: VecDeque<Bytes>,
    /// The protocol state (sans-IO, in `process_proto`): attached, ended, exit code, error.
    state: PtyClientState,
    ctx: Context,
}

impl std::fmt::Debug for PtyHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PtyHandle")
            .field("session_id", &self.input.session_id)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// The sending side of a [`PtyHandle`]: input, resize and kill. Cheap to clone, so another
/// task can type while one reads.
#[derive(Clone)]
pub struct PtyInput {
    client: Client,
    pub(super) session_id: String,
    pub(super) tx: WsSender,
}

impl std::fmt::Debug for PtyInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PtyInput")
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

impl PtyInput {
    /// The PTY's id.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// Sends input: keystrokes, text, control bytes (`"\x03"` is Ctrl-C).
    pub async fn send_input(&self, data: impl AsRef<[u8]>) -> Result<(), Error> {
        self.tx
            .send(Message::Binary(Bytes::copy_from_slice(data.as_ref())))
            .await
            .map_err(|_| {
                Error::new(
                    ErrorKind::Closed,
                    format!(
                        "send_input: PTY session '{}' is not connected any more",
                        self.session_id
                    ),
                )
            })
    }
}

impl PtyInput {
    /// Resizes the terminal (see [`Client::resize_pty_session`]).
    pub async fn resize(&self, size: PtySize) -> Result<PtySessionInfo, Error> {
        self.client.resize_pty_session(&self.session_id, size).await
    }

    /// Kills the shell and everything it started (see [`Client::kill_pty_session`]).
    pub async fn kill(&self) -> Result<(), Error> {
        self.client.kill_pty_session(&self.session_id).await
    }
}

impl PtyHandle {
    /// Reads until the daemon confirms the attachment (`connected`), keeping early output.
    pub(super) async fn attach(
        client: Client,
        session_id: String,
        ws: process_transport::ws::WebSocket,
        ctx: Context,
    ) -> Result<PtyHandle, Error> {
        let (tx, output) = ws.split();
        let mut handle = PtyHandle {
            input: PtyInput {
                client,
                session_id,
                tx,
            },
            output,
            early: VecDeque::new(),
            state: PtyClientState::new(),
            ctx,
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, handle.await_connected()).await {
            Ok(res) => res?,
            Err(_) => {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "{}: PTY session '{}' did not confirm the connection within {:?}",
                        handle.ctx.op, handle.input.session_id, CONNECT_TIMEOUT
                    ),
                ))
            }
        }
        Ok(handle)
    }

    async fn await_connected(&mut self) -> Result<(), Error> {
        while !self.state.is_connected() && !self.state.is_ended() {
            match self.output.recv().await {
                Some(Ok(Message::Binary(data))) => self.early.push_back(data),
                Some(Ok(Message::Text(text))) => match self.state.handle_text(&text) {
                    PtyTextEvent::Error(error) => {
                        self.state.handle_lost(None);
                        return Err(self.ctx.in_band_error(&error));
                    }
                    PtyTextEvent::Output => self.early.push_back(Bytes::from(text)),
                    _ => {}
                },
                Some(Ok(Message::Close(frame))) => {
                    self.on_close(frame.as_ref());
                    // An instantly exiting shell may close before `connected`: that is a
                    // connection whose result is known, not a failure.
                    if self.state.exit_code().is_none() {
                        return Err(Error::new(
                            ErrorKind::Closed,
                            format!(
                                "{}: PTY session '{}' closed during setup: {}",
                                self.ctx.op,
                                self.input.session_id,
                                self.state.error().unwrap_or("no reason given")
                            ),
                        ));
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => {
                    self.state.handle_lost(Some(err.to_string()));
                    return Err(self.ctx.stream_error(err));
                }
                None => {
                    self.state.handle_lost(None);
                    return Err(self
                        .ctx
                        .stream_error(process_transport::Error::ConnectionLost));
                }
            }
        }
        Ok(())
    }

    fn on_close(&mut self, frame: Option<&CloseFrame>) {
        self.state.handle_close(
            frame.map(|f| f.code),
            frame.map(|f| f.reason.as_str()).unwrap_or_default(),
        );
    }

    pub(super) fn result(&self) -> PtyResult {
        PtyResult {
            exit_code: self.state.exit_code(),
            error: self.state.error().map(str::to_owned),
        }
    }

    /// The next piece of output; `None` once the PTY has ended (then see
    /// [`exit_code`](Self::exit_code)).
    pub async fn recv(&mut self) -> Option<Result<Bytes, Error>> {
        std::future::poll_fn(|cx| self.poll_output(cx)).await
    }

    pub(super) fn poll_output(
        &mut self,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Bytes, Error>>> {
        if let Some(data) = self.early.pop_front() {
            return Poll::Ready(Some(Ok(data)));
        }
        loop {
            if self.state.is_ended() {
                return Poll::Ready(None);
            }
            match std::task::ready!(Pin::new(&mut self.output).poll_next(cx)) {
                Some(Ok(Message::Binary(data))) => return Poll::Ready(Some(Ok(data))),
                Some(Ok(Message::Text(text))) => {
                    if self.state.handle_text(&text) == PtyTextEvent::Output {
                        return Poll::Ready(Some(Ok(Bytes::from(text))));
                    }
                }
                Some(Ok(Message::Close(frame))) => self.on_close(frame.as_ref()),
                Some(Ok(_)) => {}
                Some(Err(err)) => {
                    self.state.handle_lost(Some(err.to_string()));
                    return Poll::Ready(Some(Err(self.ctx.stream_error(err))));
                }
                None => self.state.handle_lost(None),
            }
        }
    }

    /// Reads output until the PTY ends, discarding it; returns how it ended (SDK: `wait()`).
    ///
    /// For the SDK's `wait(timeout=...)`, wrap it: `tokio::time::timeout(d, pty.wait())`. Reading
    /// is cancel-safe, so after a timeout the handle is still connected and usable.
    pub async fn wait(&mut self) -> Result<PtyResult, Error> {
        self.wait_with(|_| {}).await
    }

    /// Reads output until the PTY ends, handing each piece to `on_data` (SDK:
    /// `wait(on_data=...)`, and the `on_data` callback of `create_pty_session`).
    pub async fn wait_with(&mut self, mut on_data: impl FnMut(&[u8])) -> Result<PtyResult, Error> {
        while let Some(data) = self.recv().await {
            match data {
                Ok(data) => on_data(&data),
                // The connection failed: the result says so (as the SDK's `wait`).
                Err(_) => break,
            }
        }
        Ok(self.result())
    }

    /// The PTY's id.
    pub fn session_id(&self) -> &str {
        &self.input.session_id
    }

    /// The exit code, once known.
    pub fn exit_code(&self) -> Option<i32> {
        self.state.exit_code()
    }

    /// Why the PTY ended, for non-zero exits and failures.
    pub fn error(&self) -> Option<&str> {
        self.state.error()
    }

    /// Whether the PTY is still attached and running.
    pub fn is_connected(&self) -> bool {
        !self.state.is_ended() && self.state.exit_code().is_none() && !self.input.tx.is_closed()
    }

    /// Sends input: keystrokes, text, control bytes (`"\x03"` is Ctrl-C) (SDK: `send_input`).
    pub async fn send_input(&self, data: impl AsRef<[u8]>) -> Result<(), Error> {
        self.input.send_input(data).await
    }

    /// A cloneable handle for input, resize and kill, for use from another task.
    pub fn input(&self) -> PtyInput {
        self.input.clone()
    }

    /// Closes the connection (code 1000); the shell keeps running (SDK: `disconnect`).
    pub async fn disconnect(self) {
        let _ = self.input.tx.close(1000, "").await;
    }

    /// The PTY as a byte pipe: `AsyncRead` yields output, `AsyncWrite` sends input. Shutting
    /// down the writer only flushes (a terminal has no half-close); use Ctrl-D (`"\x04"`) or
    /// `exit` to end the shell.
    pub fn into_io(self) -> PtyIo {
        PtyIo::new(self)
    }
}

impl PtyHandle {
    /// Resizes the terminal (SDK: `PtyHandle.resize`).
    pub async fn resize(&self, size: PtySize) -> Result<PtySessionInfo, Error> {
        self.input.resize(size).await
    }

    /// Kills the shell and everything it started (SDK: `PtyHandle.kill`); the output stream
    /// then ends with exit code 137.
    pub async fn kill(&self) -> Result<(), Error> {
        self.input.kill().await
    }
}

// No field is pinned structurally: the handle only polls channels it owns by `&mut`.
impl Unpin for PtyHandle {}

impl futures_util::Stream for PtyHandle {
    type Item = Result<Bytes, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_output(cx)
    }
}
