//! WebSockets over any transport service: the upgrade request goes through the same
//! `tower::Service` (and so the same layers and connection pool) as plain requests; the upgraded
//! connection is driven by fastwebsockets.
//!
//! [`connect`] returns a [`WebSocket`]: a cloneable [`WsSender`] and a [`WsReceiver`] (a
//! `Stream` of [`Message`]s). Two small tasks drive the connection: a reader (answers pings,
//! reassembles fragments) and a writer (sends your frames and a keep-alive ping every
//! [`KEEPALIVE`]). Dropping both halves closes the connection with code 1000.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use fastwebsockets::{Frame, OpCode, Payload, Role};
use http::header::{
    CONNECTION, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Limited};
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;
use tower::ServiceExt;

use crate::{Body, BoxError, Error};

/// Interval of the keep-alive pings the client sends (as the official SDKs do).
pub const KEEPALIVE: Duration = Duration::from_secs(20);

/// Largest refusal body kept in [`Error::UpgradeRejected`].
const MAX_REJECTION_BODY: usize = 64 * 1024;

/// Messages buffered between the connection tasks and the handle, each way.
const CHANNEL_CAPACITY: usize = 64;

/// A WebSocket message (pings and pongs are handled for you).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message {
    /// A text message (valid UTF-8).
    Text(String),
    /// A binary message.
    Binary(Bytes),
    /// A close frame; `None` when it carried no status code. Always the last message received.
    Close(Option<CloseFrame>),
}

/// The status code and reason of a close frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseFrame {
    /// Close code (1000 normal, 1011 server error, 4008 interpreter timeout, …).
    pub code: u16,
    /// Reason text (≤ 123 bytes on the wire; the PTY puts JSON exit data here).
    pub reason: String,
}

/// Builds a WebSocket upgrade request for `uri` (usually origin-form, `/process/...`) offering
/// `protocols` in `Sec-WebSocket-Protocol` (none when empty).
///
/// ```
/// let req = process_transport::ws::upgrade_request(
///     "/process/pty/p1/connect".parse()?,
///     &["X-Daytona-Pty-Exit-Control"],
/// )?;
/// assert_eq!(req.headers()["upgrade"], "websocket");
/// assert_eq!(req.headers()["sec-websocket-protocol"], "X-Daytona-Pty-Exit-Control");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn upgrade_request(uri: Uri, protocols: &[&str]) -> Result<Request<Body>, Error> {
    let mut req = Request::new(crate::empty());
    *req.method_mut() = Method::GET;
    *req.uri_mut() = uri;
    let headers = req.headers_mut();
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
    let key = HeaderValue::try_from(fastwebsockets::handshake::generate_key()).map_err(|e| {
        Error::InvalidHeader {
            name: "Sec-WebSocket-Key",
            reason: e.to_string(),
        }
    })?;
    headers.insert(SEC_WEBSOCKET_KEY, key);
    if !protocols.is_empty() {
        let value =
            HeaderValue::try_from(protocols.join(", ")).map_err(|e| Error::InvalidHeader {
                name: "Sec-WebSocket-Protocol",
                reason: e.to_string(),
            })?;
        headers.insert(SEC_WEBSOCKET_PROTOCOL, value);
    }
    Ok(req)
}

/// Sends the upgrade `request` (see [`upgrade_request`]) through `service` and takes over the
/// connection.
///
/// Errors: the service's own errors; [`Error::UpgradeRejected`] (with the response body) when
/// the server answers with a plain HTTP response; [`Error::UpgradeUnsupported`] when the service
/// cannot hand out upgraded connections.
pub async fn connect<S>(service: S, request: Request<Body>) -> Result<WebSocket, BoxError>
where
    S: tower::Service<Request<Body>, Response = Response<Body>>,
    S::Error: Into<BoxError>,
{
    let response = service.oneshot(request).await.map_err(Into::into)?;
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_REJECTION_BODY)
            .collect()
            .await
            .map(http_body_util::Collected::to_bytes)
            .unwrap_or_default();
        return Err(Box::new(Error::UpgradeRejected { status, body }));
    }
    let is_ws = response
        .headers()
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !is_ws {
        return Err(Box::new(Error::NotWebSocket));
    }
    if response
        .extensions()
        .get::<hyper::upgrade::OnUpgrade>()
        .is_none()
    {
        return Err(Box::new(Error::UpgradeUnsupported));
    }
    let protocol = response
        .headers()
        .get(SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let upgraded = hyper::upgrade::on(response)
        .await
        .map_err(|e| Box::new(Error::Upgrade(e)))?;
    Ok(WebSocket::start(TokioIo::new(upgraded), protocol))
}

