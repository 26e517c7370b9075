//! [`Fs`]: the sandbox file system (`client.fs()`), as the SDK's `sandbox.fs`. Uploads and
//! downloads stream (a file of any size passes through bounded memory); downloads are decoded
//! with the protocol's multipart decoder. This module holds the tree operations (folders,
//! listing, info, moves, permissions, deletes); `search.rs` find/search/replace, `upload.rs`
//! and `download.rs` the transfers.

use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;
use http::Method;
use process_proto::wire::{endpoint, FileInfo};

use crate::client::Client;
use crate::error::{Context, Error};

mod download;
mod search;
mod upload;

pub use upload::{FileUpload, UploadSource};

/// Percent-encodes a query value as the SDK does (`quote(v, safe="/")`).
pub(crate) fn q(v: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'/');
    percent_encoding::utf8_percent_encode(v, SET).to_string()
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
    pub(crate) client: &'a Client,
}

impl Client {
    /// The file system of the sandbox (the SDK's `sandbox.fs`).
    pub fn fs(&self) -> Fs<'_> {
        Fs { client: self }
    }
}

impl Fs<'_> {
    pub(crate) async fn unit(
        &self,
        op: &'static str,
        method: Method,
        path: String,
    ) -> Result<(), Error> {
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
}
