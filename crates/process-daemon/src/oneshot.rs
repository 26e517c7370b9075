//! Running one command to completion for `execute` and `code-run`: its own process group,
//! stdin `/dev/null`, stdout and stderr read into bounded buffers (from one shared pipe, so the
//! combined output keeps write order, or from two when the caller wants them apart), a timeout
//! that kills the whole tree, and completion at process exit plus a short drain (a background
//! child that keeps the pipes open cannot hold the call).

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;
use tokio::time::Instant;

use std::os::fd::OwnedFd;

use crate::capture::Capped;
use crate::proc;

/// After the main process exits, how long to keep reading output still in flight before
/// abandoning pipes that a background process holds open.
pub(crate) const DRAIN_GRACE: Duration = Duration::from_millis(200);
/// Between SIGTERM and SIGKILL when a timeout kills a command tree.
pub(crate) const KILL_GRACE: Duration = Duration::from_secs(2);

/// An output pipe being read.
pub(crate) type Pipe = Box<dyn tokio::io::AsyncRead + Send + Unpin>;

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct OneShot {
    /// Program to execute.
    pub program: PathBuf,
    /// Its arguments (after argv\[0\]).
    pub args: Vec<OsString>,
    /// Working directory (must exist).
    pub cwd: PathBuf,
    /// The complete environment.
    pub env: HashMap<String, String>,
    /// Kill the tree after this long.
    pub timeout: Option<Duration>,
    /// Cap on each captured buffer.
    pub max_output: usize,
    /// Read stdout and stderr from separate pipes (filling [`Outcome::stdout`] and
    /// [`Outcome::stderr`]); otherwise one pipe for both, so [`Outcome::combined`] keeps the
    /// exact write order and the split buffers stay empty.
    pub split: bool,
}

/// How a command ended and what it printed.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// Exit code (128 + signal when killed by a signal).
    pub exit_code: i32,
    /// stdout and stderr interleaved (in write order unless `split`, else in arrival order).
    pub combined: Capped,
    /// stdout alone (only with `split`).
    pub stdout: Capped,
    /// stderr alone (only with `split`).
    pub stderr: Capped,
    /// The timeout fired and the tree was killed.
    pub timed_out: bool,
    /// A process other than the main one still held the output pipes when reading stopped.
    pub abandoned: bool,
}

/// A command whose process is running: what [`collect`] needs to read its output, wait for it
/// and kill its tree. Built by [`spawn`] (cold) or by the warm shell pool.
pub(crate) struct Started {
    /// The main process.
    pub child: tokio::process::Child,
    /// Its reaper registration, dropped after it was waited for.
    pub tracked: Option<crate::reaper::Tracked>,
    /// The tag every process of the run inherits (see [`proc::RUN_ID_ENV`]).
    pub run_id: String,
    /// stdout (or the one pipe of both streams).
    pub out: Option<Pipe>,
    /// stderr, when read apart.
    pub err: Option<Pipe>,
    /// Dropped once the command is done (the warm pool refills then).
    pub done: Option<Box<dyn Send>>,
    /// The run's cgroup (the main process and all it starts), when the daemon has a cgroup
    /// root: a timeout kills it with `cgroup.kill`. Retired when the run ends (background
    /// processes it left keep it until they exit).
    pub cgroup: Option<crate::cgroup::Cgroup>,
}

/// Starts `spec`'s process (a fresh one: `posix_spawn`, no hook between fork and exec), in a
/// cgroup of its own taken from `cgroups` when the daemon has them (see `Cgroup::adopt`).
pub(crate) fn spawn(
    spec: &OneShot,
    cgroups: Option<&crate::cgroup::Cgroups>,
) -> std::io::Result<Started> {
    // Tags every process of this run, so a timeout also finds escapees (see `RUN_ID_ENV`).
    let run_id = uuid::Uuid::new_v4().to_string();
    let mut cmd = tokio::process::Command::new(&spec.program);
    cmd.args(&spec.args)
        .current_dir(&spec.cwd)
        .env_clear()
        .envs(&spec.env)
        .env(proc::RUN_ID_ENV, &run_id)
        .stdin(Stdio::null())
        .process_group(0)
        .kill_on_drop(false);
    // One pipe for both streams (exact write order in `combined`), unless asked to split.
    let shared = if spec.split {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        None
    } else {
        let (reader, writer) = std::io::pipe()?;
        cmd.stdout(Stdio::from(writer.try_clone()?))
            .stderr(Stdio::from(writer));
        Some(reader)
    };
    let (mut child, tracked) = crate::reaper::spawn(&mut cmd)?;
    let cgroup = match (cgroups, child.id()) {
        (Some(cgroups), Some(pid)) => cgroups.take().filter(|cg| cg.adopt(pid)),
        _ => None,
    };
    // The command keeps our copies of the pipe's write end: drop it, or the pipe never ends.
    drop(cmd);
    let (out, err): (Option<Pipe>, Option<Pipe>) = match shared {
        Some(reader) => {
            let rx = tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(reader))?;
            (Some(Box::new(rx)), None)
        }
        None => (
            child.stdout.take().map(|p| Box::new(p) as Pipe),
            child.stderr.take().map(|p| Box::new(p) as Pipe),
        ),
    };
    Ok(Started {
        child,
        tracked,
        run_id,
        out,
        err,
        done: None,
        cgroup,
    })
}

