//! The local provider: each sandbox is an OCI bundle run by runc, with an overlayfs root over
//! a cached Debian image, a mandatory user namespace, cgroup limits, its own network namespace
//! (outbound through slirp4netns, filtered by nftables) and `processd` as PID 1, reached
//! through a Unix socket sandboxd creates and passes in.
//!
//! State dir layout (every path traversable by the sandboxes' mapped uid, as runc's init
//! resolves the bundle inside the user namespace; only `sockets/` and `runc/` are root-only):
//!
//! ```text
//! STATE/bin/processd                     copy of the processd binary (bind-mounted read-only)
//! STATE/runc/                            runc --root (0700)
//! STATE/sockets/ID.sock                  processd's listening socket (dir 0700: the proxy's)
//! STATE/sandboxes/ID/config.json         the bundle (rebuilt at every start)
//! STATE/sandboxes/ID/disk.img           the writable layer (ext4 of the disk size): survives
//!                                        stop/start; mounted at layer/ (upper/, work/)
//! STATE/sandboxes/ID/{upper,work}/       the writable layer of sandboxes made without a disk
//!                                        image (before disks were limited, or disk 0)
//! STATE/disk-templates/                  one empty ext4 image per disk size
//! STATE/disk-spares/SIZEg-UUID/          a spare layer: disk.img mounted at layer/ (taken by
//!                                        the next create of that size; see disk::Spares)
//! STATE/sandboxes/ID/rootfs/             overlay mount point while running
//! STATE/sandboxes/ID/meta.json           what start needs after a restart of sandboxd
//! STATE/sandboxes/ID/{processd,net}.log  outputs
//! ```

pub mod disk;
pub mod image;
pub mod net;
pub mod runc;
pub mod spec;
pub mod steps;

use std::collections::BTreeMap;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::provider::{
    Endpoint, ImageRef, Observed, Provider, ProviderError, Resources, SandboxSpec,
};
use image::{ImageStore, HOST_ID_BASE};
use runc::{Runc, Status};
use spec::{BundleParams, SandboxUser};

/// Configuration of the local provider.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LocalConfig {
    /// Where bundles, writable layers, sockets and runc's state live. Must be traversable by
    /// others (not under a 0700 directory such as `/root`).
    pub state_dir: PathBuf,
    /// Where images are cached (shared by state dirs).
    pub image_dir: PathBuf,
    /// The OCI runtime binary (`runc`).
    pub runtime: PathBuf,
    /// The in-sandbox daemon binary (default: this executable, `/proc/self/exe`).
    pub processd: PathBuf,
    /// Arguments given to it before processd's flags (default `["processd"]`: sandboxd's own
    /// processd mode).
    pub processd_args: Vec<String>,
    /// `slirp4netns` binary.
    pub slirp4netns: PathBuf,
    /// `nft` binary.
    pub nft: PathBuf,
    /// Network namespace for slirp4netns and the egress rules (`None` = sandboxd's own).
    pub host_netns: Option<PathBuf>,
    /// Max processes per sandbox.
    pub pids_limit: u32,
    /// How long `stop` waits after SIGTERM before SIGKILL.
    pub stop_grace: Duration,
    /// How long `start` waits for processd to answer.
    pub ready_timeout: Duration,
    /// Empty disk layers of each size asked for kept formatted and mounted ahead of time (see
    /// [`disk::Spares`]); 0 makes each on create.
    pub disk_spares: usize,
}

impl LocalConfig {
    /// Defaults: `runc`, this executable in its `processd` mode, slirp4netns and nft from
    /// `PATH`, 4096 processes per sandbox, 10 s stop grace, 30 s start timeout, no spare disk
    /// layers.
    pub fn new(state_dir: impl Into<PathBuf>, image_dir: impl Into<PathBuf>) -> LocalConfig {
        LocalConfig {
            state_dir: state_dir.into(),
            image_dir: image_dir.into(),
            runtime: "runc".into(),
            processd: "/proc/self/exe".into(),
            processd_args: vec!["processd".into()],
            slirp4netns: "slirp4netns".into(),
            nft: "nft".into(),
            host_netns: None,
            pids_limit: 4096,
            stop_grace: Duration::from_secs(10),
            ready_timeout: Duration::from_secs(30),
            disk_spares: 0,
        }
    }
}

/// What a sandbox's start needs, kept beside its bundle (survives a sandboxd restart).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    image: String,
    image_rootfs: PathBuf,
    os_user: String,
    env: BTreeMap<String, String>,
    cpu: u32,
    memory_gib: u32,
    disk_gib: u32,
    network_block_all: bool,
}

