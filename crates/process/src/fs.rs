//! [`Fs`]: the sandbox file system (`client.fs()`), as the SDK's `sandbox.fs`. Uploads and
//! downloads stream (a file of any size passes through bounded memory); downloads are decoded
//! with the protocol's multipart decoder.

use process_proto::wire::endpoint;
use std::path::Path;
use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderValue, Method, Request};
use http_body_util::BodyExt;
use process_proto::multipart::{self, Event, MultipartDecoder};
use process_proto::wire::{
    self, ErrorResponse, FilesDownloadRequest, ReplaceRequest, ReplaceResult, SearchFilesResponse,
    UploadFilesResponse,
};
use process_proto::wire::{FileInfo, Match, UploadedFileEntry};
use process_transport::{Body, BoxError};
use tokio::io::AsyncRead;

use crate::client::Client;
use crate::error::{Context, Error, ErrorKind};

/// Percent-encodes a query value as the SDK does (`quote(v, safe="/")`).
fn q(v: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'/');
    percent_encoding::utf8_percent_encode(v, SET).to_string()
}

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

/// Permission changes for [`Fs::set_file_permissions`] (each `None` = unchanged).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Permissions {
    /// Octal mode, e.g. `"755"`.
    pub mode: Option<String>,
    /// Owner (name or uid).
    pub owner: Option<String>,
    /// Group (name or gid).
    pub group: Option<String>,
}

impl Permissions {
    /// Just a mode.
    pub fn mode(mode: impl Into<String>) -> Permissions {
        Permissions {
            mode: Some(mode.into()),
            ..Permissions::default()
        }
    }

    /// Sets the owner.
    #[must_use]
    pub fn owner(mut self, owner: impl Into<String>) -> Permissions {
        self.owner = Some(owner.into());
        self
    }

    /// Sets the group.
    #[must_use]
    pub fn group(mut self, group: impl Into<String>) -> Permissions {
        self.group = Some(group.into());
        self
    }
}

/// A stream of a downloaded file's bytes.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, Error>> + Send>>;

/// The sandbox file system; get one with [`Client::fs`].
#[derive(Debug)]
pub struct Fs<'a> {
    client: &'a Client,
}

impl Client {
    /// The file system of the sandbox (the SDK's `sandbox.fs`).
    pub fn fs(&self) -> Fs<'_> {
        Fs { client: self }
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
    async fn unit(&self, op: &'static str, method: Method, path: String) -> Result<(), Error> {
        self.client
            .send(&Context::new(op), method, &path, None, None)
            .await
            .map(|_| ())
    }

    /// `create_folder(path, mode)`: `mkdir -p` with an octal mode (e.g. `"755"`).
    pub async fn create_folder(&self, path: &str, mode: &str) -> Result<(), Error> {
        self.unit(
            "create_folder",
            Method::POST,
            format!(
                "{}?path={}&mode={}",
                endpoint::FILES_FOLDER,
                q(path),
                q(mode)
            ),
        )
        .await
    }

    /// `delete_file(path, recursive)`.
    pub async fn delete_file(&self, path: &str, recursive: bool) -> Result<(), Error> {
        self.unit(
            "delete_file",
            Method::DELETE,
            format!("{}?path={}&recursive={recursive}", endpoint::FILES, q(path)),
        )
        .await
    }

    /// `list_files(path)`: entries sorted by name.
    pub async fn list_files(&self, path: &str) -> Result<Vec<FileInfo>, Error> {
        self.client
            .get_json(
                &Context::new("list_files"),
                &format!("{}?path={}", endpoint::FILES, q(path)),
            )
            .await
    }

    /// `list_files(path, depth)`: a walk `depth` levels deep (≥ 1).
    pub async fn list_files_depth(&self, path: &str, depth: u32) -> Result<Vec<FileInfo>, Error> {
        self.client
            .get_json(
                &Context::new("list_files"),
                &format!("{}?path={}&depth={depth}", endpoint::FILES, q(path)),
            )
            .await
    }

    /// `get_file_info(path)`.
    pub async fn get_file_info(&self, path: &str) -> Result<FileInfo, Error> {
        self.client
            .get_json(
                &Context::new("get_file_info"),
                &format!("{}?path={}", endpoint::FILES_INFO, q(path)),
            )
            .await
    }

    /// `find_files(path, pattern)`: lines containing the literal `pattern` (grep).
    pub async fn find_files(&self, path: &str, pattern: &str) -> Result<Vec<Match>, Error> {
        self.client
            .get_json(
                &Context::new("find_files"),
                &format!(
                    "{}?path={}&pattern={}",
                    endpoint::FILES_FIND,
                    q(path),
                    q(pattern)
                ),
            )
            .await
    }

