//! One context's Python worker process: spawning it with its three channels (control socket on
//! fd 0, raw stdout/stderr pipes on fds 1/2), the control-message codec, and signalling.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::process::{Child, ChildStderr, ChildStdout};

use crate::proc::{child_env, kill_tree, signal_unit};

/// The worker program (see its header for the protocol).
const WORKER_SOURCE: &str = include_str!("worker.py");
/// The matplotlib capture module code-run uses; workers load it so `plt.show()` yields the same
/// charts in a context as in code-run.
const CHART_CAPTURE_SOURCE: &str = include_str!("../../python/chart_capture.py");

/// How long a starting worker may take to report `ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest control message accepted from a worker (charts carry base64 PNGs).
const MAX_CONTROL_MESSAGE: usize = 256 * 1024 * 1024;

/// An uncaught exception as the worker describes it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub(crate) struct WorkerError {
    pub(crate) name: String,
    pub(crate) value: String,
    pub(crate) traceback: String,
}

/// How a job ended, per the worker.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum DoneStatus {
    /// The code ran to the end (or called `sys.exit`).
    Ok,
    /// The code raised.
    Error,
    /// `KeyboardInterrupt` (from our SIGINT or raised by the code itself).
    Interrupted,
}

/// A message from the worker on the control channel.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub(crate) enum WorkerMessage {
    /// Startup finished.
    Ready {},
    /// A problem inside the worker, for the daemon's log.
    Log { message: String },
    /// A matplotlib figure the job showed.
    Chart { chart: serde_json::Value },
    /// The job ended; its output markers are already in the pipes.
    Done {
        status: DoneStatus,
        error: Option<WorkerError>,
    },
    /// A message this daemon does not know (ignored).
    #[serde(other)]
    Unknown,
}

/// The daemon's end of a worker's control socket.
pub(crate) struct Control {
    read: BufReader<OwnedReadHalf>,
    line: Vec<u8>,
    write: OwnedWriteHalf,
}

/// A running worker process. Fields are public to the module so one `select!` can wait on the
/// pipes, the control channel and the process at once.
pub(crate) struct Worker {
    /// The process.
    pub(crate) child: Child,
    /// Keeps the daemon's reaper away from this child while we own it.
    _tracked: Option<crate::reaper::Tracked>,
    pid: Pid,
    /// The control channel.
    pub(crate) ctl: Control,
    /// The worker's fd 1.
    pub(crate) stdout: ChildStdout,
    /// The worker's fd 2.
    pub(crate) stderr: ChildStderr,
    /// The worker's cgroup (it and everything it starts), when the daemon has a cgroup root.
    cgroup: Option<crate::cgroup::Cgroup>,
    markers: Markers,
}

/// The byte sequences a worker writes to its pipes to delimit jobs and place charts. Each
/// holds a random per-worker token, so output cannot contain one by accident.
#[derive(Debug, Clone)]
pub(crate) struct Markers {
    /// Written to both pipes when a job starts.
    pub(crate) start: Vec<u8>,
    /// Written to both pipes when a job ends (after flushing Python's streams).
    pub(crate) sync: Vec<u8>,
    /// Written to stdout where a chart belongs.
    pub(crate) chart: Vec<u8>,
}

