//! The HTTP edge: the `/api` REST routes the SDKs' lifecycle calls use, the toolbox proxy
//! routes, authentication, and the control plane's error envelope (spec §2.6) on every error.
//!
//! Only this module knows HTTP: handlers parse the request, call the [`Manager`] and turn its
//! [`ManagerError`]s into statuses. Status codes follow what the Python SDK accepts exactly
//! (spec §2.5, §11.0): 200 with a complete `Sandbox` where it reads the body, 204 where it
//! ignores it (never a 200 with an empty body).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, put};
use axum::Router;
use process_proto::wire::control::{
    ControlError, CreateSandbox, ListSandboxesResponse, ResizeSandbox, SandboxLabels, Url,
};

use crate::manager::{iso, now_ms, Interval, ListQuery, Manager, ManagerError};
use crate::provider::ProviderError;

/// Largest JSON body accepted on the REST routes.
const MAX_JSON_BODY: usize = 1024 * 1024;

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
    let api = Router::new()
        .route("/openapi.json", get(openapi))
        .route("/socket.io", get(socket_io))
        .route("/socket.io/", get(socket_io))
        .route("/sandbox", post(create).get(list))
        .route("/sandbox/{id}", get(get_one).delete(delete))
        .route("/sandbox/{id}/start", post(start))
        .route("/sandbox/{id}/stop", post(stop))
        .route("/sandbox/{id}/recover", post(recover))
        .route("/sandbox/{id}/archive", post(archive))
        .route("/sandbox/{id}/resize", post(resize))
        .route("/sandbox/{id}/labels", put(set_labels))
        .route("/sandbox/{id}/autostop/{minutes}", post(autostop))
        .route("/sandbox/{id}/autoarchive/{minutes}", post(autoarchive))
        .route("/sandbox/{id}/autodelete/{minutes}", post(autodelete))
        .route("/sandbox/{id}/last-activity", post(last_activity))
        .route("/sandbox/{id}/toolbox-proxy-url", get(toolbox_proxy_url))
        .route("/sandbox/{id}/pause", any(|| unsupported("Pausing is")))
        .route("/sandbox/{id}/fork", any(|| unsupported("Forking is")))
        .route(
            "/sandbox/{id}/snapshot",
            any(|| unsupported("Snapshots are")),
        )
        .route(
            "/sandbox/{id}/autopause/{m}",
            any(|| unsupported("Auto-pause is")),
        )
        .route("/sandbox/{id}/ttl/{m}", any(|| unsupported("A TTL is")))
        .route(
            "/sandbox/{id}/public/{p}",
            any(|| unsupported("Public preview links are")),
        )
        .route(
            "/sandbox/{id}/network-settings",
            any(|| unsupported("Changing network settings is")),
        )
        .route("/sandbox/{id}/secrets", any(|| unsupported("Secrets are")))
        .route(
            "/sandbox/{id}/ports/{*rest}",
            any(|| unsupported("Preview links are")),
        )
        .route(
            "/sandbox/{id}/ssh-access",
            any(|| unsupported("SSH access is")),
        )
        .route(
            "/sandbox/ssh-access/validate",
            any(|| unsupported("SSH access is")),
        )
        .route(
            "/sandbox/{id}/signing-key",
            any(|| unsupported("Signed file URLs are")),
        )
        .route(
            "/sandbox/{id}/signing-key/rotate",
            any(|| unsupported("Signed file URLs are")),
        )
        .route(
            "/sandbox/{id}/build-logs-url",
            any(|| unsupported("Image builds are")),
        )
        .route(
            "/sandbox/{id}/telemetry/{*rest}",
            any(|| unsupported("Telemetry is")),
        )
        .route("/snapshots", any(|| unsupported("The snapshots API is")))
        .route(
            "/snapshots/{*rest}",
            any(|| unsupported("The snapshots API is")),
        )
        .route("/volumes", any(|| unsupported("Volumes are")))
        .route("/volumes/{*rest}", any(|| unsupported("Volumes are")))
        .route(
            "/object-storage/{*rest}",
            any(|| unsupported("Object storage is")),
        )
        .route(
            "/config",
            any(|| unsupported("The configuration endpoint is")),
        )
        .route("/secret", any(|| unsupported("Secrets are")))
        .route("/secret/{*rest}", any(|| unsupported("Secrets are")))
        .route("/warm-pools", any(|| unsupported("Warm pools are")))
        .route("/warm-pools/{*rest}", any(|| unsupported("Warm pools are")));
    Router::new()
        .nest("/api", api)
        .route("/toolbox/{id}", any(toolbox))
        .route("/toolbox/{id}/{*rest}", any(toolbox))
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authenticate,
        ))
        .layer(axum::middleware::from_fn(envelope))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Renders every [`ApiError`] as the envelope `{path, timestamp, statusCode, error, message}`.