    /// `search_files(path, pattern)`: paths whose name matches the glob (`*.py`; `**/x.rs` and
    /// `{a,b}` too).
    pub async fn search_files(&self, path: &str, pattern: &str) -> Result<Vec<String>, Error> {
        let r: SearchFilesResponse = self
            .client
            .get_json(
                &Context::new("search_files"),
                &format!(
                    "{}?path={}&pattern={}",
                    endpoint::FILES_SEARCH,
                    q(path),
                    q(pattern)
                ),
            )
            .await?;
        Ok(r.files)
    }

    /// `replace_in_files(files, pattern, new_value)`: literal replacement, per-file results.
    pub async fn replace_in_files(
        &self,
        files: &[&str],
        pattern: &str,
        new_value: &str,
    ) -> Result<Vec<ReplaceResult>, Error> {
        let ctx = Context::new("replace_in_files");
        let body = ReplaceRequest {
            files: files.iter().map(|s| (*s).to_owned()).collect(),
            pattern: pattern.to_owned(),
            new_value: new_value.to_owned(),
        };
        self.client
            .send_json(
                &ctx,
                Method::POST,
                endpoint::FILES_REPLACE.template(),
                &body,
                None,
            )
            .await?
            .json(&ctx)
    }

    /// `move_files(source, destination)` (an existing destination is a conflict).
    pub async fn move_files(&self, source: &str, destination: &str) -> Result<(), Error> {
        self.unit(
            "move_files",
            Method::POST,
            format!(
                "{}?source={}&destination={}",
                endpoint::FILES_MOVE,
                q(source),
                q(destination)
            ),
        )
        .await
    }

    /// `set_file_permissions(path, mode=, owner=, group=)`.
    pub async fn set_file_permissions(&self, path: &str, perms: &Permissions) -> Result<(), Error> {
        let mut p = format!("{}?path={}", endpoint::FILES_PERMISSIONS, q(path));
        for (k, v) in [
            ("owner", &perms.owner),
            ("group", &perms.group),
            ("mode", &perms.mode),
        ] {
            if let Some(v) = v {
                p.push('&');
                p.push_str(k);
                p.push('=');
                p.push_str(&q(v));
            }
        }
        self.unit("set_file_permissions", Method::POST, p).await
    }

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

    async fn bulk_download(
        &self,
        ctx: &Context,
        paths: &[&str],
    ) -> Result<(MultipartDecoder, Body), Error> {
        let body = FilesDownloadRequest {
            paths: paths.iter().map(|s| (*s).to_owned()).collect(),
        };
        let mut req = Request::new(process_transport::full(wire::encode(&body)));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = http::Uri::from_static(endpoint::FILES_BULK_DOWNLOAD.template());
        req.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        req.headers_mut()
            .insert(ACCEPT, HeaderValue::from_static("multipart/form-data"));
        let resp = self.client.send_streaming(ctx, req).await?;
        let ct = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let boundary = multipart::boundary_from_content_type(&ct).ok_or_else(|| {
            Error::new(
                ErrorKind::Protocol,
                format!(
                    "{}: unexpected Content-Type {ct:?} (expected multipart/form-data)",
                    ctx.op
                ),
            )
        })?;
        let dec = MultipartDecoder::new(&boundary)
            .map_err(|e| Error::new(ErrorKind::Protocol, format!("{}: {e}", ctx.op)))?;
        Ok((dec, resp.into_body()))
    }

