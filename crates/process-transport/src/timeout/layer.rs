//! [`TimeoutLayer`], which wraps services in [`Timeout`].

use std::time::Duration;

use super::Timeout;

/// Applies [`Timeout`] with a default limit (`None`: only requests carrying a
/// [`RequestTimeout`](super::RequestTimeout) are limited).
#[derive(Clone, Copy, Debug, Default)]
pub struct TimeoutLayer {
    default: Option<Duration>,
}

impl TimeoutLayer {
    /// A layer with the given default limit.
    pub fn new(default: Option<Duration>) -> TimeoutLayer {
        TimeoutLayer { default }
    }
}

impl<S> tower::Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;

    fn layer(&self, inner: S) -> Timeout<S> {
        Timeout::new(inner, self.default)
    }
}
