//! [`HttpTransport`], the default transport: [`HyperClient`] under the standard layers, erased
//! into one cloneable type, and its [`Builder`].

use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::Connect;
use tower::util::BoxCloneSyncService;
use tower::ServiceBuilder;

use crate::auth::BearerLayer;
use crate::retry::RetryLayer;
use crate::sdk_version::SdkVersionLayer;
use crate::timeout::TimeoutLayer;
use crate::trace::TraceLayer;
use crate::{Body, BoxError, Error, HyperClient, MemoryConnector, Origin};

/// The base URL of in-memory transports (never resolved; it only fills the `Host` header).
pub const MEMORY_URL: &str = "http://in-memory.invalid";

/// Retries of idempotent reads by default.
const DEFAULT_RETRIES: u32 = 2;

/// The type-erased transport: any `tower::Service` of the right shape, cloneable and `Sync`.
pub type BoxTransport = BoxCloneSyncService<Request<Body>, Response<Body>, BoxError>;

/// The default transport: hyper-util's pooled HTTP/1.1 client (over TCP, in memory, or any
/// connector you give it) under the [`trace`](crate::trace), [`timeout`](crate::timeout),
/// [`retry`](crate::retry), [`sdk_version`](crate::sdk_version) and [`auth`](crate::auth)
/// layers, in that order from the outside in. Cheap to clone; clones share the pool.
///
/// ```no_run
/// # async fn demo() -> Result<(), process_transport::Error> {
/// use std::time::Duration;
/// let transport = process_transport::HttpTransport::builder("http://127.0.0.1:2280")
///     .token("s3cret")
///     .timeout(Duration::from_secs(30))
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct HttpTransport {
    inner: BoxTransport,
    origin: Origin,
}

impl HttpTransport {
    /// Starts configuring a transport for the daemon at `url` (`http://host:port`, optionally
    /// with a path prefix such as `/toolbox/<sandboxId>`).
    pub fn builder(url: impl Into<String>) -> Builder {
        Builder {
            url: url.into(),
            #[cfg(feature = "tls")]
            tls_config: None,
            token: None,
            sdk_version: None,
            timeout: None,
            retries: DEFAULT_RETRIES,
        }
    }

    /// A TCP transport for `url` with default settings.
    pub fn connect(url: impl Into<String>) -> Result<HttpTransport, Error> {
        HttpTransport::builder(url).build()
    }

    /// An in-memory transport whose connections are served by `service` (see
    /// [`MemoryConnector`]), with default settings.
    pub fn in_memory<S, B>(service: S) -> Result<HttpTransport, Error>
    where
        S: hyper::service::Service<Request<Incoming>, Response = Response<B>>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        HttpTransport::builder(MEMORY_URL).build_in_memory(service)
    }

    /// Where requests go.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The erased service inside.
    pub fn into_inner(self) -> BoxTransport {
        self.inner
    }
}

impl tower::Service<Request<Body>> for HttpTransport {
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = <BoxTransport as tower::Service<Request<Body>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        self.inner.call(req)
    }
}

/// Configures an [`HttpTransport`]. Setters cannot fail; [`Builder::build`] checks everything.
#[derive(Clone)]
#[must_use]
pub struct Builder {
    url: String,
    #[cfg(feature = "tls")]
    tls_config: Option<std::sync::Arc<rustls::ClientConfig>>,
    token: Option<String>,
    sdk_version: Option<String>,
    timeout: Option<Duration>,
    retries: u32,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Builder");
        d.field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("sdk_version", &self.sdk_version)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries);
        #[cfg(feature = "tls")]
        d.field("tls_config", &self.tls_config.as_ref().map(|_| "<custom>"));
        d.finish()
    }
}

impl Builder {
    /// Sends `Authorization: Bearer <token>` (a Daytona API key or JWT, or `processd --token`).
    pub fn token(mut self, token: impl Into<String>) -> Builder {
        self.token = Some(token.into());
        self
    }

    /// Announces another `X-Daytona-SDK-Version` than
    /// [`SDK_VERSION`](crate::sdk_version::SDK_VERSION).
    pub fn sdk_version(mut self, version: impl Into<String>) -> Builder {
        self.sdk_version = Some(version.into());
        self
    }

    /// Default limit on waiting for a response head (none by default; requests can set their
    /// own with [`RequestTimeout`](crate::timeout::RequestTimeout)).
    pub fn timeout(mut self, timeout: Duration) -> Builder {
        self.timeout = Some(timeout);
        self
    }

    /// How often an idempotent read is retried (default 2; 0 disables).
    pub fn retries(mut self, retries: u32) -> Builder {
        self.retries = retries;
        self
    }

    /// TLS settings for `https` URLs (feature `tls`), e.g. to trust a private certificate
    /// authority. Without it, the webpki (Mozilla) roots are trusted.
    #[cfg(feature = "tls")]
    pub fn tls_config(mut self, config: rustls::ClientConfig) -> Builder {
        self.tls_config = Some(std::sync::Arc::new(config));
        self
    }

    /// A TCP transport: `http` URLs, and `https` ones with the `tls` feature (otherwise use
    /// [`Builder::build_with_connector`] with a TLS connector).
    pub fn build(self) -> Result<HttpTransport, Error> {
        let origin = Origin::parse(&self.url)?;
        #[cfg(feature = "tls")]
        if origin.scheme() == &http::uri::Scheme::HTTPS {
            let connector = crate::tls::connector(self.tls_config.clone())?;
            return self.finish(HyperClient::with_connector(connector, origin));
        }
        let client = HyperClient::new(origin)?;
        self.finish(client)
    }

    /// A transport whose connections come from `connector`: any `tower::Service<Uri>` yielding
    /// a hyper IO that implements hyper-util's `Connection` (e.g. a TLS connector).
    pub fn build_with_connector<C>(self, connector: C) -> Result<HttpTransport, Error>
    where
        C: Connect + Clone + Send + Sync + 'static,
    {
        let origin = Origin::parse(&self.url)?;
        self.finish(HyperClient::with_connector(connector, origin))
    }

    /// An in-memory transport: each connection is a `tokio::io::duplex` pair served by
    /// `service` (see [`MemoryConnector`]).
    pub fn build_in_memory<S, B>(self, service: S) -> Result<HttpTransport, Error>
    where
        S: hyper::service::Service<Request<Incoming>, Response = Response<B>>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        self.build_with_connector(MemoryConnector::new(service))
    }

    fn finish<C>(self, client: HyperClient<C>) -> Result<HttpTransport, Error>
    where
        C: Connect + Clone + Send + Sync + 'static,
    {
        let origin = client.origin().clone();
        let bearer = self.token.as_deref().map(BearerLayer::new).transpose()?;
        let version = match &self.sdk_version {
            Some(v) => SdkVersionLayer::new(v)?,
            None => SdkVersionLayer::default(),
        };
        let stack = ServiceBuilder::new()
            .layer(TraceLayer::new())
            .layer(TimeoutLayer::new(self.timeout))
            .layer(RetryLayer::new(self.retries))
            .layer(version)
            .option_layer(bearer)
            .service(client);
        Ok(HttpTransport {
            inner: BoxCloneSyncService::new(stack),
            origin,
        })
    }
}
