//! `sandboxd` flags and environment (clap) and the checked [`ServeConfig`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::manager::ManagerConfig;
use crate::provider::Resources;
use crate::Error;

/// Flags of `sandboxd` (serving). Every flag also reads an environment variable.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on. Port 0 picks a free port; the `api_url` is printed on start.
    #[arg(long, env = "SANDBOXD_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// API key required as `Authorization: Bearer <key>` on every route (toolbox included).
    /// Required for a non-loopback listen address; without one, any Bearer is accepted on
    /// loopback and the Host header must name a loopback host.
    #[arg(long, env = "SANDBOXD_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// The URL clients reach this server at (default: `http://<listen address>`); the DTOs'
    /// `toolboxProxyUrl` is `<public-url>/toolbox`.
    #[arg(long, env = "SANDBOXD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Where sandboxes and the state database live. Not under a 0700 directory such as
    /// `/root`: the sandboxes' mapped users must traverse it.
    #[arg(long, env = "SANDBOXD_STATE_DIR", default_value = "/var/lib/sandboxd")]
    pub state_dir: PathBuf,
    /// Where base images are built and cached (shared by every state dir).
    #[arg(
        long,
        env = "SANDBOXD_IMAGE_DIR",
        default_value = "/var/lib/sandboxd-images"
    )]
    pub image_dir: PathBuf,
    /// The OCI runtime binary.
    #[arg(long, env = "SANDBOXD_RUNTIME", default_value = "runc")]
    pub runtime: PathBuf,
    /// The `processd` binary run inside each sandbox (default: this binary's `processd` mode).
    #[arg(long, env = "SANDBOXD_PROCESSD")]
    pub processd: Option<PathBuf>,
    /// Most sandboxes that may exist at once.
    #[arg(long, env = "SANDBOXD_MAX_SANDBOXES", default_value_t = 100)]
    pub max_sandboxes: usize,
    /// vCPUs of a sandbox whose create names none.
    #[arg(long, env = "SANDBOXD_DEFAULT_CPU", default_value_t = 1)]
    pub default_cpu: u32,
    /// Memory (GiB) of a sandbox whose create names none.
    #[arg(long, env = "SANDBOXD_DEFAULT_MEMORY", default_value_t = 1)]
    pub default_memory: u32,
    /// Disk (GiB) of a sandbox whose create names none.
    #[arg(long, env = "SANDBOXD_DEFAULT_DISK", default_value_t = 3)]
    pub default_disk: u32,
    /// Started sandboxes of the default image kept ready, so a create that asks for the default
    /// image, user and network is answered at once (0 = none). Members are not listed or
    /// counted against `--max-sandboxes`; they are deleted when sandboxd exits.
    #[arg(long, env = "SANDBOXD_WARM", default_value_t = 0)]
    pub warm: usize,
    /// Empty disk layers of each disk size asked for, kept formatted and mounted so a create
    /// does not wait for one (0 = make each on create). Removed when sandboxd exits.
    #[arg(long, env = "SANDBOXD_DISK_SPARES", default_value_t = 2)]
    pub disk_spares: usize,
    /// Log filter (tracing `EnvFilter` syntax).
    #[arg(long, env = "SANDBOXD_LOG", default_value = "info")]
    pub log_level: String,
    /// Test only: milliseconds one auto-stop/auto-delete "minute" lasts.
    #[arg(
        long,
        env = "SANDBOXD_TEST_MINUTE_MS",
        default_value_t = 60_000,
        hide = true
    )]
    pub test_minute_ms: u64,
    /// Test only: how often (ms) the monitor looks at running sandboxes.
    #[arg(
        long,
        env = "SANDBOXD_TEST_MONITOR_MS",
        default_value_t = 2_000,
        hide = true
    )]
    pub test_monitor_ms: u64,
    /// Test only: run each sandbox's processd as a plain child process WITHOUT ANY ISOLATION.
    /// Only for tests of the control plane; never the default.
    #[arg(long, env = "SANDBOXD_TEST_UNISOLATED", hide = true)]
    pub test_unisolated_provider: bool,
}

