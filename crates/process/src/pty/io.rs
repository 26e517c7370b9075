//! [`PtyIo`]: a PTY as `AsyncRead` (its output) + `AsyncWrite` (its input).

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use process_transport::ws::Message;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::ErrorKind;
use crate::Error;

use super::{PendingWrite, PtyHandle, PtyResult};

/// A PTY as `AsyncRead` (output) + `AsyncWrite` (input); see [`PtyHandle::into_io`].
pub struct PtyIo {
    handle: PtyHandle,
    read_buf: Bytes,
    pending_write: Option<PendingWrite>,
}

// No field is pinned structurally (see `PtyHandle`).
impl Unpin for PtyIo {}

impl PtyIo {
    pub(super) fn new(handle: PtyHandle) -> PtyIo {
        PtyIo {
            handle,
            read_buf: Bytes::new(),
            pending_write: None,
        }
    }

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
