//! Uploads: `POST /files/bulk-upload` (multipart, each file written atomically beside its
//! target and renamed into place), `POST /files/upload-v2` and the legacy `POST /files/upload`.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http::{HeaderMap, StatusCode};
use process_proto::multipart::{self, Event, MultipartDecoder};
use process_proto::wire::{self, UploadFilesResponse, UploadedFile, UploadedFileEntry};

use process_io::FileSink;

use super::workdir;
use crate::api::toolbox::{empty, json, Ctx, Params};
use crate::error::ApiError;
use crate::fs;
use crate::fs::transfer::{upload_target, TempFile};
use crate::Daemon;

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

pub(super) async fn bulk_upload(
    State(d): State<Daemon>,
    headers: HeaderMap,
    body: Body,
) -> Response {
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

/// `POST /files/upload-v2` (`V2`: answers the uploaded file's name, path and kind) and the
/// legacy `POST /files/upload` (an empty 200): the same streamed, atomic write.
pub(super) async fn upload<const V2: bool>(
    State(d): State<Daemon>,
    ctx: Ctx,
    q: Params,
    headers: HeaderMap,
    body: Body,
) -> Response {
    ctx.reply(upload_single(&d, &headers, &q, body).await.map(|path| {
        if !V2 {
            return empty(StatusCode::OK);
        }
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
