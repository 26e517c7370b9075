//! The `/files/...` routes (spec toolbox §2.1 F1–F14) over the [`crate::fs`] domain: the
//! route table, query and body decoding, status codes and the mapping of [`FsError`] to the
//! spec's codes; streaming uploads are in `upload.rs`, downloads in `download.rs`.

use std::path::PathBuf;

use axum::body::Body;
use axum::extract::{FromRef, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use http::StatusCode;
use process_proto::wire::{endpoint, FindOptions, ReplaceRequest};

use super::toolbox::{blocking, empty, json, read_json, stream_json_list, Ctx, Params};
use crate::error::ApiError;
use crate::fs::{self, FsError};
use crate::Daemon;

mod download;
mod upload;

use download::{bulk_download, download};
use upload::{bulk_upload, upload};

/// The file-system routes.
pub(crate) fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Daemon: FromRef<S>,
{
    Router::new()
        .route(endpoint::FILES.template(), get(list).delete(delete))
        .route(endpoint::FILES_SLASH.template(), get(list).delete(delete))
        .route(endpoint::FILES_INFO.template(), get(info))
        .route(endpoint::FILES_FOLDER.template(), post(create_folder))
        .route(endpoint::FILES_MOVE.template(), post(move_files))
        .route(endpoint::FILES_PERMISSIONS.template(), post(permissions))
        .route(endpoint::FILES_FIND.template(), get(find))
        .route(endpoint::FILES_SEARCH.template(), get(search))
        .route(endpoint::FILES_REPLACE.template(), post(replace))
        .route(endpoint::FILES_BULK_UPLOAD.template(), post(bulk_upload))
        .route(
            endpoint::FILES_BULK_DOWNLOAD.template(),
            post(bulk_download),
        )
        .route(endpoint::FILES_UPLOAD_V2.template(), post(upload::<true>))
        .route(endpoint::FILES_UPLOAD.template(), post(upload::<false>))
        .route(endpoint::FILES_DOWNLOAD.template(), get(download))
}

impl From<FsError> for ApiError {
    fn from(e: FsError) -> ApiError {
        match e {
            FsError::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, "FILE_NOT_FOUND", m),
            FsError::AccessDenied(m) => {
                ApiError::new(StatusCode::FORBIDDEN, "FILE_ACCESS_DENIED", m)
            }
            FsError::BadRequest(m) => ApiError::bad_request(m),
            FsError::InvalidPath(m) => {
                ApiError::new(StatusCode::BAD_REQUEST, "INVALID_FILE_PATH", m)
            }
            FsError::Conflict(m) => ApiError::conflict(m),
            FsError::ReadFailed(m) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "FILE_READ_FAILED", m)
            }
        }
    }
}

fn workdir(d: &Daemon) -> PathBuf {
    d.config().workdir.clone()
}

async fn list(State(d): State<Daemon>, ctx: Ctx, q: Params) -> Response {
    let depth = match q.opt("depth") {
        None => 1,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n >= 1 => n,
            _ => return ctx.fail(ApiError::bad_request("depth must be an integer >= 1")),
        },
    };
    let wd = workdir(&d);
    let path = q.get("path");
    ctx.reply(
        blocking(move || fs::list(&wd, &path, depth))
            .await
            .and_then(|r| r.map_err(ApiError::from))
            .map(|v| json(StatusCode::OK, &v)),
    )
}

async fn info(State(d): State<Daemon>, ctx: Ctx, q: Params) -> Response {
    let wd = workdir(&d);
    let path = q.get("path");
    ctx.reply(
        blocking(move || fs::info(&wd, &path))
            .await
            .and_then(|r| r.map_err(ApiError::from))
            .map(|v| json(StatusCode::OK, &v)),
    )
}

async fn create_folder(State(d): State<Daemon>, ctx: Ctx, q: Params) -> Response {
    let wd = workdir(&d);
    ctx.reply(
        blocking(move || fs::create_folder(&wd, &q.get("path"), &q.get("mode")))
            .await
            .and_then(|r| r.map_err(ApiError::from))
            .map(|()| empty(StatusCode::CREATED)),
    )
}

