//! The two routes that hand the connection on: the Socket.IO event channel (upgraded here,
//! served by [`crate::events`]) and the toolbox proxy to a sandbox's `processd`
//! ([`crate::proxy`]).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use process_proto::wire::endpoint::control as paths;

use super::auth::token_matches;
use super::{ApiError, AppState};

/// `GET /api/socket.io/`: the SDKs' event channel (WebSocket transport only), see
/// [`crate::events`].
pub(super) async fn socket_io(State(state): State<AppState>, req: Request) -> Response {
    use axum::extract::FromRequestParts;
    let (mut parts, _) = req.into_parts();
    let Ok(incoming) =
        fastwebsockets::upgrade::IncomingUpgrade::from_request_parts(&mut parts, &()).await
    else {
        return ApiError::bad_request(
            "this Socket.IO endpoint speaks the websocket transport only (transport=websocket)",
        )
        .into_response();
    };
    let (resp, fut) = match incoming.upgrade() {
        Ok(pair) => pair,
        Err(e) => {
            return ApiError::bad_request(format!("invalid WebSocket upgrade: {e}")).into_response()
        }
    };
    let check: crate::events::TokenCheck = match state.api_key.clone() {
        Some(key) => Box::new(move |token| token_matches(&key, token)),
        None => Box::new(|_| true),
    };
    tokio::spawn(crate::events::serve(state.manager.clone(), check, fut));
    resp.map(|_| Body::empty())
}

/// `/toolbox/{id}/…`: forwards to the sandbox's `processd`.
pub(super) async fn toolbox(
    State(s): State<AppState>,
    req: Request<Body>,
) -> Result<Response, ApiError> {
    let raw = req
        .uri()
        .path()
        .strip_prefix(paths::TOOLBOX_BASE)
        .and_then(|p| p.strip_prefix('/'))
        .unwrap_or("")
        .split('/')
        .next()
        .unwrap_or("");
    let id = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| ApiError::bad_request("the sandbox id is not UTF-8"))?
        .into_owned();
    crate::proxy::forward(&s.manager, &id, req).await
}
