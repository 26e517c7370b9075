//! The warm shell pool: a few shells started ahead of time, each waiting for one command, so
//! `execute` hands its command to a shell that is already running instead of spawning one.
//!
//! Each warm shell is `bash -c BOOT`, started exactly as a cold exec's shell is (same program,
//! `argv[0]`, environment, working directory, own process group, umask, rlimits, signal
//! dispositions), with stdin a pipe from the daemon and stdout/stderr pipes to it. BOOT reads one
//! length-prefixed, pure-ASCII line from stdin with `read -N` (a single `read(2)`), evaluates it
//! (it sets `BASH_EXECUTION_STRING` to the command, exports or unsets what the request's
//! environment changes, puts `/dev/null` on stdin and, unless the output is split, stderr on
//! stdout's pipe, resets `SECONDS`), restores `$_` to its start-up value and `eval`s the command.
//! Each shell serves one command and exits with it, so nothing of an earlier exec can remain.
//! The shell never holds more than fds 0–2 when the command runs.
//!
//! A request takes the cold path when the warm shell cannot reproduce a fresh start exactly:
//! another shell than bash, a working directory other than the one the shell started in, an
//! environment change that bash (or the C library) reads at start-up (`BASH_ENV`, `ENV`,
//! `SHELLOPTS`, `LD_*`, locale variables, ...), a command or value with a NUL, a command too long
//! for `-c`, or an empty pool. Known differences from a cold `bash -c` (documented in
//! `ARCHITECTURE.md`): a syntax error is reported as `bash: eval: line N: ...` instead of
//! `bash: -c: line N: ...`; the last command of a compound command (a list, a pipeline, a
//! loop, ...) is forked rather than exec'd in place of the shell, so when it dies of a signal
//! bash adds its job notice ("line N: PID Killed  COMMAND") to stderr; `/proc/PID/cmdline`
//! shows BOOT; variables the request adds come after the inherited ones in the environment
//! block. A lone simple command that runs a program (most commands: `python3 main.py`,
//! `./build.sh --release`) is exec'd in place of the shell as a fresh `bash -c` does (see
//! [`lone_program`]), so it keeps the shell's pid and prints no notice.
//!
//! The pool refills in its own task, never on the request path, and never holds more than its
//! size (one shell is spawned at a time, only while the pool is short).

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;

use crate::oneshot::{Pipe, Started};
use crate::proc;

mod setup;

pub(crate) use setup::ansi_quote;
use setup::setup_line;

/// How long after a shell was taken its replacement starts at the latest.
const REFILL_DELAY: Duration = Duration::from_millis(10);

/// A pool of warm shells; dropping it kills the shells still waiting.
pub(crate) struct WarmPool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    size: usize,
    shell: PathBuf,
    workdir: PathBuf,
    /// Where each shell gets a cgroup of its own, when the daemon has them.
    cgroups: Option<crate::cgroup::Cgroups>,
    ready: Mutex<VecDeque<WarmShell>>,
    /// Set by [`WarmPool::close`]: no more shells are started.
    closed: AtomicBool,
    /// Wakes the refill task (a shell was taken, or the pool is closing).
    wake: Arc<Notify>,
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        // The refill task holds only a `Weak`: wake it so it sees the pool gone.
        self.wake.notify_one();
    }
}

/// One shell waiting for its command. Dropping it unused kills it.
pub(crate) struct WarmShell {
    child: Option<tokio::process::Child>,
    tracked: Option<crate::reaper::Tracked>,
    stdin: Option<tokio::process::ChildStdin>,
    run_id: String,
    /// Its cgroup, entered while it waits (before it has run anything, so nothing it starts
    /// can be outside: the race of a cold exec's move does not exist here).
    cgroup: Option<crate::cgroup::Cgroup>,
    /// The environment it started with (without the run tag).
    env: HashMap<String, String>,
    /// The working directory it started in, and that directory's identity.
    cwd: PathBuf,
    cwd_id: (u64, u64),
}

impl Drop for WarmShell {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
    }
}

/// Whether warm shells can stand in for `shell` (only bash's start-up is reproduced).
pub(crate) fn supports(shell: &Path) -> bool {
    shell.file_name().is_some_and(|n| n == "bash")
}

