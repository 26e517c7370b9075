//! One PTY session: the shell on its pseudo-terminal, the tasks that pump its output into the
//! [`OutputLog`] and client input into the master, and its end (exit, hang-up, kill).
//!
//! Here: [`PtySession`] (state, attach/flow control, resize, kill). `finish` has the plain data
//! clients are told ([`Finish`], [`Progress`]); `spawn` starts the shell and finds what still
//! holds its terminal; `pump` has the session's tasks (output, input, the end).

use std::collections::{BTreeMap, HashMap};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, watch, Notify};

pub(crate) use self::finish::{Finish, Progress};
use self::pump::{drive, pump_input, pump_output};
use self::spawn::{session_members, spawn_shell, terminal_holders, Spawned};
use super::log::{Lagged, OutputLog};
use super::sys;
use crate::proc;

mod finish;
mod pump;
mod spawn;

/// Bytes of output kept for clients that attach later or fall behind.
pub(crate) const SCROLLBACK_BYTES: usize = 1024 * 1024;
/// Flow control: the PTY is not read while every attached client is more than this far behind
/// (so the fastest client never loses output; slower ones may fall behind the scrollback).
const HIGH_WATER: u64 = 512 * 1024;
/// A replay starts after the first line break within this many bytes of the oldest output.
const REPLAY_ALIGN_WINDOW: usize = 4096;
/// Input messages queued towards the master before clients are backpressured.
const INPUT_QUEUE: usize = 1024;

/// Locks a mutex, ignoring poisoning (the data stays consistent: every critical section is a
/// plain update).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a new session runs with.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub(crate) id: String,
    /// Working directory (absolute).
    pub(crate) cwd: PathBuf,
    /// The session's own variables (with `TERM`), added to the daemon environment.
    pub(crate) envs: BTreeMap<String, String>,
    pub(crate) cols: u16,
    pub(crate) rows: u16,
    pub(crate) lazy_start: bool,
}

enum Run {
    /// Created with `lazyStart`, not started yet.
    NotStarted,
    /// Started; `pid` is `None` once the shell was reaped (its pid may be reused).
    Running {
        pid: Option<Pid>,
        /// `/dev/pts/N`.
        tty: String,
        master: Arc<AsyncFd<OwnedFd>>,
        input: mpsc::Sender<Bytes>,
    },
    Ended,
}

/// A PTY session. Shared (`Arc`) by the registry, its tasks and the attached clients.
pub(crate) struct PtySession {
    pub(crate) spec: Spec,
    pub(crate) created_at: String,
    size: Mutex<(u16, u16)>,
    run: Mutex<Run>,
    log: Mutex<OutputLog>,
    progress: watch::Sender<Progress>,
    killed: AtomicBool,
    /// Attached clients: id → offset of the next byte each will send.
    cursors: Mutex<Cursors>,
    /// Signalled when a client advances or leaves.
    advanced: Notify,
    /// The shell exited: read the rest without flow control.
    draining: AtomicBool,
    /// The session's cgroup while it runs (the shell and all it starts), when the daemon has a
    /// cgroup root; [`PtySession::kill`] kills it with `cgroup.kill`.
    cgroup: Mutex<Option<crate::cgroup::Cgroup>>,
}

#[derive(Default)]
struct Cursors {
    next_id: u64,
    offsets: HashMap<u64, u64>,
}

/// A client's position in the output, for flow control; unregisters itself when dropped.
pub(crate) struct Cursor {
    session: Arc<PtySession>,
    id: u64,
}

impl Cursor {
    /// Records that the client has sent everything before `offset`.
    pub(crate) fn advance(&self, offset: u64) {
        lock(&self.session.cursors).offsets.insert(self.id, offset);
        self.session.advanced.notify_waiters();
    }
}

impl Drop for Cursor {
    fn drop(&mut self) {
        lock(&self.session.cursors).offsets.remove(&self.id);
        self.session.advanced.notify_waiters();
    }
}

/// Why a session cannot be started or used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SessionError {
    #[error("failed to start PTY session: {0}")]
    Start(std::io::Error),
    #[error("PTY session '{0}' has terminated and is no longer available")]
    Ended(String),
    #[error("offset {asked} is outside the scrollback, which holds offsets {start}..={end}: reconnect without an offset to get the scrollback")]
    Offset { asked: u64, start: u64, end: u64 },
}

