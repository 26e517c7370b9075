//! Session endpoints (spec §2 endpoints 3–12): create, list, get, delete, exec, command, input,
//! logs, and the entrypoint session's endpoints.

use process_proto::wire::endpoint;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::{get, post};
use http::{Response, StatusCode};
use process_proto::wire::{
    Command, CreateSessionRequest, Session as WireSession, SessionExecuteRequest,
    SessionExecuteResponse, SessionSendInputRequest,
};

use crate::error::{empty_response, full, json_response, ApiError};
use crate::http::{Flavor, Json, JsonOrDefault, LegacyCwd, PathParams, QueryMap, WsUpgrade};
use crate::router::AppRouter;
use crate::session::{
    validate_session_id, CommandRec, Session, SessionError, ENTRYPOINT_COMMAND_ID,
    ENTRYPOINT_SESSION_ID,
};
use crate::{Body, Daemon};

/// The session routes (`/process/session…`). `entrypoint` is a literal segment that wins over
/// `{sid}`; the collection also answers with a trailing slash.
pub(crate) fn routes() -> AppRouter {
    AppRouter::new()
        .route(endpoint::SESSIONS.template(), get(list).post(create))
        .route(endpoint::SESSIONS_SLASH.template(), get(list).post(create))
        .route(
            endpoint::ENTRYPOINT_SESSION.template(),
            get(|d: State<Daemon>| async move { get_session(&d, ENTRYPOINT_SESSION_ID) })
                .delete(|d: State<Daemon>| async move { delete(&d, ENTRYPOINT_SESSION_ID).await }),
        )
        .route(endpoint::ENTRYPOINT_LOGS.template(), get(entrypoint_logs))
        .route(
            endpoint::SESSION.template(),
            get(get_one).delete(delete_one),
        )
        .route(endpoint::SESSION_EXEC.template(), post(exec))
        .route(endpoint::SESSION_COMMAND.template(), get(command))
        .route(endpoint::SESSION_COMMAND_INPUT.template(), post(input))
        .route(endpoint::SESSION_COMMAND_SIGNAL.template(), post(signal))
        .route(endpoint::SESSION_COMMAND_LOGS.template(), get(logs))
}

/// Each session refusal with its status and Daytona code (messages as the original's).
impl From<SessionError> for ApiError {
    fn from(err: SessionError) -> ApiError {
        match err {
            SessionError::InvalidId(_) | SessionError::Prepare { .. } | SessionError::Signal(_) => {
                ApiError::bad_request(err)
            }
            SessionError::Exists | SessionError::NoInput | SessionError::InputFull => {
                ApiError::conflict(err)
            }
            SessionError::Ended => ApiError::session_ended(err.to_string()),
            SessionError::TooMany(_) => ApiError::too_many_requests(err),
            SessionError::Completed(_) => ApiError::new(
                StatusCode::GONE,
                "COMMAND_ALREADY_COMPLETED",
                err.to_string(),
            ),
            SessionError::Create(_) | SessionError::InputWrite(_) => ApiError::internal(err),
        }
    }
}

/// A decoded, validated `{sid}`.
fn session_id(sid: String) -> Result<String, ApiError> {
    validate_session_id(&sid)?;
    Ok(sid)
}

async fn get_one(
    State(daemon): State<Daemon>,
    PathParams(sid): PathParams<String>,
) -> Result<Response<Body>, ApiError> {
    get_session(&daemon, &session_id(sid)?)
}

async fn delete_one(
    State(daemon): State<Daemon>,
    PathParams(sid): PathParams<String>,
) -> Result<Response<Body>, ApiError> {
    delete(&daemon, &session_id(sid)?).await
}

async fn command(
    State(daemon): State<Daemon>,
    PathParams((sid, cid)): PathParams<(String, String)>,
) -> Result<Response<Body>, ApiError> {
    let session = lookup(&daemon, &session_id(sid)?)?;
    let rec = command_of(&session, &cid)?;
    Ok(json_response(StatusCode::OK, &command_with_extras(&rec)))
}

