//! [`RetryLayer`], which wraps services in `tower::retry::Retry` with [`IdempotentReads`].

use super::IdempotentReads;

/// Applies `tower::retry::Retry` with the [`IdempotentReads`] policy.
#[derive(Clone, Copy, Debug)]
pub struct RetryLayer {
    policy: IdempotentReads,
}

impl RetryLayer {
    /// Retries an idempotent read at most `max_retries` times (0 disables retries).
    pub fn new(max_retries: u32) -> RetryLayer {
        RetryLayer {
            policy: IdempotentReads::new(max_retries),
        }
    }
}

impl<S> tower::Layer<S> for RetryLayer {
    type Service = tower::retry::Retry<IdempotentReads, S>;

    fn layer(&self, inner: S) -> Self::Service {
        tower::retry::Retry::new(self.policy, inner)
    }
}
