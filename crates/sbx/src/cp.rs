//! `sbx cp SRC DST`: files and directories between this machine and a sandbox (`ID:/path` on
//! one side, a local path or `-` for stdin/stdout on the other). Contents stream in bounded
//! memory; a progress bar is drawn on stderr when it is a terminal.

use std::io::IsTerminal;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use process::{FileUpload, Permissions};
use tokio::io::AsyncWriteExt;

use crate::cli::CpArgs;
use crate::connect::process_client;
use crate::error::SbxError;
use crate::Ctx;

/// How many files one upload request carries when a directory is copied.
const UPLOAD_BATCH: usize = 32;
/// The mode the daemon gives an uploaded file; others are set after the upload.
const DEFAULT_FILE_MODE: u32 = 0o644;

/// One side of a copy.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Place {
    /// A path on this machine.
    Local(PathBuf),
    /// `-`: stdin as a source, stdout as a destination (one file).
    Stdio,
    /// `ID:/path` in a sandbox.
    Remote {
        /// The sandbox.
        id: String,
        /// The path in it.
        path: String,
    },
}

impl Place {
    /// `-`, `ID:PATH` (the ID has no `/`), or a local path (`./a:b` for a local name with a
    /// colon).
    pub(crate) fn parse(s: &str) -> Result<Place, String> {
        if s == "-" {
            return Ok(Place::Stdio);
        }
        if s.is_empty() {
            return Err("an empty path".to_owned());
        }
        match s.split_once(':') {
            Some((id, path)) if !id.is_empty() && !id.contains('/') && !s.starts_with('.') => {
                if path.is_empty() {
                    return Err(format!(
                        "'{s}' names no path in sandbox '{id}': write {id}:/path"
                    ));
                }
                Ok(Place::Remote {
                    id: id.to_owned(),
                    path: path.to_owned(),
                })
            }
            _ => Ok(Place::Local(PathBuf::from(s))),
        }
    }
}

/// `dir/name` for sandbox paths.
fn join_remote(dir: &str, name: &str) -> String {
    let base = dir.trim_end_matches('/');
    if base.is_empty() && dir.starts_with('/') {
        format!("/{name}")
    } else {
        format!("{base}/{name}")
    }
}

/// The last component of a sandbox path.
fn remote_basename(path: &str) -> &str {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
}

/// What a copy moved.
#[derive(Debug, Default)]
struct Totals {
    files: u64,
    dirs: u64,
    bytes: u64,
}

/// The progress bar: drawn on stderr when it is a terminal, hidden otherwise (and with
/// `--json`).
fn progress(ctx: &Ctx, quiet: bool) -> ProgressBar {
    if ctx.json || quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{msg:30!} {bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} {eta}",
    ) {
        pb.set_style(style);
    }
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

