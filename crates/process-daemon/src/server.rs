//! The [`Daemon`] handle, the accept loop ([`serve`], [`run`]) over any [`Listener`], and
//! logging setup.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Semaphore;

use crate::error::ApiError;
use crate::listen::Listener;
use crate::runtimes::Runtimes;
use crate::session::Sessions;
use crate::{interpreter, pty, Config, DaemonService, Error, Listen};

/// A running daemon: configuration plus the registries of sessions, PTYs and interpreter
/// contexts. Cheap to clone (an `Arc`); must be created inside a tokio runtime.
#[derive(Clone)]
pub struct Daemon {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: Config,
    pub(crate) pty: pty::PtyManager,
    pub(crate) interpreter: interpreter::InterpreterManager,
    pub(crate) sessions: Sessions,
    pub(crate) runtimes: Runtimes,
    pub(crate) store: Arc<crate::store::Store>,
    /// Permits for whole-log GETs that stream (`Config::max_log_reads`).
    pub(crate) log_reads: Arc<tokio::sync::Semaphore>,
    /// Permits for one-shot commands running at once (`Config::max_execs`).
    pub(crate) execs: Arc<tokio::sync::Semaphore>,
    /// Shells started ahead of time for `/process/execute` (`Config::warm_shells`).
    pub(crate) warm: Option<crate::warm::WarmPool>,
    /// A cgroup per unit (`Config::cgroup_root`), when there is a usable root.
    pub(crate) cgroups: Option<crate::cgroup::Cgroups>,
    _lock: crate::leftovers::StateLock,
}

impl Daemon {
    /// Creates the daemon's state (state directory, registries) and starts the entrypoint
    /// session if the configuration has one. Call inside a tokio runtime.
    ///
    /// It changes no process-wide state unless the configuration asks for it
    /// ([`Config::reap_orphans`]: subreaper and orphan reaper; [`Config::kill_leftovers`]: kill
    /// a previous incarnation's processes), as the `processd` binary's does.
    pub fn new(config: Config) -> Result<Daemon, Error> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&config.state_dir)
            .map_err(|e| {
                Error::io(
                    format!("cannot create state dir {}", config.state_dir.display()),
                    e,
                )
            })?;
        // Scratch files of a previous run (exec scripts, code-run files) are stale.
        for stale in ["exec", "run"] {
            let _ = std::fs::remove_dir_all(config.state_dir.join(stale));
        }
        let lock = crate::leftovers::lock_state_dir(&config.state_dir).map_err(Error::Config)?;
        let (store, previous) = crate::store::Store::open(&config.state_dir)
            .map_err(|e| Error::Config(e.to_string()))?;
        let store = Arc::new(store);
        if config.kill_leftovers {
            crate::leftovers::kill_previous(&previous.processes);
            store.send(crate::store::Op::ForgetProcesses);
        }
        if config.reap_orphans {
            crate::reaper::start();
        }
        let cgroups = open_cgroups(&config)?;
        let sessions = Sessions::new(
            &config.state_dir,
            &config.workdir,
            config.max_log_bytes,
            config.max_sessions,
            store.clone(),
            cgroups.clone(),
            config
                .test_session_shell
                .clone()
                .unwrap_or_else(crate::proc::select_shell),
        )
        .map_err(|e| Error::io("cannot prepare the sessions directory", e))?;
        sessions.restore(previous.sessions);
        let runtimes = Runtimes::new(
            &config.state_dir,
            config.python.clone(),
            config.typescript.clone(),
        )
        .map_err(|e| Error::io("cannot write the code-run helper files", e))?;
        let mut pty = pty::PtyManager::new(&config);
        pty.cgroups.clone_from(&cgroups);
        let mut interpreter =
            interpreter::InterpreterManager::new(&config, runtimes.python_resolver());
        interpreter.cgroups.clone_from(&cgroups);
        let log_reads = Arc::new(tokio::sync::Semaphore::new(config.max_log_reads.max(1)));
        let execs = Arc::new(tokio::sync::Semaphore::new(config.max_execs.max(1)));
        let warm = crate::warm::WarmPool::start(
            config.warm_shells,
            crate::proc::select_shell(),
            config.workdir.clone(),
            cgroups.clone(),
        );
        let daemon = Daemon {
            inner: Arc::new(Inner {
                log_reads,
                execs,
                warm,
                cgroups,
                config,
                pty,
                interpreter,
                sessions,
                runtimes,
                store,
                _lock: lock,
            }),
        };
        if !daemon.config().entrypoint.is_empty() {
            daemon
                .inner
                .sessions
                .start_entrypoint(&daemon.config().entrypoint)
                .map_err(|e| Error::Config(format!("cannot start the entrypoint: {e}")))?;
        }
        Ok(daemon)
    }

    /// The session registry.
    pub(crate) fn sessions(&self) -> &Sessions {
        &self.inner.sessions
    }

    /// Language runtimes for code-run.
    pub(crate) fn runtimes(&self) -> &Runtimes {
        &self.inner.runtimes
    }

    /// How many warm shells are waiting for an `execute` right now (0 with the pool off).
    pub fn warm_shells_ready(&self) -> usize {
        self.inner
            .warm
            .as_ref()
            .map_or(0, crate::warm::WarmPool::ready)
    }

    /// The daemon's configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The request service (hyper and tower), routing every endpoint.
    pub fn service(&self) -> DaemonService {
        DaemonService::new(self.clone())
    }

    /// Serves HTTP/1.1 (with upgrades) on one connection (any byte stream) until it closes.
    pub async fn serve_connection<I>(&self, io: I) -> Result<(), hyper::Error>
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        serve_io(self.service(), io).await
    }

    /// Stops everything the daemon started (sessions, PTYs, interpreter workers).
    pub async fn shutdown(&self) {
        if let Some(warm) = &self.inner.warm {
            warm.close();
        }
        self.inner.sessions.shutdown().await;
        self.inner.pty.shutdown().await;
        self.inner.interpreter.shutdown().await;
        self.inner.store.flush().await;
    }
}

