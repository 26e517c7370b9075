//! The `sandboxd` a figure runs: started on a scratch state dir, stopped and cleaned up on drop;
//! whether its warm pool is ready.

#[allow(clippy::wildcard_imports)]
use super::*;

/// A `sandboxd` started here, on its own scratch state dir.
pub(super) struct Server {
    pub(super) child: Child,
    pub(super) api: String,
    pub(super) state: tempfile::TempDir,
}

impl Server {
    pub(super) fn start(opts: &Opts, extra: &[&str]) -> Result<Server, BoxError> {
        // In /tmp: traversable by the sandboxes' mapped uid, and short (socket paths).
        let state = tempfile::Builder::new()
            .prefix("sbx-bench-")
            .tempdir_in("/tmp")?;
        // `BENCH_SANDBOXD_LOG=sandbox_daemon=debug` shows each start's step timings.
        let log = std::env::var("BENCH_SANDBOXD_LOG").unwrap_or_else(|_| "warn".to_owned());
        let mut child = Command::new(&opts.sandboxd)
            .args(["--listen", "127.0.0.1:0", "--log-level", &log])
            .args(["--api-key", KEY, "--max-sandboxes", "100"])
            .arg("--state-dir")
            .arg(state.path())
            .arg("--image-dir")
            .arg(&opts.image_dir)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", opts.sandboxd.display()))?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            BufReader::new(out).read_line(&mut line)?;
        }
        let api = line
            .trim()
            .rsplit('=')
            .next()
            .unwrap_or_default()
            .to_owned();
        if !api.starts_with("http://127.0.0.1:") {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("sandboxd did not print its api_url (printed {line:?})").into());
        }
        Ok(Server { child, api, state })
    }

    pub(super) fn client(&self) -> Result<Sandboxes, BoxError> {
        Ok(Sandboxes::connect(self.api.clone(), KEY)?)
    }

    pub(super) fn sandbox_dir(&self, id: &str) -> PathBuf {
        self.state.path().join("sandboxes").join(id)
    }

    /// Started sandboxes (records and warm pool members alike): their sockets.
    pub(super) fn sandboxes_on_disk(&self) -> usize {
        count(&self.state.path().join("sockets"))
    }

    /// Deletes what is left through the API, then stops sandboxd with SIGTERM (its warm pool
    /// goes with it) and waits for it.
    pub(super) async fn stop(mut self) -> Result<(), BoxError> {
        let client = self.client()?;
        for sb in client.list().await.unwrap_or_default() {
            let _ = client.delete(&sb).await;
        }
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id())?);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_mins(1);
        loop {
            if self.child.try_wait()?.is_some() {
                break;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err("sandboxd did not exit within 60 s of SIGTERM".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left = self.sandboxes_on_disk() + count(&self.state.path().join("sandboxes"));
        if left > 0 {
            return Err(format!(
                "{left} sandbox(es) left in {} after sandboxd exited",
                self.state.path().display()
            )
            .into());
        }
        Ok(())
    }
}

pub(super) fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.flatten().count())
}

impl Drop for Server {
    fn drop(&mut self) {
        // After an error: SIGTERM, so sandboxd still removes its warm pool and spare disk
        // layers; SIGKILL if it hangs.
        if matches!(self.child.try_wait(), Ok(None)) {
            if let Ok(pid) = i32::try_from(self.child.id()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
            let deadline = Instant::now() + Duration::from_secs(30);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Whether every sandbox on disk answers `GET /health` (no member is still starting). A bound
/// socket accepts connections before its `processd` runs, so only an answer counts.
pub(super) fn pool_ready(server: &Server) -> bool {
    let Ok(entries) = std::fs::read_dir(server.state.path().join("sockets")) else {
        return false;
    };
    entries.flatten().all(|e| healthy(&e.path()))
}

pub(super) fn healthy(sock: &Path) -> bool {
    use std::io::{Read, Write};
    let Ok(mut conn) = std::os::unix::net::UnixStream::connect(sock) else {
        return false;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
    if conn
        .write_all(b"GET /health HTTP/1.0\r\nHost: sandbox\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    conn.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") && &head[9..12] == b"200"
}