/// `sbx cp SRC DST`.
pub(crate) async fn cp(ctx: &Ctx, args: CpArgs) -> Result<ExitCode, SbxError> {
    let (src, dst) = (Place::parse(&args.src), Place::parse(&args.dst));
    let (src, dst) = match (src, dst) {
        (Ok(s), Ok(d)) => (s, d),
        (Err(e), _) | (_, Err(e)) => return Err(SbxError::Usage(format!("cp: {e}"))),
    };
    let pb = progress(ctx, args.quiet);
    let totals = match (src, dst) {
        (Place::Remote { id, path }, Place::Local(local)) => {
            download(ctx, &id, &path, Some(&local), &pb).await?
        }
        (Place::Remote { id, path }, Place::Stdio) => download(ctx, &id, &path, None, &pb).await?,
        (Place::Local(local), Place::Remote { id, path }) => {
            upload(ctx, Some(&local), &id, &path, &pb).await?
        }
        (Place::Stdio, Place::Remote { id, path }) => upload(ctx, None, &id, &path, &pb).await?,
        (Place::Remote { .. }, Place::Remote { .. }) => {
            return Err(SbxError::Usage(
                "cp: both sides are in sandboxes: copy to a local path first, then from it"
                    .to_owned(),
            ))
        }
        _ => {
            return Err(SbxError::Usage(
                "cp: one side must be in a sandbox (ID:/path): for local copies use cp(1)"
                    .to_owned(),
            ))
        }
    };
    pb.finish_and_clear();
    if ctx.json {
        crate::print_json(&serde_json::json!({
            "files": totals.files,
            "directories": totals.dirs,
            "bytes": totals.bytes,
        }));
    } else if !pb.is_hidden() {
        eprintln!(
            "copied {} file(s), {} bytes",
            totals.files,
            indicatif::HumanBytes(totals.bytes)
        );
    }
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------------
// Upload

/// A local file to upload, with its destination.
struct LocalFile {
    local: PathBuf,
    remote: String,
    mode: u32,
}

async fn upload(
    ctx: &Ctx,
    local: Option<&Path>,
    id: &str,
    dest: &str,
    pb: &ProgressBar,
) -> Result<Totals, SbxError> {
    let client = process_client(&ctx.conn, id).await?;
    let fs = client.fs();
    // Where the destination is a directory, the source goes inside it (as cp(1)).
    let dest_is_dir = if dest.ends_with('/') {
        true
    } else {
        match fs.get_file_info(dest).await {
            Ok(info) => info.is_dir,
            Err(e) if e.is_not_found() => false,
            Err(e) => return Err(SbxError::remote(format!("cp: checking {id}:{dest}"), e)),
        }
    };
    let Some(local) = local else {
        // stdin → one file.
        if dest_is_dir {
            return Err(SbxError::Usage(format!(
                "cp: {id}:{dest} is a directory: name the file stdin is copied to"
            )));
        }
        pb.set_message(dest.to_owned());
        let reader = pb.wrap_async_read(tokio::io::stdin());
        let entry = fs
            .upload_reader(reader, dest)
            .await
            .map_err(|e| SbxError::remote(format!("cp: uploading stdin to {id}:{dest}"), e))?;
        return Ok(Totals {
            files: 1,
            dirs: 0,
            bytes: entry.bytes,
        });
    };
    let meta = tokio::fs::metadata(local)
        .await
        .map_err(|e| SbxError::io(format!("cp: reading {}", local.display()), e))?;
    let name = local
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let target = if dest_is_dir && !name.is_empty() {
        join_remote(dest, &name)
    } else {
        dest.trim_end_matches('/').to_owned()
    };
    let mut totals = Totals::default();
    let mut files = Vec::new();
    if meta.is_dir() {
        let local = local.to_owned();
        let target2 = target.clone();
        let (dirs, walked) = tokio::task::spawn_blocking(move || walk_local(&local, &target2))
            .await
            .map_err(|e| SbxError::Usage(format!("cp: walking the directory failed: {e}")))??;
        for (remote, mode) in dirs {
            fs.create_folder(&remote, &format!("{mode:o}"))
                .await
                .map_err(|e| SbxError::remote(format!("cp: creating {id}:{remote}"), e))?;
            totals.dirs += 1;
        }
        files = walked;
    } else {
        files.push(LocalFile {
            local: local.to_owned(),
            remote: target,
            mode: meta.permissions().mode() & 0o7777,
        });
    }
    let mut total_len = 0u64;
    for f in &files {
        total_len += tokio::fs::metadata(&f.local).await.map_or(0, |m| m.len());
    }
    pb.set_length(total_len);
    for batch in files.chunks(UPLOAD_BATCH) {
        let mut uploads = Vec::with_capacity(batch.len());
        for f in batch {
            let file = tokio::fs::File::open(&f.local)
                .await
                .map_err(|e| SbxError::io(format!("cp: opening {}", f.local.display()), e))?;
            uploads.push(FileUpload::reader(pb.wrap_async_read(file), &f.remote));
        }
        pb.set_message(batch.first().map(|f| f.remote.clone()).unwrap_or_default());
        let written = fs
            .upload_files(uploads)
            .await
            .map_err(|e| SbxError::remote(format!("cp: uploading to {id}"), e))?;
        for w in &written {
            totals.bytes += w.bytes;
        }
        totals.files += batch.len() as u64;
        for f in batch.iter().filter(|f| f.mode != DEFAULT_FILE_MODE) {
            fs.set_file_permissions(&f.remote, &Permissions::mode(format!("{:o}", f.mode)))
                .await
                .map_err(|e| {
                    SbxError::remote(format!("cp: setting the mode of {id}:{}", f.remote), e)
                })?;
        }
    }
    Ok(totals)
}

/// A walked local directory: its directories (sandbox path, mode; parents first) and files.
type Walked = (Vec<(String, u32)>, Vec<LocalFile>);

/// A local directory's subdirectories (with their modes, parents first) and files, mapped
/// under `target`. Symbolic links to files are copied as files; links to directories are
/// skipped with a warning (they may loop).
fn walk_local(root: &Path, target: &str) -> Result<Walked, SbxError> {
    let mut dirs = Vec::new();
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.map_err(|e| {
            let what = format!("cp: reading {}", root.display());
            match e.into_io_error() {
                Some(io) => SbxError::io(what, io),
                None => SbxError::Usage(format!("{what}: a directory loop")),
            }
        })?;
        let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
        let mut remote = target.trim_end_matches('/').to_owned();
        for part in rel.components() {
            remote = join_remote(&remote, &part.as_os_str().to_string_lossy());
        }
        if remote.is_empty() {
            target.clone_into(&mut remote);
        }
        let meta = std::fs::metadata(entry.path())
            .map_err(|e| SbxError::io(format!("cp: reading {}", entry.path().display()), e))?;
        let mode = meta.permissions().mode() & 0o7777;
        if meta.is_dir() {
            if entry.path_is_symlink() {
                eprintln!(
                    "sbx: cp: skipping {}: a link to a directory",
                    entry.path().display()
                );
                continue;
            }
            dirs.push((remote, mode));
        } else if meta.is_file() {
            files.push(LocalFile {
                local: entry.path().to_owned(),
                remote,
                mode,
            });
        } else {
            eprintln!(
                "sbx: cp: skipping {}: not a regular file",
                entry.path().display()
            );
        }
    }
    Ok((dirs, files))
}

