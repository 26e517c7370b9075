//! A thin wrapper over the `runc` command line (its own `--root`, so sandboxd's containers are
//! apart from any other runc user's).

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use command_fds::{CommandFdExt, FdMapping};
use serde::Deserialize;

use crate::provider::ProviderError;

/// The runtime binary and its state root.
#[derive(Debug, Clone)]
pub struct Runc {
    bin: PathBuf,
    root: PathBuf,
}

/// A container's status as `runc state` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Created, its init waiting for `runc start`.
    Created,
    /// Running.
    Running,
    /// Paused (frozen).
    Paused,
    /// Its init has exited; the container still needs `runc delete`.
    Stopped,
}

/// What `runc state` says of one container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    /// Status.
    pub status: Status,
    /// Host pid of the container's init (0 once stopped).
    pub pid: i32,
}

#[derive(Deserialize)]
struct RawState {
    status: String,
    #[serde(default)]
    pid: i32,
}

impl Runc {
    /// `bin` with state under `root`.
    pub fn new(bin: impl Into<PathBuf>, root: impl Into<PathBuf>) -> Runc {
        Runc {
            bin: bin.into(),
            root: root.into(),
        }
    }

    fn command(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.bin);
        cmd.arg("--root").arg(&self.root);
        cmd.stdin(Stdio::null());
        cmd.kill_on_drop(false);
        cmd
    }

    /// Runs `runc ARGS`, returning stdout, or an error naming the step and runc's message.
    async fn run(&self, step: &str, args: &[&str]) -> Result<Vec<u8>, ProviderError> {
        let out = self
            .command()
            .args(args)
            .output()
            .await
            .map_err(|e| self.spawn_error(e))?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(ProviderError::Runtime(format!(
                "{step}: runc {} failed ({}): {}",
                args.first().copied().unwrap_or_default(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }

    fn spawn_error(&self, e: std::io::Error) -> ProviderError {
        ProviderError::Runtime(format!(
            "cannot run the container runtime {} (install the Debian package `runc`): {e}",
            self.bin.display()
        ))
    }

    /// `runc run --detach`: sets up the container (namespaces, mounts, cgroups) with `listener`
    /// as its descriptor 3 and `log` as its stdout and stderr, and starts its process; returns
    /// once the process runs (its pid in `pid_file`). One runc process instead of `create` +
    /// `start`.
    pub async fn run_detached(
        &self,
        id: &str,
        bundle: &Path,
        pid_file: &Path,
        listener: OwnedFd,
        log: std::fs::File,
    ) -> Result<(), ProviderError> {
        let log_err = log
            .try_clone()
            .map_err(|e| ProviderError::Runtime(format!("cannot duplicate the log file: {e}")))?;
        let mut cmd = std::process::Command::new(&self.bin);
        cmd.arg("--root")
            .arg(&self.root)
            .args(["run", "--detach"])
            .arg("--bundle")
            .arg(bundle)
            .arg("--pid-file")
            .arg(pid_file)
            .args(["--preserve-fds", "1", id])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        cmd.fd_mappings(vec![FdMapping {
            parent_fd: listener,
            child_fd: super::spec::LISTEN_FD,
        }])
        .map_err(|e| ProviderError::Runtime(format!("cannot pass the socket to runc: {e}")))?;
        let mut cmd = tokio::process::Command::from(cmd);
        let status = cmd.status().await.map_err(|e| self.spawn_error(e))?;
        if status.success() {
            Ok(())
        } else {
            Err(ProviderError::Runtime(format!(
                "runc run failed ({status})"
            )))
        }
    }

    /// `runc start`: lets a created container's init exec its process (sandboxd itself runs
    /// its sandboxes with [`Runc::run_detached`]).
    pub async fn start(&self, id: &str) -> Result<(), ProviderError> {
        self.run("start the sandbox", &["start", id])
            .await
            .map(drop)
    }

    /// Whether runc keeps state for this container (its directory under our `--root`): when it
    /// does not, `runc state` would only say so, more slowly.
    pub fn knows(&self, id: &str) -> bool {
        self.root.join(id).exists()
    }

    /// `runc state`, or `None` if runc does not know the container.
    pub async fn state(&self, id: &str) -> Result<Option<State>, ProviderError> {
        let out = self
            .command()
            .args(["state", id])
            .output()
            .await
            .map_err(|e| self.spawn_error(e))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            if stderr.contains("does not exist") || stderr.contains("not exist") {
                return Ok(None);
            }
            return Err(ProviderError::Runtime(format!(
                "runc state {id} failed ({}): {}",
                out.status,
                stderr.trim()
            )));
        }
        let raw: RawState = serde_json::from_slice(&out.stdout).map_err(|e| {
            ProviderError::Runtime(format!("cannot read `runc state {id}` output: {e}"))
        })?;
        let status = match raw.status.as_str() {
            "created" | "creating" => Status::Created,
            "running" => Status::Running,
            "paused" => Status::Paused,
            _ => Status::Stopped,
        };
        Ok(Some(State {
            status,
            pid: raw.pid,
        }))
    }

    /// `runc kill ID SIGNAL` (a container that is already gone is not an error).
    pub async fn kill(&self, id: &str, signal: &str) -> Result<(), ProviderError> {
        match self.run("signal the sandbox", &["kill", id, signal]).await {
            Ok(_) => Ok(()),
            Err(ProviderError::Runtime(msg))
                if msg.contains("not running")
                    || msg.contains("does not exist")
                    || msg.contains("process already finished") =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// `runc delete --force`: kills what is left and removes the container's state and cgroups.
    pub async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        match self
            .run("remove the container", &["delete", "--force", id])
            .await
        {
            Ok(_) => Ok(()),
            Err(ProviderError::Runtime(msg)) if msg.contains("does not exist") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `runc update`: new cgroup limits for a running container.
    pub async fn update(
        &self,
        id: &str,
        memory_bytes: i64,
        limit_swap: bool,
        cpu_quota: i64,
        cpu_period: u64,
        pids: u32,
    ) -> Result<(), ProviderError> {
        let memory = memory_bytes.to_string();
        let quota = cpu_quota.to_string();
        let period = cpu_period.to_string();
        let pids = pids.to_string();
        let mut args = vec!["update", "--memory", &memory];
        if limit_swap {
            args.extend(["--memory-swap", &memory]);
        }
        args.extend([
            "--cpu-quota",
            &quota,
            "--cpu-period",
            &period,
            "--pids-limit",
            &pids,
            id,
        ]);
        self.run("resize the sandbox", &args).await.map(drop)
    }

    /// Ids of every container under our root.
    pub async fn list(&self) -> Result<Vec<String>, ProviderError> {
        let out = self
            .run("list containers", &["list", "--format", "json"])
            .await?;
        #[derive(Deserialize)]
        struct Item {
            id: String,
        }
        if out.iter().all(u8::is_ascii_whitespace) || out.starts_with(b"null") {
            return Ok(Vec::new());
        }
        let items: Vec<Item> = serde_json::from_slice(&out)
            .map_err(|e| ProviderError::Runtime(format!("cannot read `runc list`: {e}")))?;
        Ok(items.into_iter().map(|i| i.id).collect())
    }
}
