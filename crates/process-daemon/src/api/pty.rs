//! PTY endpoints (spec §5, under `/process/pty`): `GET ""` list, `POST ""` create,
//! `GET /create-connect` (WebSocket: create and attach in one round trip), `GET /{id}` info,
//! `DELETE /{id}` kill, `GET /{id}/connect` (WebSocket attach), `POST /{id}/resize`.

use axum::extract::State;
use axum::routing::{get, post};
use http::{Response, StatusCode};
use process_proto::wire::endpoint;
use process_proto::wire::{
    envs_from_subprotocols, offers_exit_control, PtyCreateRequest, PtyCreateResponse,
    PtyListResponse, PtyResizeRequest, PtySessionInfo, MAX_DIMENSION,
};

use crate::error::{json_response, ApiError};
use crate::http::{Json, PathParams, QueryMap, WsUpgrade};
use crate::pty::{
    self, check_envs, lock, remove_if_same, spec, InsertError, PtySession, ResizeError,
};
use crate::router::AppRouter;
use crate::ws;
use crate::{Body, Daemon};

/// The PTY routes; the collection also answers with a trailing slash.
pub(crate) fn routes() -> AppRouter {
    AppRouter::new()
        .route(endpoint::PTYS.template(), get(list).post(create))
        .route(endpoint::PTYS_SLASH.template(), get(list).post(create))
        .route(endpoint::PTY_CREATE_CONNECT.template(), get(create_connect))
        .route(endpoint::PTY.template(), get(info).delete(kill))
        .route(endpoint::PTY_CONNECT.template(), get(connect))
        .route(endpoint::PTY_RESIZE.template(), post(resize))
}

fn info_of(session: &PtySession) -> PtySessionInfo {
    let (cols, rows) = session.size();
    PtySessionInfo::new(
        session.spec.id.clone(),
        session.spec.cwd.to_string_lossy(),
        session.spec.envs.clone(),
        cols,
        rows,
        session.created_at.clone(),
        session.is_active(),
        session.spec.lazy_start,
    )
}

async fn list(State(daemon): State<Daemon>) -> Response<Body> {
    let manager = &daemon.inner.pty;
    let sessions: Vec<_> = lock(&manager.sessions)
        .values()
        .map(|s| info_of(s))
        .collect();
    json_response(StatusCode::OK, &PtyListResponse::new(sessions))
}

async fn info(
    State(daemon): State<Daemon>,
    PathParams(id): PathParams<String>,
) -> Result<Response<Body>, ApiError> {
    let manager = &daemon.inner.pty;
    let session = manager
        .get(&id)
        .ok_or_else(|| ApiError::process_not_found("PTY session not found"))?;
    Ok(json_response(StatusCode::OK, &info_of(&session)))
}

async fn kill(
    State(daemon): State<Daemon>,
    PathParams(id): PathParams<String>,
) -> Result<Response<Body>, ApiError> {
    let manager = &daemon.inner.pty;
    let session = lock(&manager.sessions)
        .remove(&id)
        .ok_or_else(|| ApiError::process_not_found("PTY session not found"))?;
    session.kill().await;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({"message": "PTY session deleted"}),
    ))
}

async fn create(
    State(daemon): State<Daemon>,
    Json(body): Json<PtyCreateRequest>,
) -> Result<Response<Body>, ApiError> {
    if body.id.is_empty() {
        return Err(ApiError::bad_request("session ID is required"));
    }
    for (name, value) in [("cols", body.cols), ("rows", body.rows)] {
        if value.unwrap_or(0) > MAX_DIMENSION {
            return Err(ApiError::bad_request(format!(
                "invalid value for {name} - must be less than {MAX_DIMENSION}"
            )));
        }
    }
    let envs = body.envs.clone().unwrap_or_default();
    check_envs(&envs).map_err(ApiError::bad_request)?;
    let lazy = body.lazy_start.unwrap_or(false);
    let session = PtySession::new(spec(
        daemon.config(),
        body.id.clone(),
        body.cwd.as_deref(),
        envs,
        body.cols,
        body.rows,
        lazy,
    ));
    let manager = &daemon.inner.pty;
    manager.insert(&session).map_err(|err| match err {
        InsertError::Exists(_) => ApiError::conflict(err),
        InsertError::TooMany(_) => ApiError::too_many_requests(err),
    })?;
    if !lazy {
        if let Err(err) = manager.start(&session) {
            remove_if_same(&manager.sessions, &session);
            tracing::warn!(id = %body.id, error = %err, "PTY start failed");
            return Err(ApiError::internal(err));
        }
    }
    Ok(json_response(
        StatusCode::CREATED,
        &PtyCreateResponse::new(body.id),
    ))
}

