//! The embedded daemon (feature `embedded`): [`Client::embedded`] runs `processd` inside this
//! process and talks to it through the in-memory transport — the same HTTP and WebSocket code
//! as over TCP, without a socket.

use std::sync::Arc;

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
pub(crate) struct Guard(#[allow(dead_code)] Arc<GuardInner>); // held for its Drop

struct GuardInner {
    daemon: process_daemon::Daemon,
    state_dir: Option<tempfile::TempDir>,
}

impl Drop for GuardInner {
    fn drop(&mut self) {
        let daemon = self.daemon.clone();
        let state_dir = self.state_dir.take();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                daemon.shutdown().await;
                drop(state_dir);
            });
        }
    }
}

impl Client<HttpTransport> {
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
