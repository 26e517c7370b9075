//! Test harness: starts an in-process daemon on 127.0.0.1:0 with scratch directories.

#![allow(dead_code)]

use std::net::SocketAddr;

use process_daemon::{Config, Daemon};

/// A daemon serving on loopback, stopped when dropped.
pub struct TestDaemon {
    pub addr: SocketAddr,
    pub daemon: Daemon,
    pub workdir: tempfile::TempDir,
    pub state_dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl TestDaemon {
    /// Starts a daemon with default settings.
    pub async fn start() -> TestDaemon {
        TestDaemon::start_with(|_| {}).await
    }

    /// Starts a daemon after `tweak` adjusts its configuration.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestDaemon {
        let workdir = tempfile::tempdir().expect("workdir");
        let state_dir = tempfile::tempdir().expect("state dir");
        let mut config = Config::new(workdir.path(), state_dir.path());
        if let Some(py) = std::env::var_os("PROCESSD_PYTHON") {
            config.python = Some(py.into());
        }
        tweak(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let daemon = Daemon::new(config).expect("daemon");
        let served = daemon.clone();
        let task = tokio::spawn(async move {
            let _ = process_daemon::serve(listener, served).await;
        });
        TestDaemon {
            addr,
            daemon,
            workdir,
            state_dir,
            task,
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        self.task.abort();
    }
}
