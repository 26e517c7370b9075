//! The edge's error type and the layer that renders it as the control plane's envelope
//! `{path, timestamp, statusCode, error, message, code?}` (spec §2.6).

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use process_proto::wire::control::ControlError;

use crate::manager::{iso, now_ms, ManagerError};
use crate::provider::ProviderError;

/// An error answer: status, message and optional code; rendered as the envelope (with the
/// request path and a timestamp) by the edge's outer layer.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    code: Option<&'static str>,
}

impl ApiError {
    /// An error with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            code: None,
        }
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 502: the sandbox's `processd` did not answer.
    pub fn bad_gateway(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_GATEWAY, message)
    }

    /// 422 for a feature this control plane does not offer.
    pub fn unsupported(what: &str) -> ApiError {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: format!("{what} not supported by this sandboxd"),
            code: Some("NOT_SUPPORTED"),
        }
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<ManagerError> for ApiError {
    fn from(err: ManagerError) -> ApiError {
        let status = match &err {
            ManagerError::NotFound(_) => StatusCode::NOT_FOUND,
            ManagerError::NameTaken(_) => StatusCode::CONFLICT,
            ManagerError::BadRequest(_) | ManagerError::StartFailed(_) => StatusCode::BAD_REQUEST,
            ManagerError::Limit(_) => StatusCode::FORBIDDEN,
            ManagerError::Unsupported(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ManagerError::Provider(p) => match p {
                ProviderError::UnknownImage(_) | ProviderError::InvalidResources(_) => {
                    StatusCode::BAD_REQUEST
                }
                ProviderError::NotFound(_) => StatusCode::NOT_FOUND,
                ProviderError::Unsupported(_) => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ManagerError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %err, "internal error");
        }
        ApiError::new(status, err.to_string())
    }
}

/// Carried from [`ApiError::into_response`] to the envelope layer.
#[derive(Debug, Clone)]
struct Envelope {
    message: String,
    code: Option<&'static str>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = self.status.into_response();
        resp.extensions_mut().insert(Envelope {
            message: self.message,
            code: self.code,
        });
        resp
    }
}

/// Renders every [`ApiError`] as the envelope `{path, timestamp, statusCode, error, message}`.
pub(super) async fn envelope(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let mut resp = next.run(req).await;
    let Some(env) = resp.extensions_mut().remove::<Envelope>() else {
        return resp;
    };
    let status = resp.status();
    let mut body = ControlError::new(
        path,
        iso(now_ms()),
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        env.message,
    );
    body.code = env.code.map(str::to_owned);
    let mut out = (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        serde_json::to_vec(&body).unwrap_or_default(),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        out.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
    }
    out
}
