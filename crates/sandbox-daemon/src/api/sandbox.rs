//! The sandbox lifecycle handlers (`/api/sandbox…`): parse, call the [`Manager`], answer the
//! complete `Sandbox` (or 204 where the SDK ignores the body).
//!
//! [`Manager`]: crate::manager::Manager

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use process_proto::wire::control::{
    CreateSandbox, ListSandboxesResponse, ResizeSandbox, SandboxLabels, Url,
};

use super::parse::{force, list_query, minutes, parse_body};
use super::{json, ApiError, AppState};
use crate::manager::Interval;

/// `POST /api/sandbox`.
pub(super) async fn create(State(s): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let req: CreateSandbox = parse_body(&body)?;
    let sb = s.manager.create(req).await?;
    Ok(json(StatusCode::OK, &sb))
}

/// `GET /api/sandbox`.
pub(super) async fn list(State(s): State<AppState>, uri: http::Uri) -> Result<Response, ApiError> {
    let q = list_query(uri.query())?;
    let (items, next) = s.manager.list(&q);
    Ok(json(
        StatusCode::OK,
        &ListSandboxesResponse::new(items, next),
    ))
}

/// `GET /api/sandbox/{id}`.
pub(super) async fn get_one(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, &s.manager.get(&id)?))
}

/// `DELETE /api/sandbox/{id}`.
pub(super) async fn delete(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, &s.manager.delete(&id).await?))
}

/// `POST /api/sandbox/{id}/start`.
pub(super) async fn start(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, &s.manager.start(&id).await?))
}

/// `POST /api/sandbox/{id}/stop`.
pub(super) async fn stop(
    State(s): State<AppState>,
    Path(id): Path<String>,
    uri: http::Uri,
) -> Result<Response, ApiError> {
    let force = force(uri.query())?;
    Ok(json(StatusCode::OK, &s.manager.stop(&id, force).await?))
}

/// `POST /api/sandbox/{id}/recover`.
pub(super) async fn recover(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, &s.manager.recover(&id).await?))
}

/// `POST /api/sandbox/{id}/archive`.
pub(super) async fn archive(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, &s.manager.archive(&id).await?))
}

/// `POST /api/sandbox/{id}/resize`.
pub(super) async fn resize(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: ResizeSandbox = parse_body(&body)?;
    Ok(json(StatusCode::OK, &s.manager.resize(&id, req).await?))
}

/// `PUT /api/sandbox/{id}/labels`.
pub(super) async fn set_labels(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: SandboxLabels = parse_body(&body)?;
    Ok(json(
        StatusCode::OK,
        &s.manager.set_labels(&id, req.labels)?,
    ))
}

/// Sets one of the intervals (`m` whole minutes).
fn interval(s: &AppState, id: &str, m: &str, which: Interval) -> Result<Response, ApiError> {
    let sb = s.manager.set_interval(id, which, minutes(m)?)?;
    Ok(json(StatusCode::OK, &sb))
}

/// `POST /api/sandbox/{id}/autostop/{minutes}`.
#[allow(clippy::unused_async)] // an axum handler
pub(super) async fn autostop(
    State(s): State<AppState>,
    Path((id, m)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    interval(&s, &id, &m, Interval::AutoStop)
}

/// `POST /api/sandbox/{id}/autoarchive/{minutes}`.
#[allow(clippy::unused_async)] // an axum handler
pub(super) async fn autoarchive(
    State(s): State<AppState>,
    Path((id, m)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    interval(&s, &id, &m, Interval::AutoArchive)
}

/// `POST /api/sandbox/{id}/autodelete/{minutes}`.
#[allow(clippy::unused_async)] // an axum handler
pub(super) async fn autodelete(
    State(s): State<AppState>,
    Path((id, m)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    interval(&s, &id, &m, Interval::AutoDelete)
}

/// `POST /api/sandbox/{id}/last-activity`.
pub(super) async fn last_activity(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.manager.touch(&id)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/sandbox/{id}/toolbox-proxy-url`.
pub(super) async fn toolbox_proxy_url(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    s.manager.get(&id)?;
    Ok(json(
        StatusCode::OK,
        &Url::new(s.manager.config().toolbox_url.clone()),
    ))
}
