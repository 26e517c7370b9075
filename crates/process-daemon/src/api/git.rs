//! The `/git/...` routes (spec toolbox §2.1 G1–G20) over the [`crate::git`] domain, with the
//! mapping of [`GitError`] to the spec's codes.

use axum::body::Body;
use axum::extract::{FromRef, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use http::StatusCode;
use process_proto::wire::{
    GitAddRemoteRequest, GitAddRequest, GitAuthenticateRequest, GitBranchRequest,
    GitCheckoutRequest, GitCloneRequest, GitCommitRequest, GitCommitResponse, GitConfigResponse,
    GitConfigureUserRequest, GitInitRequest, GitPullRequest, GitPushRequest, GitResetRequest,
    GitRestoreRequest, GitSetConfigRequest,
};

use super::toolbox::{empty, json, read_json, Ctx, Params};
use crate::error::ApiError;
use crate::git::{self, Dirs, GitError};
use crate::Daemon;
use process_proto::wire::endpoint;

/// The git routes.
pub(crate) fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Daemon: FromRef<S>,
{
    Router::new()
        .route(endpoint::GIT_CLONE.template(), post(clone))
        .route(endpoint::GIT_ADD.template(), post(add))
        .route(endpoint::GIT_COMMIT.template(), post(commit))
        .route(endpoint::GIT_PUSH.template(), post(push))
        .route(endpoint::GIT_PULL.template(), post(pull))
        .route(endpoint::GIT_STATUS.template(), get(status))
        .route(
            endpoint::GIT_BRANCHES.template(),
            get(branches).post(create_branch).delete(delete_branch),
        )
        .route(endpoint::GIT_CHECKOUT.template(), post(checkout))
        .route(endpoint::GIT_HISTORY.template(), get(history))
        .route(endpoint::GIT_INIT.template(), post(init))
        .route(endpoint::GIT_RESET.template(), post(reset))
        .route(endpoint::GIT_RESTORE.template(), post(restore))
        .route(
            endpoint::GIT_REMOTES.template(),
            get(remotes).post(add_remote),
        )
        .route(
            endpoint::GIT_CONFIG.template(),
            get(get_config).post(set_config),
        )
        .route(endpoint::GIT_CONFIG_USER.template(), post(configure_user))
        .route(endpoint::GIT_CREDENTIALS.template(), post(credentials))
}

impl From<GitError> for ApiError {
    fn from(e: GitError) -> ApiError {
        use GitError as G;
        let (status, code, msg) = match e {
            G::BadRequest(m) => (StatusCode::BAD_REQUEST, "BAD_REQUEST", m),
            G::InvalidBody(m) => (StatusCode::BAD_REQUEST, "INVALID_REQUEST_BODY", m),
            G::AuthFailed(m) => (StatusCode::UNAUTHORIZED, "GIT_AUTH_FAILED", m),
            G::Forbidden(m) => (StatusCode::FORBIDDEN, "FORBIDDEN", m),
            G::RepoNotFound(m) => (StatusCode::NOT_FOUND, "GIT_REPO_NOT_FOUND", m),
            G::BranchNotFound(m) => (StatusCode::NOT_FOUND, "GIT_BRANCH_NOT_FOUND", m),
            G::NotFound(m) => (StatusCode::NOT_FOUND, "NOT_FOUND", m),
            G::BranchExists(m) => (StatusCode::CONFLICT, "GIT_BRANCH_EXISTS", m),
            G::PushRejected(m) => (StatusCode::CONFLICT, "GIT_PUSH_REJECTED", m),
            G::DirtyWorktree(m) => (StatusCode::CONFLICT, "GIT_DIRTY_WORKTREE", m),
            G::MergeConflict(m) => (StatusCode::CONFLICT, "GIT_MERGE_CONFLICT", m),
            G::Conflict(m) => (StatusCode::CONFLICT, "CONFLICT", m),
            G::Transport(m) => (StatusCode::BAD_GATEWAY, "GIT_TRANSPORT_FAILED", m),
            G::Internal(m) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_SERVER_ERROR",
                m,
            ),
        };
        ApiError::new(status, code, msg)
    }
}

