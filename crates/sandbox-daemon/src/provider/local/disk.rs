//! The disk limit of a sandbox: its writable layer (the overlay's upper and work dirs) lives in
//! an ext4 filesystem of `disk` GiB in a sparse file beside its bundle (`disk.img`),
//! loop-mounted at `layer/` while the sandbox runs. Writes past the size fail with `ENOSPC`
//! inside the sandbox, which keeps working; `df /` there shows the size. Mounted with
//! `discard`, so what the sandbox deletes is given back to the host (the file stays sparse).
//!
//! Each size's empty filesystem is made once (`mkfs.ext4`, with a journal) into
//! `STATE/disk-templates/` and copied sparsely (`cp --sparse=always`: about 2 MB written) for
//! every new sandbox — or, with spares ([`Spares`], `sandboxd --disk-spares`), copied and
//! mounted ahead of time and moved into the sandbox's dir by its create. Growing (`resize` of a stopped sandbox) extends the file and runs
//! `e2fsck -f -p` and `resize2fs`. Needs the Debian packages `e2fsprogs` and `mount` (present on
//! any Debian) and loop devices.
//!
//! The host's space is not reserved: sparse files let the sum of the sandboxes' limits exceed
//! the host's free space, and the host filling up first is not prevented.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::provider::ProviderError;

/// The file holding a sandbox's writable layer.
pub const IMAGE: &str = "disk.img";
/// Where it is mounted while the sandbox runs.
pub const LAYER: &str = "layer";

fn err(what: impl std::fmt::Display) -> ProviderError {
    ProviderError::Runtime(format!("disk: {what}"))
}

