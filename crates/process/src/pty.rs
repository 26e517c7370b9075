//! PTYs: interactive terminals over WebSocket. [`Client::create_pty_session`] /
//! [`Client::connect_pty_session`] give a [`PtyHandle`] to send input, read output (a `Stream`,
//! or `AsyncRead`/`AsyncWrite` through [`PtyHandle::into_io`]) and wait for the exit code; the
//! REST calls list, inspect, resize and kill PTYs.

use std::collections::{BTreeMap, VecDeque};
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream as _;
use http::Method;
use process_proto::wire::{
    encode_envs_token, endpoint, PtyClientState, PtyListResponse, PtyResizeRequest, PtySessionInfo,
    PtyTextEvent, MAX_DIMENSION, PTY_EXIT_CONTROL_PROTOCOL,
};
use process_transport::ws::{CloseFrame, Message, WsReceiver, WsSender};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::{Context, ErrorKind};
use crate::{Client, Error};

/// How long to wait for the daemon's `connected` message (as the SDK).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A terminal size (the SDK's `PtySize`). Both dimensions must be 1..=1000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PtySize {
    /// Lines.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
}

impl PtySize {
    /// `rows` × `cols`.
    pub fn new(rows: u16, cols: u16) -> PtySize {
        PtySize { rows, cols }
    }

    fn check(self, op: &str) -> Result<PtySize, Error> {
        for (name, v) in [("rows", self.rows), ("cols", self.cols)] {
            if v == 0 || v > MAX_DIMENSION {
                return Err(Error::invalid_input(format!(
                    "{op}: {name} must be between 1 and {MAX_DIMENSION}, got {v}"
                )));
            }
        }
        Ok(self)
    }
}

impl Default for PtySize {
    /// 24 × 80.
    fn default() -> PtySize {
        PtySize { rows: 24, cols: 80 }
    }
}

/// How a PTY ended (the SDK's `PtyResult`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PtyResult {
    /// The shell's exit code (137 after a kill); `None` if the connection ended without one.
    pub exit_code: Option<i32>,
    /// Why it ended, for non-zero codes (`SIGKILL`, `Ctrl+C`, `non-zero exit`, …) or failures.
    pub error: Option<String>,
}

type BoxFuture<R> = Pin<Box<dyn Future<Output = Result<R, Error>> + Send>>;

/// A send of input that `AsyncWrite` accepted but the channel has not taken yet.
type PendingWrite = Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;

/// A PTY to create, built by [`Client::create_pty_session`]; `.await` it to create it and
/// connect in one round trip.
#[must_use = "a CreatePty does nothing until it is awaited"]
pub struct CreatePty {
    client: Client,
    id: String,
    cwd: Option<String>,
    envs: BTreeMap<String, String>,
    size: PtySize,
}

impl CreatePty {
    /// Starts the shell in `dir` (default: the daemon's working directory).
    pub fn cwd(mut self, dir: impl Into<String>) -> CreatePty {
        self.cwd = Some(dir.into());
        self
    }

    /// Sets an environment variable of the shell (`TERM` defaults to `xterm-256color`).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> CreatePty {
        self.envs.insert(key.into(), value.into());
        self
    }

    /// Sets several environment variables.
    pub fn envs<K, V>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> CreatePty
    where
        K: Into<String>,
        V: Into<String>,
    {
        for (k, v) in vars {
            self.envs.insert(k.into(), v.into());
        }
        self
    }

    /// The terminal size (default 24 × 80).
    pub fn size(mut self, size: PtySize) -> CreatePty {
        self.size = size;
        self
    }
}

impl IntoFuture for CreatePty {
    type Output = Result<PtyHandle, Error>;
    type IntoFuture = BoxFuture<PtyHandle>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let ctx = Context::new("create_pty_session").pty(&self.id);
            let size = self.size.check(ctx.op)?;
            let path = create_connect_path(&self.id, size, self.cwd.as_deref());
            let envs_token = if self.envs.is_empty() {
                None
            } else {
                Some(encode_envs_token(&self.envs).map_err(|e| {
                    Error::invalid_input(format!("create_pty_session: invalid envs: {e}"))
                })?)
            };
            let mut protocols = vec![PTY_EXIT_CONTROL_PROTOCOL];
            if let Some(token) = envs_token.as_deref() {
                protocols.push(token);
            }
            let ws = self.client.open_websocket(&ctx, &path, &protocols).await?;
            PtyHandle::attach(self.client, self.id, ws, ctx).await
        })
    }
}

