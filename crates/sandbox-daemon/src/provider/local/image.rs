//! Images: the default Debian root filesystem (built with `mmdebstrap`), cached in the image dir,
//! its owners shifted once into the sandboxes' unprivileged host uid range.
//!
//! Layout of an image dir (shared by every state dir):
//!
//! ```text
//! IMAGE_DIR/.lock              flock: held while an image builds
//! IMAGE_DIR/default/rootfs/    the read-only lower layer of every sandbox of this image
//! IMAGE_DIR/default/image.json written last: the image is complete when this exists
//! IMAGE_DIR/.build-default/    scratch of a build in progress (removed on the next build)
//! ```

use std::io::BufRead;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::provider::{ImageRef, ProviderError};

/// Name of the default image (also its directory in the image dir).
pub const DEFAULT_IMAGE: &str = "default";

/// The Debian suite of the default image.
pub const DEFAULT_SUITE: &str = "bookworm";

/// Packages of the default image beyond Debian's `apt` variant: every seed language runs in it.
pub const DEFAULT_PACKAGES: &[&str] = &[
    "python3",
    "python3-matplotlib",
    "python3-numpy",
    "nodejs",
    "ts-node",
    "node-typescript",
    "git",
    "ca-certificates",
    "procps",
    "passwd",
];

/// Host uid/gid that the sandboxes' root maps to; image owners are shifted by this once.
pub const HOST_ID_BASE: u32 = 100_000;

/// Size of the uid/gid range mapped into every sandbox (container ids `0..ID_RANGE`).
pub const ID_RANGE: u32 = 65_536;

/// The Debian mirror (`SANDBOXD_DEBIAN_MIRROR` overrides it).
const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";

/// What `image.json` records about a built image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ImageInfo {
    /// Image name (directory name in the image dir).
    pub name: String,
    /// Debian suite.
    pub suite: String,
    /// Packages requested on top of the base.
    pub packages: Vec<String>,
    /// Host uid that owns the image's root-owned files (container root).
    pub host_id_base: u32,
    /// Total size of the files, in bytes.
    pub size_bytes: u64,
    /// Seconds the build took.
    pub build_seconds: u64,
}

/// The cached images of one image dir.
#[derive(Debug, Clone)]
pub struct ImageStore {
    dir: PathBuf,
}

impl ImageStore {
    /// The store in `dir` (nothing is created until a build).
    pub fn new(dir: impl Into<PathBuf>) -> ImageStore {
        ImageStore { dir: dir.into() }
    }

    /// The image dir.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The root filesystem of image `name`.
    pub fn rootfs(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("rootfs")
    }

