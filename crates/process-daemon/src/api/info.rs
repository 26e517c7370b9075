//! Info, port, system and proxy routes (spec toolbox §6.1, I1–I10) over the [`crate::info`]
//! domain (`POST /env` over [`crate::info::env`]).

use axum::body::Body;
use axum::extract::{FromRef, Path as UrlPath, State};
use axum::response::Response;
use axum::routing::{any, get, post};
use axum::Router;
use http::StatusCode;
use process_proto::wire::{
    DirResponse, InitRequest, IsPortInUseResponse, MessageResponse, PortList, UpdateEnvRequest,
    VersionResponse, PORT_CHECK_RANGE,
};

use super::toolbox::{blocking, json, read_bytes, Ctx};
use crate::error::ApiError;
use crate::{info, Daemon};
use process_proto::wire::endpoint;

/// The info, port, system and proxy routes.
pub(crate) fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Daemon: FromRef<S>,
{
    Router::new()
        .route(endpoint::USER_HOME_DIR.template(), get(home_dir))
        .route(endpoint::PROJECT_DIR.template(), get(home_dir))
        .route(endpoint::WORK_DIR.template(), get(work_dir))
        .route(endpoint::VERSION.template(), get(version))
        .route(endpoint::INIT.template(), post(init))
        .route(endpoint::ENV.template(), post(update_env))
        .route(endpoint::PORTS.template(), get(ports))
        .route(endpoint::PORT_IN_USE.template(), get(port_in_use))
        .route(endpoint::SYSTEM_METRICS.template(), get(metrics))
        .route(endpoint::PROXY.template(), any(proxy))
        .route(endpoint::PROXY_SLASH.template(), any(proxy))
        .route(endpoint::PROXY_PATH.template(), any(proxy))
}

async fn home_dir(ctx: Ctx) -> Response {
    match info::home_dir() {
        Some(dir) => json(StatusCode::OK, &DirResponse { dir }),
        None => ctx.fail(ApiError::internal(
            "cannot determine the user's home directory: HOME is unset",
        )),
    }
}

async fn work_dir(State(d): State<Daemon>) -> Response {
    json(
        StatusCode::OK,
        &DirResponse {
            dir: d.config().workdir.to_string_lossy().into_owned(),
        },
    )
}

async fn version() -> Response {
    json(
        StatusCode::OK,
        &VersionResponse {
            version: env!("CARGO_PKG_VERSION").to_owned(),
        },
    )
}

async fn init(ctx: Ctx, body: Body) -> Response {
    let parsed = read_bytes(body)
        .await
        .and_then(|b| serde_json::from_slice::<InitRequest>(&b).map_err(ApiError::invalid_body));
    match parsed {
        // We run no telemetry: the token is accepted and not kept.
        Ok(_) => json(
            StatusCode::OK,
            &MessageResponse {
                message: "Auth token set and telemetry initialized successfully".to_owned(),
            },
        ),
        Err(e) => ctx.fail(e),
    }
}

async fn update_env(ctx: Ctx, body: Body) -> Response {
    let parsed = read_bytes(body).await.and_then(|b| {
        serde_json::from_slice::<UpdateEnvRequest>(&b).map_err(ApiError::invalid_body)
    });
    match parsed
        .and_then(|req| info::env::update(&req).map_err(|e| ApiError::bad_request(e.to_string())))
    {
        Ok(()) => json(
            StatusCode::OK,
            &MessageResponse {
                message: "Environment updated successfully".to_owned(),
            },
        ),
        Err(e) => ctx.fail(e),
    }
}

async fn ports(ctx: Ctx) -> Response {
    ctx.reply(
        blocking(info::listening_ports)
            .await
            .map(|ports| json(StatusCode::OK, &PortList { ports })),
    )
}

async fn port_in_use(ctx: Ctx, UrlPath(port): UrlPath<String>) -> Response {
    let port = match port.parse::<u16>() {
        Ok(p) if PORT_CHECK_RANGE.contains(&p) => p,
        Ok(_) | Err(_) => {
            return ctx.fail(ApiError::bad_request(
                "port out of range: must be between 3000 and 9999",
            ))
        }
    };
    let listed = blocking(info::listening_ports).await.unwrap_or_default();
    let is_in_use = listed.contains(&port) || info::connects(port).await;
    json(StatusCode::OK, &IsPortInUseResponse { is_in_use })
}

async fn metrics(State(d): State<Daemon>, ctx: Ctx) -> Response {
    let wd = d.config().workdir.clone();
    ctx.reply(
        info::metrics(&wd)
            .await
            .map(|m| json(StatusCode::OK, &m))
            .map_err(|e| ApiError::internal(e.to_string())),
    )
}

async fn proxy(ctx: Ctx, req: axum::extract::Request) -> Response {
    let path = req.uri().path().to_owned();
    let Some(rest) = path.strip_prefix("/proxy/") else {
        return ctx.fail(ApiError::bad_request("invalid proxy path"));
    };
    let (port, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let Ok(port) = port.parse::<u16>() else {
        return ctx.fail(ApiError::bad_request(format!("invalid port: {port}")));
    };
    let query = req
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let target = format!("/{tail}{query}");
    match forward(port, &target, req).await {
        Ok(resp) => resp,
        Err(e) => ctx.fail(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "BAD_GATEWAY",
            format!("proxy upstream error: {e}"),
        )),
    }
}

/// Headers that belong to one connection and are not forwarded.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Forwards `req` to `http://127.0.0.1:{port}{target}` and returns the answer (bodies stream
/// both ways). The daemon's own `Authorization` is not forwarded.
async fn forward(
    port: u16,
    target: &str,
    req: axum::extract::Request,
) -> Result<axum::response::Response, info::InfoError> {
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let uri: http::Uri = format!("http://127.0.0.1:{port}{target}")
        .parse()
        .map_err(|e| info::InfoError::Upstream(format!("invalid target: {e}")))?;
    let (mut parts, body) = req.into_parts();
    for h in HOP_BY_HOP {
        parts.headers.remove(h);
    }
    parts.headers.remove(http::header::AUTHORIZATION);
    if let Ok(host) = http::HeaderValue::from_str(&format!("127.0.0.1:{port}")) {
        parts.headers.insert(http::header::HOST, host);
    }
    parts.uri = uri;
    let client: Client<_, axum::body::Body> = Client::builder(TokioExecutor::new()).build_http();
    let resp = client
        .request(http::Request::from_parts(parts, body))
        .await
        .map_err(|e| info::InfoError::Upstream(e.to_string()))?;
    let (mut parts, body) = resp.into_parts();
    for h in HOP_BY_HOP {
        parts.headers.remove(h);
    }
    Ok(axum::response::Response::from_parts(
        parts,
        axum::body::Body::new(body),
    ))
}
