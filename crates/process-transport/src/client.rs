//! [`HyperClient`]: hyper-util's pooled HTTP/1.1 client as a `tower::Service`, with the base URL
//! (scheme, host, path prefix) applied to every request.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, Uri};
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use pin_project_lite::pin_project;

use crate::{Body, BoxError, Error};

/// How long an idle pooled connection is kept (the daemon closes idle ones after 70 s).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_mins(1);

/// Where requests go: scheme, authority and an optional path prefix (e.g. the Daytona proxy's
/// `/toolbox/<sandboxId>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    scheme: Scheme,
    authority: Authority,
    prefix: String,
}

impl Origin {
    /// Parses a base URL such as `http://127.0.0.1:2280` or
    /// `https://proxy.example/toolbox/sbx-1`. Query strings and fragments are refused.
    ///
    /// ```
    /// use process_transport::Origin;
    /// let origin = Origin::parse("http://127.0.0.1:2280/toolbox/sbx-1/")?;
    /// assert_eq!(origin.prefix(), "/toolbox/sbx-1");
    /// assert_eq!(
    ///     origin.resolve(&"/process/session?x=1".parse()?)?.to_string(),
    ///     "http://127.0.0.1:2280/toolbox/sbx-1/process/session?x=1"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parse(url: &str) -> Result<Origin, Error> {
        let invalid = |reason: &str| Error::InvalidUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let uri: Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;
        let scheme = uri
            .scheme()
            .cloned()
            .ok_or_else(|| invalid("it needs a scheme, e.g. http://127.0.0.1:2280"))?;
        if scheme != Scheme::HTTP && scheme != Scheme::HTTPS {
            return Err(invalid("the scheme must be http or https"));
        }
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| invalid("it needs a host, e.g. http://127.0.0.1:2280"))?;
        if uri.query().is_some() || url.contains('#') {
            return Err(invalid(
                "a base URL cannot carry a query string or a fragment",
            ));
        }
        let prefix = uri.path().trim_end_matches('/').to_owned();
        Ok(Origin {
            scheme,
            authority,
            prefix,
        })
    }

    /// The scheme (`http` or `https`).
    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    /// `host[:port]`.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// The path prefix without a trailing slash (empty for none).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Makes a request URI absolute: origin-form URIs (`/process/...`) get the scheme, authority
    /// and prefix; absolute URIs are kept as they are.
    pub fn resolve(&self, uri: &Uri) -> Result<Uri, Error> {
        if uri.scheme().is_some() {
            return Ok(uri.clone());
        }
        let pq = uri.path_and_query().map_or("/", PathAndQuery::as_str);
        let joined = format!("{}{}", self.prefix, pq);
        let path_and_query: PathAndQuery =
            joined
                .parse()
                .map_err(|e: http::uri::InvalidUri| Error::InvalidUrl {
                    url: joined.clone(),
                    reason: e.to_string(),
                })?;
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
            .map_err(|e| Error::InvalidUrl {
                url: joined,
                reason: e.to_string(),
            })
    }
}

/// hyper-util's pooled HTTP/1.1 client (keep-alive, upgrades) as a `tower::Service`.
///
/// Requests carry origin-form URIs (`/process/execute`); the client makes them absolute with its
/// [`Origin`]. The connector `C` yields the byte streams: hyper-util's `HttpConnector` (TCP) by
/// default, [`MemoryConnector`](crate::MemoryConnector) in memory, or any
/// `tower::Service<Uri>` whose response is a hyper IO with `Connection` (e.g. a TLS connector).
///
/// Most programs use [`HttpTransport`](crate::HttpTransport), which stacks the layers on top.
#[derive(Clone, Debug)]
pub struct HyperClient<C = HttpConnector> {
    client: hyper_util::client::legacy::Client<C, Body>,
    origin: Origin,
}

impl HyperClient<HttpConnector> {
    /// A TCP client for `origin` (plain `http`; `TCP_NODELAY` on).
    pub fn new(origin: Origin) -> Result<HyperClient<HttpConnector>, Error> {
        if origin.scheme() == &Scheme::HTTPS {
            return Err(Error::InvalidUrl {
                url: format!("https://{}{}", origin.authority(), origin.prefix()),
                reason: "https needs TLS: enable the `tls` feature (of process or \
                         process-transport), or bring a TLS connector with \
                         HttpTransport::builder(url).build_with_connector(..)"
                    .to_owned(),
            });
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Ok(HyperClient::with_connector(connector, origin))
    }
}

impl<C> HyperClient<C>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    /// A client whose connections come from `connector`.
    pub fn with_connector(connector: C, origin: Origin) -> HyperClient<C> {
        let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(connector);
        HyperClient { client, origin }
    }

