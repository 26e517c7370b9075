//! [`Body`], the one body type requests and responses carry through every transport.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};

use crate::BoxError;

/// The request and response body of every transport: any `http_body::Body` of `Bytes`, boxed.
///
/// A named type (rather than an alias of `UnsyncBoxBody<Bytes, BoxError>`) so that services
/// over it have futures whose `Send`-ness rustc can prove in generic code. A hyper response
/// body is boxed into it without copying; build one with [`full`], [`empty`] or
/// [`Body::new`].
pub struct Body {
    inner: UnsyncBoxBody<Bytes, BoxError>,
}

impl Body {
    /// Boxes any body whose error converts into [`BoxError`].
    pub fn new<B>(body: B) -> Body
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        Body {
            inner: body.map_err(Into::into).boxed_unsync(),
        }
    }
}

impl Default for Body {
    fn default() -> Body {
        empty()
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Body")
            .field("size_hint", &http_body::Body::size_hint(&self.inner))
            .finish()
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A body holding `bytes`.
///
/// ```
/// use http_body::Body as _;
/// let body = process_transport::full("{}");
/// assert_eq!(body.size_hint().exact(), Some(2));
/// ```
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Body::new(Full::new(bytes.into()))
}

/// An empty body.
pub fn empty() -> Body {
    Body::new(Empty::new())
}
