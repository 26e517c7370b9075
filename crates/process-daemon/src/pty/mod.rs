//! Interactive PTY sessions over WebSocket (spec §5): the registry ([`PtyManager`]), the REST
//! handlers and the attach endpoints.
//!
//! Endpoints (under `/process/pty`): `GET ""` list, `POST ""` create, `GET /create-connect`
//! (WebSocket: create and attach in one round trip), `GET /{id}` info, `DELETE /{id}` kill,
//! `GET /{id}/connect` (WebSocket attach), `POST /{id}/resize`.
//!
//! Code map: `session` runs one shell on a PTY (`sys` has the syscalls) and keeps its output in
//! a bounded `log`; `ws` serves one attached client.
//!
//! Beyond the original daemon:
//! - output is kept in a 1 MiB scrollback that every (re)attaching client replays (from a line
//!   start) before live output, with nothing lost or repeated at the seam; `connect?offset=N`
//!   (additive) resumes at byte N of the output instead, for a client that counts what it got;
//! - any number of clients may attach; output is broadcast, input funnelled in arrival order;
//! - flow control: the PTY is read as fast as the *fastest* attached client takes its output
//!   (as a terminal over ssh is), and freely into the scrollback when nobody is attached. A
//!   stalled client therefore never holds up another one; a client slower than another falls
//!   behind and is closed with 1008 `slow consumer` once it drops out of the scrollback; a lone
//!   stalled client pauses the PTY until the 10 s write deadline drops it;
//! - `connected` precedes any output, and `exited` and the close frame follow the last byte;
//! - a signal death reports `128 + n` (the original reported -1).

mod log;
mod session;
mod sys;
mod ws;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use process_proto::wire::{
    envs_from_subprotocols, offers_exit_control, subprotocols, PtyCreateRequest, PtyCreateResponse,
    PtyListResponse, PtyResizeRequest, PtySessionInfo, DEFAULT_COLS, DEFAULT_ROWS, MAX_DIMENSION,
};

use self::session::{lock, PtySession, ResizeError, Spec};
use crate::error::{full, json_response, ApiError};
use crate::{Body, Config, Daemon};

/// Largest accepted REST request body.
const MAX_BODY: usize = 1024 * 1024;
/// `TERM` when the client sets none.
const DEFAULT_TERM: &str = "xterm-256color";

type Sessions = Arc<Mutex<HashMap<String, Arc<PtySession>>>>;

/// Registry of PTY sessions. A session is removed as soon as its shell exits (or it is killed).
pub struct PtyManager {
    sessions: Sessions,
}

impl PtyManager {
    /// An empty registry.
    pub fn new(_config: &Config) -> PtyManager {
        PtyManager {
            sessions: Arc::default(),
        }
    }

    /// Kills every PTY session (process trees included) and waits for them to end (bounded).
    pub async fn shutdown(&self) {
        let all: Vec<_> = lock(&self.sessions).drain().map(|(_, s)| s).collect();
        futures_util::future::join_all(all.iter().map(PtySession::kill)).await;
    }

    fn get(&self, id: &str) -> Option<Arc<PtySession>> {
        lock(&self.sessions).get(id).cloned()
    }

    /// Registers `session`; `false` if its id is taken.
    fn insert(&self, session: &Arc<PtySession>) -> bool {
        let mut sessions = lock(&self.sessions);
        if sessions.contains_key(&session.spec.id) {
            return false;
        }
        sessions.insert(session.spec.id.clone(), session.clone());
        true
    }

    /// Starts `session`; it leaves the registry when its shell exits.
    fn start(&self, session: &Arc<PtySession>) -> Result<(), session::SessionError> {
        let sessions = self.sessions.clone();
        session.start(move |s| remove_if_same(&sessions, s))
    }
}

/// Removes `session` from the registry unless its id now names another session.
fn remove_if_same(sessions: &Sessions, session: &Arc<PtySession>) {
    let mut sessions = lock(sessions);
    if sessions
        .get(&session.spec.id)
        .is_some_and(|s| Arc::ptr_eq(s, session))
    {
        sessions.remove(&session.spec.id);
    }
}

/// Handles `/process/pty{rest}`.
pub async fn handle(daemon: &Daemon, req: Request<Incoming>, rest: &str) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let raw: Vec<&str> = match rest.strip_prefix('/') {
        None | Some("") => Vec::new(),
        Some(r) => r.split('/').collect(),
    };
    let manager = &daemon.inner.pty;
    let result = match (&method, raw.as_slice()) {
        (&Method::GET, []) => Ok(list(manager)),
        (&Method::POST, []) => create(daemon, req).await,
        (&Method::GET, ["create-connect"]) => return create_connect(daemon, req),
        (&Method::GET, [id]) => info(manager, &decode_segment(id)),
        (&Method::DELETE, [id]) => kill(manager, &decode_segment(id)).await,
        (&Method::GET, [id, "connect"]) => connect(daemon, req, decode_segment(id)),
        (&Method::POST, [id, "resize"]) => resize(manager, req, &decode_segment(id)).await,
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "404 page not found",
        )),
    };
    result.unwrap_or_else(|err| err.into_response(&method, &path))
}