// ---------------------------------------------------------------------------------------------
// Download

/// The permission bits of a `FileInfo.permissions` (`%04o`).
fn parse_mode(s: &str) -> Option<u32> {
    u32::from_str_radix(s, 8).ok().filter(|m| *m <= 0o7777)
}

async fn download(
    ctx: &Ctx,
    id: &str,
    src: &str,
    local: Option<&Path>,
    pb: &ProgressBar,
) -> Result<Totals, SbxError> {
    let client = process_client(&ctx.conn, id).await?;
    let fs = client.fs();
    let info = fs
        .get_file_info(src)
        .await
        .map_err(|e| SbxError::remote(format!("cp: {id}:{src}"), e))?;
    let mut totals = Totals::default();
    let Some(local) = local else {
        if info.is_dir {
            return Err(SbxError::Usage(format!(
                "cp: {id}:{src} is a directory: stdout takes one file; copy it to a local path"
            )));
        }
        pb.set_length(info.size);
        pb.set_message(src.to_owned());
        let mut stream = fs
            .download_stream(src)
            .await
            .map_err(|e| SbxError::remote(format!("cp: downloading {id}:{src}"), e))?;
        let mut out = tokio::io::stdout();
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|e| SbxError::remote(format!("cp: downloading {id}:{src}"), e))?;
            out.write_all(&chunk)
                .await
                .map_err(|e| SbxError::io("cp: writing stdout", e))?;
            pb.inc(chunk.len() as u64);
            totals.bytes += chunk.len() as u64;
        }
        out.flush()
            .await
            .map_err(|e| SbxError::io("cp: writing stdout", e))?;
        totals.files = 1;
        return Ok(totals);
    };
    let local_is_dir = tokio::fs::metadata(local).await.is_ok_and(|m| m.is_dir());
    let name = remote_basename(src);
    let target = if local_is_dir && !name.is_empty() {
        local.join(name)
    } else {
        local.to_owned()
    };
    if !info.is_dir {
        pb.set_length(info.size);
        totals.bytes =
            download_one(&client, id, src, &target, parse_mode(&info.permissions), pb).await?;
        totals.files = 1;
        return Ok(totals);
    }
    // A directory: walk it breadth-first, creating local directories as they are found.
    let mut queue = vec![(src.to_owned(), target, parse_mode(&info.permissions))];
    let mut files = Vec::new();
    while let Some((dir, local_dir, mode)) = queue.pop() {
        tokio::fs::create_dir_all(&local_dir)
            .await
            .map_err(|e| SbxError::io(format!("cp: creating {}", local_dir.display()), e))?;
        if let Some(mode) = mode {
            // Owner access is kept so the copy can be filled in.
            let _ = tokio::fs::set_permissions(
                &local_dir,
                std::fs::Permissions::from_mode(mode | 0o700),
            )
            .await;
        }
        totals.dirs += 1;
        let entries = fs
            .list_files(&dir)
            .await
            .map_err(|e| SbxError::remote(format!("cp: listing {id}:{dir}"), e))?;
        for e in entries {
            let remote = join_remote(&dir, &e.name);
            let local_path = local_dir.join(&e.name);
            let link = e.mode.starts_with('L');
            if e.is_dir {
                if link {
                    eprintln!("sbx: cp: skipping {id}:{remote}: a link to a directory");
                    continue;
                }
                queue.push((remote, local_path, parse_mode(&e.permissions)));
            } else {
                pb.inc_length(e.size);
                files.push((remote, local_path, parse_mode(&e.permissions)));
            }
        }
    }
    for (remote, local_path, mode) in files {
        totals.bytes += download_one(&client, id, &remote, &local_path, mode, pb).await?;
        totals.files += 1;
    }
    Ok(totals)
}

