//! One command of a session: its record ([`CommandRec`]), its files made ahead of time
//! ([`Slot`]), and the pump that reads its output into its log and publishes its exit code.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use process_proto::log::OutputStream;
use tokio::sync::oneshot;

use super::log::CommandLog;
use super::{shell, SessionCore, SessionError};
use crate::store::Op;

/// One command of a session.
pub(crate) struct CommandRec {
    /// Command id (a UUID, or `entrypoint_command`).
    pub id: String,
    /// The command text as submitted.
    pub command: String,
    /// Started with `runAsync`.
    pub is_async: bool,
    /// Input sent to it is not echoed into its log.
    pub suppress_echo: bool,
    /// Its output log.
    pub log: CommandLog,
    /// Its directory.
    pub(crate) dir: PathBuf,
    /// The write end of its stdin FIFO (async commands, until they finish).
    pub(super) stdin: tokio::sync::Mutex<Option<tokio::net::unix::pipe::Sender>>,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When it finished (RFC 3339), once it has.
    pub finished_at: Mutex<Option<String>>,
    /// It was running when a previous incarnation of the daemon died.
    pub lost: bool,
    /// Its timeout, if it has one.
    pub timeout: Option<std::time::Duration>,
    /// It was killed by its timeout.
    pub timed_out: std::sync::atomic::AtomicBool,
    /// The exit code of a sync command abandoned by a terminating signal (0: none).
    pub(crate) abort_code: std::sync::atomic::AtomicI32,
    /// The command's own cgroup, nested in the session's (bash sessions with a cgroup): an
    /// async command's subshell moves itself in first; for a sync command the session shell
    /// is inside while the command runs. What it starts is killed with the command. Retired
    /// when the command ends.
    pub(crate) cgroup: Mutex<Option<crate::cgroup::Cgroup>>,
}

/// The status of a command that was running when the daemon died.
pub(crate) const LOST: &str = "lost: the daemon restarted";

impl CommandRec {
    /// The wire record: id, text, exit code, plus the additive times and `lost` status.
    pub(crate) fn to_wire(&self) -> process_proto::wire::Command {
        let mut c = process_proto::wire::Command::new(
            self.id.clone(),
            self.command.clone(),
            self.log.state().exit_code,
        );
        c.started_at = Some(self.started_at.clone());
        c.finished_at.clone_from(
            &self
                .finished_at
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        if self.lost {
            c.status = Some("lost".to_owned());
            c.error = Some(LOST.to_owned());
        } else if self.timed_out.load(std::sync::atomic::Ordering::Relaxed) {
            c.status = Some("timed_out".to_owned());
            c.error = Some(format!(
                "timed out after {} s: the command's processes were killed",
                self.timeout.map_or(0, |t| t.as_secs())
            ));
        }
        c
    }
}

/// A command's files, made before the command exists so that submitting one creates nothing:
/// its directory (named by its id), an empty `cmd.sh` held open, the `stdout` and `stderr`
/// FIFOs with the daemon's ends open, and its log. (An async command's `stdin` FIFO is made
/// when it is submitted: only the sync round trip is kept free of file creation.)
pub(crate) struct Slot {
    pub(super) cid: String,
    pub(super) dir: PathBuf,
    pub(super) script: std::fs::File,
    pub(super) out: tokio::net::unix::pipe::Receiver,
    pub(super) err: tokio::net::unix::pipe::Receiver,
    pub(super) keepers: (std::fs::File, std::fs::File),
    pub(super) log: CommandLog,
    /// The command's cgroup (named by its id, nested in the session's), when the session has
    /// command cgroups: made ahead with the files, so a submit does no `mkdir` there either.
    pub(super) cgroup: Option<crate::cgroup::Cgroup>,
}

impl Slot {
    /// Makes the files of command `cid` under `session_dir` (and its cgroup in `parent`).
    pub(super) fn prepare(
        session_dir: &Path,
        cid: String,
        max_log: u64,
        parent: Option<&crate::cgroup::Cgroup>,
    ) -> Result<Slot, SessionError> {
        let io =
            |what: &'static str, source: std::io::Error| SessionError::Prepare { what, source };
        let dir = session_dir.join(&cid);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| io("directory", e))?;
        let script = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(dir.join("cmd.sh"))
            .map_err(|e| io("script", e))?;
        shell::mkfifo(&dir.join("stdout")).map_err(|e| io("stdout pipe", e))?;
        shell::mkfifo(&dir.join("stderr")).map_err(|e| io("stderr pipe", e))?;
        let (out, out_keeper) =
            shell::open_output(&dir.join("stdout")).map_err(|e| io("stdout pipe", e))?;
        let (err, err_keeper) =
            shell::open_output(&dir.join("stderr")).map_err(|e| io("stderr pipe", e))?;
        let log = CommandLog::create(&dir.join("output.log"), max_log).map_err(|e| io("log", e))?;
        let cgroup = parent.and_then(|cg| cg.child(&cid));
        Ok(Slot {
            cid,
            dir,
            script,
            out,
            err,
            keepers: (out_keeper, err_keeper),
            log,
            cgroup,
        })
    }

    /// Removes the files of a slot that was never used (its cgroup is retired: removed by
    /// the cgroup thread).
    pub(super) fn discard(self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Reads a command's stdout/stderr FIFOs into its log until the command has reported its status
/// and both are drained (see [`crate::drain`]), then publishes the exit code and cleans up.
pub(super) async fn pump(
    core: Arc<SessionCore>,
    rec: Arc<CommandRec>,
    out: tokio::net::unix::pipe::Receiver,
    err: tokio::net::unix::pipe::Receiver,
    keepers: (std::fs::File, std::fs::File),
    status: oneshot::Receiver<i32>,
) {
    // The status ends the command; the FIFOs' keeper write ends go with it, so the pipes end
    // once the command's own writers are gone.
    let ended = async move {
        let code = status.await.unwrap_or(-1);
        drop(keepers);
        code
    };
    let drained = crate::drain::read_until_ended(
        Some(out),
        Some(err),
        ended,
        crate::drain::DRAIN_GRACE,
        |source, bytes| {
            let stream = match source {
                crate::drain::Source::Out => OutputStream::Stdout,
                crate::drain::Source::Err => OutputStream::Stderr,
            };
            let _ = rec.log.append(stream, bytes);
        },
    )
    .await;
    let mut code = drained.ended;
    let aborted = rec.abort_code.load(std::sync::atomic::Ordering::Relaxed);
    if aborted != 0 && !rec.is_async {
        code = aborted;
    }
    let finished_at = crate::store::now_rfc3339();
    *rec.finished_at
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(finished_at.clone());
    rec.log.finish(code);
    rec.cgroup
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    // The rest is off the reply path: the waiting exec answers as soon as the code is out.
    rec.stdin.lock().await.take();
    for name in ["stdout", "stderr", "stdin"] {
        let _ = std::fs::remove_file(rec.dir.join(name));
    }
    if rec.log.dropped() > 0 {
        tracing::info!(command = %rec.id, dropped = rec.log.dropped(), "command log reached its cap; later output was dropped");
    }
    if core.persist {
        core.store.send(Op::CommandFinished {
            session: core.id.clone(),
            id: rec.id.clone(),
            exit_code: code,
            finished_at,
            dropped: rec.log.dropped(),
        });
    }
}
