//! A sandbox's root and runtime resources: the overlay root over its image (and disk layer),
//! its `/etc` files, and the teardown that releases all of it but its files.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::host::{is_mounted, is_own_init, reap_or_wait};
use super::image::HOST_ID_BASE;
use super::{disk, net, rt, LocalProvider};
use crate::provider::ProviderError;

impl LocalProvider {
    /// Mounts the overlay root of `id` (and its disk image) unless mounted.
    pub(super) async fn mount_root(
        &self,
        id: &str,
        lower: &Path,
    ) -> Result<PathBuf, ProviderError> {
        let dir = self.dir(id);
        let rootfs = dir.join("rootfs");
        if is_mounted(&rootfs) {
            return Ok(rootfs);
        }
        let (upper, work) = if disk::has_image(&dir) {
            disk::mount(&dir, HOST_ID_BASE, is_mounted).await?
        } else {
            (dir.join("upper"), dir.join("work"))
        };
        if !lower.join("bin").exists() && !lower.join("usr").exists() {
            return Err(ProviderError::Runtime(format!(
                "the image root {} is missing or empty: rebuild it with `sandboxd image build`",
                lower.display()
            )));
        }
        let options = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.display(),
            upper.display(),
            work.display()
        );
        nix::mount::mount(
            Some("overlay"),
            &rootfs,
            Some("overlay"),
            nix::mount::MsFlags::MS_NODEV,
            Some(options.as_str()),
        )
        .map_err(|e| rt(format!("cannot mount the overlay root of {id}"), e))?;
        Ok(rootfs)
    }

    pub(super) async fn unmount_root(&self, id: &str) -> Result<(), ProviderError> {
        let rootfs = self.dir(id).join("rootfs");
        if is_mounted(&rootfs) {
            if let Err(e) = nix::mount::umount(&rootfs) {
                // Busy (a straggler holding it): detach now; the kernel frees it when released.
                nix::mount::umount2(&rootfs, nix::mount::MntFlags::MNT_DETACH)
                    .map_err(|e2| rt(format!("cannot unmount {} ({e})", rootfs.display()), e2))?;
            }
        }
        disk::unmount(&self.dir(id), is_mounted).await
    }

    /// `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` of the sandbox.
    pub(super) fn write_etc(
        &self,
        id: &str,
        block_all: bool,
    ) -> Result<Vec<(PathBuf, &'static str)>, ProviderError> {
        let dir = self.dir(id);
        let files = [
            (
                "hosts",
                "/etc/hosts",
                format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{id}\n"),
            ),
            ("hostname", "/etc/hostname", format!("{id}\n")),
            (
                "resolv.conf",
                "/etc/resolv.conf",
                if block_all {
                    String::new()
                } else {
                    "nameserver 10.0.2.3\n".to_owned()
                },
            ),
        ];
        let mut out = Vec::new();
        for (name, dest, text) in files {
            let path = dir.join(name);
            std::fs::write(&path, text)
                .map_err(|e| rt(format!("cannot write {}", path.display()), e))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
                .map_err(|e| rt(format!("cannot chmod {}", path.display()), e))?;
            out.push((path, dest));
        }
        Ok(out)
    }

    /// Stops whatever of `id` is still running and releases its runtime resources (container,
    /// slirp4netns, overlay mount, socket), keeping its files.
    pub(super) async fn teardown(&self, id: &str) -> Result<(), ProviderError> {
        let dir = self.dir(id);
        let init = self.init_pid(id);
        let own = init.filter(|pid| is_own_init(*pid, id));
        let slirp = async {
            if let Ok(text) = std::fs::read_to_string(dir.join("slirp.pid")) {
                let mut parts = text.split_whitespace().map(str::parse::<i32>);
                if let (Some(Ok(pid)), Some(Ok(target))) = (parts.next(), parts.next()) {
                    if net::is_slirp_for(pid, target) {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(pid),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                        reap_or_wait(pid, Duration::from_secs(5)).await;
                    }
                }
                let _ = std::fs::remove_file(dir.join("slirp.pid"));
            }
        };
        let container = async {
            if let Some(pid) = own {
                // Our child (we are a subreaper): killing the pid namespace's init kills
                // everything in it; reaping it takes no polling of runc. `runc delete` then
                // finds it stopped and only removes its state and cgroups.
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                reap_or_wait(pid, Duration::from_secs(5)).await;
            }
            let deleted = self.runc.delete(id).await;
            if let (Some(pid), None) = (init, own) {
                // Not our child (a sandboxd started after it): its parent reaps it.
                reap_or_wait(pid, Duration::from_secs(3)).await;
            }
            deleted
        };
        let ((), deleted) = tokio::join!(slirp, container);
        deleted?;
        let _ = std::fs::remove_file(dir.join("init.pid"));
        self.unmount_root(id).await?;
        let sock = self.socket_path(id);
        match std::fs::remove_file(&sock) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(rt(format!("cannot remove {}", sock.display()), e)),
        }
    }
}
