//! [`Client`]: the facade's handle over a type-erased transport, and the request plumbing every
//! operation uses (JSON requests, WebSocket upgrades, error mapping).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, Uri};
use http_body_util::BodyExt;
use process_proto::wire::Language;
use process_transport::timeout::RequestTimeout;
use process_transport::ws::{self, WebSocket};
use process_transport::{Body, BoxError, BoxTransport, HttpTransport};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tower::ServiceExt;

use crate::error::{Context, Error};

/// A client of the process API: exec, code-run, sessions, log streams and PTYs.
///
/// Cheap to clone (clones share the connection pool), `Send + Sync`. Create one with
/// [`Client::embedded`] (a daemon inside this process), [`Client::connect`] /
/// [`Client::builder`] (a daemon elsewhere, e.g. a Daytona sandbox's toolbox URL), or
/// [`Client::new`] over any `tower::Service` of the right shape. The transport is erased at
/// construction (as kube-rs does), so `Client` and every builder it returns carry no type
/// parameter: `async fn run(c: &process::Client)` accepts clients over any transport.
///
/// The methods mirror the official SDK's `Process` (Python `sandbox.process`, TypeScript
/// `sandbox.process`), in idiomatic async Rust; each says which SDK method it corresponds to.
#[derive(Clone)]
pub struct Client {
    transport: BoxTransport,
    shared: Arc<Shared>,
}

struct Shared {
    /// Which daemon this is, for messages ("the daemon at http://…").
    daemon: String,
    /// Language of `code_run` unless the call sets one.
    language: Language,
    /// Keeps an embedded daemon (and its state directory) alive.
    #[cfg(feature = "embedded")]
    embedded: Option<crate::embedded::Guard>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("daemon", &self.shared.daemon)
            .field("language", &self.shared.language)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for the daemon at `url`: `http://host:port` for `processd`, or a toolbox URL
    /// with a path prefix (`http://proxy/toolbox/<sandboxId>`). Nothing is sent until the first
    /// call. For a token, a timeout or TLS, use [`Client::builder`].
    ///
    /// ```no_run
    /// # fn main() -> Result<(), process::Error> {
    /// let client = process::Client::connect("http://127.0.0.1:2280")?;
    /// # Ok(()) }
    /// ```
    pub fn connect(url: impl Into<String>) -> Result<Client, Error> {
        Client::builder(url).build()
    }

    /// Configures a client for the daemon at `url`.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), process::Error> {
    /// use std::time::Duration;
    /// let client = process::Client::builder("http://127.0.0.1:2280")
    ///     .token("s3cret")
    ///     .timeout(Duration::from_secs(60))
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        let url = url.into();
        ClientBuilder {
            transport: HttpTransport::builder(url.clone()),
            daemon: format!("the daemon at {url}"),
            language: Language::Python,
        }
    }

    pub(crate) fn from_parts(
        transport: HttpTransport,
        daemon: String,
        language: Language,
        #[cfg(feature = "embedded")] embedded: Option<crate::embedded::Guard>,
    ) -> Client {
        Client {
            transport: BoxTransport::new(transport),
            shared: Arc::new(Shared {
                daemon,
                language,
                #[cfg(feature = "embedded")]
                embedded,
            }),
        }
    }

    /// A client over any transport: a `tower::Service<http::Request<Body>>` answering
    /// `http::Response<Body>`, cloneable. Requests carry origin-form URIs
    /// (`/process/execute`); the transport decides where they go. Plain requests work over
    /// anything (e.g. `tower_test::mock`); log streams and PTYs need a transport that can
    /// upgrade connections ([`HttpTransport`] over TCP or in memory).
    ///
    /// ```
    /// use process_transport::HttpTransport;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // The layers of `process_transport` compose with any service; here the default stack.
    /// let transport = HttpTransport::builder("http://127.0.0.1:2280").retries(0).build()?;
    /// let client = process::Client::new(transport);
    /// # let _ = client;
    /// # Ok(()) }
    /// ```
    pub fn new<S>(transport: S) -> Client
    where
        S: tower::Service<Request<Body>, Response = Response<Body>> + Clone + Send + Sync + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
    {
        Client {
            transport: BoxTransport::new(transport.map_err(Into::into)),
            shared: Arc::new(Shared {
                daemon: "the daemon".to_owned(),
                language: Language::Python,
                #[cfg(feature = "embedded")]
                embedded: None,
            }),
        }
    }

    /// The same client with another default `code_run` language (`python` by default, as the
    /// SDK's default sandbox language).
    #[must_use]
    pub fn with_language(self, language: Language) -> Client {
        let shared = Arc::new(Shared {
            daemon: self.shared.daemon.clone(),
            language,
            #[cfg(feature = "embedded")]
            embedded: self.shared.embedded.clone(),
        });
        Client {
            transport: self.transport,
            shared,
        }
    }

    /// Stops the embedded daemon behind this client, if it has one ([`Client::embedded`]):
    /// ends every session, PTY and process it started. Every clone of the client is affected.
    /// Dropping the last clone does the same; call this in programs that end right after (the
    /// end of a current-thread `main`), where a drop cannot wait for the processes to stop.
    /// For a daemon elsewhere this does nothing.
    #[cfg_attr(not(feature = "embedded"), allow(clippy::unused_async))]
    pub async fn shutdown(&self) {
        #[cfg(feature = "embedded")]
        if let Some(guard) = &self.shared.embedded {
            guard.shutdown().await;
        }
    }

    /// The transport, type-erased.
    pub fn transport(&self) -> &BoxTransport {
        &self.transport
    }

    pub(crate) fn language(&self) -> &Language {
        &self.shared.language
    }
}