async fn entrypoint_logs(
    State(daemon): State<Daemon>,
    flavor: Flavor,
    query: QueryMap,
    upgrade: WsUpgrade,
) -> Result<Response<Body>, ApiError> {
    let session = lookup(&daemon, ENTRYPOINT_SESSION_ID)?;
    let rec = command_of(&session, ENTRYPOINT_COMMAND_ID)?;
    crate::api::follow::logs(
        daemon.config().ws_write_deadline,
        &daemon.inner.log_reads,
        flavor,
        &query,
        upgrade,
        rec,
        true,
    )
}

async fn logs(
    State(daemon): State<Daemon>,
    PathParams((sid, cid)): PathParams<(String, String)>,
    flavor: Flavor,
    query: QueryMap,
    upgrade: WsUpgrade,
) -> Result<Response<Body>, ApiError> {
    let session = lookup(&daemon, &session_id(sid)?)?;
    let rec = command_of(&session, &cid)?;
    let entry = session.id() == ENTRYPOINT_SESSION_ID;
    crate::api::follow::logs(
        daemon.config().ws_write_deadline,
        &daemon.inner.log_reads,
        flavor,
        &query,
        upgrade,
        rec,
        entry,
    )
}

fn lookup(daemon: &Daemon, sid: &str) -> Result<Arc<Session>, ApiError> {
    daemon
        .sessions()
        .get(sid)
        .ok_or_else(|| ApiError::process_not_found("session not found"))
}

fn command_of(session: &Session, cid: &str) -> Result<Arc<CommandRec>, ApiError> {
    session
        .command(cid)
        .ok_or_else(|| ApiError::process_not_found("command not found"))
}

fn wire_command(rec: &CommandRec) -> Command {
    rec.to_wire()
}

/// The command record plus the additive `droppedBytes` when its log hit the cap.
fn command_with_extras(rec: &CommandRec) -> serde_json::Value {
    let mut v = serde_json::to_value(wire_command(rec)).unwrap_or_default();
    let dropped = rec.log.dropped();
    if let (Some(obj), true) = (v.as_object_mut(), dropped > 0) {
        obj.insert("droppedBytes".into(), dropped.into());
    }
    v
}

fn wire_session(session: &Session) -> WireSession {
    WireSession::new(
        session.id(),
        session.commands().iter().map(|c| wire_command(c)).collect(),
    )
}

async fn list(State(daemon): State<Daemon>) -> Response<Body> {
    let sessions: Vec<WireSession> = daemon
        .sessions()
        .list()
        .iter()
        .map(|s| wire_session(s))
        .collect();
    json_response(StatusCode::OK, &sessions)
}

fn get_session(daemon: &Daemon, sid: &str) -> Result<Response<Body>, ApiError> {
    let session = lookup(daemon, sid)?;
    Ok(json_response(StatusCode::OK, &wire_session(&session)))
}

async fn create(
    State(daemon): State<Daemon>,
    LegacyCwd(legacy_cwd): LegacyCwd,
    Json(body): Json<CreateSessionRequest>,
) -> Result<Response<Body>, ApiError> {
    if body.session_id.is_empty() {
        return Err(ApiError::invalid_body("sessionId is required"));
    }
    if body.session_id == ENTRYPOINT_SESSION_ID {
        return Err(ApiError::bad_request(
            "provided session ID is reserved and cannot be created/overridden",
        ));
    }
    validate_session_id(&body.session_id)?;
    let cwd = if legacy_cwd {
        std::env::var_os("HOME").map(std::path::PathBuf::from)
    } else {
        None
    };
    daemon.sessions().create(&body.session_id, cwd)?;
    Ok(empty_response(StatusCode::CREATED))
}