/// A client's view of a session: where it reads from and where its input goes.
pub(crate) struct Subscription {
    /// Where the client starts: the oldest output kept (aligned to a line).
    pub(crate) offset: u64,
    /// The end of the output when the client attached: until it gets there it is replaying
    /// scrollback, and losing the oldest part of that to new output is not an error.
    pub(crate) replay_end: u64,
    pub(crate) progress: watch::Receiver<Progress>,
    pub(crate) input: mpsc::Sender<Bytes>,
    pub(crate) cursor: Cursor,
}

impl PtySession {
    /// A session that has not started yet.
    pub(crate) fn new(spec: Spec) -> Arc<PtySession> {
        let created_at = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        Arc::new(PtySession {
            size: Mutex::new((spec.cols, spec.rows)),
            spec,
            created_at,
            run: Mutex::new(Run::NotStarted),
            log: Mutex::new(OutputLog::new(SCROLLBACK_BYTES)),
            progress: watch::Sender::new(Progress::default()),
            killed: AtomicBool::new(false),
            cursors: Mutex::default(),
            advanced: Notify::new(),
            draining: AtomicBool::new(false),
            cgroup: Mutex::new(None),
        })
    }

    /// Current size `(cols, rows)`.
    pub(crate) fn size(&self) -> (u16, u16) {
        *lock(&self.size)
    }

    /// Whether the shell is running.
    pub(crate) fn is_active(&self) -> bool {
        matches!(*lock(&self.run), Run::Running { pid: Some(_), .. })
    }

    /// Whether the session has not been started.
    pub(crate) fn is_unstarted(&self) -> bool {
        matches!(*lock(&self.run), Run::NotStarted)
    }

    /// Starts the shell if it has not been started (idempotent while running). `on_exit` runs
    /// once the shell has exited (before output is drained): it removes the session from the
    /// registry.
    pub(crate) fn start(
        self: &Arc<Self>,
        cgroup: Option<crate::cgroup::Cgroup>,
        on_exit: impl FnOnce(&Arc<PtySession>) + Send + 'static,
    ) -> Result<(), SessionError> {
        let mut run = lock(&self.run);
        match *run {
            Run::Running { .. } => return Ok(()),
            Run::Ended => return Err(SessionError::Ended(self.spec.id.clone())),
            Run::NotStarted => {}
        }
        let (cols, rows) = self.size();
        let Spawned {
            child,
            tracked,
            master,
            tty,
        } = spawn_shell(&self.spec, cols, rows, cgroup.as_ref()).map_err(SessionError::Start)?;
        let Some(raw_pid) = child.id() else {
            return Err(SessionError::Start(std::io::Error::other(
                "the shell exited before it could be tracked",
            )));
        };
        let pid = Pid::from_raw(raw_pid as i32);
        // The shell joined its cgroup before its `exec` (`spawn_shell`); this move is the
        // fallback should that have failed (a no-op otherwise).
        *lock(&self.cgroup) = cgroup.filter(|cg| cg.adopt(raw_pid));
        let master = Arc::new(master);
        let (input_tx, input_rx) = mpsc::channel(INPUT_QUEUE);
        *run = Run::Running {
            pid: Some(pid),
            tty,
            master: master.clone(),
            input: input_tx,
        };
        drop(run);
        tracing::debug!(id = %self.spec.id, pid = raw_pid, "PTY session started");
        let output = tokio::spawn(pump_output(self.clone(), master.clone()));
        let input = tokio::spawn(pump_input(master, input_rx));
        tokio::spawn(drive(
            self.clone(),
            (child, tracked),
            pid,
            output,
            input,
            on_exit,
        ));
        Ok(())
    }

    /// Attaches a client at byte `at` of the output (a client resuming where it was: it counts
    /// the output bytes it received), or at the scrollback's start (aligned to a line) when
    /// `None`. An offset outside the scrollback is refused.
    pub(crate) fn subscribe_at(
        self: &Arc<Self>,
        at: Option<u64>,
    ) -> Result<Subscription, SessionError> {
        let input = match &*lock(&self.run) {
            Run::Running { input, .. } => input.clone(),
            _ => return Err(SessionError::Ended(self.spec.id.clone())),
        };
        // Offset and receiver under the log lock: no append can slip between them.
        let log = lock(&self.log);
        let offset = match at {
            None => log.replay_start(REPLAY_ALIGN_WINDOW),
            Some(asked) if asked >= log.start() && asked <= log.end() => asked,
            Some(asked) => {
                return Err(SessionError::Offset {
                    asked,
                    start: log.start(),
                    end: log.end(),
                })
            }
        };
        let replay_end = log.end();
        let progress = self.progress.subscribe();
        drop(log);
        let id = {
            let mut cursors = lock(&self.cursors);
            cursors.next_id += 1;
            let id = cursors.next_id;
            cursors.offsets.insert(id, offset);
            id
        };
        Ok(Subscription {
            offset,
            replay_end,
            progress,
            input,
            cursor: Cursor {
                session: self.clone(),
                id,
            },
        })
    }