/// An open WebSocket connection (client role).
#[derive(Debug)]
pub struct WebSocket {
    sender: WsSender,
    receiver: WsReceiver,
    protocol: Option<String>,
}

impl WebSocket {
    /// Drives a connection that already completed its handshake. Spawns the reader and writer
    /// tasks: call inside a tokio runtime.
    pub fn start<S>(io: S, protocol: Option<String>) -> WebSocket
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        let ws = fastwebsockets::WebSocket::after_handshake(io, Role::Client);
        let (read, write) = ws.split(tokio::io::split);
        let read = fastwebsockets::FragmentCollectorRead::new(read);
        let (out_tx, out_rx) = mpsc::channel(CHANNEL_CAPACITY);
        let (in_tx, in_rx) = mpsc::channel(CHANNEL_CAPACITY);
        tokio::spawn(read_loop(read, out_tx.clone(), in_tx));
        tokio::spawn(write_loop(write, out_rx));
        WebSocket {
            sender: WsSender { tx: out_tx },
            receiver: WsReceiver { rx: in_rx },
            protocol,
        }
    }

    /// The subprotocol the server selected, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// Sends a message.
    pub async fn send(&self, message: Message) -> Result<(), Error> {
        self.sender.send(message).await
    }

    /// The next message; `None` after the close frame (or after an error).
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        self.receiver.recv().await
    }

    /// Splits into a sending and a receiving half.
    pub fn split(self) -> (WsSender, WsReceiver) {
        (self.sender, self.receiver)
    }
}

/// The sending half of a [`WebSocket`]; cheap to clone.
#[derive(Clone, Debug)]
pub struct WsSender {
    tx: mpsc::Sender<Frame<'static>>,
}

impl WsSender {
    /// Sends a message. `Message::Close` sends a close frame; nothing can be sent after it.
    pub async fn send(&self, message: Message) -> Result<(), Error> {
        let frame = match message {
            Message::Text(text) => Frame::text(Payload::Owned(text.into_bytes())),
            Message::Binary(bytes) => Frame::binary(Payload::Bytes(BytesMut::from(bytes))),
            Message::Close(Some(close)) => Frame::close(close.code, close.reason.as_bytes()),
            Message::Close(None) => Frame::close_raw(Payload::Owned(Vec::new())),
        };
        self.tx.send(frame).await.map_err(|_| Error::Closed)
    }

    /// Sends a close frame with `code` and `reason`.
    pub async fn close(&self, code: u16, reason: &str) -> Result<(), Error> {
        self.send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.to_owned(),
        })))
        .await
    }

    /// Whether the connection's writer has stopped (closed or failed).
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// The receiving half of a [`WebSocket`]: a `Stream` of messages ending after the close frame.
#[derive(Debug)]
pub struct WsReceiver {
    rx: mpsc::Receiver<Result<Message, Error>>,
}

impl WsReceiver {
    /// The next message; `None` once the connection is over.
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        self.rx.recv().await
    }
}

