//! The local provider: each sandbox is an OCI bundle run by runc, with an overlayfs root over
//! a cached Debian image, a mandatory user namespace, cgroup limits, its own network namespace
//! (outbound through slirp4netns, filtered by nftables) and `processd` as PID 1, reached
//! through a Unix socket sandboxd creates and passes in.
//!
//! Code map: here the configuration and the provider's state; `provider` implements the
//! `Provider` calls on top of `launch` (starting a sandbox), `rootfs` (its root, `/etc` files
//! and teardown) and `host` (host-side helpers); `checks` holds the pure input checks.
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

mod checks;
mod host;
mod launch;
mod provider;
mod rootfs;

pub(crate) use self::host::is_mounted;

use std::collections::BTreeMap;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use self::host::{copy_if_changed, is_own_init};
use crate::provider::{ProviderError, SandboxSpec};
use image::{ImageStore, HOST_ID_BASE};
use runc::Runc;

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
}