    /// Whether the output pump should pause: clients are attached and even the fastest is more
    /// than [`HIGH_WATER`] behind.
    fn must_pause(&self) -> bool {
        if self.draining.load(Ordering::SeqCst) {
            return false;
        }
        let end = lock(&self.log).end();
        let fastest = lock(&self.cursors).offsets.values().max().copied();
        fastest.is_some_and(|f| end.saturating_sub(f) > HIGH_WATER)
    }

    /// Copies up to `max` bytes of output from `offset` into `out`.
    pub(crate) fn read_output(
        &self,
        offset: u64,
        max: usize,
        out: &mut Vec<u8>,
    ) -> Result<usize, Lagged> {
        lock(&self.log).read_into(offset, max, out)
    }

    /// Where a replaying client that lost the oldest scrollback should continue.
    pub(crate) fn replay_start(&self) -> u64 {
        lock(&self.log).replay_start(REPLAY_ALIGN_WINDOW)
    }

    fn push_output(&self, data: &[u8]) {
        let end = {
            let mut log = lock(&self.log);
            log.append(data);
            log.end()
        };
        self.progress.send_modify(|p| p.end = end);
    }

    /// Resizes the terminal (the kernel signals `SIGWINCH` to the foreground job).
    pub(crate) fn resize(&self, cols: u16, rows: u16) -> Result<(), ResizeError> {
        let run = lock(&self.run);
        match &*run {
            Run::Running { master, .. } => {
                sys::set_winsize(master.get_ref().as_fd(), cols, rows)
                    .map_err(ResizeError::Ioctl)?;
                *lock(&self.size) = (cols, rows);
                Ok(())
            }
            Run::NotStarted => Err(ResizeError::Inactive),
            Run::Ended => Err(ResizeError::Ended),
        }
    }

    /// Kills the whole process tree with `SIGKILL`; clients are closed with 1011
    /// `{"exitCode":137,"exitReason":"SIGKILL"}`. Returns once the shell is reaped and the master
    /// closed (bounded).
    pub(crate) async fn kill(self: &Arc<Self>) {
        self.killed.store(true, Ordering::SeqCst);
        let mut done = self.progress.subscribe();
        let started = {
            let mut run = lock(&self.run);
            match &*run {
                Run::Running { pid, tty, .. } => {
                    // Under the lock: the pid cannot be reaped (and reused) meanwhile.
                    if let Some(pid) = pid {
                        // Processes that left the tree (orphaned `(cmd &)`, `setsid cmd &`)
                        // but still belong to the terminal's session or hold the terminal.
                        let mut strays = session_members(*pid);
                        strays.extend(terminal_holders(tty));
                        // The cgroup: also what left the terminal's session and cleared its
                        // environment.
                        let cgroup = lock(&self.cgroup);
                        proc::kill_tree(*pid, cgroup.as_ref(), Signal::SIGKILL);
                        proc::signal_unit(None, &[], &strays, Signal::SIGKILL);
                    }
                    true
                }
                Run::NotStarted => {
                    *run = Run::Ended;
                    false
                }
                Run::Ended => false,
            }
        };
        if started {
            let _ = tokio::time::timeout(
                Duration::from_secs(3),
                done.wait_for(|p| p.finished.is_some()),
            )
            .await;
        } else {
            self.progress.send_modify(|p| {
                if p.finished.is_none() {
                    p.finished = Some(Finish::killed());
                }
            });
        }
    }
}

/// Why a resize failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ResizeError {
    #[error("cannot resize inactive PTY session")]
    Inactive,
    #[error("PTY session has terminated and cannot be resized")]
    Ended,
    #[error("failed to resize PTY: {0}")]
    Ioctl(std::io::Error),
}