/// The local (runc) provider.
#[derive(Debug)]
pub struct LocalProvider {
    config: LocalConfig,
    images: ImageStore,
    runc: Runc,
    net: net::Network,
    processd_host: PathBuf,
    limit_swap: bool,
    nofile: u64,
    /// Whether new sandboxes get a disk image of their size (loop devices work here; see
    /// [`Provider::prepare`]).
    disk_limits: std::sync::atomic::AtomicBool,
    /// Disk layers made ahead of time.
    spares: std::sync::Arc<disk::Spares>,
}

fn rt(what: impl std::fmt::Display, e: impl std::fmt::Display) -> ProviderError {
    ProviderError::Runtime(format!("{what}: {e}"))
}

fn mkdir(path: &Path, mode: u32) -> Result<(), ProviderError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
        .map_err(|e| rt(format!("cannot create {}", path.display()), e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| rt(format!("cannot set the mode of {}", path.display()), e))
}

/// A sandbox id is a path component: letters, digits, `-` and `_`, at most 64.
fn check_id(id: &str) -> Result<(), ProviderError> {
    if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ProviderError::Runtime(format!(
            "invalid sandbox id '{id}': use letters, digits, '-' and '_' (at most 64)"
        )));
    }
    Ok(())
}

fn check_resources(r: Resources) -> Result<(), ProviderError> {
    if r.cpu == 0 {
        return Err(ProviderError::InvalidResources(
            "cpu must be at least 1".into(),
        ));
    }
    if r.memory_gib == 0 {
        return Err(ProviderError::InvalidResources(
            "memory must be at least 1 GiB".into(),
        ));
    }
    Ok(())
}

/// Whether `path` is a mount point (listed in our mountinfo).
pub(crate) fn is_mounted(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.to_string_lossy();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|mp| mp == want)
}