/// Runs `spec` to completion (in a cgroup from `cgroups`, when given). Fails only when the
/// process cannot be started.
pub(crate) async fn run(
    spec: OneShot,
    cgroups: Option<&crate::cgroup::Cgroups>,
) -> std::io::Result<Outcome> {
    let started = spawn(&spec, cgroups)?;
    Ok(collect(started, spec.timeout, spec.max_output, spec.split).await)
}

/// Reads a started command's output into bounded buffers until it exits (plus the drain
/// grace), killing its whole tree if `timeout` passes first.
pub(crate) async fn collect(
    started: Started,
    timeout: Option<Duration>,
    max_output: usize,
    split: bool,
) -> Outcome {
    let Started {
        mut child,
        tracked,
        run_id,
        mut out,
        mut err,
        done,
        cgroup,
    } = started;
    let pid = child
        .id()
        .and_then(|p| i32::try_from(p).ok())
        .map(Pid::from_raw);
    let mut combined = Capped::new(max_output);
    let mut stdout = Capped::new(max_output);
    let mut stderr = Capped::new(max_output);
    let mut obuf = vec![0u8; 64 * 1024];
    // The second buffer only when stderr has a pipe of its own.
    let mut ebuf = if err.is_some() {
        vec![0u8; 64 * 1024]
    } else {
        Vec::new()
    };

    let far = Instant::now() + Duration::from_hours(24 * 365);
    let timeout_at = timeout.map_or(far, |t| Instant::now() + t);
    let mut kill_at = far;
    let mut drain_until = far;
    let mut exited: Option<i32> = None;
    let mut timed_out = false;
    let mut tree: Vec<Pid> = Vec::new();
    let mut term_sent = far;

    loop {
        if exited.is_some() && out.is_none() && err.is_none() {
            break;
        }
        tokio::select! {
            r = read_some(&mut out, &mut obuf) => match r {
                Some(n) => {
                    combined.push(&obuf[..n]);
                    if split {
                        stdout.push(&obuf[..n]);
                    }
                }
                None => out = None,
            },
            r = read_some(&mut err, &mut ebuf) => match r {
                Some(n) => {
                    combined.push(&ebuf[..n]);
                    stderr.push(&ebuf[..n]);
                }
                None => err = None,
            },
            status = child.wait(), if exited.is_none() => {
                exited = Some(match status {
                    Ok(s) => proc::exit_code(s),
                    Err(e) => {
                        tracing::warn!(error = %e, "waiting for a command failed");
                        -1
                    }
                });
                drain_until = Instant::now() + DRAIN_GRACE;
            }
            () = tokio::time::sleep_until(timeout_at), if !timed_out && exited.is_none() => {
                timed_out = true;
                if let Some(pid) = pid {
                    tree = proc::descendants(pid);
                    tree.push(pid);
                    for tagged in proc::processes_with_env(proc::RUN_ID_ENV, &run_id) {
                        if !tree.contains(&tagged) {
                            tree.push(tagged);
                        }
                    }
                    proc::signal_unit(cgroup.as_ref(), &[pid], &tree, Signal::SIGTERM);
                }
                term_sent = Instant::now();
                kill_at = term_sent + KILL_GRACE;
            }
            () = tokio::time::sleep_until(kill_at), if timed_out && exited.is_none() => {
                if let Some(pid) = pid {
                    proc::signal_unit(cgroup.as_ref(), &[pid], &tree, Signal::SIGKILL);
                }
                kill_at = far;
            }
            () = tokio::time::sleep_until(drain_until), if exited.is_some() => break,
        }
    }
    drop(tracked);
    drop(done);
    let abandoned = out.is_some() || err.is_some();
    if timed_out {
        // Whatever survived SIGTERM (the main process is gone, its group may not be) gets
        // SIGKILL after the grace, without holding up the response.
        if let Some(pid) = pid {
            let mut tree = tree.clone();
            tokio::spawn(async move {
                tokio::time::sleep_until(term_sent + KILL_GRACE).await;
                // Anything tagged that started since the first pass, too.
                for tagged in proc::processes_with_env(proc::RUN_ID_ENV, &run_id) {
                    if !tree.contains(&tagged) {
                        tree.push(tagged);
                    }
                }
                let alive: Vec<Pid> = tree
                    .into_iter()
                    .filter(|p| *p != pid && proc::proc_state(p.as_raw()).is_some_and(|s| s != 'Z'))
                    .collect();
                proc::signal_unit(cgroup.as_ref(), &[pid], &alive, Signal::SIGKILL);
            });
        }
    }
    let exit_code = exited.unwrap_or(-1);
    Outcome {
        exit_code,
        combined,
        stdout,
        stderr,
        timed_out,
        abandoned,
    }
}

/// Reads once from an open pipe; `None` at EOF or error. A closed pipe (`None`) never resolves.
async fn read_some<R: tokio::io::AsyncRead + Unpin>(
    pipe: &mut Option<R>,
    buf: &mut [u8],
) -> Option<usize> {
    match pipe {
        Some(p) => match p.read(buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => Some(n),
        },
        None => std::future::pending().await,
    }
}
