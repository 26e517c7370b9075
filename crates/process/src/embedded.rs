//! The embedded daemon (feature `embedded`): [`Client::embedded`] runs `processd` inside this
//! process and talks to it through the in-memory transport — the same HTTP and WebSocket code
//! as over TCP, without a socket.

use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::RuntimeFlavor;

use process_proto::wire::Language;
use process_transport::HttpTransport;

use crate::{Client, Error};

/// The embedded daemon's configuration (`process_daemon::Config`), for
/// [`Client::embedded_with`].
pub use process_daemon::Config as DaemonConfig;

/// Keeps the embedded daemon's state alive while clients exist; shuts the daemon down (its
/// sessions, PTYs and workers) and removes the temporary state directory when the last client
/// is dropped.
#[derive(Clone)]
pub(crate) struct Guard(Arc<GuardInner>);

impl Guard {
    /// Shuts the daemon down now (idempotent; the drop later has nothing left to do).
    pub(crate) async fn shutdown(&self) {
        self.0.daemon.shutdown().await;
    }
}

struct GuardInner {
    daemon: process_daemon::Daemon,
    state_dir: Option<tempfile::TempDir>,
}

/// Longest the automatic shutdown on drop may take (the daemon gives processes a grace period
/// after SIGTERM before SIGKILL).
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(15);

impl GuardInner {
    fn stop(&mut self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let daemon = self.daemon.clone();
        let state_dir = self.state_dir.take();
        async move {
            if tokio::time::timeout(SHUTDOWN_LIMIT, daemon.shutdown())
                .await
                .is_err()
            {
                tracing::warn!("the embedded daemon did not shut down within {SHUTDOWN_LIMIT:?}");
            }
            drop(state_dir);
        }
    }
}

impl Drop for GuardInner {
    fn drop(&mut self) {
        let stop = self.stop();
        match tokio::runtime::Handle::try_current() {
            // Stop now, so no session shell or PTY outlives the program: a spawned task would
            // be dropped unrun if the runtime ends right after the client (end of `main`).
            Ok(rt) if rt.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| rt.block_on(stop));
            }
            // A current-thread runtime cannot block here: best effort. Call
            // `Client::shutdown` before the end of `main` to be sure.
            Ok(rt) => {
                rt.spawn(stop);
            }
            Err(_) => tracing::warn!(
                "embedded client dropped outside a tokio runtime: its daemon was not shut down"
            ),
        }
    }
}

impl Client {
    /// A client whose daemon runs inside this process: nothing to start, nothing to configure.
    ///
    /// Commands run in the current directory; session logs go to a temporary directory removed
    /// when the last clone of the client is dropped (with every session, PTY and process the
    /// daemon started). `PROCESSD_PYTHON` (if set) names the Python interpreter for `code_run`.
    /// Call inside a tokio runtime.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), process::Error> {
    /// let client = process::Client::embedded().await?;
    /// let response = client.exec("echo 'Hello'").await?;
    /// assert_eq!(response.artifacts.stdout, "Hello\n");
    /// # Ok(()) }
    /// ```
    #[allow(clippy::unused_async)] // async so it is called inside a runtime (the daemon spawns)
    pub async fn embedded() -> Result<Client, Error> {
        let workdir = std::env::current_dir().map_err(|e| {
            Error::invalid_input(format!(
                "embedded: cannot read the current directory to run commands in: {e}"
            ))
        })?;
        let state_dir = tempfile::Builder::new()
            .prefix("processd-embedded-")
            .tempdir()
            .map_err(|e| {
                Error::invalid_input(format!(
                    "embedded: cannot create a temporary state directory (check TMPDIR): {e}"
                ))
            })?;
        let mut config = DaemonConfig::new(workdir, state_dir.path());
        if let Some(python) = std::env::var_os("PROCESSD_PYTHON").filter(|p| !p.is_empty()) {
            config.python = Some(python.into());
        }
        Client::start_embedded(config, Some(state_dir))
    }

    /// Like [`Client::embedded`] with your configuration (working and state directories,
    /// Python interpreter, output limits, …). The state directory is yours: it is not removed.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), process::Error> {
    /// let dir = std::env::temp_dir();
    /// let config = process::embedded::DaemonConfig::new(&dir, dir.join("processd-doc-state"));
    /// let client = process::Client::embedded_with(config).await?;
    /// let pwd = client.exec("pwd").await?;
    /// assert_eq!(pwd.result.trim_end(), dir.canonicalize().unwrap().to_str().unwrap());
    /// # Ok(()) }
    /// ```
    #[allow(clippy::unused_async)] // async so it is called inside a runtime, like `embedded`
    pub async fn embedded_with(config: DaemonConfig) -> Result<Client, Error> {
        Client::start_embedded(config, None)
    }

    fn start_embedded(
        config: DaemonConfig,
        state_dir: Option<tempfile::TempDir>,
    ) -> Result<Client, Error> {
        let daemon = process_daemon::Daemon::new(config)
            .map_err(|e| Error::invalid_input(format!("embedded: the daemon cannot start: {e}")))?;
        let transport = HttpTransport::in_memory(daemon.service()).map_err(|e| {
            Error::invalid_input(format!(
                "embedded: cannot set up the in-memory transport: {e}"
            ))
        })?;
        let guard = Guard(Arc::new(GuardInner { daemon, state_dir }));
        Ok(Client::from_parts(
            transport,
            "the embedded daemon".to_owned(),
            Language::Python,
            Some(guard),
        ))
    }
}
