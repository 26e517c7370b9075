//! [`TraceLayer`], which wraps services in [`Trace`].

use super::Trace;

/// Applies [`Trace`] to a service.
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceLayer {
    _priv: (),
}

impl TraceLayer {
    /// A tracing layer.
    pub fn new() -> TraceLayer {
        TraceLayer::default()
    }
}

impl<S> tower::Layer<S> for TraceLayer {
    type Service = Trace<S>;

    fn layer(&self, inner: S) -> Trace<S> {
        Trace::new(inner)
    }
}
