//! The file-system domain behind `/files/...` (spec toolbox §3), free of HTTP: path resolution
//! against the work dir, [`FileInfo`] in the official daemon's formats, and the operations
//! (list, info, folder, delete, move, permissions). Walks (find, search, replace) are in
//! [`walk`], streaming transfers in [`transfer`]. Errors are [`FsError`]; the HTTP edge maps
//! them to the spec's codes.

pub(crate) mod transfer;
pub(crate) mod walk;

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use process_proto::wire::FileInfo;

/// A file-system operation failed. Messages are what the user sees after the SDK's prefix
/// (`"Failed to list files: "`), in the official daemon's wording where the SDK shows it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FsError {
    /// The path (or a parent) does not exist (404 `FILE_NOT_FOUND`).
    #[error("{0}")]
    NotFound(String),
    /// The daemon user may not do this (403 `FILE_ACCESS_DENIED`).
    #[error("{0}")]
    AccessDenied(String),
    /// The request cannot be carried out as asked (400 `BAD_REQUEST`).
    #[error("{0}")]
    BadRequest(String),
    /// The path is unusable for this operation (400 `INVALID_FILE_PATH`).
    #[error("{0}")]
    InvalidPath(String),
    /// The destination exists (409 `CONFLICT`).
    #[error("{0}")]
    Conflict(String),
    /// Reading failed for another reason (500 `FILE_READ_FAILED`).
    #[error("{0}")]
    ReadFailed(String),
}

impl FsError {
    /// Classifies an OS error of `op` on `path` (Go's `"open /x: no such file or directory"`
    /// wording): ENOENT/ENOTDIR-on-parent → not found, EACCES/EPERM → access denied, else bad
    /// request.
    pub(crate) fn io(op: &str, path: &Path, err: &io::Error) -> FsError {
        let msg = format!("{op} {}: {}", path.display(), errno_text(err));
        match err.kind() {
            io::ErrorKind::NotFound => FsError::NotFound(msg),
            io::ErrorKind::PermissionDenied => FsError::AccessDenied(msg),
            _ => FsError::BadRequest(msg),
        }
    }
}

/// The lower-case errno description Go prints (`no such file or directory`).
pub(crate) fn errno_text(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(code) => {
            let desc = nix::errno::Errno::from_raw(code).desc();
            let mut chars = desc.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => err.to_string(),
            }
        }
        None => err.to_string(),
    }
}

/// Resolves a request path: absolute as given, relative against the daemon's work dir (a
/// stored directory, never the process cwd: spec §8.3). Nothing is confined (as the original).
pub(crate) fn resolve(workdir: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        workdir.join(p)
    }
}

