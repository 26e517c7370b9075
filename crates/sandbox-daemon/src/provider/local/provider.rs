//! [`Provider`] for [`LocalProvider`]: each lifecycle call in terms of the bundle, the root,
//! runc and the network.

use std::time::{Duration, Instant};

use super::checks::{check_id, check_resources};
use super::host::{health, is_mounted, is_own_init, log_tail, reap_or_wait};
use super::image::HOST_ID_BASE;
use super::runc::Status;
use super::spec::SandboxUser;
use super::{disk, image, mkdir, rt, spec, LocalProvider};
use crate::provider::{
    Endpoint, ImageRef, Observed, Provider, ProviderError, Resources, SandboxSpec,
};

#[async_trait::async_trait]
impl Provider for LocalProvider {
    fn name(&self) -> &'static str {
        "runc"
    }

    /// Checks that disk images can be loop-mounted (else sandboxes run without a disk limit,
    /// with a warning) and builds the default image when it is missing (minutes; progress
    /// lines on stderr).
    async fn prepare(&self) -> Result<(), ProviderError> {
        // Spares an earlier sandboxd left (killed before its shutdown) are not trusted.
        self.spares.clear().await;
        if let Err(e) = disk::probe(&self.config.state_dir.join("disk-templates")).await {
            self.disk_limits
                .store(false, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(error = %e, "disk limits are NOT enforced (no loop-mounted disk images here); sandboxes share the state dir's filesystem");
        } else {
            self.spares.open();
        }
        if self.images.info(image::DEFAULT_IMAGE).is_some() {
            return Ok(());
        }
        self.ensure_default_image(|line| eprintln!("sandboxd: image: {line}"))
            .await
            .map(drop)
    }

    async fn resolve_image(&self, name: Option<&str>) -> Result<ImageRef, ProviderError> {
        self.images.resolve(name)
    }

    /// Unmounts and removes the spare disk layers.
    async fn shutdown(&self) {
        self.spares.clear().await;
    }

    async fn create(&self, spec: &SandboxSpec) -> Result<(), ProviderError> {
        check_id(&spec.id)?;
        check_resources(spec.resources)?;
        SandboxUser::for_os_user(&spec.os_user)?;
        let dir = self.dir(&spec.id);
        mkdir(&dir, 0o711)?;
        let unlimited = spec.resources.disk_gib == 0
            || dir.join("upper").exists()
            || !self.disk_limits.load(std::sync::atomic::Ordering::Relaxed);
        if unlimited {
            for sub in ["upper", "work"] {
                let path = dir.join(sub);
                if !path.exists() {
                    mkdir(&path, 0o755)?;
                }
            }
            // The overlay's root directory takes the upper dir's owner: the sandbox's root.
            std::os::unix::fs::chown(dir.join("upper"), Some(HOST_ID_BASE), Some(HOST_ID_BASE))
                .map_err(|e| rt("cannot chown the writable layer", e))?;
        } else if !disk::has_image(&dir) {
            let gib = spec.resources.disk_gib;
            let t = Instant::now();
            let spare = self.spares.take(gib, &dir);
            if !spare {
                disk::create(&dir, &self.config.state_dir.join("disk-templates"), gib).await?;
            }
            tracing::debug!(id = %spec.id, spare, disk_ms = t.elapsed().as_secs_f64() * 1e3, "create: disk image");
            self.spares.refill(gib);
        }
        mkdir(&dir.join("rootfs"), 0o755)?;
        self.write_meta(&spec.id, &Self::meta_of(spec))
    }

    async fn start(&self, spec: &SandboxSpec) -> Result<Endpoint, ProviderError> {
        check_id(&spec.id)?;
        check_resources(spec.resources)?;
        if !self.dir(&spec.id).join("meta.json").exists() {
            return Err(ProviderError::NotFound(spec.id.clone()));
        }
        let known = self.runc.knows(&spec.id);
        if let Some(state) = if known {
            self.runc.state(&spec.id).await?
        } else {
            None
        } {
            let sock = self.socket_path(&spec.id);
            if matches!(state.status, Status::Running | Status::Paused)
                && health(&sock).await.is_ok()
            {
                return Ok(Endpoint::Unix(sock));
            }
        }
        match self.start_inner(spec).await {
            Ok(endpoint) => Ok(endpoint),
            Err(e) => {
                // Leave nothing half-started; the writable layer stays.
                if let Err(cleanup) = self.teardown(&spec.id).await {
                    tracing::warn!(id = %spec.id, error = %cleanup, "cleanup after a failed start");
                }
                Err(e)
            }
        }
    }

    async fn stop(&self, id: &str, force: bool) -> Result<(), ProviderError> {
        check_id(id)?;
        if !self.dir(id).exists() {
            return Err(ProviderError::NotFound(id.to_owned()));
        }
        if let Some(pid) = self.init_pid(id).filter(|pid| is_own_init(*pid, id)) {
            // Our child: signal and wait for it directly (no `runc state` polling).
            if !force {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
                reap_or_wait(pid, self.config.stop_grace).await;
            }
            return self.teardown(id).await;
        }
        if let Some(state) = self.runc.state(id).await? {
            if matches!(state.status, Status::Running | Status::Paused) && !force {
                self.runc.kill(id, "TERM").await?;
                let deadline = Instant::now() + self.config.stop_grace;
                while Instant::now() < deadline {
                    match self.runc.state(id).await? {
                        Some(s) if s.status != Status::Stopped => {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        _ => break,
                    }
                }
            }
            if matches!(self.runc.state(id).await?, Some(s) if s.status != Status::Stopped) {
                self.runc.kill(id, "KILL").await?;
            }
        }
        self.teardown(id).await
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        check_id(id)?;
        let dir = self.dir(id);
        if dir.exists() || self.runc.state(id).await?.is_some() {
            self.teardown(id).await?;
        }
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| rt(format!("cannot remove {}", dir.display()), e))?;
        }
        Ok(())
    }

    async fn resize(&self, id: &str, resources: Resources) -> Result<(), ProviderError> {
        check_id(id)?;
        check_resources(resources)?;
        let mut meta = self.read_meta(id)?;
        if let Some(state) = self.runc.state(id).await? {
            if matches!(
                state.status,
                Status::Running | Status::Paused | Status::Created
            ) {
                self.runc
                    .update(
                        id,
                        spec::memory_bytes(resources),
                        self.limit_swap,
                        spec::cpu_quota(resources),
                        spec::CPU_PERIOD_US,
                        self.config.pids_limit,
                    )
                    .await
                    .map_err(|e| match e {
                        ProviderError::Runtime(msg) => ProviderError::InvalidResources(msg),
                        other => other,
                    })?;
            }
        }
        if resources.disk_gib != meta.disk_gib && disk::has_image(&self.dir(id)) {
            if resources.disk_gib < meta.disk_gib {
                return Err(ProviderError::InvalidResources(
                    "disk size can only be increased".into(),
                ));
            }
            if is_mounted(&self.dir(id).join(disk::LAYER)) {
                return Err(ProviderError::InvalidResources(
                    "disk can only be resized while the sandbox is stopped".into(),
                ));
            }
            disk::grow(&self.dir(id), resources.disk_gib).await?;
        }
        meta.cpu = resources.cpu;
        meta.memory_gib = resources.memory_gib;
        meta.disk_gib = resources.disk_gib;
        self.write_meta(id, &meta)
    }

    async fn reconfigure(&self, spec: &SandboxSpec) -> Result<(), ProviderError> {
        check_id(&spec.id)?;
        check_resources(spec.resources)?;
        let old = self.read_meta(&spec.id)?;
        if old.image_rootfs != spec.image.rootfs
            || old.os_user != spec.os_user
            || old.network_block_all != spec.network_block_all
            || old.disk_gib != spec.resources.disk_gib
        {
            return Err(ProviderError::Unsupported(format!(
                "sandbox {} was made with another image, user, network or disk size: it cannot be re-targeted",
                spec.id
            )));
        }
        let running = match self.own_init_alive(&spec.id) {
            Some(alive) => alive,
            None => matches!(
                self.runc.state(&spec.id).await?,
                Some(s) if s.status == Status::Running
            ),
        };
        if !running {
            return Err(ProviderError::Runtime(format!(
                "sandbox {} is not running",
                spec.id
            )));
        }
        let now = Resources {
            cpu: old.cpu,
            memory_gib: old.memory_gib,
            disk_gib: old.disk_gib,
        };
        if now != spec.resources {
            self.resize(&spec.id, spec.resources).await?;
        }
        self.write_meta(&spec.id, &Self::meta_of(spec))
    }

    async fn list(&self) -> Result<Vec<String>, ProviderError> {
        let mut ids = self.sandbox_ids();
        for id in self.runc.list().await? {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    async fn observe(&self, id: &str) -> Result<Observed, ProviderError> {
        check_id(id)?;
        if !self.dir(id).join("meta.json").exists() {
            return Ok(Observed::Missing);
        }
        // Our own child (started by this sandboxd): /proc says it all, without running runc
        // (the monitor asks about every started sandbox every few seconds).
        if let Some(alive) = self.own_init_alive(id) {
            return Ok(if alive {
                Observed::Running(Endpoint::Unix(self.socket_path(id)))
            } else {
                Observed::Failed(format!(
                    "processd exited; its last output:\n{}",
                    log_tail(&self.dir(id).join("processd.log"), 10)
                ))
            });
        }
        match self.runc.state(id).await? {
            None => Ok(Observed::Stopped),
            Some(s) => match s.status {
                Status::Running | Status::Paused => {
                    Ok(Observed::Running(Endpoint::Unix(self.socket_path(id))))
                }
                Status::Created => Ok(Observed::Failed(
                    "the sandbox was interrupted while starting".into(),
                )),
                Status::Stopped => Ok(Observed::Failed(format!(
                    "processd exited; its last output:\n{}",
                    log_tail(&self.dir(id).join("processd.log"), 10)
                ))),
            },
        }
    }
}