    /// Where requests go.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }
}

impl<C> tower::Service<Request<Body>> for HyperClient<C>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        match self.origin.resolve(req.uri()) {
            Ok(uri) => *req.uri_mut() = uri,
            Err(err) => return ResponseFuture::failed(err),
        }
        ResponseFuture {
            state: State::Pending {
                inner: self.client.request(req),
            },
        }
    }
}

pin_project! {
    /// The response future of [`HyperClient`].
    pub struct ResponseFuture {
        #[pin]
        state: State,
    }
}

pin_project! {
    #[project = StateProj]
    enum State {
        Pending { #[pin] inner: hyper_util::client::legacy::ResponseFuture },
        Failed { error: Option<Error> },
    }
}

impl ResponseFuture {
    fn failed(error: Error) -> ResponseFuture {
        ResponseFuture {
            state: State::Failed { error: Some(error) },
        }
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<Body>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Pending { inner } => match inner.poll(cx) {
                Poll::Ready(Ok(resp)) => Poll::Ready(Ok(resp.map(Body::new))),
                Poll::Ready(Err(err)) => Poll::Ready(Err(Box::new(err))),
                Poll::Pending => Poll::Pending,
            },
            StateProj::Failed { error } => Poll::Ready(Err(match error.take() {
                Some(err) => Box::new(err),
                None => Box::new(Error::Closed),
            })),
        }
    }
}

impl std::fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_parses_and_resolves() {
        let o = Origin::parse("http://127.0.0.1:2280").unwrap();
        assert_eq!(o.prefix(), "");
        let u = o.resolve(&"/process/execute".parse().unwrap()).unwrap();
        assert_eq!(u.to_string(), "http://127.0.0.1:2280/process/execute");

        let o = Origin::parse("https://proxy.example/toolbox/sbx-1/").unwrap();
        assert_eq!(o.prefix(), "/toolbox/sbx-1");
        let u = o
            .resolve(&"/process/pty/create-connect?id=a&cols=80".parse().unwrap())
            .unwrap();
        assert_eq!(
            u.to_string(),
            "https://proxy.example/toolbox/sbx-1/process/pty/create-connect?id=a&cols=80"
        );
        // Absolute URIs pass through untouched.
        let abs: Uri = "http://other:1/x".parse().unwrap();
        assert_eq!(o.resolve(&abs).unwrap(), abs);
    }

    #[test]
    fn origin_refuses_what_cannot_work() {
        for bad in [
            "127.0.0.1:2280",
            "ftp://host/",
            "http://host/?a=1",
            "/just/a/path",
            "http://host/#frag",
        ] {
            assert!(Origin::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    proptest::proptest! {
        /// Parsing never panics; whatever parses resolves paths under its prefix.
        #[test]
        fn resolve_keeps_the_prefix_and_the_path(
            prefix in "(/[a-zA-Z0-9._~-]{1,8}){0,3}/?",
            path in "(/[a-zA-Z0-9._~%-]{0,8}){1,4}",
            query in proptest::option::of("[a-z0-9=&]{1,12}"),
            junk in ".{0,40}",
        ) {
            let _ = Origin::parse(&junk);
            let origin = Origin::parse(&format!("http://127.0.0.1:2280{prefix}")).unwrap();
            let pq = match &query {
                Some(q) => format!("{path}?{q}"),
                None => path.clone(),
            };
            let uri = origin.resolve(&pq.parse().unwrap()).unwrap();
            let want_path = format!("{}{path}", prefix.trim_end_matches('/'));
            proptest::prop_assert_eq!(uri.path(), want_path.as_str());
            proptest::prop_assert_eq!(uri.query(), query.as_deref());
            proptest::prop_assert_eq!(uri.authority().map(http::uri::Authority::as_str), Some("127.0.0.1:2280"));
        }
    }

    #[test]
    fn https_without_tls_connector_is_refused_with_advice() {
        let err =
            HyperClient::new(Origin::parse("https://proxy.example/t/s").unwrap()).unwrap_err();
        assert!(err.to_string().contains("build_with_connector"), "{err}");
    }
}