/// Go's `filepath.Clean` on a path string: collapses `//`, `.` and `a/..`, keeps a leading
/// `..` of relative paths; `""` → `"."`.
pub(crate) fn clean(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for comp in Path::new(path).components() {
        match comp {
            Component::Normal(s) => parts.push(s.to_str().unwrap_or("")),
            Component::ParentDir => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// Go's `filepath.Join(a, b)` (cleaned).
pub(crate) fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        return clean(b);
    }
    clean(&format!("{a}/{b}"))
}

/// Go's `FileMode.String()` for a `st_mode`: type letters (`dalTLDpSugct?` order) or `-`,
/// then `rwxrwxrwx`.
pub(crate) fn go_mode_string(mode: u32) -> String {
    let fmt = mode & libc::S_IFMT;
    let mut s = String::with_capacity(12);
    if fmt == libc::S_IFDIR {
        s.push('d');
    }
    if fmt == libc::S_IFLNK {
        s.push('L');
    }
    if fmt == libc::S_IFBLK || fmt == libc::S_IFCHR {
        s.push('D');
    }
    if fmt == libc::S_IFIFO {
        s.push('p');
    }
    if fmt == libc::S_IFSOCK {
        s.push('S');
    }
    if mode & libc::S_ISUID != 0 {
        s.push('u');
    }
    if mode & libc::S_ISGID != 0 {
        s.push('g');
    }
    if fmt == libc::S_IFCHR {
        s.push('c');
    }
    if mode & libc::S_ISVTX != 0 {
        s.push('t');
    }
    if s.is_empty() {
        s.push('-');
    }
    for (i, c) in "rwxrwxrwx".chars().enumerate() {
        if mode & (1 << (8 - i)) != 0 {
            s.push(c);
        } else {
            s.push('-');
        }
    }
    s
}

/// Trims a nanosecond fraction like Go (`.123`, none when zero).
fn fraction(nanos: u32) -> String {
    if nanos == 0 {
        return String::new();
    }
    let s = format!(".{nanos:09}");
    s.trim_end_matches('0').to_owned()
}

/// `(modTime, modifiedAt)`: Go `time.Time.String()` and RFC 3339 with nanoseconds, in UTC.
pub(crate) fn format_times(secs: i64, nanos: u32) -> (String, String) {
    let Ok(at) = time::OffsetDateTime::from_unix_timestamp(secs) else {
        return (String::new(), String::new());
    };
    let date = format!(
        "{:04}-{:02}-{:02}",
        at.year(),
        u8::from(at.month()),
        at.day()
    );
    let clock = format!(
        "{:02}:{:02}:{:02}{}",
        at.hour(),
        at.minute(),
        at.second(),
        fraction(nanos)
    );
    (
        format!("{date} {clock} +0000 UTC"),
        format!("{date}T{clock}Z"),
    )
}

/// A [`FileInfo`] from metadata: `name` given, `path` optional.
pub(crate) fn file_info(name: String, path: Option<String>, md: &std::fs::Metadata) -> FileInfo {
    let (mod_time, modified_at) = format_times(md.mtime(), md.mtime_nsec() as u32);
    FileInfo {
        name,
        path,
        size: md.size(),
        mode: go_mode_string(md.mode()),
        mod_time,
        modified_at: Some(modified_at),
        is_dir: md.is_dir(),
        owner: md.uid().to_string(),
        group: md.gid().to_string(),
        permissions: format!("{:04o}", md.mode() & 0o777),
    }
}

/// Base name of a path as given (`"a/b/"` → `"b"`, `"/"` → `"/"`).
pub(crate) fn base_name(path: &str) -> String {
    let cleaned = clean(path);
    match cleaned.rsplit_once('/') {
        Some((_, "")) | None => cleaned,
        Some((_, last)) => last.to_owned(),
    }
}

/// `GET /files`: entries of `path` (default `.`), sorted by name, each stat'ed (following
/// symlinks; broken links and races are left out). `depth > 1` walks that deep without
/// following symlinked directories, parents before children.
pub(crate) fn list(workdir: &Path, path: &str, depth: usize) -> Result<Vec<FileInfo>, FsError> {
    let path = if path.is_empty() { "." } else { path };
    let abs = resolve(workdir, path);
    let rd = std::fs::read_dir(&abs).map_err(|e| {
        if e.raw_os_error() == Some(libc::ENOTDIR) {
            FsError::BadRequest(format!("readdirent {path}: not a directory"))
        } else {
            FsError::io("open", Path::new(path), &e)
        }
    })?;
    if depth <= 1 {
        let mut names: Vec<std::ffi::OsString> =
            rd.filter_map(|e| e.ok().map(|e| e.file_name())).collect();
        names.sort();
        return Ok(names
            .into_iter()
            .filter_map(|n| {
                let md = std::fs::metadata(abs.join(&n)).ok()?;
                let name = n.to_string_lossy().into_owned();
                Some(file_info(name.clone(), Some(join(path, &name)), &md))
            })
            .collect());
    }
    drop(rd);
    let root = std::fs::canonicalize(&abs).unwrap_or_else(|_| abs.clone());
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(&root)
        .min_depth(1)
        .max_depth(depth)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
    {
        let Ok(rel) = entry.path().strip_prefix(&root) else {
            continue;
        };
        let Ok(md) = std::fs::metadata(entry.path()) else {
            continue;
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        out.push(file_info(
            name,
            Some(join(path, &rel.to_string_lossy())),
            &md,
        ));
    }
    Ok(out)
}

/// `GET /files/info`: `stat` (following symlinks).
pub(crate) fn info(workdir: &Path, path: &str) -> Result<FileInfo, FsError> {
    require(path, "path is required")?;
    let md = std::fs::metadata(resolve(workdir, path))
        .map_err(|e| FsError::io("stat", Path::new(path), &e))?;
    Ok(file_info(base_name(path), None, &md))
}

fn require(value: &str, msg: &str) -> Result<(), FsError> {
    if value.is_empty() {
        Err(FsError::BadRequest(msg.to_owned()))
    } else {
        Ok(())
    }
}

/// Parses an octal mode string (`"755"`, `"0755"`, `"4755"`); setuid/setgid/sticky are kept
/// (the original dropped them silently, spec §9).
pub(crate) fn parse_mode(mode: &str) -> Result<u32, FsError> {
    u32::from_str_radix(mode, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| FsError::BadRequest("invalid mode format".to_owned()))
}

/// `POST /files/folder`: `mkdir -p` with `mode` (default 0755, umask applies to what is
/// created; special bits are applied with a chmod). An existing directory is success and keeps
/// its mode.
pub(crate) fn create_folder(workdir: &Path, path: &str, mode: &str) -> Result<(), FsError> {
    use std::os::unix::fs::DirBuilderExt;
    require(path, "path is required")?;
    let mode = if mode.is_empty() {
        0o755
    } else {
        parse_mode(mode)?
    };
    let abs = resolve(workdir, path);
    if abs.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode & 0o777)
        .create(&abs)
        .map_err(|e| match e.kind() {
            io::ErrorKind::PermissionDenied => FsError::io("mkdir", Path::new(path), &e),
            _ => FsError::BadRequest(format!("mkdir {path}: {}", errno_text(&e))),
        })?;
    if mode & 0o7000 != 0 {
        let current = std::fs::metadata(&abs).map_or(mode & 0o777, |m| m.mode() & 0o777);
        std::fs::set_permissions(
            &abs,
            std::fs::Permissions::from_mode(current | (mode & 0o7000)),
        )
        .map_err(|e| FsError::io("chmod", Path::new(path), &e))?;
    }
    Ok(())
}

/// `DELETE /files`: a file, or a directory with `recursive`. A symlink is removed itself.
pub(crate) fn delete(workdir: &Path, path: &str, recursive: bool) -> Result<(), FsError> {
    require(path, "path is required")?;
    let abs = resolve(workdir, path);
    let md = std::fs::metadata(&abs).map_err(|e| FsError::io("stat", Path::new(path), &e))?;
    let is_link = std::fs::symlink_metadata(&abs).is_ok_and(|m| m.file_type().is_symlink());
    if md.is_dir() && !recursive {
        return Err(FsError::BadRequest(
            "cannot delete directory without recursive flag".to_owned(),
        ));
    }
    let res = if md.is_dir() && !is_link {
        std::fs::remove_dir_all(&abs)
    } else {
        std::fs::remove_file(&abs)
    };
    res.map_err(|e| FsError::io("remove", Path::new(path), &e))
}

/// `POST /files/move`: rename; across file systems a copy (symlinks kept as links, modes
/// kept) then delete. An existing destination is a conflict; a directory cannot move into its
/// own subtree.
pub(crate) fn move_path(workdir: &Path, source: &str, destination: &str) -> Result<(), FsError> {
    if source.is_empty() || destination.is_empty() {
        return Err(FsError::BadRequest(
            "source and destination paths are required".to_owned(),
        ));
    }
    let src = resolve(workdir, source);
    let dst = resolve(workdir, destination);
    let src_md = std::fs::symlink_metadata(&src).map_err(|e| FsError::io("stat", &src, &e))?;
    let parent = dst.parent().unwrap_or(Path::new("/"));
    let parent_md = std::fs::metadata(parent).map_err(|e| FsError::io("stat", parent, &e))?;
    if !parent_md.is_dir() {
        return Err(FsError::BadRequest(format!(
            "stat {}: not a directory",
            parent.display()
        )));
    }
    if std::fs::symlink_metadata(&dst).is_ok() {
        return Err(FsError::Conflict("destination already exists".to_owned()));
    }
    if src_md.is_dir() {
        let canon_src = std::fs::canonicalize(&src).unwrap_or_else(|_| src.clone());
        let canon_parent = std::fs::canonicalize(parent).unwrap_or_else(|_| parent.to_path_buf());
        if canon_parent.starts_with(&canon_src) {
            return Err(FsError::BadRequest(format!(
                "cannot move {} into its own subtree {}",
                src.display(),
                dst.display()
            )));
        }
    }
    match std::fs::rename(&src, &dst) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            copy_tree(&src, &dst).map_err(|e| FsError::io("copy", &src, &e))?;
            let removed = if src_md.is_dir() {
                std::fs::remove_dir_all(&src)
            } else {
                std::fs::remove_file(&src)
            };
            removed.map_err(|e| {
                FsError::AccessDenied(format!(
                    "copied to {} but the source could not be deleted: {}",
                    dst.display(),
                    errno_text(&e)
                ))
            })
        }
        Err(e) => Err(FsError::io("rename", &src, &e)),
    }
}