impl Worker {
    /// Starts a worker in `cwd` and waits until it is ready.
    pub(crate) async fn spawn(
        python: &Path,
        cwd: &Path,
        cgroups: Option<&crate::cgroup::Cgroups>,
    ) -> Result<Worker, String> {
        match std::fs::metadata(cwd) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(format!("chdir {}: not a directory", cwd.display())),
            Err(e) => return Err(format!("chdir {}: {e}", cwd.display())),
        }
        let (ours, theirs) = std::os::unix::net::UnixStream::pair()
            .map_err(|e| format!("cannot create the control socket: {e}"))?;
        ours.set_nonblocking(true)
            .map_err(|e| format!("cannot set up the control socket: {e}"))?;
        let ours = tokio::net::UnixStream::from_std(ours)
            .map_err(|e| format!("cannot register the control socket: {e}"))?;
        let token = uuid::Uuid::new_v4().simple().to_string();
        let mut extra: Vec<(&str, &str)> = Vec::new();
        if std::env::var_os("MPLBACKEND").is_none() {
            // Headless: figures render off-screen; `plt.show()` becomes a chart.
            extra.push(("MPLBACKEND", "Agg"));
        }
        let args = [
            std::ffi::OsString::from("-c"),
            WORKER_SOURCE.into(),
            token.clone().into(),
        ];
        let env = child_env(extra);
        // With cgroups the worker waits on its control socket in the trampoline until it is in
        // its cgroup (see `crate::gate`): Python's start-up (`site`, `.pth` files,
        // `sitecustomize`) runs nothing outside it.
        let trampoline = match (cgroups, crate::gate::trampoline()) {
            (Some(_), Some(t)) => t
                .command(python, &args, &env, crate::gate::Stdin::Keep)
                .map_err(|e| format!("{}: {e}", python.display()))?,
            _ => None,
        };
        let gated = trampoline.is_some();
        let mut cmd = trampoline.unwrap_or_else(|| {
            let mut cmd = tokio::process::Command::new(python);
            cmd.args(&args).env_clear().envs(&env);
            cmd
        });
        cmd.current_dir(cwd)
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let (mut child, tracked) =
            crate::reaper::spawn(&mut cmd).map_err(|e| format!("{}: {e}", python.display()))?;
        let (Some(stdout), Some(stderr), Some(pid)) =
            (child.stdout.take(), child.stderr.take(), child.id())
        else {
            return Err("the worker's pipes are missing".into());
        };
        // Into its own cgroup before it has imported anything (see `Cgroup::adopt`): held at
        // the gate it has started nothing, else its children so far are moved too.
        let cgroup = cgroups.and_then(crate::cgroup::Cgroups::take).filter(|cg| {
            if gated {
                cg.adopt_alone(pid)
            } else {
                cg.adopt(pid)
            }
        });
        let mut ours = ours;
        if gated {
            // Opens the gate (also when the move failed: it then runs outside a cgroup). A
            // failure means the worker is gone, which the wait for `ready` reports.
            let _ = ours.write_all(b"\n").await;
        }
        let (read, write) = ours.into_split();
        let mut worker = Worker {
            child,
            _tracked: tracked,
            pid: Pid::from_raw(pid as i32),
            ctl: Control {
                read: BufReader::with_capacity(64 * 1024, read),
                line: Vec::new(),
                write,
            },
            stdout,
            stderr,
            cgroup,
            markers: Markers {
                start: format!("\0processd-start:{token}\0").into_bytes(),
                sync: format!("\0processd-sync:{token}\0").into_bytes(),
                chart: format!("\0processd-chart:{token}\0").into_bytes(),
            },
        };
        match tokio::time::timeout(READY_TIMEOUT, worker.ctl.next_message()).await {
            Ok(Ok(Some(WorkerMessage::Ready {}))) => {
                let init = serde_json::json!({"op": "init", "chart_capture": CHART_CAPTURE_SOURCE});
                if let Err(err) = worker.ctl.send(&init).await {
                    worker.kill().await;
                    return Err(format!("cannot initialise the Python worker: {err}"));
                }
                Ok(worker)
            }
            Ok(Ok(Some(other))) => {
                worker.kill().await;
                Err(format!(
                    "unexpected first message from the worker: {other:?}"
                ))
            }
            Ok(Ok(None) | Err(_)) => {
                let detail = worker.startup_stderr().await;
                worker.kill().await;
                Err(format!("the Python worker exited at startup: {detail}"))
            }
            Err(_) => {
                worker.kill().await;
                Err(format!(
                    "the Python worker did not start within {} s",
                    READY_TIMEOUT.as_secs()
                ))
            }
        }
    }

    /// What a worker that died at startup wrote on stderr (bounded).
    async fn startup_stderr(&mut self) -> String {
        use tokio::io::AsyncReadExt;
        let mut buf = Vec::new();
        let mut limited = (&mut self.stderr).take(8192);
        let _ = tokio::time::timeout(Duration::from_secs(1), limited.read_to_end(&mut buf)).await;
        let text = String::from_utf8_lossy(&buf).trim().to_owned();
        if text.is_empty() {
            "no error output".to_owned()
        } else {
            text
        }
    }

    /// The worker's pipe markers.
    pub(crate) fn markers(&self) -> &Markers {
        &self.markers
    }

    /// The worker's process id.
    pub(crate) fn pid(&self) -> Pid {
        self.pid
    }

    /// Sends SIGINT to the worker (Python raises `KeyboardInterrupt` in the running code).
    pub(crate) fn interrupt(&self) {
        let _ = signal::kill(self.pid, Signal::SIGINT);
    }

    /// SIGKILLs the worker and everything it started (its cgroup too), and reaps it.
    pub(crate) async fn kill(&mut self) {
        kill_tree(self.pid, self.cgroup.as_ref(), Signal::SIGKILL);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }

    /// SIGTERM to the worker, its tree and its cgroup, then SIGKILL after `grace` if it is
    /// still alive.
    pub(crate) async fn terminate(&mut self, grace: Duration) {
        let tree = kill_tree(self.pid, self.cgroup.as_ref(), Signal::SIGTERM);
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            tracing::debug!(pid = self.pid.as_raw(), "worker ignored SIGTERM; killing");
        }
        // Whatever is left (the worker, its group, children that left the group, its cgroup)
        // gets SIGKILL.
        kill_tree(self.pid, self.cgroup.as_ref(), Signal::SIGKILL);
        signal_unit(None, &[], &tree, Signal::SIGKILL);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

impl Control {
    /// Starts a job.
    pub(crate) async fn send_run(
        &mut self,
        code: &str,
        envs: &HashMap<String, String>,
    ) -> std::io::Result<()> {
        self.send(&serde_json::json!({"op": "run", "code": code, "envs": envs}))
            .await
    }

    /// Sends one control message.
    async fn send(&mut self, msg: &serde_json::Value) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(msg).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.write.write_all(&line).await
    }

    /// The next control message; `None` when the worker closed the channel (it ended).
    /// Cancel-safe: a partly read message stays buffered for the next call.
    pub(crate) async fn next_message(&mut self) -> std::io::Result<Option<WorkerMessage>> {
        loop {
            let available = self.read.fill_buf().await?;
            if available.is_empty() {
                return Ok(None);
            }
            if let Some(end) = available.iter().position(|&b| b == b'\n') {
                self.line.extend_from_slice(&available[..end]);
                self.read.consume(end + 1);
                let line = std::mem::take(&mut self.line);
                match serde_json::from_slice::<WorkerMessage>(&line) {
                    Ok(msg) => return Ok(Some(msg)),
                    Err(err) => {
                        tracing::warn!(error = %err, "unreadable message from an interpreter worker");
                    }
                }
            } else {
                let n = available.len();
                self.line.extend_from_slice(available);
                self.read.consume(n);
                if self.line.len() > MAX_CONTROL_MESSAGE {
                    return Err(std::io::Error::other(
                        "interpreter worker sent an oversized control message",
                    ));
                }
            }
        }
    }
}
