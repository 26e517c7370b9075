//! Daemon configuration: command-line flags and environment variables (clap), and their checks.

use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::path::PathBuf;

use clap::Parser;

use crate::Error;

/// Command-line flags of `processd`. Every flag also reads an environment variable.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "processd",
    version,
    about = "The sandbox process API daemon (Daytona toolbox compatible)."
)]
pub struct Cli {
    /// Address to listen on (`HOST:PORT`; port 0 picks a free port, the bound address is printed
    /// on start), or `fd:N` to serve on a listening Unix socket inherited as descriptor N.
    #[arg(long, env = "PROCESSD_LISTEN", default_value = "127.0.0.1:2280")]
    pub listen: Listen,
    /// Bearer token required on every route (WebSocket upgrades included). Required for a
    /// non-loopback listen address.
    #[arg(long, env = "PROCESSD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Default working directory for commands, sessions, PTYs and interpreter contexts.
    #[arg(long, env = "PROCESSD_WORKDIR")]
    pub workdir: Option<PathBuf>,
    /// Directory for command logs and records (default: `$HOME/.processd`).
    #[arg(long, env = "PROCESSD_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Python interpreter for code-run and interpreter contexts (default: resolved from PATH).
    #[arg(long, env = "PROCESSD_PYTHON")]
    pub python: Option<PathBuf>,
    /// TypeScript runtime for code-run: a path to `tsx`, `ts-node` or `node` (≥ 22.6, type
    /// stripping), chosen by its file name (default: the first of them found on PATH).
    #[arg(long, env = "PROCESSD_TYPESCRIPT")]
    pub typescript: Option<PathBuf>,
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `process_daemon=debug`.
    #[arg(long, env = "PROCESSD_LOG", default_value = "info")]
    pub log_level: String,
    /// Cap on the output one exec/code-run keeps in its response, in bytes.
    #[arg(long, env = "PROCESSD_MAX_OUTPUT_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_output_bytes: u64,
    /// Cap on one session command's on-disk log, in bytes.
    #[arg(long, env = "PROCESSD_MAX_LOG_BYTES", default_value_t = 256 * 1024 * 1024)]
    pub max_log_bytes: u64,
    /// How many whole-log GETs of long logs (over 256 KiB) may stream at once; more get 429.
    #[arg(long, env = "PROCESSD_MAX_LOG_READS", default_value_t = 8)]
    pub max_log_reads: usize,
    /// Most sessions at once (the entrypoint's not counted); more get 429.
    #[arg(long, env = "PROCESSD_MAX_SESSIONS", default_value_t = 1024)]
    pub max_sessions: usize,
    /// Most PTY sessions at once; more get 429.
    #[arg(long, env = "PROCESSD_MAX_PTYS", default_value_t = 256)]
    pub max_ptys: usize,
    /// Most interpreter contexts at once (each is a Python process; `default` not counted);
    /// more get 429.
    #[arg(long, env = "PROCESSD_MAX_CONTEXTS", default_value_t = 32)]
    pub max_contexts: usize,
    /// Most one-shot commands (`/process/execute`, `/process/code-run`) running at once; more
    /// get 429.
    #[arg(long, env = "PROCESSD_MAX_EXECS", default_value_t = 256)]
    pub max_execs: usize,
    /// Most client connections at once; past that a new connection is answered 429 and closed.
    #[arg(long, env = "PROCESSD_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,
    /// Shells kept started ahead of time so that `/process/execute` hands its command to one
    /// already running (bash only; each serves one command, as a fresh process would; 0
    /// turns the pool off).
    #[arg(long, env = "PROCESSD_WARM_SHELLS", default_value_t = 2)]
    pub warm_shells: usize,
    /// Leave processes a previous incarnation (on this state dir) left running alive instead of
    /// killing them at startup.
    #[arg(long, env = "PROCESSD_KEEP_LEFTOVERS")]
    pub keep_leftovers: bool,
    /// The cgroup v2 directory below which every session, PTY, interpreter worker and exec
    /// gets a cgroup of its own (killed with `cgroup.kill`, which also takes processes that left
    /// the process group): `auto` (this daemon's own cgroup, when it is writable), `off`, or a
    /// path. Without one, kills take the process group and the process tree.
    #[arg(long, env = "PROCESSD_CGROUP_ROOT", default_value = "auto")]
    pub cgroup_root: CgroupRoot,
    /// Testing only: how long the daemon waits between starting a unit's process and moving it
    /// into its cgroup, so tests can show that nothing the process runs escapes meanwhile.
    #[arg(
        long,
        env = "PROCESSD_TEST_ADOPT_DELAY_MS",
        default_value_t = 0,
        hide = true
    )]
    pub test_adopt_delay_ms: u64,
    /// Testing only: the shell sessions run instead of the one chosen from `/etc/shells`.
    #[arg(long, env = "PROCESSD_TEST_SESSION_SHELL", hide = true)]
    pub test_session_shell: Option<PathBuf>,
    /// A browser origin (`scheme://host[:port]`) allowed besides the daemon's own
    /// (`http://127.0.0.1:PORT`, `http://localhost:PORT`, `http://[::1]:PORT`); repeat the flag,
    /// or separate origins with commas in the variable.
    #[arg(
        long = "allow-origin",
        env = "PROCESSD_ALLOW_ORIGINS",
        value_delimiter = ','
    )]
    pub allow_origins: Vec<String>,
    /// Entrypoint command: when given, runs in the `entrypoint` session.
    #[arg(trailing_var_arg = true)]
    pub entrypoint: Vec<String>,
}