async fn envelope(req: Request, next: Next) -> Response {
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

/// Bearer check (constant time) when a key is configured; otherwise (loopback only) the Host
/// must be a loopback name, so a web page cannot reach us through DNS rebinding.
async fn authenticate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    // The Socket.IO channel carries its token in its CONNECT packet (checked there).
    let socket_io = matches!(req.uri().path(), "/api/socket.io" | "/api/socket.io/");
    match &state.api_key {
        Some(_) if socket_io => {}
        Some(key) => {
            if !bearer_matches(req.headers(), key) {
                return ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized").into_response();
            }
        }
        None => {
            if !host_is_loopback(req.headers()) {
                return ApiError::new(
                    StatusCode::FORBIDDEN,
                    "this sandboxd has no API key and only answers requests addressed to a loopback host (localhost, 127.0.0.1, [::1])",
                )
                .into_response();
            }
        }
    }
    next.run(req).await
}

fn bearer_matches(headers: &HeaderMap, key: &str) -> bool {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return false;
    };
    let Some(given) = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) else {
        return false;
    };
    token_matches(key, given.trim())
}

/// Constant-time comparison of a presented token with the key.
fn token_matches(key: &str, given: &str) -> bool {
    use sha2::Digest;
    use subtle::ConstantTimeEq;
    let a = sha2::Sha256::digest(key.as_bytes());
    let b = sha2::Sha256::digest(given.as_bytes());
    a.ct_eq(&b).into()
}

/// `GET /api/socket.io/`: the SDKs' event channel (WebSocket transport only), see
/// [`crate::events`].
async fn socket_io(State(state): State<AppState>, req: Request) -> Response {
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

fn host_is_loopback(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let Ok(auth) = host.parse::<http::uri::Authority>() else {
        return false;
    };
    matches!(auth.host(), "localhost" | "127.0.0.1" | "[::1]" | "::1")
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

fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        serde_json::to_vec(value).unwrap_or_default(),
    )
        .into_response()
}

fn parse_body<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.len() > MAX_JSON_BODY {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than {MAX_JSON_BODY} bytes"),
        ));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))
}

async fn create(State(s): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let req: CreateSandbox = parse_body(&body)?;
    let sb = s.manager.create(req).await?;
    Ok(json(StatusCode::OK, &sb))
}

/// Parses the list query (spec §5.2): `%20` and `+` both decode, arrays repeat.
fn list_query(query: Option<&str>) -> Result<ListQuery, ApiError> {
    let mut q = ListQuery {
        limit: 100,
        descending: true,
        ..ListQuery::default()
    };
    let num = |k: &str, v: &str| -> Result<u32, ApiError> {
        v.parse()
            .map_err(|_| ApiError::bad_request(format!("{k} must be a non-negative integer")))
    };
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let v = v.into_owned();
        match &*k {
            "cursor" => {
                q.offset = v
                    .parse()
                    .map_err(|_| ApiError::bad_request(format!("invalid cursor {v:?}")))?;
            }
            "limit" => {
                let n = num("limit", &v)?;
                if !(1..=200).contains(&n) {
                    return Err(ApiError::bad_request("limit must be between 1 and 200"));
                }
                q.limit = n as usize;
            }
            "id" => q.id = Some(v),
            "name" => q.name = Some(v),
            "labels" => {
                q.labels = serde_json::from_str(&v)
                    .map_err(|_| ApiError::bad_request("Invalid labels JSON format"))?;
            }
            "states" => {
                if v == "destroyed" {
                    return Err(ApiError::bad_request(
                        "states must not contain destroyed (destroyed sandboxes are not listed)",
                    ));
                }
                q.states.push(v);
            }
            "snapshots" => q.snapshots.push(v),
            "minCpu" => q.min_cpu = Some(num(&k, &v)?),
            "maxCpu" => q.max_cpu = Some(num(&k, &v)?),
            "minMemoryGiB" => q.min_memory = Some(num(&k, &v)?),
            "maxMemoryGiB" => q.max_memory = Some(num(&k, &v)?),
            "minDiskGiB" => q.min_disk = Some(num(&k, &v)?),
            "maxDiskGiB" => q.max_disk = Some(num(&k, &v)?),
            "sort" => {
                if !matches!(
                    v.as_str(),
                    "name" | "cpu" | "memoryGib" | "diskGib" | "lastActivityAt" | "createdAt"
                ) {
                    return Err(ApiError::bad_request(format!("invalid sort field {v:?}")));
                }
                q.sort = Some(v);
            }
            "order" => {
                q.descending = match v.as_str() {
                    "asc" => false,
                    "desc" => true,
                    _ => return Err(ApiError::bad_request("order must be asc or desc")),
                };
            }
            // Filters of the hosted service that mean nothing here (regions, classes, times,
            // public, recoverable) are accepted and ignored, like unknown keys.
            _ => {}
        }
    }
    Ok(q)
}