/// `/process/pty/create-connect?id=…&cols=…&rows=…[&cwd=…]`, form-encoded as the SDK does.
fn create_connect_path(id: &str, size: PtySize, cwd: Option<&str>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("id", id)
        .append_pair("cols", &size.cols.to_string())
        .append_pair("rows", &size.rows.to_string());
    if let Some(cwd) = cwd.filter(|c| !c.is_empty()) {
        query.append_pair("cwd", cwd);
    }
    format!("{}?{}", endpoint::PTY_CREATE_CONNECT, query.finish())
}

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
    input: PtyInput,
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
    session_id: String,
    tx: WsSender,
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
    async fn attach(
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

    fn result(&self) -> PtyResult {
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

    fn poll_output(&mut self, cx: &mut TaskContext<'_>) -> Poll<Option<Result<Bytes, Error>>> {
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
        PtyIo {
            handle: self,
            read_buf: Bytes::new(),
            pending_write: None,
        }
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
impl Unpin for PtyIo {}

impl futures_util::Stream for PtyHandle {
    type Item = Result<Bytes, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_output(cx)
    }
}

/// A PTY as `AsyncRead` (output) + `AsyncWrite` (input); see [`PtyHandle::into_io`].
pub struct PtyIo {
    handle: PtyHandle,
    read_buf: Bytes,
    pending_write: Option<PendingWrite>,
}

impl PtyIo {
    /// The handle back (output already read into this reader's buffer is dropped).
    pub fn into_handle(self) -> PtyHandle {
        self.handle
    }

    /// How the PTY ended, once the reader has reached the end.
    pub fn result(&self) -> PtyResult {
        self.handle.result()
    }

    fn poll_pending_write(&mut self, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        if let Some(fut) = self.pending_write.as_mut() {
            let res = std::task::ready!(fut.as_mut().poll(cx));
            self.pending_write = None;
            res.map_err(std::io::Error::other)?;
        }
        Poll::Ready(Ok(()))
    }
}

impl std::fmt::Debug for PtyIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PtyIo")
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

impl AsyncRead for PtyIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        while this.read_buf.is_empty() {
            match std::task::ready!(this.handle.poll_output(cx)) {
                Some(Ok(data)) => this.read_buf = data,
                Some(Err(err)) => return Poll::Ready(Err(std::io::Error::other(err))),
                None => return Poll::Ready(Ok(())),
            }
        }
        let n = this.read_buf.len().min(buf.remaining());
        buf.put_slice(&this.read_buf.split_to(n));
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for PtyIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_pending_write(cx))?;
        let tx = this.handle.input.tx.clone();
        let id = this.handle.input.session_id.clone();
        let data = Bytes::copy_from_slice(buf);
        let mut fut: PendingWrite = Box::pin(async move {
            tx.send(Message::Binary(data)).await.map_err(|_| {
                Error::new(
                    ErrorKind::Closed,
                    format!("PTY session '{id}' is not connected any more"),
                )
            })
        });
        // The bytes are ours now; if the channel is full, the send completes on the next
        // write or flush.
        match fut.as_mut().poll(cx) {
            Poll::Ready(res) => res.map_err(std::io::Error::other)?,
            Poll::Pending => this.pending_write = Some(fut),
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut().poll_pending_write(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut().poll_pending_write(cx)
    }
}

impl Client {
    /// Creates a PTY and connects to it in one round trip (SDK: `create_pty_session`). Set the
    /// working directory, environment and size on the returned builder, then `.await` it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), process::Error> {
    /// use process::PtySize;
    /// let client = process::Client::embedded().await?;
    /// let pty = client
    ///     .create_pty_session("term")
    ///     .env("VAR", "value")
    ///     .size(PtySize::new(24, 80))
    ///     .await?;
    /// let info = client.resize_pty_session("term", PtySize::new(40, 150)).await?;
    /// assert_eq!((info.rows, info.cols), (40, 150));
    /// pty.kill().await?;
    /// # Ok(()) }
    /// ```
    pub fn create_pty_session(&self, id: &str) -> CreatePty {
        CreatePty {
            client: self.clone(),
            id: id.to_owned(),
            cwd: None,
            envs: BTreeMap::new(),
            size: PtySize::default(),
        }
    }

    /// Connects to an existing PTY (SDK: `connect_pty_session`). Several connections may attach
    /// to one PTY; each receives the output from the moment it attaches.
    pub async fn connect_pty_session(&self, id: &str) -> Result<PtyHandle, Error> {
        let ctx = Context::new("connect_pty_session").pty(id);
        let path = endpoint::PTY_CONNECT.path(&[id]);
        let ws = self
            .open_websocket(&ctx, &path, &[PTY_EXIT_CONTROL_PROTOCOL])
            .await?;
        PtyHandle::attach(self.clone(), id.to_owned(), ws, ctx).await
    }

    /// The live PTYs, in no particular order (SDK: `list_pty_sessions`).
    pub async fn list_pty_sessions(&self) -> Result<Vec<PtySessionInfo>, Error> {
        let list: PtyListResponse = self
            .get_json(
                &Context::new("list_pty_sessions"),
                endpoint::PTYS.template(),
            )
            .await?;
        Ok(list.sessions)
    }

    /// A PTY's size, working directory, environment and state (SDK: `get_pty_session_info`).
    pub async fn get_pty_session_info(&self, id: &str) -> Result<PtySessionInfo, Error> {
        let ctx = Context::new("get_pty_session_info").pty(id);
        self.get_json(&ctx, &endpoint::PTY.path(&[id])).await
    }

    /// Resizes a PTY and returns its updated info (SDK: `resize_pty_session`).
    pub async fn resize_pty_session(
        &self,
        id: &str,
        size: PtySize,
    ) -> Result<PtySessionInfo, Error> {
        let ctx = Context::new("resize_pty_session").pty(id);
        let size = size.check(ctx.op)?;
        self.send_json(
            &ctx,
            Method::POST,
            &endpoint::PTY_RESIZE.path(&[id]),
            &PtyResizeRequest::new(size.cols, size.rows),
            None,
        )
        .await?
        .json(&ctx)
    }

    /// Kills a PTY's shell and everything it started, and removes the PTY; connected handles
    /// end with exit code 137 (SDK: `kill_pty_session`).
    pub async fn kill_pty_session(&self, id: &str) -> Result<(), Error> {
        let ctx = Context::new("kill_pty_session").pty(id);
        self.send(&ctx, Method::DELETE, &endpoint::PTY.path(&[id]), None, None)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_connect_query_is_form_encoded_like_the_sdk() {
        // The raw wire capture of spec Appendix A.
        assert_eq!(
            create_connect_path("my id/1", PtySize::new(10, 20), Some("/work dir/ä")),
            "/process/pty/create-connect?id=my+id%2F1&cols=20&rows=10&cwd=%2Fwork+dir%2F%C3%A4"
        );
        assert_eq!(
            create_connect_path("pty2", PtySize::default(), Some("")),
            "/process/pty/create-connect?id=pty2&cols=80&rows=24"
        );
    }

    #[test]
    fn sizes_are_checked_like_the_sdk() {
        assert!(PtySize::new(24, 80).check("t").is_ok());
        assert!(PtySize::new(1000, 1).check("t").is_ok());
        let err = PtySize::new(0, 80).check("resize").unwrap_err();
        assert!(err.is_invalid());
        assert!(
            err.to_string().contains("rows must be between 1 and 1000"),
            "{err}"
        );
        assert!(PtySize::new(24, 1001).check("t").is_err());
    }
}
