//! Streaming transfers: [`TempFile`] (write beside the destination, then rename: an upload or
//! replace is all or nothing), upload target resolution, and opening files for download with
//! the per-file errors of bulk download (spec toolbox §3.5). The bytes themselves move through
//! `process_io` (the file sink and chunk reader the client uses too).

use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{errno_text, resolve, FsError};

/// A temporary file in the destination's directory, removed on drop unless committed.
#[derive(Debug)]
pub(crate) struct TempFile {
    path: PathBuf,
    file: Option<std::fs::File>,
    done: bool,
}

impl TempFile {
    /// Creates `.<name>.<random>.processd-tmp` beside `dest` (mode 0666 before umask, as a
    /// fresh upload).
    pub(crate) fn beside(dest: &Path) -> io::Result<TempFile> {
        let dir = dest.parent().unwrap_or(Path::new("/"));
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Long names: keep the temp name within NAME_MAX.
        let short: String = name.chars().take(100).collect();
        let path = dir.join(format!(
            ".{short}.{}.processd-tmp",
            uuid::Uuid::new_v4().simple()
        ));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o666)
            .open(&path)?;
        Ok(TempFile {
            path,
            file: Some(file),
            done: false,
        })
    }

    /// The open file (until [`take_file`](Self::take_file)).
    pub(crate) fn file_mut(&mut self) -> io::Result<&mut std::fs::File> {
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("the temp file was already taken"))
    }

    /// Takes the file out (for async writes); the temp path stays owned by `self`.
    pub(crate) fn take_file(&mut self) -> Option<std::fs::File> {
        self.file.take()
    }

    /// Renames the temp file over `dest`, first giving it `keep`'s mode and (when allowed)
    /// owner: an existing file keeps its permissions.
    pub(crate) fn commit(
        mut self,
        dest: &Path,
        keep: Option<&std::fs::Metadata>,
    ) -> io::Result<()> {
        drop(self.file.take());
        if let Some(md) = keep {
            std::fs::set_permissions(
                &self.path,
                std::fs::Permissions::from_mode(md.mode() & 0o7777),
            )?;
            // Only root may give a file away; as another user the file stays ours.
            let _ = nix::unistd::chown(
                &self.path,
                Some(nix::unistd::Uid::from_raw(md.uid())),
                Some(nix::unistd::Gid::from_raw(md.gid())),
            );
        }
        std::fs::rename(&self.path, dest)?;
        self.done = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.done {
            drop(self.file.take());
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Where an upload to `dest` goes: resolved against the work dir, through a symlink to its
/// target (as the original follows links), parents created (0755). Returns the target and the
/// metadata of an existing file there.
pub(crate) fn upload_target(
    workdir: &Path,
    dest: &str,
) -> Result<(PathBuf, Option<std::fs::Metadata>), FsError> {
    if dest.is_empty() {
        return Err(FsError::InvalidPath("empty path".to_owned()));
    }
    let mut target = resolve(workdir, dest);
    if std::fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink()) {
        if let Ok(real) = std::fs::canonicalize(&target) {
            target = real;
        }
    }
    if let Some(parent) = target.parent() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)
            .map_err(|e| FsError::io("mkdir", parent, &e))?;
    }
    let existing = std::fs::metadata(&target).ok();
    if existing.as_ref().is_some_and(std::fs::Metadata::is_dir) {
        return Err(FsError::InvalidPath(format!(
            "create: {}: is a directory",
            target.display()
        )));
    }
    Ok((target, existing))
}

/// Opens `path` for download and returns it with its size (`fstat` on the descriptor, so the
/// length matches what is read even under a concurrent rename). Errors are bulk download's:
/// `INVALID_FILE_PATH` for an empty path or a directory, `FILE_NOT_FOUND`,
/// `FILE_ACCESS_DENIED`, else `FILE_READ_FAILED`.
pub(crate) fn open_download(workdir: &Path, path: &str) -> Result<(std::fs::File, u64), FsError> {
    if path.is_empty() {
        return Err(FsError::InvalidPath(
            "invalid file path: path is empty".to_owned(),
        ));
    }
    let abs = resolve(workdir, path);
    let file = std::fs::File::open(&abs).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => FsError::NotFound(format!("file not found: {path}")),
        io::ErrorKind::PermissionDenied => {
            FsError::AccessDenied(format!("permission denied: {path}"))
        }
        _ => FsError::ReadFailed(format!("failed to open file: {}", errno_text(&e))),
    })?;
    let md = file
        .metadata()
        .map_err(|e| FsError::ReadFailed(format!("failed to stat file: {}", errno_text(&e))))?;
    if md.is_dir() {
        return Err(FsError::InvalidPath(format!(
            "invalid file path: path points to a directory: {path}"
        )));
    }
    Ok((file, md.len()))
}

/// A `Content-Type` for a download part from the file's extension (a small table of Go's
/// built-in types; anything else is `application/octet-stream`).
pub(crate) fn content_type_for(path: &str) -> &'static str {
    let ext = Path::new(path)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "txt" => "text/plain; charset=utf-8",
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "xml" => "text/xml; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_file_is_removed_unless_committed() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.bin");
        {
            let mut t = TempFile::beside(&dest).unwrap();
            std::io::Write::write_all(t.file_mut().unwrap(), b"half").unwrap();
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        std::fs::write(&dest, b"old").unwrap();
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o600)).unwrap();
        let md = std::fs::metadata(&dest).unwrap();
        let mut t = TempFile::beside(&dest).unwrap();
        std::io::Write::write_all(t.file_mut().unwrap(), b"new").unwrap();
        t.commit(&dest, Some(&md)).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"new");
        assert_eq!(std::fs::metadata(&dest).unwrap().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