/// Where the daemon accepts connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listen {
    /// Bind this TCP address.
    Tcp(SocketAddr),
    /// Serve on a listening Unix socket inherited as this descriptor (`fd:N`); whoever started
    /// us created and bound it, so code that can write the filesystem cannot move it.
    Fd(RawFd),
}

impl std::str::FromStr for Listen {
    type Err = String;

    fn from_str(s: &str) -> Result<Listen, String> {
        if let Some(fd) = s.strip_prefix("fd:") {
            return match fd.parse::<RawFd>() {
                Ok(fd) if fd >= 3 => Ok(Listen::Fd(fd)),
                _ => Err(format!(
                    "'{s}': expected fd:N with N an inherited descriptor number (3 or more)"
                )),
            };
        }
        s.parse::<SocketAddr>()
            .map(Listen::Tcp)
            .map_err(|e| format!("'{s}': expected HOST:PORT or fd:N ({e})"))
    }
}

impl std::fmt::Display for Listen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Listen::Tcp(addr) => write!(f, "{addr}"),
            Listen::Fd(fd) => write!(f, "fd:{fd}"),
        }
    }
}

/// Where the daemon makes a cgroup per unit (see `--cgroup-root`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupRoot {
    /// No cgroups: kills take the process group and the process tree.
    Off,
    /// This daemon's own cgroup v2 directory when it is writable, else [`CgroupRoot::Off`].
    Auto,
    /// This cgroup v2 directory; the daemon does not start when it cannot use it.
    Path(PathBuf),
}

impl std::str::FromStr for CgroupRoot {
    type Err = String;

    fn from_str(s: &str) -> Result<CgroupRoot, String> {
        match s {
            "auto" => Ok(CgroupRoot::Auto),
            "off" | "" => Ok(CgroupRoot::Off),
            path if path.starts_with('/') => Ok(CgroupRoot::Path(PathBuf::from(path))),
            other => Err(format!(
                "'{other}': expected auto, off or an absolute cgroup v2 directory"
            )),
        }
    }
}

/// The daemon's validated configuration. Build it with [`Config::new`] (tests, embedding) or
/// [`Config::from_cli`] (the binary), then adjust the public fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Where to listen.
    pub listen: Listen,
    /// Bearer token required on every route, if set.
    pub token: Option<String>,
    /// Default working directory.
    pub workdir: PathBuf,
    /// Directory for command logs and records.
    pub state_dir: PathBuf,
    /// Python interpreter override.
    pub python: Option<PathBuf>,
    /// TypeScript runtime override (`tsx`, `ts-node` or `node`, by file name).
    pub typescript: Option<PathBuf>,
    /// Cap on the output one exec/code-run keeps, in bytes.
    pub max_output_bytes: u64,
    /// Cap on one session command's on-disk log, in bytes.
    pub max_log_bytes: u64,
    /// How many whole-log GETs of long logs may stream at once (more get 429).
    pub max_log_reads: usize,
    /// Most sessions at once, the entrypoint's not counted (more get 429).
    pub max_sessions: usize,
    /// Most PTY sessions at once (more get 429).
    pub max_ptys: usize,
    /// Most interpreter contexts at once, `default` not counted (more get 429).
    pub max_contexts: usize,
    /// Most one-shot commands running at once (more get 429).
    pub max_execs: usize,
    /// Most client connections at once (more are answered 429 and closed).
    pub max_connections: usize,
    /// Warm shells kept ready for `/process/execute` (0: none; `--warm-shells` defaults to 2).
    /// 0 in [`Config::new`] (an embedded daemon starts no processes of its own
    /// accord).
    pub warm_shells: usize,
    /// Entrypoint argv (empty: no entrypoint session).
    pub entrypoint: Vec<String>,
    /// Browser origins accepted besides the daemon's own loopback origin (`--allow-origin`).
    pub allowed_origins: Vec<String>,
    /// Kill, at startup, every process a previous incarnation on this state dir left running
    /// (identified by pid and start time, tag and cgroup). Off in [`Config::new`] (an embedded
    /// daemon changes nothing outside its own state); on for the `processd` binary.
    pub kill_leftovers: bool,
    /// Make this process a child subreaper and reap orphaned zombies (see `reaper`): right
    /// for `processd` (often PID 1 in a sandbox), wrong inside a host application, whose own
    /// children it could reap. Off in [`Config::new`] (embedded daemons change no process-wide
    /// state); on for the `processd` binary.
    pub reap_orphans: bool,
    /// Where every session, PTY, interpreter worker and exec gets a cgroup of its own.
    /// [`CgroupRoot::Off`] in [`Config::new`] (cgroups are a process-wide concern: an embedded
    /// daemon leaves its host's alone); `auto` for the `processd` binary.
    pub cgroup_root: CgroupRoot,
    /// Testing only (a hidden flag): a pause between starting a unit's process and moving it
    /// into its cgroup (0 in production), which widens the window a spawn gate must close.
    pub test_adopt_delay: std::time::Duration,
    /// Testing only (a hidden flag): the shell sessions run instead of `proc::select_shell`'s.
    pub test_session_shell: Option<PathBuf>,
    /// Deadline for writing one WebSocket frame (log follow, PTY, interpreter): a client that
    /// stops reading is dropped after it. 10 s (spec §8.8); tests shorten it.
    pub ws_write_deadline: std::time::Duration,
}