async fn list(State(s): State<AppState>, uri: http::Uri) -> Result<Response, ApiError> {
    let q = list_query(uri.query())?;
    let (items, next) = s.manager.list(&q);
    Ok(json(
        StatusCode::OK,
        &ListSandboxesResponse::new(items, next),
    ))
}

async fn get_one(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, &s.manager.get(&id)?))
}

async fn delete(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, &s.manager.delete(&id).await?))
}

async fn start(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, &s.manager.start(&id).await?))
}

async fn stop(
    State(s): State<AppState>,
    Path(id): Path<String>,
    uri: http::Uri,
) -> Result<Response, ApiError> {
    let mut force = false;
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        if k == "force" {
            force = match &*v {
                "true" | "1" => true,
                "false" | "0" | "" => false,
                _ => return Err(ApiError::bad_request("force must be true or false")),
            };
        }
    }
    Ok(json(StatusCode::OK, &s.manager.stop(&id, force).await?))
}

async fn recover(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, &s.manager.recover(&id).await?))
}

async fn archive(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, &s.manager.archive(&id).await?))
}

async fn resize(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: ResizeSandbox = parse_body(&body)?;
    Ok(json(StatusCode::OK, &s.manager.resize(&id, req).await?))
}

async fn set_labels(
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

fn minutes(text: &str) -> Result<i64, ApiError> {
    text.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "interval {text:?} is not a whole number of minutes"
        ))
    })
}

async fn autostop(
    State(s): State<AppState>,
    Path((id, m)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let sb = s
        .manager
        .set_interval(&id, Interval::AutoStop, minutes(&m)?)?;
    Ok(json(StatusCode::OK, &sb))
}

async fn autoarchive(
    State(s): State<AppState>,
    Path((id, m)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let sb = s
        .manager
        .set_interval(&id, Interval::AutoArchive, minutes(&m)?)?;
    Ok(json(StatusCode::OK, &sb))
}

async fn autodelete(
    State(s): State<AppState>,
    Path((id, m)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let sb = s
        .manager
        .set_interval(&id, Interval::AutoDelete, minutes(&m)?)?;
    Ok(json(StatusCode::OK, &sb))
}

async fn last_activity(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.manager.touch(&id)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn toolbox_proxy_url(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    s.manager.get(&id)?;
    Ok(json(
        StatusCode::OK,
        &Url::new(s.manager.config().toolbox_url.clone()),
    ))
}

async fn toolbox(State(s): State<AppState>, req: Request<Body>) -> Result<Response, ApiError> {
    let raw = req
        .uri()
        .path()
        .strip_prefix("/toolbox/")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_query_decodes_both_space_spellings_and_repeats() {
        let q = list_query(Some(
            "labels=%7B%22team%22%3A%20%22x%20y%22%7D&states=started&states=stopped&minCpu=1&sort=createdAt&order=asc&limit=2&cursor=4",
        ))
        .unwrap();
        assert_eq!(q.labels["team"], "x y");
        assert_eq!(q.states, ["started", "stopped"]);
        assert_eq!(
            (q.min_cpu, q.limit, q.offset, q.descending),
            (Some(1), 2, 4, false)
        );
        let ts = list_query(Some("labels=%7B%22team%22%3A%22x+y%22%7D")).unwrap();
        assert_eq!(ts.labels["team"], "x y");
        assert!(list_query(Some("labels=nope")).is_err());
        assert!(list_query(Some("limit=0")).is_err());
    }

    #[test]
    fn host_check_accepts_only_loopback_names() {
        let mut h = HeaderMap::new();
        for (host, ok) in [
            ("127.0.0.1:3000", true),
            ("localhost:3000", true),
            ("[::1]:3000", true),
            ("localhost", true),
            ("evil.example:3000", false),
            ("127.0.0.1.evil.example", false),
        ] {
            h.insert(header::HOST, host.parse().unwrap());
            assert_eq!(host_is_loopback(&h), ok, "{host}");
        }
    }

    #[test]
    fn bearer_must_match_exactly_once() {
        let mut h = HeaderMap::new();
        assert!(!bearer_matches(&h, "k"));
        h.insert(header::AUTHORIZATION, "Bearer k".parse().unwrap());
        assert!(bearer_matches(&h, "k"));
        assert!(!bearer_matches(&h, "k2"));
        h.append(header::AUTHORIZATION, "Bearer k".parse().unwrap());
        assert!(!bearer_matches(&h, "k"));
    }
}
