//! The session shell and its dispatcher.
//!
//! Each session has one long-lived shell (non-interactive, its own process group) whose stdin is
//! a control pipe from the daemon, whose stdout is a status pipe back to it and whose stderr is
//! its snapshot pipe (below). When a shell generation starts, the daemon writes a preamble that
//! defines the session directory (`__pd_d`) and the text that runs a sync (`__pd_S`) or an async
//! (`__pd_A`) command; then each command costs one short control line, `__pd_c=<cid>; eval
//! "$__pd_S"` (bash reads a pipe one byte per `read(2)`, so the line's length is latency). The
//! line names only the daemon-made command id; user text is never spliced into shell text: it
//! is sourced from the command's `cmd.sh`, which (with the command's FIFOs and log) the daemon
//! prepared ahead of time (see `super::Slot`).
//!
//! * A **sync** command is sourced by the session shell itself, with stdin `/dev/null` and
//!   stdout/stderr on the command's FIFOs, so `cd`, `export`, variables and functions persist.
//!   Afterwards the shell writes its recovery snapshot (the command id, `export -p` and `pwd`,
//!   NUL-separated) to the snapshot pipe, builtins only, and reports `S <status>` ("the sync
//!   command that is running") on the status pipe.
//! * An **async** command runs in a background subshell of the session shell (it sees the state
//!   at its start; its own state changes do not persist) with stdin on its input FIFO, so it runs
//!   concurrently with later commands and never blocks a sync exec. It reports `P <cid> <pid>`
//!   when started and `E <cid> <status>` when done.
//! * Sync commands run one at a time in submission order; async commands start in submission
//!   order.
//! * If the shell dies during a sync command (`exit 3`, `set -e` and a failure, `exec`), that
//!   command's exit code is the shell's, and a fresh shell starts at once (off the request path)
//!   restoring the last snapshot's cwd and exported variables: a session survives `exit`. The
//!   snapshot reaches the disk (`env.sh`, `cwd` in the session directory, for a daemon restart)
//!   off the reply path, and only when it changed.

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use process_proto::log::OutputStream;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::snapshot::read_snapshots;
pub(crate) use super::snapshot::Snapshot;
use super::{CommandRec, SessionCore};
use crate::proc;
use crate::store::{Op, ProcessKind, ProcessRow};

/// How long deleting a session waits after SIGTERM before SIGKILL.
pub(crate) const TERMINATION_GRACE: Duration = Duration::from_secs(5);

/// The variable that tags every process a session command starts (its value: the command id),
/// so the command can be signalled without touching the session shell or other commands.
pub(crate) const CMD_ID_ENV: &str = "PROCESS_COMMAND_ID";

/// A command handed to the dispatcher.
pub(crate) struct Job {
    pub(crate) rec: Arc<CommandRec>,
}

/// A status line from a shell.
pub(crate) enum Status {
    /// `S <status>`: the running sync command ended with this exit status.
    Sync(i32),
    /// `E <cid> <status>`: the async command ended with this exit status.
    Exit(String, i32),
    /// `P <cid> <pid>`: the async command runs in the subshell `pid`.
    Started(String, i32),
}

/// One generation of the session shell.
struct Shell {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    pid: Pid,
    start_time: Option<u64>,
    _tracked: Option<crate::reaper::Tracked>,
}

