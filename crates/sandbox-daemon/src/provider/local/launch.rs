//! Starting a sandbox: the bundle, its network, `runc run`, and the wait until its `processd`
//! answers on the socket.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::host::{health, is_mounted, is_own_init, log_tail, protect_from_oom};
use super::runc::Status;
use super::spec::{BundleParams, SandboxUser};
use super::{rt, spec, steps, LocalProvider};
use crate::provider::{Endpoint, ProviderError, SandboxSpec};

impl LocalProvider {
    pub(super) async fn start_inner(&self, spec: &SandboxSpec) -> Result<Endpoint, ProviderError> {
        let id = spec.id.as_str();
        let dir = self.dir(id);
        let user = SandboxUser::for_os_user(&spec.os_user)?;
        let mut steps = steps::Steps::new();
        if self.has_runtime_traces(id) {
            self.teardown(id).await?;
            steps.mark("teardown");
        }
        let meta = Self::meta_of(spec);
        self.write_meta(id, &meta)?;
        // The egress rules are refreshed while the root is mounted and runc sets the container
        // up and starts processd: both must be done before slirp4netns (the only way out)
        // starts. processd runs with loopback only until then; the start returns once it
        // answers and slirp4netns is up, so no request sees the sandbox without its network.
        let firewall = async {
            if spec.network_block_all {
                Ok(())
            } else {
                self.net.ensure_firewall().await
            }
        };
        let (launched, (firewall, firewall_took)) =
            tokio::join!(self.launch(spec, user, &mut steps), steps::timed(firewall));
        steps.add("(firewall, beside the above)", firewall_took);
        let (sock, log_path) = launched?;
        firewall?;
        let pid = self.init_pid(id).ok_or_else(|| {
            ProviderError::Runtime(format!("runc wrote no init pid for sandbox {id}"))
        })?;
        protect_from_oom(pid);
        let network = async {
            if spec.network_block_all {
                return Ok(Duration::ZERO);
            }
            let t = Instant::now();
            let net_log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("net.log"))
                .map_err(|e| rt("cannot open net.log", e))?;
            let child = self.net.start_slirp(pid, net_log).await.map_err(|e| {
                ProviderError::Runtime(format!("{e}:\n{}", log_tail(&dir.join("net.log"), 10)))
            })?;
            let slirp_pid = child.id().unwrap_or_default();
            std::fs::write(dir.join("slirp.pid"), format!("{slirp_pid} {pid}\n"))
                .map_err(|e| rt("cannot write slirp.pid", e))?;
            Ok::<_, ProviderError>(t.elapsed())
        };
        let (network, (ready, ready_took)) = tokio::join!(
            network,
            steps::timed(self.wait_ready(id, pid, &sock, &log_path))
        );
        steps.mark("slirp4netns ‖ processd ready");
        // A slirp4netns that came up is recorded (slirp.pid) before either error returns: the
        // caller's teardown stops it.
        let slirp_took = network?;
        ready?;
        steps.add("(slirp4netns)", slirp_took);
        steps.add("(processd ready)", ready_took);
        tracing::debug!(%id, %steps, "start: steps");
        Ok(Endpoint::Unix(sock))
    }

    /// Mounts the root of `spec`'s sandbox, writes its bundle and runs processd in it (`runc
    /// run --detach`, the listening socket as its descriptor 3); returns the socket and
    /// processd's log.
    pub(super) async fn launch(
        &self,
        spec: &SandboxSpec,
        user: SandboxUser,
        steps: &mut steps::Steps,
    ) -> Result<(PathBuf, PathBuf), ProviderError> {
        let id = spec.id.as_str();
        let dir = self.dir(id);
        let rootfs = self.mount_root(id, &spec.image.rootfs).await?;
        steps.mark("mount");
        let etc_files = self.write_etc(id, spec.network_block_all)?;
        let params = BundleParams {
            id: id.to_owned(),
            rootfs,
            processd_host: self.processd_host.clone(),
            processd_args: self.config.processd_args.clone(),
            user,
            env: spec.env.clone(),
            resources: spec.resources,
            pids_limit: self.config.pids_limit,
            limit_swap: self.limit_swap,
            etc_files,
            nofile: self.nofile,
        };
        let config = spec::build(&params)?;
        config
            .save(dir.join("config.json"))
            .map_err(|e| rt("cannot write config.json", e))?;
        let sock = self.socket_path(id);
        let listener = std::os::unix::net::UnixListener::bind(&sock)
            .map_err(|e| rt(format!("cannot create {}", sock.display()), e))?;
        std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| rt(format!("cannot chmod {}", sock.display()), e))?;
        let log_path = dir.join("processd.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| rt(format!("cannot open {}", log_path.display()), e))?;
        steps.mark("bundle");
        let ran = self
            .runc
            .run_detached(id, &dir, &dir.join("init.pid"), listener.into(), log)
            .await;
        steps.mark("runc run");
        if let Err(e) = ran {
            return Err(ProviderError::Runtime(format!(
                "{e}; its output:\n{}",
                log_tail(&log_path, 15)
            )));
        }
        Ok((sock, log_path))
    }

    /// Whether anything of a started sandbox may be left (runc's state, pid files, the mount,
    /// the socket): a fresh sandbox's start skips the teardown.
    pub(super) fn has_runtime_traces(&self, id: &str) -> bool {
        let dir = self.dir(id);
        self.runc.knows(id)
            || dir.join("init.pid").exists()
            || dir.join("slirp.pid").exists()
            || self.socket_path(id).exists()
            || is_mounted(&dir.join("rootfs"))
    }

    /// Waits until processd (host pid `pid`) answers `GET /health` on its socket.
    pub(super) async fn wait_ready(
        &self,
        id: &str,
        pid: i32,
        sock: &Path,
        log: &Path,
    ) -> Result<(), ProviderError> {
        let deadline = Instant::now() + self.config.ready_timeout;
        loop {
            if let Ok(Ok(())) = tokio::time::timeout(Duration::from_secs(5), health(sock)).await {
                return Ok(());
            }
            // Our child: its state is in /proc (cheaper than asking runc at every turn).
            let running = if is_own_init(pid, id) {
                !matches!(
                    process_daemon::proc::proc_state(pid),
                    Some('Z' | 'X') | None
                )
            } else {
                matches!(
                    self.runc.state(id).await?,
                    Some(s) if matches!(s.status, Status::Running | Status::Created)
                )
            };
            if !running {
                return Err(ProviderError::Runtime(format!(
                    "processd exited during start; its output:\n{}",
                    log_tail(log, 15)
                )));
            }
            if Instant::now() > deadline {
                return Err(ProviderError::Runtime(format!(
                    "processd did not answer within {:?}; its output:\n{}",
                    self.config.ready_timeout,
                    log_tail(log, 15)
                )));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}