/// Streams `remote` into `local` (written beside it, then renamed into place), with `mode`.
async fn download_one(
    client: &process::Client,
    id: &str,
    remote: &str,
    local: &Path,
    mode: Option<u32>,
    pb: &ProgressBar,
) -> Result<u64, SbxError> {
    pb.set_message(remote.to_owned());
    let fail = |e| SbxError::remote(format!("cp: downloading {id}:{remote}"), e);
    let mut stream = client.fs().download_stream(remote).await.map_err(fail)?;
    let name = local
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = local.with_file_name(format!(".{name}.sbx-cp"));
    let io = |e| SbxError::io(format!("cp: writing {}", local.display()), e);
    let file = tokio::fs::File::create(&tmp).await.map_err(io)?;
    let mut out = tokio::io::BufWriter::with_capacity(1 << 20, file);
    let mut n = 0u64;
    let result: Result<(), SbxError> = async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(fail)?;
            out.write_all(&chunk).await.map_err(io)?;
            n += chunk.len() as u64;
            pb.inc(chunk.len() as u64);
        }
        out.flush().await.map_err(io)?;
        if let Some(mode) = mode {
            tokio::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
                .await
                .map_err(io)?;
        }
        tokio::fs::rename(&tmp, local).await.map_err(io)
    }
    .await;
    if let Err(e) = result {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(e);
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places() {
        assert_eq!(Place::parse("-"), Ok(Place::Stdio));
        assert_eq!(
            Place::parse("box:/tmp/a"),
            Ok(Place::Remote {
                id: "box".into(),
                path: "/tmp/a".into()
            })
        );
        assert_eq!(
            Place::parse("box:rel/a:b"),
            Ok(Place::Remote {
                id: "box".into(),
                path: "rel/a:b".into()
            })
        );
        assert_eq!(Place::parse("./a:b"), Ok(Place::Local("./a:b".into())));
        assert_eq!(Place::parse("dir/a:b"), Ok(Place::Local("dir/a:b".into())));
        assert_eq!(Place::parse("/x"), Ok(Place::Local("/x".into())));
        assert!(Place::parse("box:").is_err());
        assert!(Place::parse("").is_err());
    }

    #[test]
    fn remote_paths() {
        assert_eq!(join_remote("/", "a"), "/a");
        assert_eq!(join_remote("/tmp/", "a"), "/tmp/a");
        assert_eq!(join_remote("rel", "a"), "rel/a");
        assert_eq!(remote_basename("/tmp/dir/"), "dir");
        assert_eq!(remote_basename("/tmp/f.txt"), "f.txt");
        assert_eq!(parse_mode("0755"), Some(0o755));
        assert_eq!(parse_mode("x"), None);
    }
}