async fn delete(daemon: &Daemon, sid: &str) -> Result<Response<Body>, ApiError> {
    if sid == ENTRYPOINT_SESSION_ID {
        return Err(ApiError::bad_request("can't delete entrypoint session"));
    }
    daemon
        .sessions()
        .delete(sid)
        .await
        .ok_or_else(|| ApiError::process_not_found("session not found"))?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

async fn exec(
    State(daemon): State<Daemon>,
    PathParams(sid): PathParams<String>,
    flavor: Flavor,
    Json(body): Json<SessionExecuteRequest>,
) -> Result<Response<Body>, ApiError> {
    let daemon = &daemon;
    let sid = &session_id(sid)?;
    if sid == ENTRYPOINT_SESSION_ID {
        return Err(ApiError::bad_request(
            "can't execute command in entrypoint session",
        ));
    }
    if body.command.trim().is_empty() {
        return Err(ApiError::bad_request("command cannot be empty"));
    }
    let session = lookup(daemon, sid)?;
    let is_async = body.is_async();
    let rec = session.submit(
        None,
        body.command.clone(),
        is_async,
        body.suppresses_input_echo(),
        body.timeout
            .filter(|&t| t > 0)
            .map(std::time::Duration::from_secs),
    )?;
    if is_async {
        return Ok(json_response(
            StatusCode::ACCEPTED,
            &SessionExecuteResponse::started(rec.id.clone()),
        ));
    }
    let exit_code = rec.log.wait().await;
    if session.is_deleted() {
        return Err(ApiError::bad_request("session cancelled"));
    }
    // A long log is streamed, as a whole-log GET is: memory does not grow with it.
    if let Some(answer) =
        crate::api::follow::exec_streamed(&daemon.inner.log_reads, flavor, &rec, exit_code).await
    {
        return Ok(answer);
    }
    let log = rec
        .log
        .read_all()
        .map_err(|e| ApiError::internal(format!("failed to read the command log: {e}")))?;
    let resp = match flavor {
        Flavor::Modern => {
            let logs = process_proto::log::parse_session_command_logs(&log);
            SessionExecuteResponse::completed(
                rec.id.clone(),
                logs.output,
                logs.stdout,
                logs.stderr,
                exit_code,
            )
        }
        Flavor::SkipDemux => {
            let mut r = SessionExecuteResponse::started(rec.id.clone());
            r.output = Some(String::from_utf8_lossy(&log).into_owned());
            r.exit_code = Some(exit_code);
            r
        }
        Flavor::Combined => {
            let mut r = SessionExecuteResponse::started(rec.id.clone());
            r.output = Some(
                String::from_utf8_lossy(&process_proto::text::strip_markers(&log)).into_owned(),
            );
            r.exit_code = Some(exit_code);
            r
        }
    };
    Ok(json_response(StatusCode::OK, &resp))
}

async fn input(
    State(daemon): State<Daemon>,
    PathParams((sid, cid)): PathParams<(String, String)>,
    Json(body): Json<SessionSendInputRequest>,
) -> Result<Response<Body>, ApiError> {
    let daemon = &daemon;
    let (sid, cid) = (&session_id(sid)?, &cid);
    if sid == ENTRYPOINT_SESSION_ID {
        return Err(ApiError::bad_request(
            "can't send input to a command in entrypoint session",
        ));
    }
    if body.data.is_empty() {
        return Err(ApiError::invalid_body("data is required"));
    }
    let session = lookup(daemon, sid)?;
    let rec = command_of(&session, cid)?;
    session.send_input(&rec, &body.data).await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

/// Additive: signals one running command (see `SessionCommandSignalRequest`).
/// `POST …/signal`; an empty body means `SIGKILL`.
async fn signal(
    State(daemon): State<Daemon>,
    PathParams((sid, cid)): PathParams<(String, String)>,
    JsonOrDefault(body): JsonOrDefault<process_proto::wire::SessionCommandSignalRequest>,
) -> Result<Response<Body>, ApiError> {
    let daemon = &daemon;
    let (sid, cid) = (&session_id(sid)?, &cid);
    let sig = crate::session::parse_signal(body.signal.as_deref().unwrap_or("KILL"))?;
    let session = lookup(daemon, sid)?;
    let rec = command_of(&session, cid)?;
    session.signal(&rec, sig).await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

/// A `text/plain` response (legacy log shapes).
pub(crate) fn text_response(bytes: Vec<u8>) -> Response<Body> {
    let mut resp = Response::new(full(bytes));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}