/// Copies a file, symlink or directory tree, keeping symlinks as links and modes.
fn copy_tree(src: &Path, dst: &Path) -> io::Result<()> {
    let md = std::fs::symlink_metadata(src)?;
    if md.file_type().is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(src)?, dst)
    } else if md.is_dir() {
        std::fs::create_dir(dst)?;
        for entry in std::fs::read_dir(src)? {
            let entry = entry?;
            copy_tree(&entry.path(), &dst.join(entry.file_name()))?;
        }
        std::fs::set_permissions(dst, md.permissions())
    } else {
        std::fs::copy(src, dst).map(|_| ())
    }
}

/// `POST /files/permissions`: chmod (octal, special bits kept), then chown (`owner`/`group` by
/// id or name; unspecified = unchanged). Follows symlinks.
pub(crate) fn set_permissions(
    workdir: &Path,
    path: &str,
    owner: &str,
    group: &str,
    mode: &str,
) -> Result<(), FsError> {
    require(path, "path is required")?;
    let abs = resolve(workdir, path);
    std::fs::metadata(&abs).map_err(|e| FsError::io("stat", &abs, &e))?;
    if !mode.is_empty() {
        let m = parse_mode(mode)?;
        std::fs::set_permissions(&abs, std::fs::Permissions::from_mode(m)).map_err(|e| {
            FsError::io(
                &format!("failed to change permissions for {}: chmod", abs.display()),
                &abs,
                &e,
            )
        })?;
    }
    let uid = if owner.is_empty() {
        None
    } else if let Ok(id) = owner.parse::<u32>() {
        Some(nix::unistd::Uid::from_raw(id))
    } else {
        match nix::unistd::User::from_name(owner) {
            Ok(Some(u)) => Some(u.uid),
            _ => return Err(FsError::BadRequest("user not found".to_owned())),
        }
    };
    let gid = if group.is_empty() {
        None
    } else if let Ok(id) = group.parse::<u32>() {
        Some(nix::unistd::Gid::from_raw(id))
    } else {
        match nix::unistd::Group::from_name(group) {
            Ok(Some(g)) => Some(g.gid),
            _ => return Err(FsError::BadRequest("group not found".to_owned())),
        }
    };
    if uid.is_some() || gid.is_some() {
        nix::unistd::chown(&abs, uid, gid).map_err(|errno| {
            let e = io::Error::from_raw_os_error(errno as i32);
            FsError::io(
                &format!("failed to change ownership for {}: chown", abs.display()),
                &abs,
                &e,
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_mode_strings() {
        assert_eq!(go_mode_string(libc::S_IFREG | 0o644), "-rw-r--r--");
        assert_eq!(go_mode_string(libc::S_IFDIR | 0o755), "drwxr-xr-x");
        assert_eq!(go_mode_string(libc::S_IFREG | 0o4755), "urwxr-xr-x");
        assert_eq!(go_mode_string(libc::S_IFDIR | 0o1777), "dtrwxrwxrwx");
        assert_eq!(go_mode_string(libc::S_IFCHR | 0o666), "Dcrw-rw-rw-");
        assert_eq!(go_mode_string(libc::S_IFIFO | 0o600), "prw-------");
    }

    #[test]
    fn times_like_go() {
        let (a, b) = format_times(1_795_255_200, 123_456_789);
        assert_eq!(a, "2026-11-21 10:00:00.123456789 +0000 UTC");
        assert_eq!(b, "2026-11-21T10:00:00.123456789Z");
        let (a, b) = format_times(1_795_255_200, 500_000_000);
        assert_eq!(a, "2026-11-21 10:00:00.5 +0000 UTC");
        assert_eq!(b, "2026-11-21T10:00:00.5Z");
        assert_eq!(format_times(1_795_255_200, 0).1, "2026-11-21T10:00:00Z");
    }

    #[test]
    fn clean_and_join_like_go() {
        assert_eq!(clean(""), ".");
        assert_eq!(clean("a//b/./c/.."), "a/b");
        assert_eq!(clean("../a"), "../a");
        assert_eq!(clean("/../a"), "/a");
        assert_eq!(join(".", "a.txt"), "a.txt");
        assert_eq!(join("workspace/", "a.txt"), "workspace/a.txt");
        assert_eq!(base_name("a/b/"), "b");
        assert_eq!(base_name("/"), "/");
    }

    #[test]
    fn modes_parse_octal_only() {
        assert_eq!(parse_mode("755"), Ok(0o755));
        assert_eq!(parse_mode("0755"), Ok(0o755));
        assert_eq!(parse_mode("4755"), Ok(0o4755));
        for bad in ["0o755", "u+x", "8", "", "77777"] {
            assert!(parse_mode(bad).is_err(), "{bad}");
        }
    }
}
