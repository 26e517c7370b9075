//! Plumbing shared by the toolbox routes (`fs`, `git`, `info`): the [`Ctx`] extractor (method
//! and path for the error envelope), query parameters, JSON bodies, blocking work, and JSON
//! arrays streamed as they are produced.

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use http::request::Parts;
use http::StatusCode;
use http_body_util::BodyExt;

use crate::error::ApiError;

/// The method and path of a request, for the error envelope.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    method: http::Method,
    path: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Ctx, Infallible> {
        let path = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map_or_else(|| parts.uri.path().to_owned(), |u| u.path().to_owned());
        Ok(Ctx {
            method: parts.method.clone(),
            path,
        })
    }
}

impl Ctx {
    /// Renders `err` as the envelope for this request.
    pub(crate) fn fail(&self, err: ApiError) -> Response {
        into_axum(err.render(&self.method, &self.path))
    }

    /// `Ok` responses as they are, errors rendered.
    pub(crate) fn reply(&self, res: Result<Response, ApiError>) -> Response {
        res.unwrap_or_else(|e| self.fail(e))
    }
}

/// Converts one of the daemon's responses into axum's body type.
pub(crate) fn into_axum(resp: http::Response<crate::Body>) -> Response {
    resp.map(Body::new)
}

/// Query parameters, percent-decoded (`%20` and `+` both read as space).
#[derive(Debug, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// Parses a raw query string.
    pub(crate) fn parse(query: Option<&str>) -> Params {
        Params(
            query
                .map(|q| {
                    form_urlencoded::parse(q.as_bytes())
                        .map(|(k, v)| (k.into_owned(), v.into_owned()))
                        .collect()
                })
                .unwrap_or_default(),
        )
    }

    /// The first value of `name`, or `""`.
    pub(crate) fn get(&self, name: &str) -> String {
        self.opt(name).unwrap_or_default()
    }

    /// Every pair, in order.
    pub(crate) fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The first value of `name`, if present.
    pub(crate) fn opt(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Params, Infallible> {
        Ok(Params::parse(parts.uri.query()))
    }
}

/// Largest JSON body of a toolbox request.
pub(crate) const MAX_JSON_BODY: usize = 8 * 1024 * 1024;

/// Reads a whole (bounded) body.
pub(crate) async fn read_bytes(body: Body) -> Result<Bytes, ApiError> {
    match http_body_util::Limited::new(body, MAX_JSON_BODY)
        .collect()
        .await
    {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!("cannot read the request body (at most {MAX_JSON_BODY} bytes): {e}"),
        )),
    }
}

/// Reads a JSON body; a decode failure is 400 `INVALID_REQUEST_BODY`.
pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(body: Body) -> Result<T, ApiError> {
    let bytes = read_bytes(body).await?;
    serde_json::from_slice(&bytes).map_err(ApiError::invalid_body)
}

/// Runs blocking file-system or process work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("the worker thread failed: {e}")))
}

/// A JSON response (`application/json; charset=utf-8`).
pub(crate) fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    into_axum(crate::error::json_response(status, value))
}

/// An empty response.
pub(crate) fn empty(status: StatusCode) -> Response {
    status.into_response()
}

/// A 200 JSON response whose body is `prefix`, a comma-separated list of the items `produce`
/// hands to its sink (serialised as they come, in batches of ~64 KiB), and the suffix
/// `produce` returns (so it can say how the list ended). `produce` runs on a blocking thread;
/// the sink returns false once the client has gone, and `produce` should then stop. Memory is
/// bounded by the batch size and the channel depth.
pub(crate) fn stream_json_list<T, F>(prefix: &'static str, produce: F) -> Response
where
    T: serde::Serialize,
    F: FnOnce(&mut dyn FnMut(T) -> bool) -> &'static str + Send + 'static,
{
    const BATCH: usize = 64 * 1024;
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(8);
    tokio::task::spawn_blocking(move || {
        let mut buf = BytesMut::with_capacity(BATCH * 2);
        buf.put_slice(prefix.as_bytes());
        let mut first = true;
        let mut open = true;
        let mut sink = |item: T| -> bool {
            if !first {
                buf.put_u8(b',');
            }
            first = false;
            if serde_json::to_writer((&mut buf).writer(), &item).is_err() {
                buf.put_slice(b"null");
            }
            if buf.len() >= BATCH {
                open = tx.blocking_send(buf.split().freeze()).is_ok();
            }
            open
        };
        let suffix = produce(&mut sink);
        if open {
            buf.put_slice(suffix.as_bytes());
            let _ = tx.blocking_send(buf.freeze());
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}
