//! The in-memory connector: every new connection is a `tokio::io::duplex` pair whose server end
//! is served by a hyper service you provide (e.g. the daemon's), so requests take the same HTTP
//! and WebSocket code paths as over TCP, without a socket.

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use tokio::io::DuplexStream;

use crate::BoxError;

/// Bytes buffered in each direction of an in-memory connection.
const DUPLEX_CAPACITY: usize = 256 * 1024;

/// A connector (`tower::Service<Uri>`) that creates an in-memory connection per call and spawns
/// the server side of it, served by `S` with HTTP/1.1 and upgrades.
///
/// `S` is any hyper service over `Request<Incoming>`; this crate does not know the daemon. Use it
/// through [`HttpTransport::builder`](crate::HttpTransport::builder)`(..).build_in_memory(service)`.
/// Must be called inside a tokio runtime (it spawns the server task).
#[derive(Clone, Debug)]
pub struct MemoryConnector<S> {
    service: S,
}

impl<S> MemoryConnector<S> {
    /// A connector whose connections are served by `service`.
    pub fn new(service: S) -> MemoryConnector<S> {
        MemoryConnector { service }
    }
}

impl<S, B> tower::Service<Uri> for MemoryConnector<S>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = MemoryStream;
    type Error = Infallible;
    type Future = Ready<Result<MemoryStream, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        let (client, server) = tokio::io::duplex(DUPLEX_CAPACITY);
        let service = self.service.clone();
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(server), service)
                .with_upgrades();
            if let Err(err) = conn.await {
                tracing::debug!(error = %err, "in-memory connection ended with an error");
            }
        });
        ready(Ok(MemoryStream {
            io: TokioIo::new(client),
        }))
    }
}

/// The client end of an in-memory connection (hyper IO).
#[derive(Debug)]
pub struct MemoryStream {
    io: TokioIo<DuplexStream>,
}

impl Connection for MemoryStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for MemoryStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for MemoryStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
