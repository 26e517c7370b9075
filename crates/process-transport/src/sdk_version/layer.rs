//! [`SdkVersionLayer`], which wraps services in [`SdkVersion`].

use http::HeaderValue;

use super::{SdkVersion, SDK_VERSION};
use crate::Error;

/// Applies [`SdkVersion`] to a service.
#[derive(Clone, Debug)]
pub struct SdkVersionLayer {
    version: HeaderValue,
    source: HeaderValue,
    user_agent: HeaderValue,
}

impl SdkVersionLayer {
    /// A layer announcing `version` (e.g. `"0.226.1"`). Use [`SdkVersionLayer::default`] for
    /// [`SDK_VERSION`].
    pub fn new(version: &str) -> Result<SdkVersionLayer, Error> {
        let version = HeaderValue::try_from(version).map_err(|e| Error::InvalidHeader {
            name: "X-Daytona-SDK-Version",
            reason: e.to_string(),
        })?;
        Ok(SdkVersionLayer {
            version,
            ..SdkVersionLayer::default()
        })
    }
}

impl Default for SdkVersionLayer {
    fn default() -> SdkVersionLayer {
        SdkVersionLayer {
            version: HeaderValue::from_static(SDK_VERSION),
            source: HeaderValue::from_static("process-rust"),
            user_agent: HeaderValue::from_static(concat!(
                "process-rust/",
                env!("CARGO_PKG_VERSION")
            )),
        }
    }
}

impl<S> tower::Layer<S> for SdkVersionLayer {
    type Service = SdkVersion<S>;

    fn layer(&self, inner: S) -> SdkVersion<S> {
        SdkVersion {
            inner,
            version: self.version.clone(),
            source: self.source.clone(),
            user_agent: self.user_agent.clone(),
        }
    }
}