    /// The recorded facts of image `name`, if it is completely built.
    pub fn info(&self, name: &str) -> Option<ImageInfo> {
        let text = std::fs::read(self.dir.join(name).join("image.json")).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Maps an image or snapshot name (`None` = the default) to a cached root filesystem.
    ///
    /// The default image answers to no name, `default`, `debian`, `debian:12`, `debian:12.x`,
    /// `debian:bookworm…` and Daytona's default snapshot names (`daytonaio/sandbox…`,
    /// `daytona-…`); any other name must be an image directory built into the image dir.
    pub fn resolve(&self, requested: Option<&str>) -> Result<ImageRef, ProviderError> {
        let requested = requested.map(str::trim).filter(|n| !n.is_empty());
        let dir_name = match requested {
            None => DEFAULT_IMAGE,
            Some(name) if is_default_alias(name) => DEFAULT_IMAGE,
            Some(name) if is_safe_name(name) => name,
            Some(name) => return Err(ProviderError::UnknownImage(name.to_owned())),
        };
        if self.info(dir_name).is_none() {
            if dir_name == DEFAULT_IMAGE {
                return Err(ProviderError::Runtime(format!(
                    "the default image is not built yet in {}: run `sandboxd image build` \
                     (or start sandboxd, which builds it)",
                    self.dir.display()
                )));
            }
            return Err(ProviderError::UnknownImage(
                requested.unwrap_or(dir_name).to_owned(),
            ));
        }
        Ok(ImageRef {
            name: requested.unwrap_or(DEFAULT_IMAGE).to_owned(),
            rootfs: self.rootfs(dir_name),
        })
    }
}

/// Whether `name` means the default image.
fn is_default_alias(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let lower = lower.strip_prefix("docker.io/").unwrap_or(&lower);
    let lower = lower.strip_prefix("library/").unwrap_or(lower);
    matches!(lower, "default" | "debian" | "debian:latest" | "debian:12")
        || lower.starts_with("debian:12.")
        || lower.starts_with("debian:12-")
        || lower.starts_with("debian:bookworm")
        || lower.starts_with("daytonaio/sandbox")
        || lower.starts_with("daytona-")
}

/// A name usable as a directory: `[A-Za-z0-9._-]`, not starting with a dot.
fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn io_err(what: impl std::fmt::Display, err: impl std::fmt::Display) -> ProviderError {
    ProviderError::Runtime(format!("{what}: {err}"))
}

/// Builds the default image into `image_dir` unless it is there already, and returns its facts.
///
/// Blocking (minutes on a first build): call it from a blocking thread. Concurrent builders
/// (other `sandboxd`s sharing the image dir) wait on the dir's lock, then find it built. Every
/// line of `mmdebstrap`'s progress, and the steps after it, go to `progress`.
pub fn build_default_image(
    image_dir: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<ImageInfo, ProviderError> {
    let store = ImageStore::new(image_dir);
    if let Some(info) = store.info(DEFAULT_IMAGE) {
        return Ok(info);
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(image_dir)
        .map_err(|e| {
            io_err(
                format!("cannot create image dir {}", image_dir.display()),
                e,
            )
        })?;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(image_dir.join(".lock"))
        .map_err(|e| io_err("cannot open the image dir lock", e))?;
    if lock.try_lock().is_err() {
        progress(&format!(
            "another sandboxd is building the image in {}; waiting for it",
            image_dir.display()
        ));
        lock.lock()
            .map_err(|e| io_err("cannot lock the image dir", e))?;
    }
    // Built by whoever held the lock before us?
    if let Some(info) = store.info(DEFAULT_IMAGE) {
        return Ok(info);
    }
    let started = Instant::now();
    let scratch = image_dir.join(format!(".build-{DEFAULT_IMAGE}"));
    if scratch.exists() {
        progress("removing the remains of an interrupted build");
        std::fs::remove_dir_all(&scratch)
            .map_err(|e| io_err(format!("cannot remove {}", scratch.display()), e))?;
    }
    std::fs::DirBuilder::new()
        .mode(0o755)
        .create(&scratch)
        .map_err(|e| io_err(format!("cannot create {}", scratch.display()), e))?;
    let rootfs = scratch.join("rootfs");
    run_mmdebstrap(&rootfs, progress, started)?;
    progress(&format!(
        "[{:>4}s] shifting owners to the sandbox uid range (container root = host uid {HOST_ID_BASE})",
        started.elapsed().as_secs()
    ));
    let size_bytes = shift_owners(&rootfs, HOST_ID_BASE)?;
    let info = ImageInfo {
        name: DEFAULT_IMAGE.to_owned(),
        suite: DEFAULT_SUITE.to_owned(),
        packages: DEFAULT_PACKAGES.iter().map(|p| (*p).to_owned()).collect(),
        host_id_base: HOST_ID_BASE,
        size_bytes,
        build_seconds: started.elapsed().as_secs(),
    };
    let json =
        serde_json::to_vec_pretty(&info).map_err(|e| io_err("cannot encode image.json", e))?;
    std::fs::write(scratch.join("image.json"), json)
        .map_err(|e| io_err("cannot write image.json", e))?;
    let target = image_dir.join(DEFAULT_IMAGE);
    if target.exists() {
        // An incomplete image (no image.json): replace it.
        std::fs::remove_dir_all(&target)
            .map_err(|e| io_err(format!("cannot remove {}", target.display()), e))?;
    }
    std::fs::rename(&scratch, &target)
        .map_err(|e| io_err(format!("cannot move the image to {}", target.display()), e))?;
    progress(&format!(
        "[{:>4}s] image '{DEFAULT_IMAGE}' ready in {} ({:.2} GB)",
        started.elapsed().as_secs(),
        target.display(),
        size_bytes as f64 / 1e9
    ));
    Ok(info)
}

/// Runs `mmdebstrap` into `rootfs`, forwarding its output lines to `progress`.
fn run_mmdebstrap(
    rootfs: &Path,
    progress: &mut dyn FnMut(&str),
    started: Instant,
) -> Result<(), ProviderError> {
    let mirror = std::env::var("SANDBOXD_DEBIAN_MIRROR").unwrap_or_else(|_| DEFAULT_MIRROR.into());
    let mut cmd = std::process::Command::new("mmdebstrap");
    cmd.args([
        "--variant=apt",
        "--mode=root",
        "--format=directory",
        &format!("--include={}", DEFAULT_PACKAGES.join(",")),
        // Documentation, manuals and translations: a third of the size, never used here.
        "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-include=/usr/share/doc/*/copyright",
        "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/locale/*",
        "--customize-hook=chroot \"$1\" useradd --create-home --uid 1000 --user-group --shell /bin/bash daytona",
        "--customize-hook=rm -rf \"$1\"/var/cache/apt/archives/*.deb \"$1\"/var/lib/apt/lists/*",
        DEFAULT_SUITE,
    ])
    .arg(rootfs)
    .arg(&mirror)
    .stdin(std::process::Stdio::null())
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped());
    progress(&format!(
        "building the default sandbox image with mmdebstrap ({DEFAULT_SUITE} from {mirror}; \
         a few minutes, about 1.3 GB)"
    ));
    let mut child = cmd.spawn().map_err(|e| {
        ProviderError::Runtime(format!(
            "cannot run mmdebstrap (install the Debian package `mmdebstrap`): {e}"
        ))
    })?;
    let mut tail: Vec<String> = Vec::new();
    if let Some(stderr) = child.stderr.take() {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            progress(&format!("[{:>4}s] {line}", started.elapsed().as_secs()));
            tail.push(line);
            if tail.len() > 20 {
                tail.remove(0);
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| io_err("cannot wait for mmdebstrap", e))?;
    if !status.success() {
        return Err(ProviderError::Runtime(format!(
            "mmdebstrap failed ({status}); last output:\n{}",
            tail.join("\n")
        )));
    }
    Ok(())
}

/// Shifts every owner below [`ID_RANGE`] in `root` by `base` (uid and gid), keeping set-id bits
/// (which `chown` clears). Returns the total size of the files.
pub fn shift_owners(root: &Path, base: u32) -> Result<u64, ProviderError> {
    let mut size = 0u64;
    for entry in walkdir::WalkDir::new(root).follow_links(false) {
        let entry = entry.map_err(|e| io_err("cannot walk the image", e))?;
        let path = entry.path();
        let meta = std::fs::symlink_metadata(path)
            .map_err(|e| io_err(format!("cannot stat {}", path.display()), e))?;
        if meta.is_file() {
            size += meta.len();
        }
        let (uid, gid) = (meta.uid(), meta.gid());
        if uid >= ID_RANGE && gid >= ID_RANGE {
            continue; // already shifted
        }
        let new_uid = if uid < ID_RANGE { uid + base } else { uid };
        let new_gid = if gid < ID_RANGE { gid + base } else { gid };
        std::os::unix::fs::lchown(path, Some(new_uid), Some(new_gid))
            .map_err(|e| io_err(format!("cannot chown {}", path.display()), e))?;
        let mode = meta.permissions().mode();
        if !meta.file_type().is_symlink() && mode & 0o6000 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o7777))
                .map_err(|e| io_err(format!("cannot restore the mode of {}", path.display()), e))?;
        }
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_aliases_map_to_the_default_image() {
        for name in [
            "debian:12.9",
            "debian:12",
            "debian:bookworm-slim",
            "docker.io/library/debian:12.9",
            "daytonaio/sandbox:0.4.3",
            "default",
        ] {
            assert!(is_default_alias(name), "{name}");
        }
        for name in ["ubuntu:22.04", "debian:11", "python:3.12", "alpine"] {
            assert!(!is_default_alias(name), "{name}");
        }
    }

    #[test]
    fn unknown_images_are_unknown_and_paths_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::new(dir.path());
        for name in ["ubuntu:22.04", "../etc", "a/b", ".hidden", "mine"] {
            match store.resolve(Some(name)) {
                Err(ProviderError::UnknownImage(n)) => assert_eq!(n, name),
                other => panic!("{name}: {other:?}"),
            }
        }
        // The default, not built: a clear instruction, not "unknown".
        let err = store.resolve(None).unwrap_err().to_string();
        assert!(err.contains("sandboxd image build"), "{err}");
    }