impl futures_util::Stream for WsReceiver {
    type Item = Result<Message, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

fn owned(frame: Frame<'_>) -> Frame<'static> {
    Frame::new(
        frame.fin,
        frame.opcode,
        None,
        Payload::Owned(frame.payload.to_vec()),
    )
}

async fn read_loop<S>(
    mut read: fastwebsockets::FragmentCollectorRead<S>,
    obligations: mpsc::Sender<Frame<'static>>,
    messages: mpsc::Sender<Result<Message, Error>>,
) where
    S: tokio::io::AsyncRead + Unpin,
{
    loop {
        // Pongs and the close echo go out through the writer. If it has stopped (we closed
        // first), there is nobody to answer and nothing to fail: the frame is still delivered.
        let mut send_fn = |frame: Frame<'_>| {
            let tx = obligations.clone();
            let frame = owned(frame);
            async move {
                let _ = tx.send(frame).await;
                Ok::<(), Error>(())
            }
        };
        let frame = tokio::select! {
            biased;
            () = messages.closed() => return,
            frame = read.read_frame(&mut send_fn) => frame,
        };
        let message = match frame {
            Ok(frame) => match frame.opcode {
                OpCode::Text => {
                    // fastwebsockets validated the UTF-8 already; stay lossless anyway.
                    Message::Text(String::from_utf8_lossy(&frame.payload).into_owned())
                }
                OpCode::Binary => Message::Binary(Bytes::from(frame.payload.to_vec())),
                OpCode::Close => {
                    let _ = messages
                        .send(Ok(Message::Close(parse_close(&frame.payload))))
                        .await;
                    return;
                }
                OpCode::Ping | OpCode::Pong | OpCode::Continuation => continue,
            },
            Err(fastwebsockets::WebSocketError::UnexpectedEOF) => {
                let _ = messages.send(Err(Error::ConnectionLost)).await;
                return;
            }
            Err(err) => {
                let _ = messages.send(Err(Error::WebSocket(err))).await;
                return;
            }
        };
        if messages.send(Ok(message)).await.is_err() {
            return;
        }
    }
}

fn parse_close(payload: &[u8]) -> Option<CloseFrame> {
    if payload.len() < 2 {
        return None;
    }
    Some(CloseFrame {
        code: u16::from_be_bytes([payload[0], payload[1]]),
        reason: String::from_utf8_lossy(&payload[2..]).into_owned(),
    })
}

async fn write_loop<S>(
    mut write: fastwebsockets::WebSocketWrite<S>,
    mut frames: mpsc::Receiver<Frame<'static>>,
) where
    S: tokio::io::AsyncWrite + Unpin,
{
    let mut keepalive =
        tokio::time::interval_at(tokio::time::Instant::now() + KEEPALIVE, KEEPALIVE);
    loop {
        let frame = tokio::select! {
            frame = frames.recv() => frame,
            _ = keepalive.tick() => Some(Frame::new(true, OpCode::Ping, None, Payload::Owned(Vec::new()))),
        };
        let Some(frame) = frame else {
            // Every sender is gone: close politely.
            if !write.is_closed() {
                let _ = write.write_frame(Frame::close(1000, b"")).await;
                let _ = write.flush().await;
            }
            return;
        };
        let closing = frame.opcode == OpCode::Close;
        if write.write_frame(frame).await.is_err() || write.flush().await.is_err() {
            return;
        }
        if closing {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_payload_parses() {
        assert_eq!(parse_close(b""), None);
        assert_eq!(
            parse_close(b"\x03\xf3{\"exitCode\":137}"),
            Some(CloseFrame {
                code: 1011,
                reason: "{\"exitCode\":137}".into()
            })
        );
    }

    proptest::proptest! {
        /// Any close payload reads without panicking; code and reason survive a round trip.
        #[test]
        fn close_payloads_round_trip(code in proptest::num::u16::ANY, reason in ".{0,40}", junk in proptest::collection::vec(proptest::num::u8::ANY, 0..130)) {
            let _ = parse_close(&junk);
            let mut payload = code.to_be_bytes().to_vec();
            payload.extend_from_slice(reason.as_bytes());
            let frame = parse_close(&payload).unwrap();
            proptest::prop_assert_eq!(frame.code, code);
            proptest::prop_assert_eq!(frame.reason, reason);
        }
    }

    #[test]
    fn upgrade_request_without_protocols_has_no_protocol_header() {
        let req = upgrade_request("/x".parse().unwrap(), &[]).unwrap();
        assert!(!req.headers().contains_key(SEC_WEBSOCKET_PROTOCOL));
        assert_eq!(req.headers()[SEC_WEBSOCKET_VERSION], "13");
        assert_eq!(req.method(), Method::GET);
    }
}
