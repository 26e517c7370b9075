//! Uploads: [`FileUpload`] sources (bytes, a local path, any reader) streamed as one
//! multipart request.

use std::path::Path;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderValue, Method, Request};
use http_body_util::BodyExt;
use process_proto::multipart;
use process_proto::wire::{self, endpoint, UploadFilesResponse, UploadedFileEntry};
use process_transport::{Body, BoxError};
use tokio::io::AsyncRead;

use super::Fs;
use crate::error::{Context, Error, ErrorKind};

/// Where an upload's bytes come from.
pub enum UploadSource {
    /// Bytes in memory.
    Bytes(Bytes),
    /// A local file, streamed.
    Path(std::path::PathBuf),
    /// Any reader, streamed.
    Reader(Pin<Box<dyn AsyncRead + Send>>),
}

impl std::fmt::Debug for UploadSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UploadSource::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            UploadSource::Path(p) => write!(f, "Path({})", p.display()),
            UploadSource::Reader(_) => f.write_str("Reader"),
        }
    }
}

/// One file of [`Fs::upload_files`]: its source and its destination in the sandbox.
#[derive(Debug)]
pub struct FileUpload {
    /// The content.
    pub source: UploadSource,
    /// Destination path (relative to the daemon's work dir, or absolute).
    pub destination: String,
}

impl FileUpload {
    /// An upload from bytes.
    pub fn bytes(content: impl Into<Bytes>, destination: impl Into<String>) -> FileUpload {
        FileUpload {
            source: UploadSource::Bytes(content.into()),
            destination: destination.into(),
        }
    }

    /// An upload streamed from a local file.
    pub fn path(
        local: impl Into<std::path::PathBuf>,
        destination: impl Into<String>,
    ) -> FileUpload {
        FileUpload {
            source: UploadSource::Path(local.into()),
            destination: destination.into(),
        }
    }

    /// An upload streamed from a reader.
    pub fn reader(
        reader: impl AsyncRead + Send + 'static,
        destination: impl Into<String>,
    ) -> FileUpload {
        FileUpload {
            source: UploadSource::Reader(Box::pin(reader)),
            destination: destination.into(),
        }
    }
}

type Chunk = Result<http_body::Frame<Bytes>, BoxError>;
type ChunkStream = Pin<Box<dyn Stream<Item = Chunk> + Send>>;

fn once(b: Bytes) -> ChunkStream {
    Box::pin(futures_util::stream::once(async move {
        Ok(http_body::Frame::data(b))
    }))
}