impl WarmPool {
    /// A pool of `size` shells of `shell` started in `workdir` (each in a cgroup of its own
    /// from `cgroups`, when given), filled by a task on the current tokio runtime. `None` when
    /// `size` is 0 or the shell is not one the pool reproduces.
    pub(crate) fn start(
        size: usize,
        shell: PathBuf,
        workdir: PathBuf,
        cgroups: Option<crate::cgroup::Cgroups>,
    ) -> Option<WarmPool> {
        if size == 0 || !supports(&shell) {
            return None;
        }
        let wake = Arc::new(Notify::new());
        let inner = Arc::new(PoolInner {
            size,
            shell,
            workdir,
            cgroups,
            ready: Mutex::new(VecDeque::with_capacity(size)),
            closed: AtomicBool::new(false),
            wake: wake.clone(),
        });
        tokio::spawn(refill(Arc::downgrade(&inner), wake));
        Some(WarmPool { inner })
    }

    /// Kills the waiting shells and starts no more (daemon shutdown).
    pub(crate) fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        let waiting: Vec<WarmShell> = self.inner.lock().drain(..).collect();
        drop(waiting);
        self.inner.wake.notify_one();
    }

    /// How many shells are waiting.
    pub(crate) fn ready(&self) -> usize {
        self.inner.lock().len()
    }

    /// Starts `command` in a warm shell when one can run it exactly as a fresh `bash -c` would
    /// in `cwd` with `env` (the complete environment a cold spawn would get); `None` sends the
    /// request down the cold path.
    pub(crate) async fn launch(
        &self,
        command: &str,
        cwd: &Path,
        env: &HashMap<String, String>,
        split: bool,
    ) -> Option<Started> {
        if command.contains('\0') {
            return None;
        }
        let cwd_id = dir_id(cwd)?;
        loop {
            let mut shell = {
                let mut ready = self.inner.lock();
                let first = ready.front()?;
                if first.cwd != cwd || first.cwd_id != cwd_id {
                    return None;
                }
                ready.pop_front()?
            };
            let Some(line) = setup_line(command, &shell.env, env, split) else {
                // Not this request's: the shell stays for the next one.
                self.inner.lock().push_front(shell);
                return None;
            };
            // A shell that died while waiting (killed from outside) is replaced at once.
            if !shell.alive() {
                self.inner.wake.notify_one();
                continue;
            }
            let payload = format!("{:08}{line}", line.len());
            let mut stdin = shell.stdin.take()?;
            if let Err(err) = stdin.write_all(payload.as_bytes()).await {
                // It died before reading all of it: it cannot have run anything.
                tracing::debug!(error = %err, "a warm shell went away; trying the next one");
                continue;
            }
            drop(stdin);
            // Its replacement starts when this command is done, so that starting a shell does
            // not compete with a short command and its answer for the CPU, or after
            // `REFILL_DELAY` for a longer one.
            let refill = Refill(self.inner.wake.clone());
            let wake = self.inner.wake.clone();
            tokio::spawn(async move {
                tokio::time::sleep(REFILL_DELAY).await;
                wake.notify_one();
            });
            return shell.into_started(split, refill);
        }
    }
}