/// The last `n` lines of a log file (for error messages).
fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl LocalProvider {
    /// Prepares the state dir (and copies processd into it). Needs root: sandboxd creates
    /// mounts, cgroups and user namespaces.
    pub fn new(config: LocalConfig) -> Result<LocalProvider, ProviderError> {
        if !nix::unistd::geteuid().is_root() {
            return Err(ProviderError::Runtime(
                "the local provider needs root (it mounts overlays, creates cgroups and user \
                 namespaces through runc): run sandboxd as root"
                    .into(),
            ));
        }
        let state = &config.state_dir;
        mkdir(state, 0o711)?;
        // The sandbox's mapped root must traverse every directory above its bundle.
        let state = state
            .canonicalize()
            .map_err(|e| rt(format!("cannot resolve {}", state.display()), e))?;
        for dir in state.ancestors() {
            let mode = std::fs::metadata(dir)
                .map_err(|e| rt(format!("cannot stat {}", dir.display()), e))?
                .permissions()
                .mode();
            if mode & 0o001 == 0 {
                return Err(ProviderError::Runtime(format!(
                    "state dir {}: {} is not traversable by other users (mode {:o}); the \
                     sandboxes' unprivileged uid must reach their bundles: choose a state dir \
                     outside it (e.g. /var/lib/sandboxd)",
                    state.display(),
                    dir.display(),
                    mode & 0o7777
                )));
            }
        }
        mkdir(&state.join("sandboxes"), 0o711)?;
        mkdir(&state.join("sockets"), 0o700)?;
        mkdir(&state.join("runc"), 0o700)?;
        mkdir(&state.join("bin"), 0o755)?;
        let processd_host = state.join("bin").join("processd");
        copy_if_changed(&config.processd, &processd_host)?;
        let nofile = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map_or(1024, |(_, hard)| hard.min(1 << 20));
        let limit_swap = Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists();
        Ok(LocalProvider {
            images: ImageStore::new(&config.image_dir),
            runc: Runc::new(&config.runtime, state.join("runc")),
            net: net::Network {
                slirp4netns: config.slirp4netns.clone(),
                nft: config.nft.clone(),
                host_netns: config.host_netns.clone(),
            },
            processd_host,
            limit_swap,
            nofile,
            disk_limits: std::sync::atomic::AtomicBool::new(true),
            spares: std::sync::Arc::new(disk::Spares::new(
                state.join(disk::SPARES),
                state.join("disk-templates"),
                HOST_ID_BASE,
                config.disk_spares,
            )),
            config: LocalConfig {
                state_dir: state,
                ..config
            },
        })
    }

    /// The configuration (state dir canonicalized).
    pub fn config(&self) -> &LocalConfig {
        &self.config
    }

    /// The image store.
    pub fn images(&self) -> &ImageStore {
        &self.images
    }

    /// Builds the default image unless cached (minutes the first time), sending progress lines
    /// to `progress`.
    pub async fn ensure_default_image(
        &self,
        progress: impl FnMut(&str) + Send + 'static,
    ) -> Result<image::ImageInfo, ProviderError> {
        let dir = self.config.image_dir.clone();
        let mut progress = progress;
        tokio::task::spawn_blocking(move || image::build_default_image(&dir, &mut progress))
            .await
            .map_err(|e| rt("the image build panicked", e))?
    }

    /// Host pid of the sandbox's init (`processd`), from runc's pid file.
    fn init_pid(&self, id: &str) -> Option<i32> {
        std::fs::read_to_string(self.dir(id).join("init.pid"))
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok())
            .filter(|pid| *pid > 0)
    }

    /// For a sandbox whose init is our own child (started by this sandboxd, after `runc
    /// start`): whether it still runs (`false`: it exited, a zombie until its teardown).
    /// `None` when it is not our child: ask runc.
    fn own_init_alive(&self, id: &str) -> Option<bool> {
        let pid = self.init_pid(id)?;
        if !is_own_init(pid, id) || !self.runc.knows(id) {
            return None;
        }
        Some(!matches!(
            process_daemon::proc::proc_state(pid),
            Some('Z' | 'X') | None
        ))
    }

    /// Ids of the sandboxes this provider has files for.
    pub fn sandbox_ids(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.config.state_dir.join("sandboxes")) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect()
    }

    fn dir(&self, id: &str) -> PathBuf {
        self.config.state_dir.join("sandboxes").join(id)
    }

    /// The processd socket of sandbox `id`.
    pub fn socket_path(&self, id: &str) -> PathBuf {
        self.config
            .state_dir
            .join("sockets")
            .join(format!("{id}.sock"))
    }

    fn read_meta(&self, id: &str) -> Result<Meta, ProviderError> {
        let path = self.dir(id).join("meta.json");
        let text = std::fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ProviderError::NotFound(id.to_owned())
            } else {
                rt(format!("cannot read {}", path.display()), e)
            }
        })?;
        serde_json::from_slice(&text).map_err(|e| rt(format!("corrupt {}", path.display()), e))
    }

    fn write_meta(&self, id: &str, meta: &Meta) -> Result<(), ProviderError> {
        let path = self.dir(id).join("meta.json");
        let tmp = path.with_extension("json.tmp");
        let json = serde_json::to_vec_pretty(meta).map_err(|e| rt("cannot encode meta", e))?;
        std::fs::write(&tmp, json).map_err(|e| rt(format!("cannot write {}", tmp.display()), e))?;
        std::fs::rename(&tmp, &path).map_err(|e| rt(format!("cannot write {}", path.display()), e))
    }

    fn meta_of(spec: &SandboxSpec) -> Meta {
        Meta {
            image: spec.image.name.clone(),
            image_rootfs: spec.image.rootfs.clone(),
            os_user: spec.os_user.clone(),
            env: spec.env.clone(),
            cpu: spec.resources.cpu,
            memory_gib: spec.resources.memory_gib,
            disk_gib: spec.resources.disk_gib,
            network_block_all: spec.network_block_all,
        }
    }

    /// Mounts the overlay root of `id` (and its disk image) unless mounted.
    async fn mount_root(&self, id: &str, lower: &Path) -> Result<PathBuf, ProviderError> {
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

    async fn unmount_root(&self, id: &str) -> Result<(), ProviderError> {
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
    fn write_etc(
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
    async fn teardown(&self, id: &str) -> Result<(), ProviderError> {
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

    async fn start_inner(&self, spec: &SandboxSpec) -> Result<Endpoint, ProviderError> {
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
    async fn launch(
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
    fn has_runtime_traces(&self, id: &str) -> bool {
        let dir = self.dir(id);
        self.runc.knows(id)
            || dir.join("init.pid").exists()
            || dir.join("slirp.pid").exists()
            || self.socket_path(id).exists()
            || is_mounted(&dir.join("rootfs"))
    }

    /// Waits until processd (host pid `pid`) answers `GET /health` on its socket.
    async fn wait_ready(
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

/// Lowers the `oom_score_adj` of the sandbox's init (processd) so it survives the sandbox's own
/// OOM. Written from the host: lowering needs `CAP_SYS_RESOURCE` in the initial user namespace
/// (as root, the kernel also lowers the floor, so its children may raise theirs back to 0).
/// Where sandboxd lacks that capability (some container hosts drop it) the sandbox still runs,
/// unprotected, and a warning says so once.
fn protect_from_oom(pid: i32) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let path = format!("/proc/{pid}/oom_score_adj");
    if let Err(e) = std::fs::write(&path, spec::PROCESSD_OOM_SCORE_ADJ.to_string()) {
        if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
            tracing::warn!(
                error = %e,
                "cannot protect processd from the sandbox's own OOM (sandboxd lacks CAP_SYS_RESOURCE?); sandboxes run without that protection"
            );
        }
    }
}

/// Whether `pid` is sandbox `id`'s init and a child of this process not yet reaped (alive or a
/// zombie): its pid cannot be reused before we reap it, so signalling it is safe. (A pid file
/// left from an earlier run could name any process now: the cgroup check rules that out.)
fn is_own_init(pid: i32, id: &str) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let ppid = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(1))
        .and_then(|p| p.parse::<u32>().ok());
    ppid == Some(std::process::id())
        && std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
            .is_ok_and(|c| c.contains(&format!("sandboxd/{id}")))
}

/// Waits (at most `limit`) until process `pid` has exited and left the process table: reaps it
/// if it is our child, else waits for its parent to.
async fn reap_or_wait(pid: i32, limit: Duration) {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    let deadline = Instant::now() + limit;
    let pid = nix::unistd::Pid::from_raw(pid);
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {}
            Ok(_) => return,
            Err(_) => {
                // Not our child: someone else reaps it.
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    return;
                }
            }
        }
        if Instant::now() > deadline {
            tracing::warn!(%pid, "process still in the process table after {limit:?}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Copies `from` to `to` (mode 0755) unless `to` already has the same size and mtime.
fn copy_if_changed(from: &Path, to: &Path) -> Result<(), ProviderError> {
    let src = std::fs::metadata(from).map_err(|e| {
        rt(
            format!("cannot find the processd binary {}", from.display()),
            e,
        )
    })?;
    if let Ok(dst) = std::fs::metadata(to) {
        if dst.len() == src.len()
            && dst.mtime() == src.mtime()
            && dst.mtime_nsec() == src.mtime_nsec()
        {
            return Ok(());
        }
    }
    let tmp = to.with_extension(format!("tmp{}", std::process::id()));
    std::fs::copy(from, &tmp).map_err(|e| {
        rt(
            format!("cannot copy {} to {}", from.display(), tmp.display()),
            e,
        )
    })?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| rt(format!("cannot chmod {}", tmp.display()), e))?;
    let mtime = src
        .modified()
        .map_err(|e| rt("cannot read the binary's mtime", e))?;
    std::fs::File::options()
        .write(true)
        .open(&tmp)
        .and_then(|f| f.set_modified(mtime))
        .map_err(|e| rt(format!("cannot set the mtime of {}", tmp.display()), e))?;
    // A rename keeps the old inode alive for sandboxes still running it.
    std::fs::rename(&tmp, to).map_err(|e| rt(format!("cannot install {}", to.display()), e))
}

/// One `GET /health` over the Unix socket.
async fn health(sock: &Path) -> Result<(), String> {
    use http_body_util::{BodyExt, Empty};
    let stream = tokio::net::UnixStream::connect(sock)
        .await
        .map_err(|e| e.to_string())?;
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = http::Request::get(process_proto::wire::endpoint::HEALTH.template())
        .header(http::header::HOST, "sandbox")
        .body(Empty::<bytes::Bytes>::new())
        .map_err(|e| e.to_string())?;
    let resp = send.send_request(req).await.map_err(|e| e.to_string())?;
    let ok = resp.status().is_success();
    let _ = resp.into_body().collect().await;
    if ok {
        Ok(())
    } else {
        Err("not healthy".into())
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_path_components() {
        for ok in ["a", "0b3c-4d_e", &"x".repeat(64)] {
            assert!(check_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "..", "a/b", "a b", &"x".repeat(65), "é"] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn zero_resources_are_refused() {
        let ok = Resources {
            cpu: 1,
            memory_gib: 1,
            disk_gib: 0,
        };
        assert!(check_resources(ok).is_ok());
        assert!(matches!(
            check_resources(Resources { cpu: 0, ..ok }),
            Err(ProviderError::InvalidResources(_))
        ));
        assert!(matches!(
            check_resources(Resources {
                memory_gib: 0,
                ..ok
            }),
            Err(ProviderError::InvalidResources(_))
        ));
    }
}
