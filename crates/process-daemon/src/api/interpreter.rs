//! Interpreter endpoints (spec §7, under `/process/interpreter`): contexts (create, list,
//! delete) and the `execute` WebSocket.

use axum::extract::State;
use axum::routing::{delete, get};
use http::{Response, StatusCode};
use process_proto::wire::endpoint;
use process_proto::wire::CreateContextRequest;

use crate::error::{json_response, ApiError};
use crate::http::{JsonOrDefault, PathParams, WsUpgrade};
use crate::interpreter::InterpreterError;
use crate::router::AppRouter;
use crate::{interpreter, Body, Daemon};

/// Each context refusal with its status and Daytona code.
impl From<InterpreterError> for ApiError {
    fn from(err: InterpreterError) -> ApiError {
        match err {
            InterpreterError::UnsupportedLanguage(_) | InterpreterError::DeleteDefault => {
                ApiError::bad_request(err)
            }
            InterpreterError::NotFound(_) | InterpreterError::RunContextNotFound(_) => {
                ApiError::process_not_found(format!("not found: {err}"))
            }
            InterpreterError::WorkerStart(_) | InterpreterError::PythonUnresolved => {
                ApiError::internal(err)
            }
            InterpreterError::TooMany(_) => ApiError::too_many_requests(err),
        }
    }
}

/// The interpreter routes.
pub(crate) fn routes() -> AppRouter {
    AppRouter::new()
        .route(
            endpoint::INTERPRETER_CONTEXTS.template(),
            get(list_contexts).post(create_context),
        )
        .route(
            endpoint::INTERPRETER_CONTEXT.template(),
            delete(delete_context),
        )
        .route(endpoint::INTERPRETER_EXECUTE.template(), get(execute))
}

/// `POST /process/interpreter/context`; an empty body means every default.
async fn create_context(
    State(daemon): State<Daemon>,
    JsonOrDefault(body): JsonOrDefault<CreateContextRequest>,
) -> Result<Response<Body>, ApiError> {
    let ctx = daemon.inner.interpreter.create(body).await?;
    Ok(json_response(StatusCode::OK, &ctx))
}

async fn list_contexts(State(daemon): State<Daemon>) -> Response<Body> {
    json_response(StatusCode::OK, &daemon.inner.interpreter.list())
}

async fn delete_context(
    State(daemon): State<Daemon>,
    PathParams(id): PathParams<String>,
) -> Result<Response<Body>, ApiError> {
    daemon.inner.interpreter.delete(&id).await?;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({"message": "Context deleted successfully"}),
    ))
}

/// `GET /process/interpreter/execute`: the upgrade; the socket is served in a task.
async fn execute(
    State(daemon): State<Daemon>,
    upgrade: WsUpgrade,
) -> Result<Response<Body>, ApiError> {
    let offer = upgrade.offer().ok_or_else(|| {
        ApiError::bad_request("the interpreter's execute endpoint needs a WebSocket upgrade")
    })?;
    // Resolve Python before the upgrade so the default context can start.
    daemon.inner.interpreter.python().await;
    let (resp, fut) = offer.accept()?;
    tokio::spawn(async move {
        let opts = interpreter::ws::options(daemon.config().ws_write_deadline);
        if let Some(ws) = crate::ws::accept(fut, opts, "interpreter").await {
            interpreter::ws::serve(daemon, ws).await;
        }
    });
    Ok(resp)
}
