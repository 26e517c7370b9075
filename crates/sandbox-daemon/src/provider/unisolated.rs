//! A provider for tests of the control plane only: each "sandbox" is a `processd` running as a
//! plain child process of the host, on a Unix socket. **It is NOT isolated**: no namespaces, no
//! cgroups (resources are recorded, not enforced), no network policy, the host's root
//! filesystem. `sandboxd` selects it only with a hidden test flag and refuses to use it by
//! default; the real provider is `provider::local` (runc).
//!
//! Layout under its directory, one folder per sandbox: `home/` (the work dir and `$HOME`),
//! `state/` (processd's logs), `run/sock` (the socket, in a 0700 directory), `pid`, `log`.

use std::collections::BTreeMap;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

use super::{Endpoint, ImageRef, Observed, Provider, ProviderError, Resources, SandboxSpec};

/// The name of the only image this provider has (the host itself).
pub const HOST_IMAGE: &str = "host";
/// Also accepted for the host, so the SDK examples (`image="debian:12.9"`) run unchanged in tests.
pub const HOST_IMAGE_ALIAS: &str = "debian:12.9";

/// How long `stop` waits after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How long `start` waits for the socket to answer.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// See the module docs: processd as a plain child, for control-plane tests only.
#[derive(Debug)]
pub struct UnisolatedProvider {
    dir: PathBuf,
    exe: PathBuf,
    python: Option<PathBuf>,
    path_env: Option<std::ffi::OsString>,
}

impl UnisolatedProvider {
    /// A provider keeping its sandboxes under `dir`, starting each with
    /// `exe unisolated-processd …` (`exe` = the `sandboxd` binary).
    pub fn new(dir: impl Into<PathBuf>, exe: impl Into<PathBuf>) -> Result<Self, ProviderError> {
        let dir = dir.into();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| runtime(format!("cannot create {}", dir.display()), &e))?;
        Ok(UnisolatedProvider {
            dir,
            exe: exe.into(),
            python: std::env::var_os("PROCESSD_PYTHON").map(PathBuf::from),
            path_env: std::env::var_os("PATH"),
        })
    }

    fn sandbox_dir(&self, id: &str) -> Result<PathBuf, ProviderError> {
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(ProviderError::NotFound(id.to_owned()));
        }
        Ok(self.dir.join(id))
    }

    fn socket(dir: &Path) -> PathBuf {
        dir.join("run").join("sock")
    }

    fn read_pid(dir: &Path) -> Option<i32> {
        std::fs::read_to_string(dir.join("pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// Whether `pid` is alive and is our processd for `dir` (not a recycled pid).
    fn is_ours(pid: i32, dir: &Path) -> bool {
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            return false;
        };
        if matches!(
            process_daemon::proc::proc_state(pid),
            Some('Z' | 'X') | None
        ) {
            return false;
        }
        let needle = Self::socket(dir);
        let needle = needle.as_os_str().as_encoded_bytes();
        cmdline.windows(needle.len()).any(|w| w == needle)
    }

    /// Live processes serving this sandbox's socket (by command line).
    fn unrecorded(dir: &Path) -> Vec<i32> {
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| Self::is_ours(*pid, dir))
            .collect()
    }

    async fn wait_gone(pid: i32, dir: &Path, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            if !Self::is_ours(pid, dir) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        !Self::is_ours(pid, dir)
    }
}

fn runtime(what: String, e: &std::io::Error) -> ProviderError {
    ProviderError::Runtime(format!("{what}: {e}"))
}

#[async_trait::async_trait]
impl Provider for UnisolatedProvider {
    async fn resolve_image(&self, name: Option<&str>) -> Result<ImageRef, ProviderError> {
        match name {
            None | Some(HOST_IMAGE | HOST_IMAGE_ALIAS) => Ok(ImageRef {
                name: HOST_IMAGE.to_owned(),
                rootfs: PathBuf::from("/"),
            }),
            Some(other) => Err(ProviderError::UnknownImage(other.to_owned())),
        }
    }