/// Quotes a daemon-made path for the shell (single quotes; `'` as `'\''`).
pub(crate) fn quote(path: &Path) -> String {
    let s = path.to_string_lossy();
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// The shell text that runs the sync command `$__pd_c` (see the module docs). Single-quoted
/// into `__pd_S` by the preamble, so it must hold no `'`. With a session cgroup (`$__pd_g`,
/// any shell) the shell moves itself into the command's own cgroup for the command's
/// duration (its foreground jobs, and all they start, are born there) and back into the
/// session's before it reports the status; killing the command moves the shell out first
/// (see `control`). Under `set -e` a failed move must not end the shell: `|| command true`.
const SYNC_TEXT: &str = "case $__pd_g in ?*) { command printf \"%s\\n\" \"$$\" >\"$__pd_g/$__pd_c/cgroup.procs\"; } 2>/dev/null || command true;; esac; \
PROCESS_COMMAND_ID=$__pd_c; export PROCESS_COMMAND_ID; \
{ . \"$__pd_d/$__pd_c/cmd.sh\"; } </dev/null >\"$__pd_d/$__pd_c/stdout\" 2>\"$__pd_d/$__pd_c/stderr\"; \
__pd_s=$?; unset PROCESS_COMMAND_ID; \
case $__pd_g in ?*) { command printf \"%s\\n\" \"$$\" >\"$__pd_g/cgroup.procs\"; } 2>/dev/null || command true;; esac; \
{ command printf \"\\0%s\\0\" \"$__pd_c\"; export -p; command printf \"\\0\"; command pwd; command printf \"\\0\"; } >&2 2>/dev/null; \
command printf \"S %s\\n\" \"$__pd_s\"";

/// The shell text that starts the async command `$__pd_c` (no `'`, as [`SYNC_TEXT`]). The
/// background group does not keep the snapshot pipe. With a session cgroup (`$__pd_g`, any
/// shell) the command's subshell first moves itself into the command's own cgroup (the
/// builtin `echo` writes `0`, which names the writing process: no `$BASHPID` needed), so all
/// it starts is born there (no race: nothing has been forked yet).
const ASYNC_TEXT: &str =
    "{ __pd_o=$-; set +e; ( [ -z \"$__pd_g\" ] || echo 0 2>/dev/null >\"$__pd_g/$__pd_c/cgroup.procs\"; \
PROCESS_COMMAND_ID=$__pd_c; export PROCESS_COMMAND_ID; \
case $__pd_o in *e*) set -e;; esac; . \"$__pd_d/$__pd_c/cmd.sh\" ) \
<\"$__pd_d/$__pd_c/stdin\" >\"$__pd_d/$__pd_c/stdout\" 2>\"$__pd_d/$__pd_c/stderr\"; \
command printf \"E %s %s\\n\" \"$__pd_c\" \"$?\"; } 2>/dev/null & \
command printf \"P %s %s\\n\" \"$__pd_c\" \"$!\"; disown 2>/dev/null || :";

/// What a shell generation is told first: the session directory and the command texts.
fn preamble(state: &Path, cgroup: Option<&Path>) -> String {
    format!(
        "__pd_d={}; __pd_g={}; __pd_S='{SYNC_TEXT}'; __pd_A='{ASYNC_TEXT}'\n",
        quote(state),
        cgroup.map_or_else(|| "''".to_owned(), quote)
    )
}

/// The control line that runs `rec` (see the module docs): its id and which text to run.
pub(crate) fn control_line(rec: &CommandRec) -> String {
    let cid = &rec.id; // daemon-made: a UUID or `entrypoint_command`, safe as a bare word
    let text = if rec.is_async { "__pd_A" } else { "__pd_S" };
    format!("__pd_c={cid}; eval \"${text}\"\n")
}

impl Shell {
    /// Starts a shell generation. It restores the session's saved cwd and exported variables
    /// when a snapshot exists. Status lines go to `status`.
    async fn spawn(
        core: &Arc<SessionCore>,
        status: mpsc::UnboundedSender<Status>,
    ) -> std::io::Result<Shell> {
        let remembered = core.snapshot.borrow().cwd.clone();
        let saved = if remembered.is_empty() {
            std::fs::read(core.dir.join("cwd")).ok()
        } else {
            Some(remembered)
        };
        let saved_cwd = saved.and_then(|mut b| {
            if b.last() == Some(&b'\n') {
                b.pop();
            }
            let p =
                PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(b));
            p.is_dir().then_some(p)
        });
        let cwd = saved_cwd.unwrap_or_else(|| core.cwd.clone());
        let env = proc::child_env([(proc::RUN_ID_ENV, core.tag.as_str())]);
        // With a cgroup the shell waits at the gate on its control pipe until it is in the
        // session's cgroup (see `crate::gate`): its start-up files (zsh's `.zshenv`, a
        // `BASH_ENV`) and loader variables run nothing outside it.
        let trampoline = match (&core.cgroup, crate::gate::trampoline()) {
            (Some(_), Some(t)) => t.command(&core.shell, &[], &env, crate::gate::Stdin::Keep)?,
            _ => None,
        };
        let gated = trampoline.is_some();
        let mut cmd = trampoline.unwrap_or_else(|| {
            let mut cmd = tokio::process::Command::new(&core.shell);
            cmd.env_clear().envs(&env);
            cmd
        });
        proc::piped_group(cmd.current_dir(&cwd));
        let (mut child, tracked) = crate::reaper::spawn(&mut cmd)?;
        let pid = child
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .map(Pid::from_raw)
            .ok_or_else(|| std::io::Error::other("the session shell exited at once"))?;
        // Into the session's cgroup before it reads its first command (see `Cgroup::adopt`);
        // held at the gate, it has started nothing yet.
        let raw = pid.as_raw().unsigned_abs();
        let cgroup = core
            .cgroup
            .as_ref()
            .filter(|cg| {
                if gated {
                    cg.adopt_alone(raw)
                } else {
                    cg.adopt(raw)
                }
            })
            .map(|cg| cg.path().to_owned());
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| std::io::Error::other("the session shell has no stdin"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("the session shell has no stdout"))?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| std::io::Error::other("the session shell has no stderr"))?;
        core.pgids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(pid);
        *core
            .shell_pid
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(pid);
        tokio::spawn(read_status(stdout, status));
        tokio::spawn(read_snapshots(core.clone(), stderr));
        let start_time = proc::start_time(pid.as_raw());
        if let Some(start_time) = start_time {
            core.store.send(Op::ProcessStarted(ProcessRow {
                kind: ProcessKind::Session,
                owner: core.id.clone(),
                pid: pid.as_raw(),
                start_time,
                tag: core.tag.clone(),
                cgroup,
            }));
        }
        let mut shell = Shell {
            child,
            stdin,
            pid,
            start_time,
            _tracked: tracked,
        };
        // The newline opens the gate (the trampoline consumes it).
        let mut first = if gated {
            "\n".to_owned()
        } else {
            String::new()
        };
        first += &preamble(
            &core.dir,
            core.command_cgroups().map(crate::cgroup::Cgroup::path),
        );
        if core.abort_trap {
            // A terminating signal to a sync command abandons the rest of its script.
            first.push_str("trap 'return 143' USR2\n");
        }
        let env = core.dir.join("env.sh");
        if env.exists() {
            first.push_str(". ");
            first.push_str(&quote(&env));
            first.push_str(" >/dev/null 2>&1\n");
        }
        // A failure here shows up as a failed write of the next command.
        let _ = shell.stdin.write_all(first.as_bytes()).await;
        Ok(shell)
    }
}