/// The daemon's cgroup subtree per `Config::cgroup_root`: none when off, or when `auto` finds
/// no writable cgroup v2 directory (logged); an explicit root that cannot be used is an error.
fn open_cgroups(config: &Config) -> Result<Option<crate::cgroup::Cgroups>, Error> {
    use crate::CgroupRoot;
    let (root, explicit) = match &config.cgroup_root {
        CgroupRoot::Off => return Ok(None),
        CgroupRoot::Auto => {
            let Some(dir) = crate::cgroup::own_dir() else {
                tracing::info!(
                    "no cgroup v2 directory of our own: kills take process groups and trees"
                );
                return Ok(None);
            };
            (dir, false)
        }
        CgroupRoot::Path(dir) => (dir.clone(), true),
    };
    match crate::cgroup::Cgroups::open(
        &root,
        &config.state_dir,
        config.kill_leftovers,
        config.test_adopt_delay,
    ) {
        Ok(cgroups) => {
            tracing::info!(cgroup = %cgroups.base().display(), "a cgroup per session, PTY, worker and exec");
            Ok(Some(cgroups))
        }
        Err(err) if explicit => Err(Error::Config(format!(
            "--cgroup-root {}: {err}",
            root.display()
        ))),
        Err(err) => {
            tracing::info!(error = %err, "no usable cgroup: kills take process groups and trees");
            Ok(None)
        }
    }
}

/// Serves one connection with `service`.
async fn serve_io<I>(service: DaemonService, io: I) -> Result<(), hyper::Error>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(std::time::Duration::from_secs(10))
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades()
        .await
}

/// Serves one accepted connection in a task, holding one of `limit`'s permits while it lasts;
/// without a permit left the connection's request is answered 429 and the connection closed.
fn spawn_connection<I>(service: &DaemonService, limit: &Arc<Semaphore>, io: I, peer: String)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service.clone();
    let permit = limit.clone().try_acquire_owned();
    tokio::spawn(async move {
        let Ok(_permit) = permit else {
            tracing::debug!(%peer, "connection limit reached: answering 429");
            let _ = refuse(io).await;
            return;
        };
        if let Err(err) = serve_io(service, io).await {
            tracing::debug!(%peer, error = %err, "connection ended with an error");
        }
    });
}

/// Answers a connection over the limit: its first request gets 429 with the envelope (and
/// `Connection: close`), then the connection ends.
async fn refuse<I>(io: I) -> Result<(), hyper::Error>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(
        |req: http::Request<hyper::body::Incoming>| async move {
            let mut resp = ApiError::too_many_requests(
            "the daemon serves as many connections as its limit allows (--max-connections): retry once one has closed",
        )
        .render(req.method(), req.uri().path());
            resp.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
            Ok::<_, std::convert::Infallible>(resp)
        },
    );
    hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(std::time::Duration::from_secs(10))
        .keep_alive(false)
        .serve_connection(TokioIo::new(io), service)
        .await
}