    async fn create(&self, spec: &SandboxSpec) -> Result<(), ProviderError> {
        let dir = self.sandbox_dir(&spec.id)?;
        for sub in ["home", "state", "run"] {
            let path = dir.join(sub);
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&path)
                .map_err(|e| runtime(format!("cannot create {}", path.display()), &e))?;
        }
        Ok(())
    }

    async fn start(&self, spec: &SandboxSpec) -> Result<Endpoint, ProviderError> {
        let dir = self.sandbox_dir(&spec.id)?;
        if !dir.join("home").is_dir() {
            return Err(ProviderError::NotFound(spec.id.clone()));
        }
        if let Some(pid) = Self::read_pid(&dir) {
            if Self::is_ours(pid, &dir) {
                return Ok(Endpoint::Unix(Self::socket(&dir)));
            }
        }
        let socket = Self::socket(&dir);
        let _ = std::fs::remove_file(&socket);
        let log = std::fs::File::create(dir.join("log"))
            .map_err(|e| runtime("cannot create the processd log".into(), &e))?;
        let log2 = log
            .try_clone()
            .map_err(|e| runtime("cannot clone the log fd".into(), &e))?;
        let home = dir.join("home");
        let mut env: BTreeMap<String, String> = spec.env.clone();
        env.insert("HOME".into(), home.to_string_lossy().into_owned());
        let mut cmd = tokio::process::Command::new(&self.exe);
        cmd.arg("unisolated-processd")
            .arg("--socket")
            .arg(&socket)
            .arg("--workdir")
            .arg(&home)
            .arg("--state-dir")
            .arg(dir.join("state"))
            .arg("--log-level")
            .arg("warn")
            .env_clear()
            .envs(&env)
            .current_dir(&home)
            .stdin(std::process::Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0)
            .kill_on_drop(false);
        if let Some(path) = &self.path_env {
            if !env.contains_key("PATH") {
                cmd.env("PATH", path);
            }
        }
        if let Some(python) = &self.python {
            cmd.arg("--python").arg(python);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| runtime(format!("cannot start {}", self.exe.display()), &e))?;
        let pid = child
            .id()
            .ok_or_else(|| ProviderError::Runtime("processd exited at once".into()))?;
        std::fs::write(dir.join("pid"), pid.to_string())
            .map_err(|e| runtime("cannot write the pid file".into(), &e))?;
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
                return Err(ProviderError::Runtime(format!(
                    "processd exited during start ({status}): {}",
                    log.trim()
                )));
            }
            if tokio::net::UnixStream::connect(&socket).await.is_ok() {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                let _ = child.start_kill();
                return Err(ProviderError::Runtime(format!(
                    "processd did not answer on {} within {START_TIMEOUT:?}",
                    socket.display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Reap it whenever it ends (a restarted sandboxd re-adopts by pid instead).
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        Ok(Endpoint::Unix(socket))
    }

    async fn stop(&self, id: &str, force: bool) -> Result<(), ProviderError> {
        let dir = self.sandbox_dir(id)?;
        let Some(pid) = Self::read_pid(&dir) else {
            // A sandboxd killed between spawning processd and writing its pid file left one
            // nobody knows by pid: find it by its socket path.
            for pid in Self::unrecorded(&dir) {
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                Self::wait_gone(pid, &dir, Duration::from_secs(5)).await;
            }
            return Ok(());
        };
        if Self::is_ours(pid, &dir) {
            let group = Pid::from_raw(pid);
            if !force {
                let _ = killpg(group, Signal::SIGTERM);
            }
            if force || !Self::wait_gone(pid, &dir, STOP_GRACE).await {
                let _ = killpg(group, Signal::SIGKILL);
                let _ = kill(group, Signal::SIGKILL);
                if !Self::wait_gone(pid, &dir, Duration::from_secs(5)).await {
                    return Err(ProviderError::Runtime(format!(
                        "processd (pid {pid}) did not exit after SIGKILL"
                    )));
                }
            }
        }
        // Whatever it left in its process group goes too.
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        let _ = std::fs::remove_file(dir.join("pid"));
        Ok(())
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        self.stop(id, true).await?;
        let dir = self.sandbox_dir(id)?;
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(runtime(format!("cannot remove {}", dir.display()), &e)),
        }
    }

    async fn resize(&self, id: &str, _resources: Resources) -> Result<(), ProviderError> {
        // Not enforced here (no cgroups): this provider only exists to test the control plane.
        let dir = self.sandbox_dir(id)?;
        if dir.is_dir() {
            Ok(())
        } else {
            Err(ProviderError::NotFound(id.to_owned()))
        }
    }

    async fn observe(&self, id: &str) -> Result<Observed, ProviderError> {
        let dir = self.sandbox_dir(id)?;
        if !dir.join("home").is_dir() {
            return Ok(Observed::Missing);
        }
        let Some(pid) = Self::read_pid(&dir) else {
            return Ok(Observed::Stopped);
        };
        if Self::is_ours(pid, &dir) {
            Ok(Observed::Running(Endpoint::Unix(Self::socket(&dir))))
        } else {
            Ok(Observed::Failed(format!(
                "processd (pid {pid}) exited unexpectedly"
            )))
        }
    }

    async fn reconfigure(&self, spec: &SandboxSpec) -> Result<(), ProviderError> {
        // Nothing is enforced or recorded here (the manager's record is the spec): the sandbox
        // only has to be running.
        let dir = self.sandbox_dir(&spec.id)?;
        match Self::read_pid(&dir) {
            Some(pid) if Self::is_ours(pid, &dir) => Ok(()),
            _ => Err(ProviderError::NotFound(spec.id.clone())),
        }
    }

    async fn list(&self) -> Result<Vec<String>, ProviderError> {
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| runtime(format!("cannot list {}", self.dir.display()), &e))?;
        Ok(entries
            .flatten()
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect())
    }

    fn name(&self) -> &'static str {
        "unisolated-test"
    }
}