impl Shell {
    /// Tells the store this generation is gone.
    fn forget(&self, core: &SessionCore) {
        if let Some(start_time) = self.start_time {
            core.store.send(Op::ProcessGone {
                pid: self.pid.as_raw(),
                start_time,
            });
        }
    }
}

/// Reads `E <cid> <status>` lines from a shell's status pipe until EOF (which comes when the
/// shell and every background job it started are gone).
async fn read_status(stdout: tokio::process::ChildStdout, tx: mpsc::UnboundedSender<Status>) {
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let mut parts = line.split(' ');
        let status = match (parts.next(), parts.next(), parts.next()) {
            (Some("S"), Some(code), None) => {
                Some(Status::Sync(code.trim().parse::<i32>().unwrap_or(-1)))
            }
            (Some("E"), Some(cid), Some(code)) => Some(Status::Exit(
                cid.to_owned(),
                code.trim().parse::<i32>().unwrap_or(-1),
            )),
            (Some("P"), Some(cid), Some(pid)) => pid
                .trim()
                .parse::<i32>()
                .ok()
                .map(|pid| Status::Started(cid.to_owned(), pid)),
            _ => None,
        };
        if let Some(status) = status {
            if tx.send(status).is_err() {
                break;
            }
        } else {
            tracing::debug!(line = %line, "unexpected line on a session status pipe");
        }
    }
}

