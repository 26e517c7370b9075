//! [`IdempotentReads`]: the retry policy (which requests, which failures, how long to wait).

use std::time::Duration;

use http::header::UPGRADE;
use http::{Method, Request, Response, StatusCode};

use crate::{Body, BoxError};

/// First backoff; doubled on every further attempt.
const BASE_BACKOFF: Duration = Duration::from_millis(25);

/// The retry policy: which requests may be repeated and after which outcomes.
///
/// Repeatable: `GET` or `HEAD`, no `Upgrade` header, an empty body. Retried outcomes: any error
/// except a timeout, and the proxy statuses 502, 503 and 504.
#[derive(Clone, Copy, Debug)]
pub struct IdempotentReads {
    remaining: u32,
    attempt: u32,
}

impl IdempotentReads {
    /// A policy allowing `max_retries` repetitions per request.
    pub fn new(max_retries: u32) -> IdempotentReads {
        IdempotentReads {
            remaining: max_retries,
            attempt: 0,
        }
    }

    /// Whether `req` may be sent twice without changing anything on the server.
    pub fn is_repeatable<B: http_body::Body>(req: &Request<B>) -> bool {
        (req.method() == Method::GET || req.method() == Method::HEAD)
            && !req.headers().contains_key(UPGRADE)
            && req.body().size_hint().exact() == Some(0)
    }
}

impl tower::retry::Policy<Request<Body>, Response<Body>, BoxError> for IdempotentReads {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        _req: &mut Request<Body>,
        result: &mut Result<Response<Body>, BoxError>,
    ) -> Option<Self::Future> {
        if self.remaining == 0 {
            return None;
        }
        let again = match result {
            Ok(resp) => matches!(
                resp.status(),
                StatusCode::BAD_GATEWAY
                    | StatusCode::SERVICE_UNAVAILABLE
                    | StatusCode::GATEWAY_TIMEOUT
            ),
            Err(err) => !crate::error::is_timeout(err),
        };
        if !again {
            return None;
        }
        let delay = BASE_BACKOFF * 2u32.saturating_pow(self.attempt.min(6));
        self.remaining -= 1;
        self.attempt += 1;
        tracing::debug!(
            attempt = self.attempt,
            ?delay,
            "retrying an idempotent read"
        );
        Some(tokio::time::sleep(delay))
    }

    fn clone_request(&mut self, req: &Request<Body>) -> Option<Request<Body>> {
        if self.remaining == 0 || !IdempotentReads::is_repeatable(req) {
            return None;
        }
        let mut copy = Request::new(crate::empty());
        *copy.method_mut() = req.method().clone();
        *copy.uri_mut() = req.uri().clone();
        *copy.version_mut() = req.version();
        *copy.headers_mut() = req.headers().clone();
        *copy.extensions_mut() = req.extensions().clone();
        Some(copy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: Method, body: Body) -> Request<Body> {
        let mut r = Request::new(body);
        *r.method_mut() = method;
        r
    }

    #[test]
    fn only_bodiless_plain_reads_are_repeatable() {
        assert!(IdempotentReads::is_repeatable(&req(
            Method::GET,
            crate::empty()
        )));
        assert!(!IdempotentReads::is_repeatable(&req(
            Method::POST,
            crate::empty()
        )));
        assert!(!IdempotentReads::is_repeatable(&req(
            Method::DELETE,
            crate::empty()
        )));
        assert!(!IdempotentReads::is_repeatable(&req(
            Method::GET,
            crate::full("x")
        )));
        let mut upgrade = req(Method::GET, crate::empty());
        upgrade
            .headers_mut()
            .insert(UPGRADE, http::HeaderValue::from_static("websocket"));
        assert!(!IdempotentReads::is_repeatable(&upgrade));
    }

    #[tokio::test]
    async fn timeouts_and_client_errors_are_final() {
        use tower::retry::Policy;
        let mut p = IdempotentReads::new(3);
        let mut r = req(Method::GET, crate::empty());
        let mut timeout: Result<Response<Body>, BoxError> =
            Err(Box::new(crate::Error::Timeout(Duration::from_secs(1))));
        assert!(p.retry(&mut r, &mut timeout).is_none());
        let mut not_found: Result<Response<Body>, BoxError> = Ok({
            let mut resp = Response::new(crate::empty());
            *resp.status_mut() = StatusCode::NOT_FOUND;
            resp
        });
        assert!(p.retry(&mut r, &mut not_found).is_none());
        let mut reset: Result<Response<Body>, BoxError> = Err("connection reset".into());
        assert!(p.retry(&mut r, &mut reset).is_some());
    }
}