/// Accepts connections on `listener` (TCP, Unix, or adopted: see [`Listener`]) forever,
/// serving each with `daemon`.
pub async fn serve(listener: impl Into<Listener>, daemon: Daemon) -> Result<(), Error> {
    let listener = listener.into();
    let mut service = daemon.service();
    if let Listener::Tcp(l) = &listener {
        let port = l
            .local_addr()
            .map_err(|e| Error::io("cannot read the listening address", e))?
            .port();
        service = service.on_tcp_port(port);
    }
    let limit = Arc::new(Semaphore::new(daemon.config().max_connections.max(1)));
    loop {
        let accepted = match &listener {
            Listener::Tcp(l) => l.accept().await.map(|(stream, peer)| {
                let _ = stream.set_nodelay(true);
                spawn_connection(&service, &limit, stream, peer.to_string());
            }),
            Listener::Unix(l) => l
                .accept()
                .await
                .map(|(stream, _)| spawn_connection(&service, &limit, stream, "unix".to_owned())),
        };
        if let Err(err) = accepted {
            // EMFILE and friends: back off briefly instead of spinning.
            tracing::warn!(error = %err, "accept failed");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

/// Accepts connections on a Unix `listener` forever, serving each with `daemon`.
pub async fn serve_unix(listener: UnixListener, daemon: Daemon) -> Result<(), Error> {
    serve(listener, daemon).await
}

/// Takes ownership of the listening Unix socket inherited as descriptor `fd`.
#[allow(unsafe_code)]
fn inherited_unix_listener(fd: std::os::fd::RawFd) -> Result<UnixListener, Error> {
    use std::os::fd::FromRawFd;
    let not_open = || {
        Error::Config(format!(
            "--listen fd:{fd}: descriptor {fd} is not open (pass a listening Unix socket)"
        ))
    };
    // SAFETY: F_GETFD only reads the descriptor's flags; any integer is a valid argument.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(not_open());
    }
    // SAFETY: `fd` is open (checked above) and was handed to this process by its parent for this
    // one purpose (`--listen fd:N`): nothing else in the process owns or closes it, and this is
    // the only place that takes it, once, at start.
    let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    let std_listener = std::os::unix::net::UnixListener::from(owned);
    std_listener.local_addr().map_err(|e| {
        Error::Config(format!(
            "--listen fd:{fd}: descriptor {fd} is not a Unix socket ({e})"
        ))
    })?;
    std_listener
        .set_nonblocking(true)
        .map_err(|e| Error::io(format!("--listen fd:{fd}: cannot make it non-blocking"), e))?;
    UnixListener::from_std(std_listener)
        .map_err(|e| Error::io(format!("--listen fd:{fd}: cannot register the socket"), e))
}

/// Binds `config.listen` (or takes the inherited socket), prints the address on stdout, and
/// serves until SIGINT/SIGTERM.
pub async fn run(config: Config) -> Result<(), Error> {
    enum Bound {
        Tcp(TcpListener),
        Unix(UnixListener),
    }
    let bound = match config.listen {
        Listen::Tcp(addr) => {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|e| Error::io(format!("cannot listen on {addr}"), e))?;
            let addr: SocketAddr = listener
                .local_addr()
                .map_err(|e| Error::io("cannot read the bound address", e))?;
            println!("processd listening on http://{addr}");
            tracing::info!(%addr, "listening");
            Bound::Tcp(listener)
        }
        Listen::Fd(fd) => {
            let listener = inherited_unix_listener(fd)?;
            println!("processd listening on the inherited socket fd:{fd}");
            tracing::info!(fd, "listening on an inherited socket");
            Bound::Unix(listener)
        }
    };
    let daemon = Daemon::new(config)?;
    let serving = async {
        match bound {
            Bound::Tcp(listener) => serve(listener, daemon.clone()).await,
            Bound::Unix(listener) => serve_unix(listener, daemon.clone()).await,
        }
    };
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Error::io("cannot install the SIGTERM handler", e))?;
    tokio::select! {
        res = serving => res?,
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        _ = sigterm.recv() => tracing::info!("SIGTERM: shutting down"),
    }
    daemon.shutdown().await;
    Ok(())
}

/// Installs the `tracing` subscriber (stderr) with the given filter.
pub fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