async fn run(program: &str, args: &[&std::ffi::OsStr]) -> Result<(), ProviderError> {
    let out = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| {
            err(format!(
                "cannot run {program} (Debian packages e2fsprogs, mount): {e}"
            ))
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(err(format!(
            "{program} {} failed ({}): {}",
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Whether sandbox dir `dir` keeps its writable layer in a disk image (sandboxes made before
/// disks were limited keep `upper/` and `work/` in the dir itself).
pub fn has_image(dir: &Path) -> bool {
    dir.join(IMAGE).exists()
}

/// Makes `dir/disk.img`: an empty ext4 filesystem of `gib` GiB (from the template of that size
/// under `templates`, made on first use).
pub async fn create(dir: &Path, templates: &Path, gib: u32) -> Result<(), ProviderError> {
    std::fs::create_dir_all(templates)
        .map_err(|e| err(format!("cannot create {}: {e}", templates.display())))?;
    let template = templates.join(format!("ext4-{gib}g.img"));
    if !template.exists() {
        // Made beside and renamed into place: concurrent creates may both make one; either
        // is complete.
        let tmp = templates.join(format!("ext4-{gib}g.{}.tmp", uuid::Uuid::new_v4()));
        let file = std::fs::File::create(&tmp)
            .map_err(|e| err(format!("cannot create {}: {e}", tmp.display())))?;
        file.set_len(u64::from(gib) << 30)
            .map_err(|e| err(format!("cannot size {}: {e}", tmp.display())))?;
        drop(file);
        let made = run(
            "mkfs.ext4",
            &[
                "-q".as_ref(),
                "-F".as_ref(),
                "-m".as_ref(),
                "0".as_ref(),
                "-E".as_ref(),
                "lazy_itable_init=1,lazy_journal_init=1,nodiscard".as_ref(),
                "-L".as_ref(),
                "sandbox".as_ref(),
                tmp.as_os_str(),
            ],
        )
        .await;
        if let Err(e) = made.and_then(|()| {
            std::fs::rename(&tmp, &template)
                .map_err(|e| err(format!("cannot install {}: {e}", template.display())))
        }) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    }
    let image = dir.join(IMAGE);
    run(
        "cp",
        &[
            "--sparse=always".as_ref(),
            template.as_os_str(),
            image.as_os_str(),
        ],
    )
    .await?;
    std::fs::set_permissions(&image, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| err(format!("cannot chmod {}: {e}", image.display())))
}

/// Mounts `dir/disk.img` at `dir/layer` (a loop device freed on unmount) unless mounted, and
/// returns the overlay's upper and work dirs in it (upper owned by the sandbox's root `owner`).
pub async fn mount(
    dir: &Path,
    owner: u32,
    is_mounted: impl Fn(&Path) -> bool,
) -> Result<(PathBuf, PathBuf), ProviderError> {
    let layer = dir.join(LAYER);
    if !is_mounted(&layer) {
        std::fs::create_dir_all(&layer)
            .map_err(|e| err(format!("cannot create {}: {e}", layer.display())))?;
        let image = dir.join(IMAGE);
        run(
            "mount",
            &[
                "-t".as_ref(),
                "ext4".as_ref(),
                "-o".as_ref(),
                "loop,nodev,noatime,discard".as_ref(),
                image.as_os_str(),
                layer.as_os_str(),
            ],
        )
        .await?;
    }
    let (upper, work) = (layer.join("upper"), layer.join("work"));
    for path in [&upper, &work] {
        if !path.exists() {
            std::fs::create_dir(path)
                .map_err(|e| err(format!("cannot create {}: {e}", path.display())))?;
        }
    }
    // The overlay's root directory takes the upper dir's owner: the sandbox's root.
    std::os::unix::fs::chown(&upper, Some(owner), Some(owner))
        .map_err(|e| err(format!("cannot chown {}: {e}", upper.display())))?;
    Ok((upper, work))
}

/// The device mounted at `path` (`/dev/loopN`), from our mountinfo.
fn mounted_device(path: &Path) -> Option<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    device_in(&info, path)
}

/// The source of the mount at `path` in mountinfo text.
fn device_in(info: &str, path: &Path) -> Option<String> {
    let want = path.to_string_lossy();
    info.lines().find_map(|line| {
        let mut fields = line.split(' ');
        if fields.nth(4)? != want {
            return None;
        }
        // After the optional fields: " - FSTYPE SOURCE OPTIONS".
        let (_, rest) = line.split_once(" - ")?;
        rest.split(' ').nth(1).map(str::to_owned)
    })
}

/// Unmounts `dir/layer` if mounted and waits (a little) until its loop device is released:
/// the kernel detaches an auto-clear device after the last close, possibly a moment later.
pub async fn unmount(dir: &Path, is_mounted: impl Fn(&Path) -> bool) -> Result<(), ProviderError> {
    let layer = dir.join(LAYER);
    if !is_mounted(&layer) {
        return Ok(());
    }
    let device = mounted_device(&layer);
    if let Err(e) = nix::mount::umount(&layer) {
        // Busy (the overlay above was only detached): detach too; freed when released.
        nix::mount::umount2(&layer, nix::mount::MntFlags::MNT_DETACH)
            .map_err(|e2| err(format!("cannot unmount {} ({e}): {e2}", layer.display())))?;
        return Ok(());
    }
    let Some(name) = device.as_deref().and_then(|d| d.strip_prefix("/dev/")) else {
        return Ok(());
    };
    let backing = PathBuf::from(format!("/sys/block/{name}/loop/backing_file"));
    let image = dir.join(IMAGE);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while std::fs::read_to_string(&backing).is_ok_and(|f| Path::new(f.trim()) == image) {
        if std::time::Instant::now() > deadline {
            tracing::warn!(
                device = name,
                "loop device still attached 2 s after unmount"
            );
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    Ok(())
}

/// Whether loop-mounted disk images work here: makes the 1 GiB template (unless there) and
/// mounts a copy of it once. Hosts without loop devices (some containers) answer the error.
pub async fn probe(templates: &Path) -> Result<(), ProviderError> {
    let dir = templates.join(format!("probe-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| err(format!("cannot create {}: {e}", dir.display())))?;
    let result = async {
        create(&dir, templates, 1).await?;
        mount(&dir, 0, super::is_mounted).await?;
        unmount(&dir, super::is_mounted).await
    }
    .await;
    if let Err(e) = unmount(&dir, super::is_mounted).await {
        tracing::warn!(error = %e, "disk probe: cannot unmount");
    }
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Grows the (unmounted) filesystem of `dir` to `gib` GiB.
pub async fn grow(dir: &Path, gib: u32) -> Result<(), ProviderError> {
    let image = dir.join(IMAGE);
    let len = u64::from(gib) << 30;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&image)
        .map_err(|e| err(format!("cannot open {}: {e}", image.display())))?;
    let now = file
        .metadata()
        .map_err(|e| err(format!("cannot stat {}: {e}", image.display())))?
        .len();
    if len <= now {
        return Ok(());
    }
    file.set_len(len)
        .map_err(|e| err(format!("cannot grow {}: {e}", image.display())))?;
    drop(file);
    // Exit status 1 is "errors corrected": fine before a resize.
    let checked = tokio::process::Command::new("e2fsck")
        .args(["-f".as_ref(), "-p".as_ref(), image.as_os_str()])
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| err(format!("cannot run e2fsck (Debian package e2fsprogs): {e}")))?;
    if !matches!(checked.status.code(), Some(0 | 1)) {
        return Err(err(format!(
            "e2fsck of {} failed ({}): {}",
            image.display(),
            checked.status,
            String::from_utf8_lossy(&checked.stderr).trim()
        )));
    }
    run("resize2fs", &[image.as_os_str()]).await
}

/// Where spare layers are kept (under the state dir).
pub const SPARES: &str = "disk-spares";

/// Empty writable layers made ahead of time, so a new sandbox's create does not wait for its
/// disk image to be copied and loop-mounted: each spare is a `disk.img` copied from the
/// template of its size and mounted at its `layer/` (with `upper/` and `work/`), in
/// `STATE/disk-spares/ID/`. Taking one renames its image into the sandbox's dir and moves the
/// mount there (a bind mount of it, then the spare's own mount is unmounted): two renames and
/// two mount calls instead of a `cp` and a `mount`. Every spare is an empty filesystem that no
/// sandbox has seen. A size is kept stocked once a create asked for it; the stock is refilled
/// in the background after every take. Spares are unmounted and removed by
/// [`Spares::clear`] (at `sandboxd` start and shutdown) and on drop.
#[derive(Debug)]
pub struct Spares {
    dir: PathBuf,
    templates: PathBuf,
    owner: u32,
    per_size: usize,
    ready: std::sync::Mutex<std::collections::BTreeMap<u32, Vec<PathBuf>>>,
    fillers: std::sync::Mutex<std::collections::BTreeMap<u32, tokio::task::JoinHandle<()>>>,
    closed: std::sync::atomic::AtomicBool,
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Spares {
    /// Up to `per_size` spares of each size asked for, in `dir`, copied from `templates`, their
    /// upper dirs owned by `owner` (the sandboxes' root). `per_size` 0 keeps none.
    pub fn new(dir: PathBuf, templates: PathBuf, owner: u32, per_size: usize) -> Spares {
        Spares {
            dir,
            templates,
            owner,
            per_size,
            ready: std::sync::Mutex::default(),
            fillers: std::sync::Mutex::default(),
            closed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Moves a spare layer of `gib` GiB into sandbox dir `to` (as `to/disk.img`, mounted at
    /// `to/layer`) and returns `true`; `false` when none is ready, or when moving it failed
    /// (logged; what was moved is undone, the spare discarded): the caller makes one.
    pub fn take(&self, gib: u32, to: &Path) -> bool {
        let Some(spare) = lock(&self.ready).get_mut(&gib).and_then(Vec::pop) else {
            return false;
        };
        let image = to.join(IMAGE);
        let layer = to.join(LAYER);
        let moved = move_spare(&spare, &image, &layer);
        let taken = match moved {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(spare = %spare.display(), error = %e, "a spare disk layer could not be used: making one");
                if super::is_mounted(&layer) {
                    let _ = nix::mount::umount2(&layer, nix::mount::MntFlags::MNT_DETACH);
                }
                let _ = std::fs::remove_file(&image);
                false
            }
        };
        discard(&spare);
        taken
    }

    /// Starts refilling the stock of `gib` GiB spares in the background (unless a filler for
    /// that size runs already).
    pub fn refill(self: &std::sync::Arc<Self>, gib: u32) {
        if self.per_size == 0 || self.closed.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        let mut fillers = lock(&self.fillers);
        if fillers.get(&gib).is_some_and(|f| !f.is_finished()) {
            return;
        }
        let this = self.clone();
        fillers.insert(
            gib,
            tokio::spawn(async move {
                while !this.closed.load(std::sync::atomic::Ordering::Acquire)
                    && lock(&this.ready).get(&gib).map_or(0, Vec::len) < this.per_size
                {
                    match this.make(gib).await {
                        Ok(spare) if !this.closed.load(std::sync::atomic::Ordering::Acquire) => {
                            lock(&this.ready).entry(gib).or_default().push(spare);
                        }
                        Ok(spare) => discard(&spare),
                        Err(e) => {
                            tracing::warn!(error = %e, gib, "cannot make a spare disk layer (new sandboxes make their own)");
                            return;
                        }
                    }
                }
            }),
        );
    }

    async fn make(&self, gib: u32) -> Result<PathBuf, ProviderError> {
        let spare = self.dir.join(format!("{gib}g-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&spare)
            .map_err(|e| err(format!("cannot create {}: {e}", spare.display())))?;
        let made = async {
            create(&spare, &self.templates, gib).await?;
            mount(&spare, self.owner, super::is_mounted).await.map(drop)
        }
        .await;
        match made {
            Ok(()) => Ok(spare),
            Err(e) => {
                discard(&spare);
                Err(e)
            }
        }
    }

    /// Stops refilling, waits for the fillers, then unmounts and removes every spare in the
    /// dir (also those an earlier `sandboxd` left).
    pub async fn clear(&self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Release);
        let fillers: Vec<_> = std::mem::take(&mut *lock(&self.fillers))
            .into_values()
            .collect();
        for filler in fillers {
            let _ = filler.await;
        }
        self.discard_all();
    }

    /// Opens the stock again after [`Spares::clear`] (at `sandboxd` start, after the leftovers
    /// of an earlier run are gone).
    pub fn open(&self) {
        self.closed
            .store(false, std::sync::atomic::Ordering::Release);
    }

    fn discard_all(&self) {
        lock(&self.ready).clear();
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                discard(&entry.path());
            }
        }
    }
}

impl Drop for Spares {
    fn drop(&mut self) {
        self.discard_all();
    }
}

/// Moves spare `spare` to `image` (its file) and `layer` (its mount).
fn move_spare(spare: &Path, image: &Path, layer: &Path) -> Result<(), String> {
    std::fs::create_dir_all(layer)
        .map_err(|e| format!("cannot create {}: {e}", layer.display()))?;
    std::fs::rename(spare.join(IMAGE), image)
        .map_err(|e| format!("cannot move the spare image: {e}"))?;
    let from = spare.join(LAYER);
    nix::mount::mount(
        Some(from.as_path()),
        layer,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| format!("cannot bind-mount the spare layer: {e}"))?;
    nix::mount::umount(&from).map_err(|e| format!("cannot unmount the spare's own mount: {e}"))
}

/// Unmounts (lazily if busy) and removes one spare dir.
fn discard(spare: &Path) {
    let layer = spare.join(LAYER);
    if super::is_mounted(&layer) && nix::mount::umount(&layer).is_err() {
        let _ = nix::mount::umount2(&layer, nix::mount::MntFlags::MNT_DETACH);
    }
    if let Err(e) = std::fs::remove_dir_all(spare) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(spare = %spare.display(), error = %e, "cannot remove a spare disk layer");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_device_of_a_mount_is_read_from_mountinfo() {
        let info = "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n\
                    97 22 7:3 / /state/sandboxes/x/layer rw,nodev,noatime shared:50 - ext4 /dev/loop3 rw,discard\n\
                    98 97 0:60 / /state/sandboxes/x/rootfs rw,nodev - overlay overlay rw,lowerdir=/i\n";
        assert_eq!(
            device_in(info, Path::new("/state/sandboxes/x/layer")).as_deref(),
            Some("/dev/loop3")
        );
        assert_eq!(
            device_in(info, Path::new("/state/sandboxes/x/rootfs")).as_deref(),
            Some("overlay")
        );
        assert_eq!(device_in(info, Path::new("/state/sandboxes/y/layer")), None);
    }
}
