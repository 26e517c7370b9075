//! The response future of [`Trace`](super::Trace).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use http::Response;
use pin_project_lite::pin_project;
use tracing::Span;

pin_project! {
    /// Polls the inner future inside the request's span; logs the status or error when done.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        span: Span,
        start: Instant,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, span: Span) -> ResponseFuture<F> {
        ResponseFuture {
            inner,
            span,
            start: Instant::now(),
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: std::fmt::Display,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _enter = this.span.enter();
        let out = std::task::ready!(this.inner.poll(cx));
        let elapsed = this.start.elapsed();
        match &out {
            Ok(resp) => tracing::debug!(status = resp.status().as_u16(), ?elapsed, "response"),
            Err(err) => tracing::debug!(error = %err, ?elapsed, "request failed"),
        }
        Poll::Ready(out)
    }
}