/// Waits for the shell (if any) to exit; never resolves without one.
async fn shell_exit(shell: &mut Option<Shell>) -> i32 {
    match shell {
        Some(s) => match s.child.wait().await {
            Ok(status) => proc::exit_code(status),
            Err(_) => -1,
        },
        None => std::future::pending().await,
    }
}

/// The session's dispatcher: owns the shell, feeds it commands, routes statuses, recovers from
/// shell death, and on cancellation terminates the session's process tree.
pub(crate) async fn dispatch(core: Arc<SessionCore>, mut jobs: mpsc::UnboundedReceiver<Job>) {
    let (status_tx, mut status_rx) = mpsc::unbounded_channel::<Status>();
    let mut shell: Option<Shell> = None;
    let mut running_sync: Option<String> = None;
    // The last sync command that reported: the snapshot a fresh generation must restore.
    let mut last_sync: Option<String> = None;
    loop {
        tokio::select! {
            biased;
            () = core.cancel.cancelled() => break,
            Some(status) = status_rx.recv() => match status {
                Status::Sync(code) => {
                    if let Some(cid) = running_sync.take() {
                        core.route(&cid, code);
                        last_sync = Some(cid);
                    }
                }
                Status::Exit(cid, code) => core.route(&cid, code),
                Status::Started(cid, pid) => core.started(&cid, pid),
            },
            code = shell_exit(&mut shell), if shell.is_some() => {
                if let Some(gone) = shell.take() {
                    gone.forget(&core);
                }
                if let Some(cid) = running_sync.take() {
                    tracing::debug!(session = %core.id, code, "session shell ended during a command; a new one starts at once");
                    core.route(&cid, code);
                }
                // The next generation starts now, off the request path, once the last
                // snapshot is saved (it was written before that command's status; bounded).
                if let Some(cid) = &last_sync {
                    let mut snap = core.snapshot.subscribe();
                    let _ = tokio::time::timeout(
                        Duration::from_secs(1),
                        snap.wait_for(|s| &s.cid == cid),
                    )
                    .await;
                }
                if !core.cancel.is_cancelled() {
                    match Shell::spawn(&core, status_tx.clone()).await {
                        Ok(s) => shell = Some(s),
                        Err(err) => tracing::debug!(session = %core.id, error = %err, "cannot restart the session shell; the next command tries again"),
                    }
                }
            }
            job = jobs.recv(), if running_sync.is_none() => {
                let Some(job) = job else { break };
                if launch(&core, &mut shell, &status_tx, &job).await && !job.rec.is_async {
                    running_sync = Some(job.rec.id.clone());
                }
            }
        }
    }
    terminate(&core, shell).await;
    // Commands that never reported were killed with the session.
    core.route_all(128 + Signal::SIGTERM as i32);
}

/// Writes the job's control line to the shell (starting one if needed, and retrying once with a
/// fresh shell if the current one turns out to be dead). Returns whether the command started.
async fn launch(
    core: &Arc<SessionCore>,
    shell: &mut Option<Shell>,
    status_tx: &mpsc::UnboundedSender<Status>,
    job: &Job,
) -> bool {
    let line = control_line(&job.rec);
    for _attempt in 0..2 {
        if shell.is_none() {
            match Shell::spawn(core, status_tx.clone()).await {
                Ok(s) => *shell = Some(s),
                Err(err) => {
                    let msg = format!(
                        "processd: cannot start the session shell {}: {err}\n",
                        core.shell.display()
                    );
                    let _ = job.rec.log.append(OutputStream::Stderr, msg.as_bytes());
                    core.route(&job.rec.id, -1);
                    return false;
                }
            }
        }
        let Some(s) = shell.as_mut() else { continue };
        match s.stdin.write_all(line.as_bytes()).await {
            Ok(()) => {
                if let Some(timeout) = job.rec.timeout {
                    super::control::arm_timeout(core, &job.rec, timeout);
                }
                return true;
            }
            Err(err) => {
                tracing::debug!(session = %core.id, error = %err, "session shell is gone; starting a new one");
                if let Some(mut dead) = shell.take() {
                    proc::signal_unit(None, &[dead.pid], &[], Signal::SIGKILL);
                    let _ = dead.child.wait().await;
                }
            }
        }
    }
    let _ = job.rec.log.append(
        OutputStream::Stderr,
        b"processd: the session shell could not accept the command\n",
    );
    core.route(&job.rec.id, -1);
    false
}