/// A percent-decoded path segment (ids may contain any character, `/` included as `%2F`).
fn decode_segment(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
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

fn list(manager: &PtyManager) -> Response<Body> {
    let sessions: Vec<_> = lock(&manager.sessions)
        .values()
        .map(|s| info_of(s))
        .collect();
    json_response(StatusCode::OK, &PtyListResponse::new(sessions))
}

fn info(manager: &PtyManager, id: &str) -> Result<Response<Body>, ApiError> {
    let session = manager
        .get(id)
        .ok_or_else(|| ApiError::process_not_found("PTY session not found"))?;
    Ok(json_response(StatusCode::OK, &info_of(&session)))
}

async fn kill(manager: &PtyManager, id: &str) -> Result<Response<Body>, ApiError> {
    let session = lock(&manager.sessions)
        .remove(id)
        .ok_or_else(|| ApiError::process_not_found("PTY session not found"))?;
    session.kill().await;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({"message": "PTY session deleted"}),
    ))
}

async fn read_json<T: serde::de::DeserializeOwned>(req: Request<Incoming>) -> Result<T, ApiError> {
    let body = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| ApiError::invalid_body(format!("cannot read the body: {e}")))?
        .to_bytes();
    serde_json::from_slice(&body).map_err(ApiError::invalid_body)
}

/// Checks the environment of a session: keys non-empty without `=` or NUL, values without NUL.
fn check_envs(envs: &BTreeMap<String, String>) -> Result<(), String> {
    for (k, v) in envs {
        if k.is_empty() || k.contains(['=', '\0']) {
            return Err(format!(
                "invalid environment variable name: '{k}' (it must be non-empty, without '=' or NUL)"
            ));
        }
        if v.contains('\0') {
            return Err(format!("environment variable '{k}' contains a NUL byte"));
        }
    }
    Ok(())
}

/// The spec of a new session: defaults applied, cwd resolved against the daemon's work dir.
fn spec(
    config: &Config,
    id: String,
    cwd: Option<&str>,
    mut envs: BTreeMap<String, String>,
    cols: Option<u16>,
    rows: Option<u16>,
    lazy_start: bool,
) -> Spec {
    let cwd = match cwd.filter(|c| !c.is_empty()) {
        Some(c) => config.workdir.join(Path::new(c)),
        None => config.workdir.clone(),
    };
    if envs.get("TERM").is_none_or(String::is_empty) {
        envs.insert("TERM".to_owned(), DEFAULT_TERM.to_owned());
    }
    Spec {
        id,
        cwd,
        envs,
        cols: cols.filter(|&c| c > 0).unwrap_or(DEFAULT_COLS),
        rows: rows.filter(|&r| r > 0).unwrap_or(DEFAULT_ROWS),
        lazy_start,
    }
}

