//! Fixtures: a client to a fresh daemon, in memory or over TCP, and the macro that instantiates
//! a test for both.

use std::time::Duration;

use process::Client;
use process_daemon::{Config, Daemon};

/// Which transport a test runs over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The embedded daemon through the in-memory transport.
    Memory,
    /// A daemon serving 127.0.0.1:0, through TCP.
    Tcp,
}

/// A client and the daemon behind it, stopped when dropped.
pub struct Fixture {
    pub client: Client,
    pub workdir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT` for TCP fixtures.
    pub url: Option<String>,
    daemon: Option<Daemon>,
    _state: tempfile::TempDir,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Fixture {
    pub async fn start(kind: Kind) -> Fixture {
        Fixture::start_with(kind, |_| {}).await
    }

    pub async fn start_with(kind: Kind, tweak: impl FnOnce(&mut Config)) -> Fixture {
        let workdir = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        let mut config = Config::new(workdir.path(), state.path());
        if let Some(py) = std::env::var_os("PROCESSD_PYTHON") {
            config.python = Some(py.into());
        }
        tweak(&mut config);
        let token = config.token.clone();
        let mut url = None;
        let (client, daemon, server) = match kind {
            Kind::Memory if token.is_none() => {
                // The public embedded entry point, with our configuration.
                (Client::embedded_with(config).await.unwrap(), None, None)
            }
            Kind::Memory => {
                // Same wiring by hand, to send a token.
                let daemon = Daemon::new(config).unwrap();
                let transport =
                    process::transport::HttpTransport::builder(process::transport::MEMORY_URL)
                        .token(token.clone().unwrap_or_default())
                        .build_in_memory(daemon.service())
                        .unwrap();
                (Client::new(transport), Some(daemon), None)
            }
            Kind::Tcp => {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let daemon = Daemon::new(config).unwrap();
                let served = daemon.clone();
                let server = tokio::spawn(async move {
                    let _ = process_daemon::serve(listener, served).await;
                });
                url = Some(format!("http://{addr}"));
                let mut builder = Client::builder(format!("http://{addr}"));
                if let Some(t) = &token {
                    builder = builder.token(t.clone());
                }
                (builder.build().unwrap(), Some(daemon), Some(server))
            }
        };
        Fixture {
            client,
            workdir,
            url,
            daemon,
            _state: state,
            server,
        }
    }

    /// The daemon's working directory, canonical.
    pub fn workdir(&self) -> std::path::PathBuf {
        self.workdir.path().canonicalize().unwrap()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(server) = &self.server {
            server.abort();
        }
        // Stop every process the daemon started before the test's runtime goes away (the
        // tests run on multi-thread runtimes, where this may block).
        if let (Some(daemon), Ok(rt)) = (self.daemon.clone(), tokio::runtime::Handle::try_current())
        {
            if rt.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
                tokio::task::block_in_place(|| rt.block_on(daemon.shutdown()));
            } else {
                rt.spawn(async move { daemon.shutdown().await });
            }
        }
    }
}

/// Whether the Python for code-run is configured (set by `cargo xtask ci`).
pub fn python_configured() -> bool {
    std::env::var_os("PROCESSD_PYTHON").is_some()
}

/// Upper bound for any one test: detects hangs, never asserts timing.
pub const HANG: Duration = Duration::from_mins(1);

/// Instantiates `async fn name(kind: Kind)` tests for both transports, each bounded by [`HANG`].
#[macro_export]
macro_rules! both_transports {
    ($($name:ident),* $(,)?) => {
        mod in_memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    tokio::time::timeout($crate::support::HANG, super::$name($crate::support::Kind::Memory))
                        .await
                        .expect("test hung");
                }
            )*
        }
        mod over_tcp {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    tokio::time::timeout($crate::support::HANG, super::$name($crate::support::Kind::Tcp))
                        .await
                        .expect("test hung");
                }
            )*
        }
    };
}