impl Config {
    /// A configuration for an embedded or test daemon: loopback port 0, no token, the given
    /// working and state directories, defaults for the rest.
    pub fn new(workdir: impl Into<PathBuf>, state_dir: impl Into<PathBuf>) -> Config {
        Config {
            listen: Listen::Tcp(SocketAddr::from(([127, 0, 0, 1], 0))),
            token: None,
            workdir: workdir.into(),
            state_dir: state_dir.into(),
            python: None,
            typescript: None,
            max_output_bytes: 16 * 1024 * 1024,
            max_log_bytes: 256 * 1024 * 1024,
            max_log_reads: 8,
            max_sessions: 1024,
            max_ptys: 256,
            max_contexts: 32,
            max_execs: 256,
            max_connections: 4096,
            warm_shells: 0,
            entrypoint: Vec::new(),
            allowed_origins: Vec::new(),
            kill_leftovers: false,
            reap_orphans: false,
            cgroup_root: CgroupRoot::Off,
            test_adopt_delay: std::time::Duration::ZERO,
            test_session_shell: None,
            ws_write_deadline: crate::ws::WRITE_DEADLINE,
        }
    }

    /// Builds and checks the configuration from parsed flags.
    pub fn from_cli(cli: Cli) -> Result<Config, Error> {
        let workdir = match cli.workdir {
            Some(dir) => dir,
            None => std::env::current_dir()
                .map_err(|e| Error::Config(format!("cannot read the current directory: {e}")))?,
        };
        let state_dir = cli.state_dir.unwrap_or_else(|| {
            let home =
                std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
            home.join(".processd")
        });
        if cli
            .token
            .as_deref()
            .is_some_and(|t| !t.is_empty() && t.trim().is_empty())
        {
            return Err(Error::Config(
                "the token is only whitespace: set --token or PROCESSD_TOKEN to a real secret (or leave it unset)"
                    .to_owned(),
            ));
        }
        let token = cli.token.filter(|t| !t.is_empty());
        if matches!(cli.listen, Listen::Tcp(addr) if !addr.ip().is_loopback()) && token.is_none() {
            return Err(Error::Config(format!(
                "refusing to listen on non-loopback address {} without a token: set --token or PROCESSD_TOKEN",
                cli.listen
            )));
        }
        Ok(Config {
            listen: cli.listen,
            token,
            workdir,
            state_dir,
            python: cli.python,
            typescript: cli.typescript,
            max_output_bytes: cli.max_output_bytes,
            max_log_bytes: cli.max_log_bytes,
            max_log_reads: cli.max_log_reads,
            max_sessions: cli.max_sessions,
            max_ptys: cli.max_ptys,
            max_contexts: cli.max_contexts,
            max_execs: cli.max_execs,
            max_connections: cli.max_connections,
            warm_shells: cli.warm_shells,
            entrypoint: cli.entrypoint,
            allowed_origins: cli.allow_origins,
            kill_leftovers: !cli.keep_leftovers,
            reap_orphans: true,
            cgroup_root: cli.cgroup_root,
            test_adopt_delay: std::time::Duration::from_millis(cli.test_adopt_delay_ms),
            test_session_shell: cli.test_session_shell,
            ws_write_deadline: crate::ws::WRITE_DEADLINE,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Listen;

    #[test]
    fn listen_parses_addresses_and_inherited_fds() {
        assert_eq!(
            "127.0.0.1:2280".parse::<Listen>(),
            Ok(Listen::Tcp(([127, 0, 0, 1], 2280).into()))
        );
        assert_eq!("fd:3".parse::<Listen>(), Ok(Listen::Fd(3)));
        assert_eq!(Listen::Fd(7).to_string(), "fd:7");
        for bad in ["fd:", "fd:x", "fd:2", "fd:-1", "localhost", ""] {
            assert!(bad.parse::<Listen>().is_err(), "{bad:?} parsed");
        }
    }
}
