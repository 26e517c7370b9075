//! Downloads: `POST /files/bulk-download` (one multipart part per path, an `error` part for
//! a path that fails) and `GET /files/download` (Range supported).

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use process_proto::multipart;
use process_proto::wire::{self, ErrorResponse, FilesDownloadRequest};

use super::workdir;
use crate::api::toolbox::{blocking, empty, read_bytes, Ctx, Params};
use crate::error::ApiError;
use crate::fs::transfer::{content_type_for, open_download};
use crate::fs::{self, FsError};
use crate::Daemon;

/// The per-part error envelope of bulk download.
fn error_part(err: FsError, path: &str) -> Vec<u8> {
    let api = ApiError::from(err);
    let timestamp = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let env = ErrorResponse::new(api.status.as_u16(), api.message, timestamp, path, "POST")
        .with_code(wire::ErrorCode::parse(
            api.code.unwrap_or("INTERNAL_SERVER_ERROR"),
        ));
    wire::encode(&env)
}

pub(super) async fn bulk_download(State(d): State<Daemon>, ctx: Ctx, body: Body) -> Response {
    let Ok(bytes) = read_bytes(body).await else {
        return empty(StatusCode::BAD_REQUEST);
    };
    let Ok(req) = serde_json::from_slice::<FilesDownloadRequest>(&bytes) else {
        // As the original (BindJSON): unparsable JSON or no `paths` is a bare 400.
        return empty(StatusCode::BAD_REQUEST);
    };
    if req.paths.is_empty() {
        return ctx.fail(ApiError::bad_request(
            "request body must be {\"paths\": [ ... ]} and non-empty",
        ));
    }
    // A fresh random boundary per response (spec §8.1): file content cannot end a part.
    let boundary = multipart::boundary_from_random(*uuid::Uuid::new_v4().as_bytes());
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let wd = workdir(&d);
    let b = boundary.clone();
    tokio::spawn(async move {
        let _ = send_parts(&wd, &b, &req.paths, &tx).await;
    });
    let stream =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) });
    let mut resp = Response::new(Body::from_stream(stream));
    if let Ok(v) = HeaderValue::from_str(&format!("multipart/form-data; boundary={boundary}")) {
        resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    resp
}

/// The client has gone (or a file broke mid-way): stop producing.
struct Stop;

async fn send_parts(
    wd: &Path,
    boundary: &str,
    paths: &[String],
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<(), Stop> {
    let send = |b: Bytes| async move { tx.send(Ok(b)).await.map_err(|_| Stop) };
    for (i, path) in paths.iter().enumerate() {
        let (wd2, p2) = (wd.to_path_buf(), path.clone());
        let opened = tokio::task::spawn_blocking(move || open_download(&wd2, &p2))
            .await
            .unwrap_or_else(|e| Err(FsError::ReadFailed(format!("failed to open file: {e}"))));
        let mut head = Vec::with_capacity(256);
        match opened {
            Err(err) => {
                multipart::write_part_start(
                    &mut head,
                    boundary,
                    i == 0,
                    &[
                        (
                            "Content-Disposition",
                            &multipart::content_disposition("error", path),
                        ),
                        ("Content-Type", b"application/json; charset=utf-8"),
                    ],
                );
                head.extend_from_slice(&error_part(err, path));
                send(Bytes::from(head)).await?;
            }
            Ok((file, len)) => {
                multipart::write_part_start(
                    &mut head,
                    boundary,
                    i == 0,
                    &[
                        (
                            "Content-Disposition",
                            &multipart::content_disposition("file", path),
                        ),
                        ("Content-Length", len.to_string().as_bytes()),
                        ("Content-Type", content_type_for(path).as_bytes()),
                    ],
                );
                send(Bytes::from(head)).await?;
                // Read on a blocking thread straight into the buffers hyper sends.
                let (tx2, p2) = (tx.clone(), path.clone());
                tokio::task::spawn_blocking(move || send_file(file, len, &p2, &tx2))
                    .await
                    .map_err(|_| Stop)??;
            }
        }
    }
    let mut close = Vec::new();
    multipart::write_close(&mut close, boundary, false);
    send(Bytes::from(close)).await
}

/// Sends exactly `len` bytes of `file`: a file that grows is cut at the announced length, one
/// that shrinks ends the response (with an error) without the closing boundary.
fn send_file(
    mut file: std::fs::File,
    len: u64,
    path: &str,
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<(), Stop> {
    let mut left = len;
    let reader = process_io::ChunkReader::new(process_io::CHUNK);
    while left > 0 {
        let want = usize::try_from(left).map_or(process_io::CHUNK, |l| l.min(process_io::CHUNK));
        let chunk = match reader.read(&mut file, want) {
            Ok(chunk) => chunk,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return Err(Stop);
            }
        };
        if chunk.is_empty() {
            let _ = tx.blocking_send(Err(std::io::Error::other(format!(
                "{path}: file shrank while being sent"
            ))));
            return Err(Stop);
        }
        left -= chunk.len() as u64;
        tx.blocking_send(Ok(chunk)).map_err(|_| Stop)?;
    }
    Ok(())
}

pub(super) async fn download(
    State(d): State<Daemon>,
    ctx: Ctx,
    q: Params,
    req: axum::extract::Request,
) -> Response {
    use tower::ServiceExt;
    let path = q.get("path");
    if path.is_empty() {
        return ctx.fail(ApiError::bad_request("path is required"));
    }
    let wd = workdir(&d);
    let p = path.clone();
    let checked = blocking(move || -> Result<PathBuf, FsError> {
        let abs = fs::resolve(&wd, &p);
        let md = std::fs::metadata(&abs).map_err(|e| FsError::io("stat", Path::new(&p), &e))?;
        if md.is_dir() {
            return Err(FsError::BadRequest("path must be a file".to_owned()));
        }
        std::fs::File::open(&abs).map_err(|e| FsError::io("open", Path::new(&p), &e))?;
        Ok(abs)
    })
    .await
    .and_then(|r| r.map_err(ApiError::from));
    let abs = match checked {
        Ok(a) => a,
        Err(e) => return ctx.fail(e),
    };
    let serve =
        tower_http::services::ServeFile::new_with_mime(&abs, &mime::APPLICATION_OCTET_STREAM);
    let mut resp = match serve.oneshot(req).await {
        Ok(r) => r.map(Body::new),
        Err(never) => match never {},
    };
    let name = fs::base_name(&path);
    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_bytes(&attachment(&name)) {
        headers.insert(http::header::CONTENT_DISPOSITION, v);
    }
    headers.insert(
        "Content-Transfer-Encoding",
        HeaderValue::from_static("binary"),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("must-revalidate"),
    );
    headers.insert(http::header::EXPIRES, HeaderValue::from_static("0"));
    headers.insert(http::header::PRAGMA, HeaderValue::from_static("public"));
    resp
}

/// `attachment; filename="…"; filename*=utf-8''…` for a base name.
fn attachment(name: &str) -> Vec<u8> {
    let disp = multipart::content_disposition("", name);
    // Reuse the part encoder and swap its `form-data; name=""` head for `attachment`.
    let rest = disp
        .strip_prefix(b"form-data; name=\"\"".as_slice())
        .unwrap_or(&disp)
        .to_vec();
    let mut out = b"attachment".to_vec();
    out.extend_from_slice(&rest);
    out
}
