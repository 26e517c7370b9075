//! The `/files/...` routes (spec toolbox §2.1 F1–F14) over the [`crate::fs`] domain: query
//! and body decoding, status codes, streaming uploads and downloads, and the mapping of
//! [`FsError`] to the spec's codes.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::extract::{FromRef, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http::{HeaderMap, HeaderValue, StatusCode};
use process_proto::multipart::{self, Event, MultipartDecoder};
use process_proto::wire::{
    self, ErrorResponse, FilesDownloadRequest, ReplaceRequest, UploadFilesResponse, UploadedFile,
    UploadedFileEntry,
};

use super::toolbox::{blocking, empty, json, read_bytes, read_json, stream_json_list, Ctx, Params};
use crate::error::ApiError;
use crate::fs::transfer::{content_type_for, open_download, upload_target, TempFile};
use crate::fs::{self, FsError};
use crate::Daemon;
use process_io::FileSink;
use process_proto::wire::endpoint;

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
        .route(endpoint::FILES_UPLOAD_V2.template(), post(upload_v2))
        .route(endpoint::FILES_UPLOAD.template(), post(upload_legacy))
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

async fn find(State(d): State<Daemon>, ctx: Ctx, q: Params) -> Response {
    let (path, pattern) = (q.get("path"), q.get("pattern"));
    if path.is_empty() || pattern.is_empty() {
        return ctx.fail(ApiError::bad_request("path and pattern are required"));
    }
    let wd = workdir(&d);
    stream_json_list("[", "]", move |sink| {
        fs::walk::find(&wd, &path, &pattern, sink);
    })
}

