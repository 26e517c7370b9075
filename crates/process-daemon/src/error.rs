//! The daemon's errors: [`Error`] for startup and internal failures, [`ApiError`] for what a
//! request gets back (status, `code`, message in the Daytona error envelope, spec §2.2).

use bytes::Bytes;
use http::{Response, StatusCode};

use crate::Body;

/// Startup and internal failures of the daemon.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is unusable; the message says which setting to change.
    #[error("configuration: {0}")]
    Config(String),
    /// An IO failure, with what the daemon was doing.
    #[error("{context}: {source}")]
    Io {
        /// What the daemon was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Wraps an IO error with what the daemon was doing.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// An error answered to a request: an HTTP status, an optional Daytona `DaemonErrorCode`, and a
/// message. Rendered as the spec's `ErrorResponse` envelope.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// `DaemonErrorCode` (e.g. `PROCESS_NOT_FOUND`); `None` for untyped 500s.
    pub code: Option<&'static str>,
    /// The message, as the SDK shows it to the user.
    pub message: String,
    /// The partial run of a timed-out exec: the 408's additive fields (proto's
    /// `ErrorResponse::with_partial_run`).
    pub partial_run: Option<Box<process_proto::wire::ExecuteResponse>>,
}

impl ApiError {
    /// A typed error with a status, code and message (the message is used as given).
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: Some(code),
            message: message.into(),
            partial_run: None,
        }
    }

    /// Adds the partial run of a timed-out exec to the envelope (`exitCode`, `result`,
    /// `stdout`/`stderr`, `timedOut`, `truncated`/`totalBytes`).
    #[must_use]
    pub fn with_partial_run(mut self, run: process_proto::wire::ExecuteResponse) -> ApiError {
        self.partial_run = Some(Box::new(run));
        self
    }

    /// 401 `UNAUTHORIZED`.
    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "missing or invalid bearer token: send `Authorization: Bearer <token>`",
        )
    }

    /// 403 `FORBIDDEN`, message prefixed `forbidden: `.
    pub fn forbidden(msg: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            format!("forbidden: {msg}"),
        )
    }
    /// 400 `BAD_REQUEST`, message prefixed `bad request: `.
    pub fn bad_request(msg: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            format!("bad request: {msg}"),
        )
    }
    /// 400 `INVALID_REQUEST_BODY`, message prefixed `invalid body request: `.
    pub fn invalid_body(msg: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST_BODY",
            format!("invalid body request: invalid request body: {msg}"),
        )
    }
    /// 404 `NOT_FOUND`, message prefixed `not found: `.
    pub fn not_found(msg: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("not found: {msg}"),
        )
    }
    /// 404 `PROCESS_NOT_FOUND` with the bare message.
    pub fn process_not_found(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "PROCESS_NOT_FOUND", msg)
    }
    /// 409 `CONFLICT`, message prefixed `conflict: `.
    pub fn conflict(msg: impl std::fmt::Display) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "CONFLICT", format!("conflict: {msg}"))
    }
    /// 410 `SESSION_ENDED` with the bare message.
    pub fn session_ended(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::GONE, "SESSION_ENDED", msg)
    }
    /// 429 `TOO_MANY_REQUESTS` (a cap is reached; rendered with `Retry-After: 1`), message
    /// prefixed `too many requests: `.
    pub fn too_many_requests(msg: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_REQUESTS",
            format!("too many requests: {msg}"),
        )
    }
    /// 500 `INTERNAL_SERVER_ERROR`, message prefixed `internal server error: `.
    pub fn internal(msg: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            format!("internal server error: {msg}"),
        )
    }

    /// Renders the envelope for a request to `path` with `method`.
    pub fn render(self, method: &http::Method, path: &str) -> Response<Body> {
        let timestamp = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        // The one envelope type of the protocol crate, written here and read by the client.
        let mut body = process_proto::wire::ErrorResponse::new(
            self.status.as_u16(),
            self.message,
            timestamp,
            path,
            method.as_str(),
        );
        if let Some(code) = self.code {
            body = body.with_code(process_proto::wire::ErrorCode::parse(code));
        }
        if let Some(run) = &self.partial_run {
            body = body.with_partial_run(run);
        }
        let mut resp = json_response(self.status, &body);
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            resp.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static("1"),
            );
        }
        resp
    }
}

/// A handler's error becomes a response that carries the error itself; the router's envelope
/// middleware renders it with the request's method and path (so no handler threads them).
impl axum::response::IntoResponse for ApiError {
    fn into_response(self) -> Response<Body> {
        let mut resp = empty_response(self.status);
        resp.extensions_mut().insert(Unrendered(self));
        resp
    }
}

/// An [`ApiError`] waiting for the envelope middleware (a response extension).
#[derive(Clone)]
pub(crate) struct Unrendered(pub(crate) ApiError);

/// A JSON response with the given status (`application/json; charset=utf-8`).
pub fn json_response<T: serde::Serialize + ?Sized>(
    status: StatusCode,
    value: &T,
) -> Response<Body> {
    let bytes = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = Response::new(full(Bytes::from(bytes)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

/// A complete body from bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Body::from(bytes.into())
}

/// An empty response with the given status.
pub fn empty_response(status: StatusCode) -> Response<Body> {
    let mut resp = Response::new(full(Bytes::new()));
    *resp.status_mut() = status;
    resp
}
