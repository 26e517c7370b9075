//! Sessions (spec §2 endpoints 3–12, §8.3): a registry of long-lived shells, their command
//! records, per-command logs on disk, input, and the entrypoint session.
//!
//! On disk: `<state>/sessions/<uuid>/` per session (the directory name is daemon-made; the
//! user's session id never reaches the file system or the shell), with `<cid>/` per command
//! holding `cmd.sh`, the FIFOs `stdout`, `stderr` (and `stdin` for async commands),
//! `output.log` (stream-marked, capped at `max_log_bytes`) and `exit_code`.
//!
//! Output path: the command writes to its FIFOs; a per-command pump task reads both as bytes
//! arrive (no line buffering, NUL-safe, nothing added), labels them with the proto `Muxer` into
//! the log, and publishes the exit code only after both FIFOs are drained (EOF, or
//! [`crate::drain::DRAIN_GRACE`] after the status when a background process keeps them open).

mod command;
mod control;
mod error;
pub(crate) mod log;
mod registry;
pub(crate) mod shell;
mod snapshot;

use command::{pump, Slot};
pub(crate) use command::{CommandRec, LOST};
pub(crate) use control::parse_signal;
pub(crate) use error::SessionError;
pub(crate) use registry::Sessions;

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use nix::unistd::Pid;
use process_proto::log::OutputStream;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::store::{CommandRow, Op, Store};

pub(crate) use process_proto::wire::{ENTRYPOINT_COMMAND_ID, ENTRYPOINT_SESSION_ID};

/// How long `send input` waits for a command to take its input before answering that it does
/// not read (its pipe is full): short, so a client learns at once instead of blocking.
const INPUT_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(250);
/// Longest accepted session id, in bytes.
const MAX_SESSION_ID: usize = 256;

/// Checks a session id: non-empty, at most 256 bytes, no `/`, `\`, control characters, and not
/// `.` or `..`. (Ids never reach paths or shell text; this keeps them printable and addressable.)
pub(crate) fn validate_session_id(id: &str) -> Result<(), SessionError> {
    let bad = |why: &'static str| Err(SessionError::InvalidId(why));
    if id.trim().is_empty() {
        return bad("it must not be empty");
    }
    if id.len() > MAX_SESSION_ID {
        return bad("it must be at most 256 bytes");
    }
    if id == "." || id == ".." {
        return bad("'.' and '..' are not allowed");
    }
    if id.chars().any(|c| c == '/' || c == '\\' || c.is_control()) {
        return bad("it must not contain '/', '\\' or control characters");
    }
    Ok(())
}

/// State shared by a session's handle, its dispatcher and its pumps.
pub(crate) struct SessionCore {
    pub(crate) id: String,
    pub(crate) dir: PathBuf,
    pub(crate) cwd: PathBuf,
    pub(crate) shell: PathBuf,
    pub(crate) cancel: CancellationToken,
    /// Process groups of every shell generation (for termination).
    pub(crate) pgids: Mutex<Vec<Pid>>,
    /// Status senders of commands that have not reported yet.
    pending: Mutex<HashMap<String, oneshot::Sender<i32>>>,
    /// The durable record store.
    pub(crate) store: Arc<Store>,
    /// Subshell pids of running async commands (from their `P` status lines).
    pub(crate) pids: Mutex<HashMap<String, i32>>,
    /// The current shell generation's pid.
    pub(crate) shell_pid: Mutex<Option<Pid>>,
    /// The shell has the `USR2` trap that abandons a sync command's script (bash).
    pub(crate) abort_trap: bool,
    /// Whether this session's records are persisted (not the entrypoint's: it starts anew).
    pub(crate) persist: bool,
    /// The `PROCESS_RUN_ID` every process of the session inherits (the directory's UUID).
    pub(crate) tag: String,
    /// The shell's last recovery snapshot (see `shell`).
    pub(crate) snapshot: tokio::sync::watch::Sender<shell::Snapshot>,
    /// The next command's files, prepared ahead of time (see [`Slot`]).
    slot: Mutex<Option<Slot>>,
    /// The session's cgroup: every shell generation and all it starts (when the daemon has a
    /// cgroup root). Deleting the session kills it with `cgroup.kill`.
    pub(crate) cgroup: Option<crate::cgroup::Cgroup>,
}

