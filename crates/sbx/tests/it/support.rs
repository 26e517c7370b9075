//! A processd on loopback, running the sbx binary against it, and a TCP proxy that can drop
//! every connection (to test reconnects).

use std::path::PathBuf;
use std::process::Output;
use std::sync::Arc;

use process_daemon::{Config, Daemon};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// A daemon serving on 127.0.0.1:PORT.
pub(crate) struct TestDaemon {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its working directory.
    pub workdir: tempfile::TempDir,
    _state: tempfile::TempDir,
    daemon: Daemon,
}

/// The Python with matplotlib the tests use (`PROCESSD_PYTHON` or the compat venv).
pub(crate) fn test_python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PROCESSD_PYTHON") {
        return Some(p.into());
    }
    let venv =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/compat-venv/bin/python");
    venv.exists().then_some(venv)
}

impl TestDaemon {
    /// Starts a daemon (optionally with a token).
    pub(crate) async fn start(token: Option<&str>) -> TestDaemon {
        let workdir = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        let mut config = Config::new(workdir.path(), state.path());
        config.python = test_python();
        config.token = token.map(str::to_owned);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let daemon = Daemon::new(config).unwrap();
        tokio::spawn(process_daemon::serve(listener, daemon.clone()));
        TestDaemon {
            url,
            workdir,
            _state: state,
            daemon,
        }
    }

    /// Runs `sbx --daemon URL ARGS…` to completion.
    pub(crate) async fn sbx(&self, args: &[&str]) -> Output {
        sbx_with(&self.url, args, None).await
    }

    /// Stops the daemon and what it started.
    pub(crate) async fn stop(self) {
        self.daemon.shutdown().await;
    }
}

/// The sbx binary under test.
pub(crate) fn sbx_bin() -> &'static str {
    env!("CARGO_BIN_EXE_sbx")
}

/// Runs `sbx --daemon url ARGS…`, with `stdin` as its input.
pub(crate) async fn sbx_with(url: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
    use tokio::io::AsyncWriteExt;
    let mut cmd = tokio::process::Command::new(sbx_bin());
    cmd.arg("--daemon")
        .arg(url)
        .args(args)
        .env_remove("SBX_DAEMON_TOKEN")
        .env_remove("DAYTONA_API_URL")
        .env_remove("DAYTONA_API_KEY")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(data) = stdin {
        input.write_all(data).await.unwrap();
    }
    drop(input);
    tokio::time::timeout(std::time::Duration::from_mins(2), child.wait_with_output())
        .await
        .expect("sbx did not finish in time")
        .unwrap()
}

/// stdout, stderr and the exit code as text.
pub(crate) fn text(out: &Output) -> (String, String, i32) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

/// A loopback TCP proxy in front of `target` whose [`Proxy::cut`] drops every open connection
/// (new ones are still accepted).
pub(crate) struct Proxy {
    /// `http://127.0.0.1:PORT` of the proxy.
    pub url: String,
    cut: Arc<Notify>,
    accepted: Arc<std::sync::atomic::AtomicUsize>,
}

impl Proxy {
    /// Starts a proxy to `target` (`http://127.0.0.1:PORT`).
    pub(crate) async fn start(target: &str) -> Proxy {
        let target = target.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let cut = Arc::new(Notify::new());
        let cut2 = cut.clone();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let target = target.clone();
                let cut = cut2.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        () = cut.notified() => {}
                    }
                    // Dropping both ends closes the connection without a WebSocket close frame.
                });
            }
        });
        Proxy { url, cut, accepted }
    }

    /// How many connections the proxy has accepted.
    pub(crate) fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Drops every connection open now.
    pub(crate) fn cut(&self) {
        self.cut.notify_waiters();
    }
}