async fn search(State(d): State<Daemon>, ctx: Ctx, q: Params) -> Response {
    let (path, pattern) = (q.get("path"), q.get("pattern"));
    if path.is_empty() || pattern.is_empty() {
        return ctx.fail(ApiError::bad_request("path and pattern are required"));
    }
    let wd = workdir(&d);
    stream_json_list("{\"files\":[", "]}", move |sink| {
        fs::walk::search(&wd, &path, &pattern, sink);
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

/// The boundary of a `multipart/*` request, if it is one.
fn multipart_boundary(headers: &HeaderMap) -> Option<String> {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(multipart::boundary_from_content_type)
}

/// One file being written from a part.
struct Writing {
    dest: String,
    target: PathBuf,
    existing: Option<std::fs::Metadata>,
    temp: TempFile,
    out: FileSink,
    bytes: u64,
}

impl Writing {
    async fn start(workdir: &Path, dest: &str) -> Result<Writing, String> {
        let wd = workdir.to_path_buf();
        let d = dest.to_owned();
        let started = tokio::task::spawn_blocking(move || {
            let (target, existing) = upload_target(&wd, &d).map_err(|e| e.to_string())?;
            let mut temp = TempFile::beside(&target).map_err(|e| {
                format!("create: open {}: {}", target.display(), fs::errno_text(&e))
            })?;
            let file = temp.take_file().ok_or("create: temp file unavailable")?;
            Ok::<_, String>((target, existing, temp, file))
        })
        .await
        .map_err(|e| format!("create: {e}"))??;
        let (target, existing, temp, file) = started;
        Ok(Writing {
            dest: dest.to_owned(),
            target,
            existing,
            temp,
            out: FileSink::new(file),
            bytes: 0,
        })
    }

    async fn write(&mut self, data: Bytes) -> Result<(), String> {
        self.bytes += data.len() as u64;
        self.out
            .write(data)
            .await
            .map_err(|e| format!("write: {}", fs::errno_text(&e)))
    }

    /// Renames the complete temp file over the target. No `fsync` first: atomicity (a reader
    /// sees the old file or the whole new one; a cut upload leaves nothing) comes from the
    /// rename, and the original daemon does not sync either. Flushing 1 GiB to disk before
    /// answering would cost more than the transfer itself; a caller that needs durability
    /// across a power cut can `sync` in the sandbox.
    async fn finish(self) -> Result<UploadedFileEntry, String> {
        let file = self
            .out
            .finish()
            .await
            .map_err(|e| format!("write: {}", fs::errno_text(&e)))?;
        let (temp, target, existing) = (self.temp, self.target, self.existing);
        tokio::task::spawn_blocking(move || {
            drop(file);
            temp.commit(&target, existing.as_ref())
        })
        .await
        .map_err(|e| format!("close: {e}"))?
        .map_err(|e| format!("close: {}", fs::errno_text(&e)))?;
        Ok(UploadedFileEntry {
            path: self.dest,
            bytes: self.bytes,
        })
    }
}

/// What the current part is.
enum Current {
    None,
    /// A `.path` field being collected (bounded).
    Path(String, Vec<u8>),
    /// A file being written.
    File(Box<Writing>),
    /// A part to skip (other field, or a file that already failed).
    Skip,
}

/// Longest destination path accepted in a `.path` field.
const MAX_PATH_FIELD: usize = 64 * 1024;

async fn bulk_upload(State(d): State<Daemon>, headers: HeaderMap, body: Body) -> Response {
    let mut resp = UploadFilesResponse::default();
    let Some(boundary) = multipart_boundary(&headers) else {
        resp.errors.push("invalid multipart form".to_owned());
        return json(StatusCode::BAD_REQUEST, &resp);
    };
    let Ok(mut decoder) = MultipartDecoder::new(&boundary) else {
        resp.errors.push("invalid multipart form".to_owned());
        return json(StatusCode::BAD_REQUEST, &resp);
    };
    let wd = workdir(&d);
    let mut paths: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let mut current = Current::None;
    // `buf` carries what straddles body frames; `input` is the frame being decoded.
    let mut buf = BytesMut::new();
    let mut input = Bytes::new();
    let mut stream = body.into_data_stream();
    let mut eof = false;
    'outer: loop {
        loop {
            let ev = if eof {
                decoder.decode_eof(&mut buf)
            } else {
                decoder.decode_from(&mut buf, &mut input)
            };
            let ev = match ev {
                Ok(Some(ev)) => ev,
                Ok(None) => break,
                Err(e) => {
                    resp.errors.push(format!("reading part: {e}"));
                    break 'outer;
                }
            };
            match ev {
                Event::Part(h) => {
                    let name = h.name.unwrap_or_default();
                    current = match wire::parse_upload_field(&name) {
                        Some((_, true)) => Current::Path(name, Vec::new()),
                        Some((index, false)) => match paths.get(index) {
                            None => {
                                resp.errors
                                    .push(format!("file[{index}]: missing .path metadata"));
                                Current::Skip
                            }
                            Some(dest) if dest.is_empty() => {
                                resp.errors.push(format!("path[{index}]: empty path"));
                                Current::Skip
                            }
                            Some(dest) => match Writing::start(&wd, dest).await {
                                Ok(w) => Current::File(Box::new(w)),
                                Err(e) => {
                                    resp.errors.push(format!("{dest}: {e}"));
                                    Current::Skip
                                }
                            },
                        },
                        None => Current::Skip,
                    };
                }
                Event::Data(data) => match &mut current {
                    Current::Path(_, text) => {
                        if text.len() + data.len() > MAX_PATH_FIELD {
                            resp.errors
                                .push("reading part: path field too long".to_owned());
                            current = Current::Skip;
                        } else {
                            text.extend_from_slice(&data);
                        }
                    }
                    Current::File(w) => {
                        if let Err(e) = w.write(data).await {
                            resp.errors.push(format!("{}: {e}", w.dest));
                            current = Current::Skip; // dropping the writer removes the temp file
                        }
                    }
                    Current::None | Current::Skip => {}
                },
                Event::PartEnd => match std::mem::replace(&mut current, Current::None) {
                    Current::Path(name, text) => {
                        if let Some((index, _)) = wire::parse_upload_field(&name) {
                            paths.insert(
                                index.to_owned(),
                                String::from_utf8_lossy(&text).into_owned(),
                            );
                        }
                    }
                    Current::File(w) => {
                        let dest = w.dest.clone();
                        match w.finish().await {
                            Ok(entry) => resp.files.push(entry),
                            Err(e) => resp.errors.push(format!("{dest}: {e}")),
                        }
                    }
                    Current::None | Current::Skip => {}
                },
                Event::End => break 'outer,
            }
        }
        if eof {
            break;
        }
        match stream.next().await {
            Some(Ok(chunk)) => input = chunk,
            Some(Err(e)) => {
                // The client went away or the body broke: whatever was being written is
                // dropped with its temp file; nothing half-written becomes visible.
                resp.errors.push(format!("reading part: {e}"));
                return json(StatusCode::BAD_REQUEST, &resp);
            }
            None => eof = true,
        }
    }
    drop(current);
    // Drain the rest so the client gets the answer instead of a reset.
    while let Some(Ok(_)) = stream.next().await {}
    let status = if resp.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    json(status, &resp)
}

/// Streams a raw or multipart (`file` field) body to `path`: `POST /files/upload-v2` and the
/// legacy `POST /files/upload`.
async fn upload_single(
    d: &Daemon,
    headers: &HeaderMap,
    q: &Params,
    body: Body,
) -> Result<String, ApiError> {
    let path = q.get("path");
    if path.is_empty() {
        return Err(ApiError::bad_request("path is required"));
    }
    let wd = workdir(d);
    let mut stream = body.into_data_stream();
    let mut writer: Option<Writing> = None;
    let io_err = |e: String| ApiError::internal(format!("{path}: {e}"));
    if let Some(boundary) = multipart_boundary(headers) {
        let mut decoder = MultipartDecoder::new(&boundary).map_err(ApiError::bad_request)?;
        let (mut buf, mut input) = (BytesMut::new(), Bytes::new());
        let mut in_file = false;
        let mut done = None;
        let mut eof = false;
        while done.is_none() {
            loop {
                let ev = if eof {
                    decoder.decode_eof(&mut buf)
                } else {
                    decoder.decode_from(&mut buf, &mut input)
                };
                match ev.map_err(ApiError::bad_request)? {
                    None | Some(Event::End) => break,
                    Some(Event::Part(h)) => {
                        in_file = h.name.as_deref() == Some("file") && writer.is_none();
                        if in_file {
                            writer = Some(Writing::start(&wd, &path).await.map_err(io_err)?);
                        }
                    }
                    Some(Event::Data(data)) => {
                        if let (true, Some(w)) = (in_file, writer.as_mut()) {
                            w.write(data).await.map_err(io_err)?;
                        }
                    }
                    Some(Event::PartEnd) => {
                        if in_file {
                            if let Some(w) = writer.take() {
                                done = Some(w.finish().await.map_err(io_err)?);
                            }
                        }
                        in_file = false;
                    }
                }
            }
            if done.is_some() || decoder.is_finished() {
                break;
            }
            if eof {
                break;
            }
            match stream.next().await {
                Some(Ok(c)) => input = c,
                Some(Err(e)) => return Err(ApiError::bad_request(format!("reading body: {e}"))),
                None => eof = true,
            }
        }
        while let Some(Ok(_)) = stream.next().await {}
        if done.is_none() {
            return Err(ApiError::bad_request("http: no such file"));
        }
    } else {
        let mut w = Writing::start(&wd, &path).await.map_err(io_err)?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| ApiError::bad_request(format!("reading body: {e}")))?;
            w.write(chunk).await.map_err(io_err)?;
        }
        w.finish().await.map_err(io_err)?;
    }
    Ok(path)
}

async fn upload_v2(
    State(d): State<Daemon>,
    ctx: Ctx,
    q: Params,
    headers: HeaderMap,
    body: Body,
) -> Response {
    ctx.reply(upload_single(&d, &headers, &q, body).await.map(|path| {
        json(
            StatusCode::OK,
            &UploadedFile {
                name: fs::base_name(&path),
                path,
                kind: "file".to_owned(),
            },
        )
    }))
}

async fn upload_legacy(
    State(d): State<Daemon>,
    ctx: Ctx,
    q: Params,
    headers: HeaderMap,
    body: Body,
) -> Response {
    ctx.reply(
        upload_single(&d, &headers, &q, body)
            .await
            .map(|_| empty(StatusCode::OK)),
    )
}

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

async fn bulk_download(State(d): State<Daemon>, ctx: Ctx, body: Body) -> Response {
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
    while left > 0 {
        let want = usize::try_from(left).map_or(process_io::CHUNK, |l| l.min(process_io::CHUNK));
        let chunk = match process_io::read_chunk(&mut file, want) {
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

async fn download(
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