/// The checked configuration of a serving `sandboxd`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServeConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// Required API key, if any.
    pub api_key: Option<String>,
    /// Public base URL override.
    pub public_url: Option<String>,
    /// State directory.
    pub state_dir: PathBuf,
    /// Image directory.
    pub image_dir: PathBuf,
    /// OCI runtime.
    pub runtime: PathBuf,
    /// processd binary override.
    pub processd: Option<PathBuf>,
    /// Sandbox limit.
    pub max_sandboxes: usize,
    /// Default resources.
    pub defaults: Resources,
    /// Length of an auto-stop minute.
    pub minute: Duration,
    /// Monitor period.
    pub monitor_interval: Duration,
    /// Warm pool size.
    pub warm: usize,
    /// Spare disk layers per size.
    pub disk_spares: usize,
    /// Whether the unisolated test provider was asked for.
    pub test_unisolated_provider: bool,
}

impl ServeConfig {
    /// Checks the flags: a non-loopback listen address needs an API key; resources are positive.
    pub fn from_args(args: ServeArgs) -> Result<ServeConfig, Error> {
        let api_key = args.api_key.filter(|k| !k.is_empty());
        if !args.listen.ip().is_loopback() && api_key.is_none() {
            return Err(Error::Config(format!(
                "refusing to listen on non-loopback address {} without an API key: set --api-key or SANDBOXD_API_KEY",
                args.listen
            )));
        }
        if args.default_cpu == 0 || args.default_memory == 0 || args.default_disk == 0 {
            return Err(Error::Config(
                "default resources must be at least 1 (cpu, memory GiB, disk GiB)".into(),
            ));
        }
        if let Some(url) = &args.public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(Error::Config(format!(
                    "--public-url {url:?} must start with http:// or https://"
                )));
            }
        }
        Ok(ServeConfig {
            listen: args.listen,
            api_key,
            public_url: args.public_url.map(|u| u.trim_end_matches('/').to_owned()),
            state_dir: args.state_dir,
            image_dir: args.image_dir,
            runtime: args.runtime,
            processd: args.processd,
            max_sandboxes: args.max_sandboxes,
            defaults: Resources {
                cpu: args.default_cpu,
                memory_gib: args.default_memory,
                disk_gib: args.default_disk,
            },
            minute: Duration::from_millis(args.test_minute_ms.max(1)),
            monitor_interval: Duration::from_millis(args.test_monitor_ms.max(10)),
            warm: args.warm,
            disk_spares: args.disk_spares,
            test_unisolated_provider: args.test_unisolated_provider,
        })
    }

    /// The base URL clients use (no trailing slash).
    pub fn public_url(&self, bound: SocketAddr) -> String {
        if let Some(url) = &self.public_url {
            return url.clone();
        }
        let host = if bound.ip().is_unspecified() {
            "127.0.0.1".to_owned()
        } else if bound.is_ipv6() {
            format!("[{}]", bound.ip())
        } else {
            bound.ip().to_string()
        };
        format!("http://{host}:{}", bound.port())
    }

    /// The manager's settings (host limits read now).
    pub fn manager_config(&self, bound: SocketAddr) -> ManagerConfig {
        ManagerConfig {
            toolbox_url: format!("{}/toolbox", self.public_url(bound)),
            max_sandboxes: self.max_sandboxes,
            defaults: self.defaults,
            host: host_resources(&self.state_dir),
            minute: self.minute,
            monitor_interval: self.monitor_interval,
            daemon_version: format!("v{}", env!("CARGO_PKG_VERSION")),
            warm: self.warm,
            warm_status: (self.warm > 0).then(|| self.state_dir.join("warm-pool")),
        }
    }
}

/// The host's cores, RAM (GiB, rounded down) and the size of the filesystem holding `dir`.
pub fn host_resources(dir: &std::path::Path) -> Resources {
    let cpu = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    let memory_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(1024 * 1024);
    let disk_gib =
        nix::sys::statvfs::statvfs(dir).map_or(1, |s| s.blocks() * s.fragment_size() / (1 << 30));
    Resources {
        cpu,
        memory_gib: ((memory_kib / (1 << 20)) as u32).max(1),
        disk_gib: (disk_gib as u32).max(1),
    }
}