/// Configures a [`Client`] for a daemon elsewhere. Setters cannot fail; [`ClientBuilder::build`]
/// checks everything.
#[derive(Debug, Clone)]
#[must_use]
pub struct ClientBuilder {
    transport: process_transport::Builder,
    daemon: String,
    language: Language,
}

impl ClientBuilder {
    /// Sends `Authorization: Bearer <token>`: a Daytona API key or JWT for a toolbox URL, or
    /// the token `processd` was started with.
    pub fn token(mut self, token: impl Into<String>) -> ClientBuilder {
        self.transport = self.transport.token(token);
        self
    }

    /// Limits the wait for any answer (none by default: `exec` and synchronous session
    /// commands can legitimately run long). Calls with their own timeout wait that plus 5 s.
    pub fn timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.transport = self.transport.timeout(timeout);
        self
    }

    /// How often idempotent reads are retried after a connection failure or a 502/503/504
    /// (default 2).
    pub fn retries(mut self, retries: u32) -> ClientBuilder {
        self.transport = self.transport.retries(retries);
        self
    }

    /// Announces another `X-Daytona-SDK-Version` (default
    /// [`SDK_VERSION`](process_transport::sdk_version::SDK_VERSION)). Versions below 0.167.0 make
    /// daemons answer in legacy shapes.
    pub fn sdk_version(mut self, version: impl Into<String>) -> ClientBuilder {
        self.transport = self.transport.sdk_version(version);
        self
    }

    /// The default language of `code_run` (the sandbox's language; `python` by default).
    pub fn language(mut self, language: Language) -> ClientBuilder {
        self.language = language;
        self
    }

    /// TLS settings for `https` URLs (feature `tls`), e.g. to trust a private certificate
    /// authority; by default the webpki (Mozilla) roots are trusted.
    #[cfg(feature = "tls")]
    pub fn tls_config(mut self, config: rustls::ClientConfig) -> ClientBuilder {
        self.transport = self.transport.tls_config(config);
        self
    }

    /// A client over TCP: `http` URLs, and `https` ones with the `tls` feature.
    pub fn build(self) -> Result<Client, Error> {
        let transport = self
            .transport
            .clone()
            .build()
            .map_err(|e| invalid_setup(&e))?;
        Ok(self.finish(transport))
    }

    /// A client whose connections come from `connector` (any `tower::Service<Uri>` yielding a
    /// hyper IO with hyper-util's `Connection`), e.g. a TLS connector for `https` toolbox URLs.
    pub fn build_with_connector<C>(self, connector: C) -> Result<Client, Error>
    where
        C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
    {
        let transport = self
            .transport
            .clone()
            .build_with_connector(connector)
            .map_err(|e| invalid_setup(&e))?;
        Ok(self.finish(transport))
    }

    fn finish(self, transport: HttpTransport) -> Client {
        Client::from_parts(
            transport,
            self.daemon,
            self.language,
            #[cfg(feature = "embedded")]
            None,
        )
    }
}

fn invalid_setup(err: &process_transport::Error) -> Error {
    Error::invalid_input(format!("cannot set up the client: {err}"))
}

/// The response of a request that succeeded (2xx, or 101 for upgrades).
pub(crate) struct Answer {
    pub(crate) content_type: Option<HeaderValue>,
    pub(crate) body: Bytes,
}

impl Answer {
    pub(crate) fn json<R: DeserializeOwned>(&self, ctx: &Context) -> Result<R, Error> {
        serde_json::from_slice(&self.body).map_err(|e| Error::protocol(ctx, e))
    }

    pub(crate) fn is_json(&self) -> bool {
        self.content_type
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"))
    }
}