async fn create(daemon: &Daemon, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let body: PtyCreateRequest = read_json(req).await?;
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
    if !manager.insert(&session) {
        return Err(ApiError::conflict(format!(
            "PTY session with ID '{}' already exists",
            body.id
        )));
    }
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
    manager: &PtyManager,
    req: Request<Incoming>,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let body: PtyResizeRequest = read_json(req).await?;
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

/// `{"error": msg}` with a status: the pre-upgrade error body of create-connect.
fn plain_error(status: StatusCode, message: &str) -> Response<Body> {
    json_response(status, &serde_json::json!({ "error": message }))
}

/// The `Sec-WebSocket-Protocol` header values of a request.
fn protocol_values(req: &Request<Incoming>) -> Vec<&str> {
    req.headers()
        .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect()
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

/// Starts the WebSocket handshake: the 101 response (echoing the first offered subprotocol)
/// and the future of the upgraded stream, or `None` if the request is not an upgrade.
fn upgrade(
    req: &mut Request<Incoming>,
) -> Option<(Response<Body>, fastwebsockets::upgrade::UpgradeFut)> {
    if !fastwebsockets::upgrade::is_upgrade_request(req) {
        return None;
    }
    let first = subprotocols(protocol_values(req)).next().map(str::to_owned);
    let (resp, fut) = fastwebsockets::upgrade::upgrade(&mut *req).ok()?;
    let mut resp = resp.map(|_| full(Bytes::new()));
    if let Some(value) = first.and_then(|p| http::HeaderValue::from_str(&p).ok()) {
        resp.headers_mut()
            .insert(http::header::SEC_WEBSOCKET_PROTOCOL, value);
    }
    Some((resp, fut))
}

fn create_connect(daemon: &Daemon, mut req: Request<Incoming>) -> Response<Body> {
    let query: HashMap<String, String> =
        form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .fold(HashMap::new(), |mut m, (k, v)| {
                m.entry(k).or_insert(v);
                m
            });
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
    let values = protocol_values(&req);
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
    if !manager.insert(&session) {
        return plain_error(
            StatusCode::CONFLICT,
            &format!("PTY session with ID '{id}' already exists"),
        );
    }
    let Some((resp, fut)) = upgrade(&mut req) else {
        remove_if_same(&manager.sessions, &session);
        return plain_error(
            StatusCode::BAD_REQUEST,
            "expected a WebSocket upgrade (Connection: Upgrade, Upgrade: websocket, Sec-WebSocket-Key, Sec-WebSocket-Version: 13)",
        );
    };
    let daemon = daemon.clone();
    tokio::spawn(async move {
        let manager = &daemon.inner.pty;
        let ws = match fut.await {
            Ok(ws) => ws,
            Err(err) => {
                tracing::debug!(%id, error = %err, "PTY create-connect upgrade failed");
                remove_if_same(&manager.sessions, &session);
                return;
            }
        };
        if let Err(err) = manager.start(&session) {
            remove_if_same(&manager.sessions, &session);
            tracing::warn!(%id, error = %err, "PTY start failed");
            return ws::fail(ws, &err.to_string()).await;
        }
        ws::serve(ws, session, exit_control, None).await;
    });
    resp
}

fn connect(
    daemon: &Daemon,
    mut req: Request<Incoming>,
    id: String,
) -> Result<Response<Body>, ApiError> {
    let exit_control = offers_exit_control(protocol_values(&req));
    let offset = match form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "offset")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
    {
        None => None,
        Some(v) => Some(v.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!(
                "offset must be a byte count (a non-negative integer), not {v:?}"
            ))
        })?),
    };
    let (resp, fut) = upgrade(&mut req).ok_or_else(|| {
        ApiError::bad_request("expected a WebSocket upgrade (Connection: Upgrade, Upgrade: websocket, Sec-WebSocket-Key, Sec-WebSocket-Version: 13)")
    })?;
    let daemon = daemon.clone();
    tokio::spawn(async move {
        let ws = match fut.await {
            Ok(ws) => ws,
            Err(err) => {
                tracing::debug!(%id, error = %err, "PTY connect upgrade failed");
                return;
            }
        };
        let manager = &daemon.inner.pty;
        let Some(session) = manager.get(&id) else {
            let msg = format!("Failed to connect to PTY session: PTY session {id} not found");
            return ws::fail(ws, &msg).await;
        };
        if session.is_unstarted() {
            if let Err(err) = manager.start(&session) {
                remove_if_same(&manager.sessions, &session);
                let msg = format!("Failed to connect to PTY session: {err}");
                return ws::fail(ws, &msg).await;
            }
        }
        ws::serve(ws, session, exit_control, offset).await;
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

        /// A percent-encoded id decodes back to itself, whatever it contains.
        #[test]
        fn segment_round_trip(id in "\\PC{1,20}") {
            let encoded = percent_encoding::utf8_percent_encode(&id, percent_encoding::NON_ALPHANUMERIC).to_string();
            prop_assert_eq!(decode_segment(&encoded), id);
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

    #[test]
    fn segments_are_percent_decoded() {
        assert_eq!(decode_segment("no%20such"), "no such");
        assert_eq!(decode_segment("a%2Fb"), "a/b");
    }

    #[test]
    fn env_keys_are_checked() {
        let ok = BTreeMap::from([("A".to_owned(), "x y=z".to_owned())]);
        assert!(check_envs(&ok).is_ok());
        for bad in ["", "A=B", "A\0"] {
            let envs = BTreeMap::from([(bad.to_owned(), "v".to_owned())]);
            assert!(check_envs(&envs).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn spec_applies_defaults() {
        let config = Config::new("/work", "/state");
        let s = spec(
            &config,
            "x".into(),
            None,
            BTreeMap::new(),
            None,
            Some(0),
            false,
        );
        assert_eq!((s.cols, s.rows), (80, 24));
        assert_eq!(s.cwd, Path::new("/work"));
        assert_eq!(s.envs.get("TERM").map(String::as_str), Some(DEFAULT_TERM));
        let s = spec(
            &config,
            "x".into(),
            Some("sub"),
            BTreeMap::new(),
            Some(100),
            Some(30),
            true,
        );
        assert_eq!(s.cwd, Path::new("/work/sub"));
        assert_eq!((s.cols, s.rows), (100, 30));
    }
}