impl PoolInner {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<WarmShell>> {
        self.ready.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl WarmShell {
    fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    fn into_started(mut self, split: bool, refill: Refill) -> Option<Started> {
        let mut child = self.child.take()?;
        let out = child.stdout.take().map(|p| Box::new(p) as Pipe);
        // Unless split, the shell moved stderr onto stdout's pipe: its own stderr pipe ends.
        let err = if split {
            child.stderr.take().map(|p| Box::new(p) as Pipe)
        } else {
            drop(child.stderr.take());
            None
        };
        Some(Started {
            child,
            tracked: self.tracked.take(),
            run_id: std::mem::take(&mut self.run_id),
            out,
            err,
            done: Some(Box::new(refill)),
            cgroup: self.cgroup.take(),
        })
    }
}

/// Wakes the refill task when dropped (when the command that took a shell is done).
struct Refill(Arc<Notify>);

impl Drop for Refill {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}

/// The refill task: keeps the pool at its size, one spawn at a time, until the pool is gone.
async fn refill(pool: Weak<PoolInner>, wake: Arc<Notify>) {
    let mut failures = 0u32;
    loop {
        let notified = wake.notified();
        {
            let Some(inner) = pool.upgrade() else { return };
            while !inner.closed.load(Ordering::SeqCst) && inner.lock().len() < inner.size {
                // posix_spawn holds its thread until the child has exec'd (vfork): never a
                // runtime worker that could be answering a request meanwhile.
                let (shell, workdir) = (inner.shell.clone(), inner.workdir.clone());
                let cgroups = inner.cgroups.clone();
                let spawned = tokio::task::spawn_blocking(move || {
                    spawn_shell(&shell, &workdir, cgroups.as_ref())
                })
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e)));
                match spawned {
                    Ok(Some(shell)) => {
                        failures = 0;
                        let mut ready = inner.lock();
                        // `close` may have run while it started: then it is dropped (killed).
                        if !inner.closed.load(Ordering::SeqCst) {
                            ready.push_back(shell);
                        }
                    }
                    // This daemon's environment cannot be reproduced: stay empty.
                    Ok(None) => return,
                    Err(err) => {
                        failures += 1;
                        tracing::warn!(error = %err, "cannot start a warm shell");
                        break;
                    }
                }
            }
        }
        if pool
            .upgrade()
            .is_none_or(|p| p.closed.load(Ordering::SeqCst))
        {
            return;
        }
        if failures > 0 {
            // Retry later (e.g. out of processes), without spinning.
            let backoff = Duration::from_millis(100 << failures.min(6));
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = notified => {}
            }
        } else {
            notified.await;
        }
    }
}

/// What BOOT runs: reads the length (8 digits) and the setup line, evaluates it, restores `$_`
/// (`underscore`, the value bash gave it at start-up) and runs the command. On EOF (the daemon
/// went away) it exits without running anything.
fn boot_script(underscore: &str) -> String {
    format!(
        "read -r -N 8 BASH_EXECUTION_STRING && read -r -N \"$BASH_EXECUTION_STRING\" \
         BASH_EXECUTION_STRING && eval -- \"$BASH_EXECUTION_STRING\" || exit 0; : {}; \
         eval -- \"$BASH_EXECUTION_STRING\"",
        ansi_quote(underscore)
    )
}

/// Starts one warm shell (in a cgroup from `cgroups`, when given); `None` when the daemon's
/// environment makes exact reproduction impossible (exported bash functions could shadow the
/// builtins BOOT uses).
fn spawn_shell(
    shell: &Path,
    workdir: &Path,
    cgroups: Option<&crate::cgroup::Cgroups>,
) -> std::io::Result<Option<WarmShell>> {
    let env = proc::child_env(std::iter::empty());
    if env.keys().any(|k| k.starts_with("BASH_FUNC_")) {
        tracing::info!("exported shell functions in the environment: warm shells are off");
        return Ok(None);
    }
    // bash starts `$_` from the environment's `_`, else from argv[0] (the program as spawned).
    let underscore = env
        .get("_")
        .cloned()
        .unwrap_or_else(|| shell.to_string_lossy().into_owned());
    let run_id = uuid::Uuid::new_v4().to_string();
    let mut cmd = tokio::process::Command::new(shell);
    cmd.arg("-c")
        .arg(boot_script(&underscore))
        .current_dir(workdir)
        .env_clear()
        .envs(&env)
        .env(proc::RUN_ID_ENV, &run_id);
    proc::piped_group(&mut cmd);
    let (mut child, tracked) = crate::reaper::spawn(&mut cmd)?;
    let cgroup = match (cgroups, child.id()) {
        (Some(cgroups), Some(pid)) => cgroups.take().filter(|cg| cg.adopt(pid)),
        _ => None,
    };
    let stdin = child.stdin.take();
    let cwd_id = child
        .id()
        .and_then(|pid| dir_id(Path::new(&format!("/proc/{pid}/cwd"))))
        .or_else(|| dir_id(workdir))
        .unwrap_or_default();
    Ok(Some(WarmShell {
        child: Some(child),
        tracked,
        stdin,
        run_id,
        cgroup,
        env,
        cwd: workdir.to_owned(),
        cwd_id,
    }))
}

/// A directory's identity (device, inode).
fn dir_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    meta.is_dir().then(|| (meta.dev(), meta.ino()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bash_is_reproduced() {
        assert!(supports(Path::new("/usr/bin/bash")));
        assert!(!supports(Path::new("/bin/sh")));
        assert!(!supports(Path::new("/usr/bin/zsh")));
    }
}