/// How long to wait for a call that asked the daemon for a `timeout`: that plus 5 s (as the
/// SDK does).
pub(crate) fn grace(timeout: Option<Duration>) -> Option<RequestTimeout> {
    timeout
        .filter(|t| !t.is_zero())
        .map(|t| RequestTimeout(Some(t + Duration::from_secs(5))))
}

impl Client {
    /// Sends one request and reads the whole answer; non-2xx answers become errors named by
    /// `ctx`.
    pub(crate) async fn send(
        &self,
        ctx: &Context,
        method: Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
        timeout: Option<RequestTimeout>,
    ) -> Result<Answer, Error> {
        let uri: Uri = path_and_query.parse().map_err(|e| {
            Error::invalid_input(format!(
                "{}: cannot build the request path '{path_and_query}': {e}",
                ctx.op
            ))
        })?;
        let mut req = Request::new(match body {
            Some(bytes) => process_transport::full(bytes),
            None => process_transport::empty(),
        });
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        req.headers_mut()
            .insert(ACCEPT, HeaderValue::from_static("application/json"));
        if req.method() == Method::POST {
            req.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        if let Some(t) = timeout {
            req.extensions_mut().insert(t);
        }
        let resp = self
            .transport
            .clone()
            .oneshot(req)
            .await
            .map_err(|e| ctx.transport_error(e, &self.shared.daemon))?;
        let status = resp.status();
        let content_type = resp.headers().get(CONTENT_TYPE).cloned();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| ctx.transport_error(e, &self.shared.daemon))?
            .to_bytes();
        if !status.is_success() {
            return Err(ctx.response_error(status, &body));
        }
        Ok(Answer { content_type, body })
    }

    /// `send` with a JSON body.
    pub(crate) async fn send_json<B: Serialize>(
        &self,
        ctx: &Context,
        method: Method,
        path: &str,
        body: &B,
        timeout: Option<RequestTimeout>,
    ) -> Result<Answer, Error> {
        let bytes = serde_json::to_vec(body).map_err(|e| {
            Error::invalid_input(format!("{}: cannot encode the request: {e}", ctx.op))
        })?;
        self.send(ctx, method, path, Some(bytes), timeout).await
    }

    /// `GET path` decoded as JSON.
    pub(crate) async fn get_json<R: DeserializeOwned>(
        &self,
        ctx: &Context,
        path: &str,
    ) -> Result<R, Error> {
        self.send(ctx, Method::GET, path, None, None)
            .await?
            .json(ctx)
    }

    /// Sends `req` and hands back the streaming response of a 2xx answer; other answers are
    /// read (bounded by the transport) and become errors named by `ctx`.
    pub(crate) async fn send_streaming(
        &self,
        ctx: &Context,
        req: Request<Body>,
    ) -> Result<Response<Body>, Error> {
        let resp = self.send_raw(ctx, req).await?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| ctx.transport_error(e, &self.shared.daemon))?
            .to_bytes();
        Err(ctx.response_error(status, &body))
    }

    /// Sends `req` and hands back any answer, streaming.
    pub(crate) async fn send_raw(
        &self,
        ctx: &Context,
        req: Request<Body>,
    ) -> Result<Response<Body>, Error> {
        self.transport
            .clone()
            .oneshot(req)
            .await
            .map_err(|e| ctx.transport_error(e, &self.shared.daemon))
    }

    /// The transport error of a failed body read, naming the daemon.
    pub(crate) fn body_error(&self, ctx: &Context, err: BoxError) -> Error {
        ctx.transport_error(err, &self.shared.daemon)
    }

    /// Opens a WebSocket on `path_and_query`, offering `protocols`.
    pub(crate) async fn open_websocket(
        &self,
        ctx: &Context,
        path_and_query: &str,
        protocols: &[&str],
    ) -> Result<WebSocket, Error> {
        let uri: Uri = path_and_query.parse().map_err(|e| {
            Error::invalid_input(format!(
                "{}: cannot build the request path '{path_and_query}': {e}",
                ctx.op
            ))
        })?;
        let req = ws::upgrade_request(uri, protocols)
            .map_err(|e| Error::invalid_input(format!("{}: {e}", ctx.op)))?;
        ws::connect(self.transport.clone(), req)
            .await
            .map_err(|e| ctx.transport_error(e, &self.shared.daemon))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_adds_five_seconds() {
        assert_eq!(grace(None), None);
        assert_eq!(grace(Some(Duration::ZERO)), None);
        assert_eq!(
            grace(Some(Duration::from_secs(5))),
            Some(RequestTimeout(Some(Duration::from_secs(10))))
        );
    }
}