/// Kills every process of the session: SIGTERM to each shell generation's process group, to
/// the current shell's descendants and to the processes in the session's cgroup, up to
/// [`TERMINATION_GRACE`] for them to exit, then SIGKILL (`cgroup.kill` with a cgroup).
async fn terminate(core: &SessionCore, shell: Option<Shell>) {
    let pgids: Vec<Pid> = core
        .pgids
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let mut tree: Vec<Pid> = Vec::new();
    if let Some(s) = &shell {
        tree = proc::descendants(s.pid);
        tree.push(s.pid);
    }
    if let Some(cg) = &core.cgroup {
        tree.extend(cg.procs());
    }
    proc::signal_unit(None, &pgids, &tree, Signal::SIGTERM);
    let deadline = tokio::time::Instant::now() + TERMINATION_GRACE;
    let mut shell = shell;
    loop {
        if let Some(s) = shell.as_mut() {
            if let Ok(Some(_)) = s.child.try_wait() {
                shell = None;
            }
        }
        let alive = pgids.iter().any(|pg| group_alive(*pg))
            || tree
                .iter()
                .any(|p| proc::proc_state(p.as_raw()).is_some_and(|s| s != 'Z'));
        if !alive || tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Everything in the session's cgroup too: escapees that cleared their environment.
    proc::signal_unit(core.cgroup.as_ref(), &pgids, &tree, Signal::SIGKILL);
    if let Some(mut s) = shell {
        let _ = s.child.wait().await;
        s.forget(core);
    }
}

/// Whether any live process (zombies count as gone) is still in process group `pgid`.
fn group_alive(pgid: Pid) -> bool {
    if nix::sys::signal::killpg(pgid, None).is_err() {
        return false;
    }
    // Members may all be zombies waiting for a reaper; look for a live one.
    proc::table::all()
        .iter()
        .any(|s| s.pgid == pgid.as_raw() && !s.is_zombie())
}

/// Creates a FIFO at `path` (mode 0600).
pub(crate) fn mkfifo(path: &Path) -> std::io::Result<()> {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))
        .map_err(std::io::Error::from)
}

/// Opens the read end of an output FIFO plus a "keeper" write end held by the daemon, so the
/// reader sees no EOF before the command has opened it. Drop the keeper once the command has
/// reported its status: EOF then means every writer is gone.
pub(crate) fn open_output(
    path: &Path,
) -> std::io::Result<(tokio::net::unix::pipe::Receiver, std::fs::File)> {
    let rx = tokio::net::unix::pipe::OpenOptions::new().open_receiver(path)?;
    let keeper = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    Ok((rx, keeper))
}

/// Opens an input FIFO for writing (read-write, so opening never blocks or fails for lack of a
/// reader).
pub(crate) fn open_input(path: &Path) -> std::io::Result<tokio::net::unix::pipe::Sender> {
    tokio::net::unix::pipe::OpenOptions::new()
        .read_write(true)
        .open_sender(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_texts_fit_in_single_quotes() {
        assert!(!SYNC_TEXT.contains('\''));
        assert!(!ASYNC_TEXT.contains('\''));
    }

    #[test]
    fn quote_survives_single_quotes() {
        assert_eq!(quote(Path::new("/a b/it's")), r"'/a b/it'\''s'");
    }
}