async fn delete(State(d): State<Daemon>, ctx: Ctx, q: Params) -> Response {
    let wd = workdir(&d);
    let recursive = q.get("recursive") == "true";
    ctx.reply(
        blocking(move || fs::delete(&wd, &q.get("path"), recursive))
            .await
            .and_then(|r| r.map_err(ApiError::from))
            .map(|()| empty(StatusCode::NO_CONTENT)),
    )
}

async fn move_files(State(d): State<Daemon>, ctx: Ctx, q: Params) -> Response {
    let wd = workdir(&d);
    ctx.reply(
        blocking(move || fs::move_path(&wd, &q.get("source"), &q.get("destination")))
            .await
            .and_then(|r| r.map_err(ApiError::from))
            .map(|()| empty(StatusCode::OK)),
    )
}

async fn permissions(State(d): State<Daemon>, ctx: Ctx, q: Params) -> Response {
    let wd = workdir(&d);
    ctx.reply(
        blocking(move || {
            fs::set_permissions(
                &wd,
                &q.get("path"),
                &q.get("owner"),
                &q.get("group"),
                &q.get("mode"),
            )
        })
        .await
        .and_then(|r| r.map_err(ApiError::from))
        .map(|()| empty(StatusCode::OK)),
    )
}

/// `GET /files/find`: literal and case-sensitive with every match as a JSON array (the SDKs'
/// contract); our additive flags (`regex`, `caseInsensitive`, `limit`, see [`FindOptions`])
/// change the matching, and a `limit` answers a [`process_proto::wire::FindResponse`] object
/// whose `truncated` says more matches were left out. The walk stops at the cap.
async fn find(State(d): State<Daemon>, ctx: Ctx, q: Params) -> Response {
    let (path, pattern) = (q.get("path"), q.get("pattern"));
    if path.is_empty() || pattern.is_empty() {
        return ctx.fail(ApiError::bad_request("path and pattern are required"));
    }
    let opts = match FindOptions::from_query(q.pairs()) {
        Ok(o) => o,
        Err(e) => return ctx.fail(ApiError::bad_request(e.to_string())),
    };
    let needle = match fs::walk::Needle::new(&pattern, &opts) {
        Ok(n) => n,
        Err(e) => return ctx.fail(e.into()),
    };
    let wd = workdir(&d);
    let Some(limit) = opts.limit else {
        return stream_json_list("[", move |sink| {
            fs::walk::find(&wd, &path, &needle, sink);
            "]"
        });
    };
    stream_json_list("{\"matches\":[", move |sink| {
        let mut left = limit;
        let mut truncated = false;
        fs::walk::find(&wd, &path, &needle, |m| {
            if left == 0 {
                truncated = true;
                return false;
            }
            left -= 1;
            sink(m)
        });
        if truncated {
            "],\"truncated\":true}"
        } else {
            "],\"truncated\":false}"
        }
    })
}

async fn search(State(d): State<Daemon>, ctx: Ctx, q: Params) -> Response {
    let (path, pattern) = (q.get("path"), q.get("pattern"));
    if path.is_empty() || pattern.is_empty() {
        return ctx.fail(ApiError::bad_request("path and pattern are required"));
    }
    let wd = workdir(&d);
    stream_json_list("{\"files\":[", move |sink| {
        fs::walk::search(&wd, &path, &pattern, sink);
        "]}"
    })
}

async fn replace(State(d): State<Daemon>, ctx: Ctx, body: Body) -> Response {
    let req: ReplaceRequest = match read_json(body).await {
        Ok(r) => r,
        Err(e) => return ctx.fail(e),
    };
    if req.pattern.is_empty() {
        return ctx.fail(ApiError::invalid_body(
            "Key: 'ReplaceRequest.Pattern' Error:Field validation for 'Pattern' failed on the 'required' tag",
        ));
    }
    let wd = workdir(&d);
    ctx.reply(
        blocking(move || fs::walk::replace(&wd, &req.files, &req.pattern, &req.new_value))
            .await
            .map(|v| json(StatusCode::OK, &v)),
    )
}