    #[test]
    fn built_images_resolve_by_name_and_alias() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::new(dir.path());
        for name in [DEFAULT_IMAGE, "mine"] {
            std::fs::create_dir_all(store.rootfs(name)).unwrap();
            let info = ImageInfo {
                name: name.into(),
                suite: DEFAULT_SUITE.into(),
                packages: vec![],
                host_id_base: HOST_ID_BASE,
                size_bytes: 0,
                build_seconds: 0,
            };
            std::fs::write(
                dir.path().join(name).join("image.json"),
                serde_json::to_vec(&info).unwrap(),
            )
            .unwrap();
        }
        assert_eq!(
            store.resolve(None).unwrap().rootfs,
            store.rootfs(DEFAULT_IMAGE)
        );
        let r = store.resolve(Some("debian:12.9")).unwrap();
        assert_eq!(
            (r.name.as_str(), r.rootfs),
            ("debian:12.9", store.rootfs(DEFAULT_IMAGE))
        );
        assert_eq!(
            store.resolve(Some("mine")).unwrap().rootfs,
            store.rootfs("mine")
        );
    }

    #[test]
    fn shifting_moves_owners_into_the_range_and_keeps_setuid_bits() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: chown needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("su");
        std::fs::write(&file, b"x").unwrap();
        std::os::unix::fs::chown(&file, Some(0), Some(0)).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o4755)).unwrap();
        std::os::unix::fs::symlink("su", dir.path().join("link")).unwrap();
        let user = dir.path().join("home");
        std::fs::create_dir(&user).unwrap();
        std::os::unix::fs::chown(&user, Some(1000), Some(1000)).unwrap();
        let size = shift_owners(dir.path(), HOST_ID_BASE).unwrap();
        assert_eq!(size, 1);
        let m = std::fs::metadata(&file).unwrap();
        assert_eq!((m.uid(), m.gid()), (HOST_ID_BASE, HOST_ID_BASE));
        assert_eq!(m.permissions().mode() & 0o7777, 0o4755);
        let l = std::fs::symlink_metadata(dir.path().join("link")).unwrap();
        assert_eq!(l.uid(), HOST_ID_BASE);
        let h = std::fs::metadata(&user).unwrap();
        assert_eq!(
            (h.uid(), h.gid()),
            (HOST_ID_BASE + 1000, HOST_ID_BASE + 1000)
        );
        // A second pass changes nothing (already shifted).
        shift_owners(dir.path(), HOST_ID_BASE).unwrap();
        assert_eq!(std::fs::metadata(&file).unwrap().uid(), HOST_ID_BASE);
    }
}
