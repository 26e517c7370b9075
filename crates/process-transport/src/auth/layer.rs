//! [`BearerLayer`], which wraps services in [`Bearer`].

use http::HeaderValue;

use super::Bearer;
use crate::Error;

/// Applies [`Bearer`] to a service.
#[derive(Clone)]
pub struct BearerLayer {
    value: HeaderValue,
}

impl BearerLayer {
    /// A layer sending `token` (without the `Bearer ` prefix). Fails if the token contains
    /// characters a header cannot carry (control characters, non-visible bytes).
    pub fn new(token: &str) -> Result<BearerLayer, Error> {
        let mut value =
            HeaderValue::try_from(format!("Bearer {token}")).map_err(|e| Error::InvalidHeader {
                name: "Authorization",
                reason: format!("the token is not a valid header value ({e})"),
            })?;
        value.set_sensitive(true);
        Ok(BearerLayer { value })
    }
}

impl std::fmt::Debug for BearerLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerLayer").finish_non_exhaustive()
    }
}

impl<S> tower::Layer<S> for BearerLayer {
    type Service = Bearer<S>;

    fn layer(&self, inner: S) -> Bearer<S> {
        Bearer::new(inner, self.value.clone())
    }
}
