//! Session endpoints (spec §2 endpoints 3–12): create, list, get, delete, exec, command, input,
//! logs, and the entrypoint session's endpoints.

use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use process_proto::wire::{
    Command, CreateSessionRequest, Session as WireSession, SessionExecuteRequest,
    SessionExecuteResponse, SessionSendInputRequest,
};

use crate::error::{empty_response, full, json_response, ApiError};
use crate::http::{decode_segment, flavor, read_json, Flavor};
use crate::session::{
    validate_session_id, CommandRec, Session, ENTRYPOINT_COMMAND, ENTRYPOINT_SESSION,
};
use crate::{Body, Daemon};

/// Dispatches `/process/session{rest}`.
pub(crate) async fn handle(
    daemon: &Daemon,
    req: Request<Incoming>,
    rest: &str,
) -> Result<Response<Body>, ApiError> {
    let segs: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    let method = req.method().clone();
    match (method, segs.as_slice()) {
        (Method::GET, [""]) => Ok(list(daemon)),
        (Method::POST, [""]) => create(daemon, req).await,
        (Method::GET, ["entrypoint"]) => get(daemon, ENTRYPOINT_SESSION),
        (Method::GET, ["entrypoint", "logs"]) => {
            let session = lookup(daemon, ENTRYPOINT_SESSION)?;
            let rec = command_of(&session, ENTRYPOINT_COMMAND)?;
            crate::api::follow::logs(req, rec, true)
        }
        (Method::GET, [sid]) => get(daemon, &session_id(sid)?),
        (Method::DELETE, [sid]) => delete(daemon, &session_id(sid)?).await,
        (Method::POST, [sid, "exec"]) => exec(daemon, req, &session_id(sid)?).await,
        (Method::GET, [sid, "command", cid]) => {
            let session = lookup(daemon, &session_id(sid)?)?;
            let rec = command_of(&session, &decode_segment(cid)?)?;
            Ok(json_response(StatusCode::OK, &command_with_extras(&rec)))
        }
        (Method::POST, [sid, "command", cid, "signal"]) => {
            signal(daemon, req, &session_id(sid)?, &decode_segment(cid)?).await
        }
        (Method::POST, [sid, "command", cid, "input"]) => {
            input(daemon, req, &session_id(sid)?, &decode_segment(cid)?).await
        }
        (Method::GET, [sid, "command", cid, "logs"]) => {
            let session = lookup(daemon, &session_id(sid)?)?;
            let rec = command_of(&session, &decode_segment(cid)?)?;
            let entry = session.id() == ENTRYPOINT_SESSION;
            crate::api::follow::logs(req, rec, entry)
        }
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "404 page not found",
        )),
    }
}

fn session_id(seg: &str) -> Result<String, ApiError> {
    let id = decode_segment(seg)?;
    validate_session_id(&id)?;
    Ok(id)
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

fn list(daemon: &Daemon) -> Response<Body> {
    let sessions: Vec<WireSession> = daemon
        .sessions()
        .list()
        .iter()
        .map(|s| wire_session(s))
        .collect();
    json_response(StatusCode::OK, &sessions)
}

fn get(daemon: &Daemon, sid: &str) -> Result<Response<Body>, ApiError> {
    let session = lookup(daemon, sid)?;
    Ok(json_response(StatusCode::OK, &wire_session(&session)))
}

async fn create(daemon: &Daemon, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let legacy_cwd = crate::http::legacy_session_cwd(&req);
    let body: CreateSessionRequest = read_json(req.into_body()).await?;
    if body.session_id.is_empty() {
        return Err(ApiError::invalid_body("sessionId is required"));
    }
    if body.session_id == ENTRYPOINT_SESSION {
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
    if sid == ENTRYPOINT_SESSION {
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
    daemon: &Daemon,
    req: Request<Incoming>,
    sid: &str,
) -> Result<Response<Body>, ApiError> {
    if sid == ENTRYPOINT_SESSION {
        return Err(ApiError::bad_request(
            "can't execute command in entrypoint session",
        ));
    }
    let flavor = flavor(&req);
    let body: SessionExecuteRequest = read_json(req.into_body()).await?;
    if body.command.trim().is_empty() {
        return Err(ApiError::bad_request("command cannot be empty"));
    }
    let session = lookup(daemon, sid)?;
    let is_async = body.is_async();
    let rec = session.submit(
        uuid::Uuid::new_v4().to_string(),
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
                String::from_utf8_lossy(&crate::api::follow::strip_markers(&log)).into_owned(),
            );
            r.exit_code = Some(exit_code);
            r
        }
    };
    Ok(json_response(StatusCode::OK, &resp))
}

async fn input(
    daemon: &Daemon,
    req: Request<Incoming>,
    sid: &str,
    cid: &str,
) -> Result<Response<Body>, ApiError> {
    if sid == ENTRYPOINT_SESSION {
        return Err(ApiError::bad_request(
            "can't send input to a command in entrypoint session",
        ));
    }
    let body: SessionSendInputRequest = read_json(req.into_body()).await?;
    if body.data.is_empty() {
        return Err(ApiError::invalid_body("data is required"));
    }
    let session = lookup(daemon, sid)?;
    let rec = command_of(&session, cid)?;
    session.send_input(&rec, &body.data).await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

/// Additive: signals one running command (see `SessionCommandSignalRequest`).
async fn signal(
    daemon: &Daemon,
    req: Request<Incoming>,
    sid: &str,
    cid: &str,
) -> Result<Response<Body>, ApiError> {
    let body: process_proto::wire::SessionCommandSignalRequest = if req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .map(http::HeaderValue::as_bytes)
        == Some(b"0")
    {
        process_proto::wire::SessionCommandSignalRequest::default()
    } else {
        read_json(req.into_body()).await?
    };
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
