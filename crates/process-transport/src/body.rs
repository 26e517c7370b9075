//! The one body type requests and responses carry through every transport.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};

use crate::BoxError;

/// The request and response body of every transport: a boxed `http_body::Body` of `Bytes`.
///
/// A hyper response body is boxed into it without copying; tests build one with [`full`] or
/// [`empty`].
pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// A body holding `bytes`.
///
/// ```
/// use http_body::Body as _;
/// let body = process_transport::full("{}");
/// assert_eq!(body.size_hint().exact(), Some(2));
/// ```
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty body.
pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}