/// A handler that decodes a JSON body, runs one git operation with the daemon's directories
/// and answers `$ok(value)` or the error envelope.
macro_rules! body_route {
    ($name:ident, $req:ty, |$dirs:ident, $r:ident| $call:expr, $ok:expr) => {
        async fn $name(State(d): State<Daemon>, ctx: Ctx, body: Body) -> Response {
            let parsed: $req = match read_json(body).await {
                Ok(r) => r,
                Err(e) => return ctx.fail(e),
            };
            let $r = &parsed;
            let $dirs = dirs(&d);
            match $call.await {
                Ok(v) => ($ok)(v),
                Err(e) => ctx.fail(e.into()),
            }
        }
    };
}

fn dirs(d: &Daemon) -> Dirs<'_> {
    Dirs {
        workdir: &d.config().workdir,
        state_dir: &d.config().state_dir,
    }
}

fn ok200<R>(_: R) -> Response {
    empty(StatusCode::OK)
}

body_route!(clone, GitCloneRequest, |dirs, r| git::clone(dirs, r), ok200);

body_route!(add, GitAddRequest, |dirs, r| git::add(dirs, r), ok200);

body_route!(
    commit,
    GitCommitRequest,
    |dirs, r| git::commit(dirs, r),
    |hash| json(StatusCode::OK, &GitCommitResponse { hash })
);

body_route!(push, GitPushRequest, |dirs, r| git::push(dirs, r), ok200);

body_route!(pull, GitPullRequest, |dirs, r| git::pull(dirs, r), ok200);

async fn status(State(d): State<Daemon>, ctx: Ctx, q: Params) -> Response {
    match git::status(dirs(&d), &q.get("path")).await {
        Ok(s) => json(StatusCode::OK, &s),
        Err(e) => ctx.fail(e.into()),
    }
}

async fn branches(State(d): State<Daemon>, ctx: Ctx, q: Params) -> Response {
    match git::branches(dirs(&d), &q.get("path")).await {
        Ok(s) => json(StatusCode::OK, &s),
        Err(e) => ctx.fail(e.into()),
    }
}

body_route!(
    create_branch,
    GitBranchRequest,
    |dirs, r| git::create_branch(dirs, &r.path, &r.name),
    |()| empty(StatusCode::CREATED)
);

body_route!(
    delete_branch,
    GitBranchRequest,
    |dirs, r| git::delete_branch(dirs, &r.path, &r.name),
    |()| empty(StatusCode::NO_CONTENT)
);

body_route!(
    checkout,
    GitCheckoutRequest,
    |dirs, r| git::checkout(dirs, &r.path, &r.branch),
    ok200
);

async fn history(State(d): State<Daemon>, ctx: Ctx, q: Params) -> Response {
    match git::history(dirs(&d), &q.get("path")).await {
        Ok(s) => json(StatusCode::OK, &s),
        Err(e) => ctx.fail(e.into()),
    }
}

body_route!(init, GitInitRequest, |dirs, r| git::init(dirs, r), |()| {
    empty(StatusCode::CREATED)
});

body_route!(reset, GitResetRequest, |dirs, r| git::reset(dirs, r), ok200);

body_route!(
    restore,
    GitRestoreRequest,
    |dirs, r| git::restore(dirs, r),
    ok200
);

body_route!(
    add_remote,
    GitAddRemoteRequest,
    |dirs, r| git::add_remote(dirs, r),
    |()| empty(StatusCode::CREATED)
);

async fn remotes(State(d): State<Daemon>, ctx: Ctx, q: Params) -> Response {
    match git::remotes(dirs(&d), &q.get("path")).await {
        Ok(s) => json(StatusCode::OK, &s),
        Err(e) => ctx.fail(e.into()),
    }
}

body_route!(
    set_config,
    GitSetConfigRequest,
    |dirs, r| git::set_config(dirs, r),
    ok200
);

async fn get_config(State(d): State<Daemon>, ctx: Ctx, q: Params) -> Response {
    let (scope, path) = (q.opt("scope"), q.opt("path"));
    match git::get_config(dirs(&d), &q.get("key"), scope.as_deref(), path.as_deref()).await {
        Ok(value) => json(StatusCode::OK, &GitConfigResponse { value }),
        Err(e) => ctx.fail(e.into()),
    }
}

body_route!(
    configure_user,
    GitConfigureUserRequest,
    |dirs, r| git::configure_user(dirs, r),
    ok200
);

body_route!(
    credentials,
    GitAuthenticateRequest,
    |dirs, r| git::authenticate(dirs, r),
    ok200
);