impl SessionCore {
    /// The session's cgroup, in which each command gets a cgroup of its own (any shell: an
    /// async command's subshell moves itself in by writing `0`, which names the writer, to
    /// `cgroup.procs`; for a sync command the session shell moves in and out). A sync command
    /// of another shell than bash cannot be abandoned (no `USR2` trap): killing it kills what
    /// it started, and the rest of its script runs on in the session's cgroup (see `control`).
    pub(crate) fn command_cgroups(&self) -> Option<&crate::cgroup::Cgroup> {
        self.cgroup.as_ref()
    }

    /// Records the subshell pid of the async command `cid`.
    pub(crate) fn started(&self, cid: &str, pid: i32) {
        self.pids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(cid.to_owned(), pid);
    }

    /// Delivers `code` to the command `cid` if it has not reported yet.
    pub(crate) fn route(&self, cid: &str, code: i32) {
        self.pids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(cid);
        let tx = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(cid);
        if let Some(tx) = tx {
            let _ = tx.send(code);
        }
    }

    /// Delivers `code` to every command that has not reported.
    pub(crate) fn route_all(&self, code: i32) {
        let all: Vec<_> = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain()
            .collect();
        for (_, tx) in all {
            let _ = tx.send(code);
        }
    }
}

/// A session: its shell's dispatcher and its commands.
pub(crate) struct Session {
    core: Arc<SessionCore>,
    jobs: mpsc::UnboundedSender<shell::Job>,
    commands: Mutex<Vec<Arc<CommandRec>>>,
    dispatcher: tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    max_log: u64,
}

impl Session {
    /// The session id.
    pub(crate) fn id(&self) -> &str {
        &self.core.id
    }

    /// Whether the session was deleted.
    pub(crate) fn is_deleted(&self) -> bool {
        self.core.cancel.is_cancelled()
    }