async fn resize(
    State(daemon): State<Daemon>,
    PathParams(id): PathParams<String>,
    Json(body): Json<PtyResizeRequest>,
) -> Result<Response<Body>, ApiError> {
    let manager = &daemon.inner.pty;
    let id = id.as_str();
    for (name, value) in [("cols", body.cols), ("rows", body.rows)] {
        if value == 0 {
            // A 0×0 terminal breaks every full-screen program (the SDK refuses it too).
            return Err(ApiError::bad_request(format!(
                "invalid value for {name} - must be at least 1"
            )));
        }
        if value > MAX_DIMENSION {
            return Err(ApiError::bad_request(format!(
                "invalid value for {name} - must be less than {MAX_DIMENSION}"
            )));
        }
    }
    let session = manager
        .get(id)
        .ok_or_else(|| ApiError::session_ended(format!("PTY session {id} not found")))?;
    session
        .resize(body.cols, body.rows)
        .map_err(|err| match err {
            ResizeError::Inactive | ResizeError::Ioctl(_) => ApiError::internal(err),
            ResizeError::Ended => ApiError::session_ended(format!(
                "PTY session '{id}' has terminated and cannot be resized"
            )),
        })?;
    Ok(json_response(StatusCode::OK, &info_of(&session)))
}

/// `{"error": msg}` with a status: the pre-upgrade error body of create-connect (spec §5:
/// the original answers its 400/409 checks plain, not with the envelope).
fn plain_error(status: StatusCode, message: &str) -> Response<Body> {
    json_response(status, &serde_json::json!({ "error": message }))
}

/// Parses a `cols`/`rows` query value: absent or empty → `None`.
fn parse_dimension(name: &str, value: Option<&str>) -> Result<Option<u16>, String> {
    match value.filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) if v.bytes().all(|b| b.is_ascii_digit()) => v
            .parse::<u16>()
            .map(Some)
            .map_err(|_| format!("{name} must be an integer between 0 and 65535")),
        Some(_) => Err(format!("{name} must be an integer between 0 and 65535")),
    }
}

const EXPECTED_UPGRADE: &str = "expected a WebSocket upgrade (Connection: Upgrade, Upgrade: websocket, Sec-WebSocket-Key, Sec-WebSocket-Version: 13)";

