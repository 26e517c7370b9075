//! TLS for `https`/`wss` daemons (feature `tls`): hyper-rustls over hyper-util's TCP connector,
//! with the ring provider and either the webpki roots or a `rustls::ClientConfig` you give.

use std::sync::Arc;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;

use crate::Error;

/// A connector for `https` (and `http`) URLs, HTTP/1.1 only (WebSocket upgrades need it).
pub(crate) fn connector(
    config: Option<Arc<rustls::ClientConfig>>,
) -> Result<HttpsConnector<HttpConnector>, Error> {
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let builder = match config {
        Some(config) => builder.with_tls_config((*config).clone()),
        None => builder
            .with_provider_and_webpki_roots(Arc::new(rustls::crypto::ring::default_provider()))
            .map_err(|e| Error::InvalidUrl {
                url: "https://…".to_owned(),
                reason: format!("cannot set up TLS: {e}"),
            })?,
    };
    Ok(builder.https_or_http().enable_http1().wrap_connector(tcp))
}