    /// The session's commands, in submission order.
    pub(crate) fn commands(&self) -> Vec<Arc<CommandRec>> {
        self.commands
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// A command by id.
    pub(crate) fn command(&self, cid: &str) -> Option<Arc<CommandRec>> {
        self.commands
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .find(|c| c.id == cid)
            .cloned()
    }

    /// Submits a command: takes the files prepared for it (or makes them now), writes its
    /// script, starts its pump and queues it for the shell; then prepares the next command's
    /// files off the request path. `cid` is the command id to use (`None`: a fresh UUID).
    /// Returns at once; wait on `rec.log` for completion.
    pub(crate) fn submit(
        &self,
        cid: Option<String>,
        command: String,
        is_async: bool,
        suppress_echo: bool,
        timeout: Option<std::time::Duration>,
    ) -> Result<Arc<CommandRec>, SessionError> {
        if self.is_deleted() {
            return Err(SessionError::Ended);
        }
        let ready = if cid.is_none() {
            self.core
                .slot
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
        } else {
            None
        };
        let slot = match ready {
            Some(slot) => slot,
            None => Slot::prepare(
                &self.core.dir,
                cid.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
                self.max_log,
                self.core.command_cgroups(),
            )?,
        };
        let Slot {
            cid,
            dir,
            mut script,
            out,
            err,
            keepers,
            log,
            cgroup,
        } = slot;
        let stdin = if is_async {
            let path = dir.join("stdin");
            shell::mkfifo(&path)
                .and_then(|()| shell::open_input(&path))
                .map(Some)
                .map_err(|source| SessionError::Prepare {
                    what: "stdin pipe",
                    source,
                })?
        } else {
            None
        };
        // The command's cgroup came with its slot. An async command's subshell joins it
        // itself (see `shell::ASYNC_TEXT`); for a sync one the session shell joins it while
        // the command runs (`shell::SYNC_TEXT`).
        script
            .write_all(command.as_bytes())
            // A final newline ends a last line that is a comment or a heredoc delimiter.
            .and_then(|()| script.write_all(b"\n"))
            .map_err(|source| SessionError::Prepare {
                what: "script",
                source,
            })?;
        drop(script);
        let rec = Arc::new(CommandRec {
            id: cid.clone(),
            command,
            is_async,
            suppress_echo,
            log,
            dir,
            stdin: tokio::sync::Mutex::new(stdin),
            started_at: crate::store::now_rfc3339(),
            finished_at: Mutex::new(None),
            lost: false,
            timeout,
            timed_out: std::sync::atomic::AtomicBool::new(false),
            abort_code: std::sync::atomic::AtomicI32::new(0),
            cgroup: Mutex::new(cgroup),
        });
        if self.core.persist {
            self.core.store.send(Op::CommandStarted {
                session: self.core.id.clone(),
                row: CommandRow {
                    id: rec.id.clone(),
                    command: rec.command.clone(),
                    is_async,
                    suppress_echo,
                    started_at: rec.started_at.clone(),
                    finished_at: None,
                    exit_code: None,
                    dropped: 0,
                },
            });
        }
        let (status_tx, status_rx) = oneshot::channel();
        self.core
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(cid, status_tx);
        tokio::spawn(pump(
            self.core.clone(),
            rec.clone(),
            out,
            err,
            keepers,
            status_rx,
        ));
        self.commands
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(rec.clone());
        if self.jobs.send(shell::Job { rec: rec.clone() }).is_err() {
            self.core.route(&rec.id, -1);
            return Err(SessionError::Ended);
        }
        self.prepare_next();
        Ok(rec)
    }

    /// Prepares the next command's files and cgroup in the background (while this one runs),
    /// unless a slot is ready already.
    pub(crate) fn prepare_next(&self) {
        let core = self.core.clone();
        let max_log = self.max_log;
        tokio::spawn(async move {
            let free = core
                .slot
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .is_none();
            if !free || core.cancel.is_cancelled() {
                return;
            }
            let cid = uuid::Uuid::new_v4().to_string();
            match Slot::prepare(&core.dir, cid, max_log, core.command_cgroups()) {
                Ok(slot) => {
                    let mut held = core
                        .slot
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    if held.is_none() && !core.cancel.is_cancelled() {
                        *held = Some(slot);
                    } else {
                        drop(held);
                        slot.discard();
                    }
                }
                Err(err) => {
                    tracing::debug!(session = %core.id, error = %err, "cannot prepare a command's files ahead");
                }
            }
        });
    }

    /// Sends `data` to a running async command's stdin (a newline is added if missing) and,
    /// unless the command suppresses echo, appends it to the log as stdout.
    pub(crate) async fn send_input(
        &self,
        rec: &CommandRec,
        data: &str,
    ) -> Result<(), SessionError> {
        if let Some(code) = rec.log.state().exit_code {
            return Err(SessionError::Completed(code));
        }
        let mut data = data.to_owned();
        if !data.ends_with('\n') {
            data.push('\n');
        }
        let mut guard = rec.stdin.lock().await;
        let Some(tx) = guard.as_mut() else {
            if let Some(code) = rec.log.state().exit_code {
                return Err(SessionError::Completed(code));
            }
            return Err(SessionError::NoInput);
        };
        // Echo first, so the input precedes any output it causes.
        if !rec.suppress_echo {
            let _ = rec.log.append(OutputStream::Stdout, data.as_bytes());
        }
        match tokio::time::timeout(INPUT_TIMEOUT, tx.write_all(data.as_bytes())).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(SessionError::InputWrite(e)),
            Err(_) => return Err(SessionError::InputFull),
        }
        drop(guard);
        Ok(())
    }

    /// Stops the session: stops its dispatcher and terminates its process tree (SIGTERM,
    /// grace, SIGKILL); its directory and records stay (daemon shutdown: served again after a
    /// restart).
    pub(crate) async fn stop(&self) {
        self.core.cancel.cancel();
        let slot = self
            .core
            .slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(slot) = slot {
            slot.discard();
        }
        let handle = self.dispatcher.lock().await.take();
        if let Some(handle) = handle {
            let _ = handle.await;
        }
        // Let the pumps publish the exit codes before the files go.
        for rec in self.commands() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), rec.log.wait()).await;
        }
    }

    /// Deletes the session: [`Session::stop`], then removes its directory.
    pub(crate) async fn delete(&self) {
        self.stop().await;
        if let Err(err) = std::fs::remove_dir_all(&self.core.dir) {
            tracing::debug!(error = %err, "cannot remove a session directory");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_that_could_escape_are_rejected() {
        for bad in [
            "",
            " ",
            ".",
            "..",
            "a/b",
            "../x",
            "a\\b",
            "a\0b",
            "a\nb",
            &"x".repeat(257),
        ] {
            assert!(validate_session_id(bad).is_err(), "{bad:?} accepted");
        }
        for good in [
            "s1",
            "my session",
            "a.b-c_d",
            "ünïcode",
            "$(touch x)",
            "'quoted'",
        ] {
            assert!(validate_session_id(good).is_ok(), "{good:?} rejected");
        }
    }
}