async fn create_connect(
    State(daemon): State<Daemon>,
    QueryMap(query): QueryMap,
    upgrade: Result<WsUpgrade, ApiError>,
) -> Response<Body> {
    let daemon = &daemon;
    let offer = match upgrade {
        Ok(upgrade) => upgrade.offer(),
        Err(_) => None,
    };
    let Some(id) = query.get("id").filter(|id| !id.is_empty()).cloned() else {
        return plain_error(
            StatusCode::BAD_REQUEST,
            "session ID is required (query param 'id')",
        );
    };
    let dims = parse_dimension("cols", query.get("cols").map(String::as_str)).and_then(|c| {
        Ok((
            c,
            parse_dimension("rows", query.get("rows").map(String::as_str))?,
        ))
    });
    let (cols, rows) = match dims {
        Ok(d) => d,
        Err(msg) => return plain_error(StatusCode::BAD_REQUEST, &msg),
    };
    if cols.unwrap_or(0) > MAX_DIMENSION || rows.unwrap_or(0) > MAX_DIMENSION {
        return plain_error(
            StatusCode::BAD_REQUEST,
            "cols and rows must be less than 1000",
        );
    }
    let values: Vec<&str> = offer
        .as_ref()
        .map(|o| o.protocols().collect())
        .unwrap_or_default();
    let envs = match envs_from_subprotocols(values.iter().copied()) {
        Ok(envs) => envs,
        Err(err) => {
            return plain_error(
                StatusCode::BAD_REQUEST,
                &format!("invalid envs subprotocol: {err}"),
            )
        }
    };
    if let Err(msg) = check_envs(&envs) {
        return plain_error(
            StatusCode::BAD_REQUEST,
            &format!("invalid envs subprotocol: {msg}"),
        );
    }
    let exit_control = offers_exit_control(values.iter().copied());
    let session = PtySession::new(spec(
        daemon.config(),
        id.clone(),
        query.get("cwd").map(String::as_str),
        envs,
        cols,
        rows,
        false,
    ));
    let manager = &daemon.inner.pty;
    match manager.insert(&session) {
        Ok(()) => {}
        Err(err @ InsertError::Exists(_)) => {
            return plain_error(StatusCode::CONFLICT, &err.to_string());
        }
        // The cap is ours (issue 13), not the original's: it answers the envelope like
        // every other cap, so the SDK raises its rate-limit error with our message.
        Err(err @ InsertError::TooMany(_)) => {
            return axum::response::IntoResponse::into_response(ApiError::too_many_requests(err));
        }
    }
    let Some((resp, fut)) = offer.and_then(|o| o.accept().ok()) else {
        remove_if_same(&manager.sessions, &session);
        return plain_error(StatusCode::BAD_REQUEST, EXPECTED_UPGRADE);
    };
    let daemon = daemon.clone();
    tokio::spawn(async move {
        let manager = &daemon.inner.pty;
        let opts = pty::ws::options(daemon.config().ws_write_deadline);
        let Some(ws) = ws::accept(fut, opts, "PTY create-connect").await else {
            remove_if_same(&manager.sessions, &session);
            return;
        };
        if let Err(err) = manager.start(&session) {
            remove_if_same(&manager.sessions, &session);
            tracing::warn!(%id, error = %err, "PTY start failed");
            return pty::ws::fail(ws, &err.to_string()).await;
        }
        pty::ws::serve(ws, session, exit_control, None).await;
    });
    resp
}

async fn connect(
    State(daemon): State<Daemon>,
    PathParams(id): PathParams<String>,
    query: QueryMap,
    upgrade: WsUpgrade,
) -> Result<Response<Body>, ApiError> {
    let offset = query.offset()?;
    let offer = upgrade
        .offer()
        .ok_or_else(|| ApiError::bad_request(EXPECTED_UPGRADE))?;
    let exit_control = offers_exit_control(offer.protocols());
    let (resp, fut) = offer.accept()?;
    tokio::spawn(async move {
        let opts = pty::ws::options(daemon.config().ws_write_deadline);
        let Some(ws) = ws::accept(fut, opts, "PTY connect").await else {
            return;
        };
        let manager = &daemon.inner.pty;
        let Some(session) = manager.get(&id) else {
            let msg = format!("Failed to connect to PTY session: PTY session {id} not found");
            return pty::ws::fail(ws, &msg).await;
        };
        if session.is_unstarted() {
            if let Err(err) = manager.start(&session) {
                remove_if_same(&manager.sessions, &session);
                let msg = format!("Failed to connect to PTY session: {err}");
                return pty::ws::fail(ws, &msg).await;
            }
        }
        pty::ws::serve(ws, session, exit_control, offset).await;
    });
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any base-10 u16 parses to itself; anything else with a non-digit is refused.
        #[test]
        fn dimension_parser(n in any::<u16>(), junk in "[0-9]{0,3}[^0-9][ -~]{0,4}") {
            prop_assert_eq!(parse_dimension("cols", Some(&n.to_string())), Ok(Some(n)));
            prop_assert!(parse_dimension("cols", Some(&junk)).is_err());
        }
    }

    #[test]
    fn dimensions_parse_like_the_daemon() {
        assert_eq!(parse_dimension("cols", None), Ok(None));
        assert_eq!(parse_dimension("cols", Some("")), Ok(None));
        assert_eq!(parse_dimension("cols", Some("120")), Ok(Some(120)));
        assert!(parse_dimension("cols", Some("-1")).is_err());
        assert!(parse_dimension("cols", Some("+1")).is_err());
        assert!(parse_dimension("rows", Some("65536")).is_err());
        assert!(parse_dimension("rows", Some("1e3")).is_err());
    }
}