    /// `download_file_stream(path)`: the file's bytes as they arrive.
    pub async fn download_stream(&self, path: &str) -> Result<ByteStream, Error> {
        let ctx = Context::new("download_file");
        let (dec, body) = self.bulk_download(&ctx, &[path]).await?;
        let mut parts = Parts::new(dec, body, ctx);
        // Read up to the first part's headers so a per-file error surfaces here.
        match parts.next().await? {
            Some(PartEvent::Start { error: false, .. }) => {}
            Some(PartEvent::Start { error: true, .. }) => return Err(parts.read_error().await),
            _ => {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    format!("download_file: no data received for {path}"),
                ))
            }
        }
        Ok(Box::pin(futures_util::stream::unfold(
            Some(parts),
            |state| async move {
                let mut parts = state?;
                match parts.next().await {
                    Ok(Some(PartEvent::Data(b))) => Some((Ok(b), Some(parts))),
                    Ok(_) => None,
                    Err(e) => Some((Err(e), None)),
                }
            },
        )))
    }

    /// `download_file(path)`: the whole file in memory.
    pub async fn download_file(&self, path: &str) -> Result<Bytes, Error> {
        let mut s = self.download_stream(path).await?;
        let mut out = BytesMut::new();
        while let Some(chunk) = s.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out.freeze())
    }

    /// `download_file(path, local_path)`: streamed to disk (written beside, then renamed).
    /// Returns the number of bytes written.
    pub async fn download_file_to(
        &self,
        path: &str,
        local: impl AsRef<Path>,
    ) -> Result<u64, Error> {
        let local = local.as_ref();
        let mut s = self.download_stream(path).await?;
        let tmp = local.with_file_name(format!(
            ".{}.download",
            local
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        let io = |e: std::io::Error| {
            Error::invalid_input(format!(
                "download_file: cannot write {}: {e}",
                local.display()
            ))
        };
        let file = {
            let tmp = tmp.clone();
            tokio::task::spawn_blocking(move || std::fs::File::create(tmp))
                .await
                .map_err(std::io::Error::other)
                .and_then(|r| r)
                .map_err(io)?
        };
        let mut out = process_io::FileSink::new(file);
        let mut n = 0u64;
        let result: Result<(), Error> = async {
            while let Some(chunk) = s.next().await {
                let chunk = chunk?;
                n += chunk.len() as u64;
                out.write(chunk).await.map_err(io)?;
            }
            out.finish().await.map(drop).map_err(io)
        }
        .await;
        if let Err(e) = result {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        tokio::fs::rename(&tmp, local).await.map_err(io)?;
        Ok(n)
    }

    /// `download_files([...])`: every file in memory, each with its own result, in request
    /// order.
    pub async fn download_files(
        &self,
        paths: &[&str],
    ) -> Result<Vec<(String, Result<Bytes, Error>)>, Error> {
        let ctx = Context::new("download_files");
        let (dec, body) = self.bulk_download(&ctx, paths).await?;
        let mut parts = Parts::new(dec, body, ctx);
        let mut out: Vec<(String, Result<Bytes, Error>)> = Vec::new();
        loop {
            match parts.next().await? {
                None => break,
                Some(PartEvent::Start { error, filename }) => {
                    if error {
                        let e = parts.read_error().await;
                        out.push((filename, Err(e)));
                    } else {
                        let mut data = BytesMut::new();
                        while let Some(PartEvent::Data(b)) = parts.next().await? {
                            data.extend_from_slice(&b);
                        }
                        out.push((filename, Ok(data.freeze())));
                    }
                }
                Some(_) => {}
            }
        }
        Ok(out)
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

enum PartEvent {
    Start { error: bool, filename: String },
    Data(Bytes),
    End,
}

/// Reads a bulk-download body part by part.
struct Parts {
    dec: MultipartDecoder,
    body: Body,
    /// What straddles body frames (a possible delimiter's start, header blocks).
    buf: BytesMut,
    /// The body frame being decoded; file data is lent from it, not copied.
    frame: Bytes,
    eof: bool,
    ctx: Context,
}

impl Parts {
    fn new(dec: MultipartDecoder, body: Body, ctx: Context) -> Parts {
        Parts {
            dec,
            body,
            buf: BytesMut::new(),
            frame: Bytes::new(),
            eof: false,
            ctx,
        }
    }

    /// The next event; `None` at the closing delimiter.
    async fn next(&mut self) -> Result<Option<PartEvent>, Error> {
        loop {
            let ev = if self.eof {
                self.dec.decode_eof(&mut self.buf)
            } else {
                self.dec.decode_from(&mut self.buf, &mut self.frame)
            };
            match ev
                .map_err(|e| Error::new(ErrorKind::Protocol, format!("{}: {e}", self.ctx.op)))?
            {
                Some(Event::Part(h)) => {
                    return Ok(Some(PartEvent::Start {
                        error: h.name.as_deref() == Some("error"),
                        filename: h.filename.unwrap_or_default(),
                    }))
                }
                Some(Event::Data(b)) => return Ok(Some(PartEvent::Data(b))),
                Some(Event::PartEnd) => return Ok(Some(PartEvent::End)),
                Some(Event::End) => return Ok(None),
                None if self.eof => return Ok(None),
                None => {}
            }
            match self.body.frame().await {
                Some(Ok(f)) => {
                    if let Ok(d) = f.into_data() {
                        self.frame = d;
                    }
                }
                Some(Err(e)) => {
                    return Err(Error::new(
                        ErrorKind::Transport,
                        format!("{}: the download broke off: {e}", self.ctx.op),
                    ))
                }
                None => self.eof = true,
            }
        }
    }

    /// Reads an error part's envelope (bounded) into an error.
    async fn read_error(&mut self) -> Error {
        let mut json = Vec::new();
        loop {
            match self.next().await {
                Ok(Some(PartEvent::Data(b))) if json.len() < 1 << 20 => json.extend_from_slice(&b),
                Ok(Some(PartEvent::Data(_))) => {}
                Ok(_) => break,
                Err(e) => return e,
            }
        }
        let env = ErrorResponse::parse_lenient(500, &json);
        let status = http::StatusCode::from_u16(env.status_code)
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        self.ctx.response_error(status, &json)
    }
}
