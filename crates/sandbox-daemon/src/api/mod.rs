//! The HTTP edge: the `/api` REST routes the SDKs' lifecycle calls use, the toolbox proxy
//! routes, authentication, and the control plane's error envelope (spec §2.6) on every error.
//!
//! Only this module knows HTTP: handlers parse the request, call the [`Manager`] and turn its
//! [`ManagerError`](crate::manager::ManagerError)s into statuses. Status codes follow what the
//! Python SDK accepts exactly (spec §2.5, §11.0): 200 with a complete `Sandbox` where it reads
//! the body, 204 where it ignores it (never a 200 with an empty body). Every path comes from
//! `process_proto::wire::endpoint::control`, which the facade's client uses too.
//!
//! - [`error`]: [`ApiError`] and the envelope layer;
//! - [`auth`]: the API key / loopback-Host check;
//! - [`parse`]: request bodies and queries (pure);
//! - [`sandbox`]: the lifecycle handlers;
//! - [`upgrade`]: the Socket.IO channel and the toolbox proxy.

mod auth;
mod error;
mod parse;
mod sandbox;
mod upgrade;

use std::sync::Arc;

use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, put};
use axum::Router;
use process_proto::wire::endpoint::control as paths;

pub use error::ApiError;

use crate::manager::Manager;

/// What every handler shares.
#[derive(Clone)]
struct AppState {
    manager: Manager,
    api_key: Option<Arc<str>>,
}

/// Settings of the edge.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// The API key every route requires (`None`: loopback only, any Bearer, Host checked).
    pub api_key: Option<String>,
}

/// The whole router: `/api/…`, `/toolbox/{id}/…`, auth and the envelope.
pub fn router(manager: Manager, edge: EdgeConfig) -> Router {
    let state = AppState {
        manager,
        api_key: edge.api_key.filter(|k| !k.is_empty()).map(Arc::from),
    };
    let mut api = Router::new()
        .route(paths::OPENAPI.template(), get(openapi))
        .route(paths::SOCKET_IO.template(), get(upgrade::socket_io))
        .route(paths::SOCKET_IO_SLASH.template(), get(upgrade::socket_io))
        .route(
            paths::SANDBOXES.template(),
            post(sandbox::create).get(sandbox::list),
        )
        .route(
            paths::SANDBOX.template(),
            get(sandbox::get_one).delete(sandbox::delete),
        )
        .route(paths::SANDBOX_START.template(), post(sandbox::start))
        .route(paths::SANDBOX_STOP.template(), post(sandbox::stop))
        .route(paths::SANDBOX_RECOVER.template(), post(sandbox::recover))
        .route(paths::SANDBOX_ARCHIVE.template(), post(sandbox::archive))
        .route(paths::SANDBOX_RESIZE.template(), post(sandbox::resize))
        .route(paths::SANDBOX_LABELS.template(), put(sandbox::set_labels))
        .route(paths::SANDBOX_AUTOSTOP.template(), post(sandbox::autostop))
        .route(
            paths::SANDBOX_AUTOARCHIVE.template(),
            post(sandbox::autoarchive),
        )
        .route(
            paths::SANDBOX_AUTODELETE.template(),
            post(sandbox::autodelete),
        )
        .route(
            paths::SANDBOX_LAST_ACTIVITY.template(),
            post(sandbox::last_activity),
        )
        .route(
            paths::SANDBOX_TOOLBOX_PROXY_URL.template(),
            get(sandbox::toolbox_proxy_url),
        );
    for &(endpoint, what) in paths::UNSUPPORTED {
        api = api.route(endpoint.template(), any(move || unsupported(what)));
    }
    Router::new()
        .nest(paths::API_PREFIX, api)
        .route(paths::TOOLBOX.template(), any(upgrade::toolbox))
        .route(paths::TOOLBOX_PATH.template(), any(upgrade::toolbox))
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(axum::middleware::from_fn(error::envelope))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

async fn not_found(method: Method, uri: http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("Cannot {method} {}", uri.path()),
    )
}

/// `GET /api/openapi.json`: this server's OpenAPI document.
#[allow(clippy::unused_async)] // an axum handler
async fn openapi() -> Response {
    json(StatusCode::OK, &crate::openapi::document())
}

#[allow(clippy::unused_async)] // an axum handler
async fn unsupported(what: &'static str) -> ApiError {
    ApiError::unsupported(what)
}

/// `value` as a JSON answer with `status`.
fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        serde_json::to_vec(value).unwrap_or_default(),
    )
        .into_response()
}
