//! Downloads over `POST /files/bulk-download`, decoded part by part (file data lent from the
//! body frames, not copied): to bytes, a stream, a local path, or many files at once.

use std::path::Path;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderValue, Method, Request};
use http_body_util::BodyExt;
use process_proto::multipart::{self, Event, MultipartDecoder};
use process_proto::wire::{self, endpoint, ErrorResponse, FilesDownloadRequest};
use process_transport::Body;

use super::{ByteStream, Fs};
use crate::error::{Context, Error, ErrorKind};

impl Fs<'_> {
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