impl Fs<'_> {
    /// `upload_file(bytes, destination)`.
    pub async fn upload_file(
        &self,
        content: impl Into<Bytes>,
        destination: &str,
    ) -> Result<UploadedFileEntry, Error> {
        self.upload_one(FileUpload::bytes(content, destination))
            .await
    }

    /// `upload_file(local_path, destination)`: streamed from disk.
    pub async fn upload_file_from_path(
        &self,
        local: impl AsRef<Path>,
        destination: &str,
    ) -> Result<UploadedFileEntry, Error> {
        self.upload_one(FileUpload::path(local.as_ref(), destination))
            .await
    }

    /// `upload_file_stream(reader, destination)`: streamed from any reader.
    pub async fn upload_reader(
        &self,
        reader: impl AsyncRead + Send + 'static,
        destination: &str,
    ) -> Result<UploadedFileEntry, Error> {
        self.upload_one(FileUpload::reader(reader, destination))
            .await
    }

    async fn upload_one(&self, f: FileUpload) -> Result<UploadedFileEntry, Error> {
        let dest = f.destination.clone();
        let mut r = self.upload_files(vec![f]).await?;
        r.pop().ok_or_else(|| {
            Error::new(
                ErrorKind::Protocol,
                format!("upload_file: the daemon reported nothing written for {dest}"),
            )
        })
    }

    /// `upload_files([...])`: one streaming multipart request; the daemon writes each file
    /// atomically. Any per-file failure is an error listing them (the others are written).
    pub async fn upload_files(
        &self,
        files: Vec<FileUpload>,
    ) -> Result<Vec<UploadedFileEntry>, Error> {
        let ctx = Context::new("upload_files");
        let boundary = multipart::boundary_from_random(random16());
        let mut parts: Vec<ChunkStream> = Vec::new();
        let mut first = true;
        for (i, f) in files.into_iter().enumerate() {
            let mut head = Vec::new();
            multipart::write_part_start(
                &mut head,
                &boundary,
                first,
                &[(
                    "Content-Disposition",
                    format!("form-data; name=\"{}\"", wire::upload_path_field(i)).as_bytes(),
                )],
            );
            first = false;
            head.extend_from_slice(f.destination.as_bytes());
            multipart::write_part_start(
                &mut head,
                &boundary,
                false,
                &[
                    (
                        "Content-Disposition",
                        &multipart::content_disposition(
                            &wire::upload_file_field(i),
                            &f.destination,
                        ),
                    ),
                    ("Content-Type", b"application/octet-stream"),
                ],
            );
            parts.push(once(Bytes::from(head)));
            parts.push(match f.source {
                UploadSource::Bytes(b) => once(b),
                UploadSource::Path(p) => {
                    let path = p.clone();
                    let file = tokio::task::spawn_blocking(move || std::fs::File::open(path))
                        .await
                        .map_err(std::io::Error::other)
                        .and_then(|r| r)
                        .map_err(|e| {
                            Error::invalid_input(format!(
                                "upload_files: cannot open {}: {e}",
                                p.display()
                            ))
                        })?;
                    file_stream(file)
                }
                UploadSource::Reader(r) => reader_stream(r),
            });
        }
        let mut close = Vec::new();
        multipart::write_close(&mut close, &boundary, first);
        parts.push(once(Bytes::from(close)));
        let body = Body::new(http_body_util::StreamBody::new(
            futures_util::stream::iter(parts).flatten(),
        ));
        let mut req = Request::new(body);
        *req.method_mut() = Method::POST;
        *req.uri_mut() = http::Uri::from_static(endpoint::FILES_BULK_UPLOAD.template());
        if let Ok(v) = HeaderValue::from_str(&format!("multipart/form-data; boundary={boundary}")) {
            req.headers_mut().insert(CONTENT_TYPE, v);
        }
        req.headers_mut()
            .insert(ACCEPT, HeaderValue::from_static("*/*"));
        let resp = self.client.send_raw(&ctx, req).await?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| self.client.body_error(&ctx, e))?
            .to_bytes();
        if !status.is_success() {
            // A 400 carries the per-file errors (`UploadFilesResponse`), not the envelope.
            if let Ok(r) = serde_json::from_slice::<UploadFilesResponse>(&bytes) {
                if !r.errors.is_empty() {
                    let kind = if status.is_client_error() {
                        ErrorKind::BadRequest
                    } else {
                        ErrorKind::Server
                    };
                    return Err(Error::new(
                        kind,
                        format!("upload_files: {}: {}", status.as_u16(), r.errors.join(", ")),
                    ));
                }
            }
            return Err(ctx.response_error(status, &bytes));
        }
        let r: UploadFilesResponse =
            serde_json::from_slice(&bytes).map_err(|e| Error::protocol(&ctx, e))?;
        Ok(r.files)
    }
}

/// 16 random-enough bytes for a multipart boundary, from the standard library's hasher seeds
/// (no extra dependency; the boundary needs uniqueness, not secrecy).
fn random16() -> [u8; 16] {
    use std::hash::{BuildHasher, Hasher};
    let mut out = [0u8; 16];
    for half in out.chunks_mut(8) {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        half.copy_from_slice(&h.finish().to_le_bytes());
    }
    out
}

/// A local file's bytes as body frames, read on a blocking thread (started when the body is
/// first polled, so a request with many files holds one thread at a time) straight into the
/// buffers hyper writes to the socket (reused: `process_io::ChunkReader`). At most 4 chunks
/// are buffered.
fn file_stream(file: std::fs::File) -> ChunkStream {
    Box::pin(
        futures_util::stream::once(async move {
            let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
            tokio::task::spawn_blocking(move || read_file_into(file, &tx));
            futures_util::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|c| (c, rx)) },
            )
        })
        .flatten()
        .map(|c| {
            c.map(http_body::Frame::data)
                .map_err(|e| Box::new(e) as BoxError)
        }),
    )
}

fn read_file_into(mut file: std::fs::File, tx: &tokio::sync::mpsc::Sender<std::io::Result<Bytes>>) {
    let reader = process_io::ChunkReader::new(process_io::CHUNK);
    loop {
        match reader.read(&mut file, process_io::CHUNK) {
            Ok(chunk) if chunk.is_empty() => return,
            Ok(chunk) => {
                let last = chunk.len() < process_io::CHUNK;
                if tx.blocking_send(Ok(chunk)).is_err() || last {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        }
    }
}

fn reader_stream(r: Pin<Box<dyn AsyncRead + Send>>) -> ChunkStream {
    Box::pin(
        tokio_util::io::ReaderStream::with_capacity(r, 256 * 1024).map(|c| {
            c.map(http_body::Frame::data)
                .map_err(|e| Box::new(e) as BoxError)
        }),
    )
}
