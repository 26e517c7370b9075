//! The disk limit of a sandbox: its writable layer (the overlay's upper and work dirs) lives in
//! an ext4 filesystem of `disk` GiB in a sparse file beside its bundle (`disk.img`),
//! loop-mounted at `layer/` while the sandbox runs. Writes past the size fail with `ENOSPC`
//! inside the sandbox, which keeps working; `df /` there shows the size. Mounted with
//! `discard`, so what the sandbox deletes is given back to the host (the file stays sparse).
//!
//! Each size's empty filesystem is made once (`mkfs.ext4`, with a journal) into
//! `STATE/disk-templates/` and copied sparsely (`cp --sparse=always`: about 2 MB written) for
//! every new sandbox. Growing (`resize` of a stopped sandbox) extends the file and runs
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
