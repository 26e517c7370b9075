//! One PTY session: the shell on its pseudo-terminal, the tasks that pump its output into the
//! [`OutputLog`] and client input into the master, and its end (exit, hang-up, kill).

use std::collections::{BTreeMap, HashMap};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, watch, Notify};

use super::log::{Lagged, OutputLog};
use super::sys;
use crate::proc;

/// Bytes of output kept for clients that attach later or fall behind.
pub(crate) const SCROLLBACK_BYTES: usize = 1024 * 1024;
/// Flow control: the PTY is not read while every attached client is more than this far behind
/// (so the fastest client never loses output; slower ones may fall behind the scrollback).
const HIGH_WATER: u64 = 512 * 1024;
/// A replay starts after the first line break within this many bytes of the oldest output.
const REPLAY_ALIGN_WINDOW: usize = 4096;
/// Input messages queued towards the master before clients are backpressured.
const INPUT_QUEUE: usize = 1024;
/// After the shell exits: how long to wait for the terminal's other holders to close it before
/// hanging them up (`SIGHUP`)...
const LINGER_BEFORE_HANGUP: Duration = Duration::from_millis(200);
/// ...and how much longer before the master is closed regardless (5 s in all, as the original).
const LINGER_AFTER_HANGUP: Duration = Duration::from_millis(4800);
/// After a kill: how long to wait for the output pump to see EOF.
const KILL_DRAIN: Duration = Duration::from_millis(500);

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

/// How a session ended, as clients are told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finish {
    /// Exit code (`128 + n` for a shell killed by signal `n`).
    pub(crate) code: i32,
    /// Daytona's `exitReason` (absent for 0).
    pub(crate) reason: Option<String>,
    /// Ended by `DELETE`: clients get no `exited` message, only the close frame.
    pub(crate) killed: bool,
}

impl Finish {
    /// The finish of an exit status code, with the spec's reason text.
    pub(crate) fn exited(code: i32) -> Finish {
        Finish {
            code,
            reason: process_proto::wire::exit_reason(code),
            killed: false,
        }
    }

    fn process_error() -> Finish {
        Finish {
            code: 1,
            reason: Some("process error".to_owned()),
            killed: false,
        }
    }

    fn killed() -> Finish {
        Finish {
            code: 137,
            reason: Some("SIGKILL".to_owned()),
            killed: true,
        }
    }
}

/// What clients wait on: how far the output got, and whether the session is over (set only
/// after the last output byte is in the log).
#[derive(Debug, Clone, Default)]
pub(crate) struct Progress {
    pub(crate) end: u64,
    pub(crate) finished: Option<Finish>,
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
        } = spawn_shell(&self.spec, cols, rows).map_err(SessionError::Start)?;
        let Some(raw_pid) = child.id() else {
            return Err(SessionError::Start(std::io::Error::other(
                "the shell exited before it could be tracked",
            )));
        };
        let pid = Pid::from_raw(raw_pid as i32);
        // Into its cgroup before the shell has read its profile (see `Cgroup::adopt`).
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

/// A shell just started on its PTY.
struct Spawned {
    child: tokio::process::Child,
    /// Keeps the daemon's reaper off the shell's pid until we have waited for it.
    tracked: Option<crate::reaper::Tracked>,
    master: AsyncFd<OwnedFd>,
    tty: String,
}

/// Opens the PTY and starts the shell `-i -l` on it as a session leader with the PTY as its
/// controlling terminal.
fn spawn_shell(spec: &Spec, cols: u16, rows: u16) -> std::io::Result<Spawned> {
    let pair = sys::open_pty(cols, rows)?;
    let shell = proc::select_shell();
    let mut cmd = tokio::process::Command::new(&shell);
    cmd.arg("-i")
        .arg("-l")
        .current_dir(&spec.cwd)
        .env_clear()
        .envs(proc::child_env(
            spec.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        ))
        .stdin(Stdio::from(pair.slave.try_clone()?))
        .stdout(Stdio::from(pair.slave.try_clone()?))
        .stderr(Stdio::from(pair.slave))
        .kill_on_drop(false);
    sys::session_leader_on_stdin(&mut cmd);
    let (child, tracked) = crate::reaper::spawn(&mut cmd).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("{} in {}: {e}", shell.display(), spec.cwd.display()),
        )
    })?;
    // `cmd` (and with it the parent's copies of the slave) is dropped here: only the shell
    // holds the terminal now, so its exit makes the master read EOF.
    drop(cmd);
    sys::set_nonblocking(pair.master.as_fd())?;
    let master = sys::register_master(pair.master)?;
    Ok(Spawned {
        child,
        tracked,
        master,
        tty: pair.slave_path,
    })
}

/// Reads the master until EOF (EIO once every holder of the slave closed it) into the log.
async fn pump_output(session: Arc<PtySession>, master: Arc<AsyncFd<OwnedFd>>) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        // Flow control: wait for the fastest client to catch up.
        loop {
            let advanced = session.advanced.notified();
            tokio::pin!(advanced);
            advanced.as_mut().enable();
            if !session.must_pause() {
                break;
            }
            advanced.await;
        }
        let mut guard = match master.readable().await {
            Ok(g) => g,
            Err(err) => {
                tracing::warn!(id = %session.spec.id, error = %err, "PTY master not pollable");
                return;
            }
        };
        match guard.try_io(|fd| nix::unistd::read(fd.get_ref(), &mut buf).map_err(Into::into)) {
            Ok(Ok(0)) => return,
            Ok(Ok(n)) => session.push_output(&buf[..n]),
            Ok(Err(err)) if err.raw_os_error() == Some(Errno::EIO as i32) => return,
            Ok(Err(err)) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Ok(Err(err)) => {
                tracing::warn!(id = %session.spec.id, error = %err, "reading the PTY failed");
                return;
            }
            Err(_would_block) => {}
        }
    }
}

/// Writes client input to the master, message by message in arrival order.
async fn pump_input(master: Arc<AsyncFd<OwnedFd>>, mut rx: mpsc::Receiver<Bytes>) {
    while let Some(mut data) = rx.recv().await {
        while !data.is_empty() {
            let Ok(mut guard) = master.writable().await else {
                return;
            };
            match guard.try_io(|fd| nix::unistd::write(fd.get_ref(), &data).map_err(Into::into)) {
                Ok(Ok(n)) => bytes::Buf::advance(&mut data, n),
                Ok(Err(err)) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Ok(Err(err)) => {
                    tracing::debug!(error = %err, "writing to the PTY failed");
                    return;
                }
                Err(_would_block) => {}
            }
        }
    }
}

/// Waits for the shell, drains its output, and publishes how it ended.
async fn drive(
    session: Arc<PtySession>,
    (mut child, tracked): (tokio::process::Child, Option<crate::reaper::Tracked>),
    pid: Pid,
    mut output: tokio::task::JoinHandle<()>,
    input: tokio::task::JoinHandle<()>,
    on_exit: impl FnOnce(&Arc<PtySession>) + Send + 'static,
) {
    let status = child.wait().await;
    if let Run::Running { pid, .. } = &mut *lock(&session.run) {
        *pid = None;
    }
    drop(tracked);
    session.draining.store(true, Ordering::SeqCst);
    session.advanced.notify_waiters();
    on_exit(&session);
    let killed = session.killed.load(Ordering::SeqCst);
    // Drain: the output pump ends at EOF, once every process holding the terminal closed it.
    let drained = if killed {
        tokio::time::timeout(KILL_DRAIN, &mut output).await.is_ok()
    } else if tokio::time::timeout(LINGER_BEFORE_HANGUP, &mut output)
        .await
        .is_ok()
    {
        true
    } else {
        // Something still holds the terminal (e.g. `tail -f x &; exit`): hang up what is left
        // of the session, as closing a terminal would, and give it the rest of the grace.
        for member in session_members(pid) {
            let _ = nix::sys::signal::kill(member, Signal::SIGHUP);
            let _ = nix::sys::signal::kill(member, Signal::SIGCONT);
        }
        tokio::time::timeout(LINGER_AFTER_HANGUP, &mut output)
            .await
            .is_ok()
    };
    if !drained {
        tracing::debug!(id = %session.spec.id, "PTY still held after the shell exited; closing it");
        output.abort();
        let _ = output.await;
    }
    input.abort();
    let _ = input.await;
    // Dropping the last `Arc` of the master closes it (the pumps are gone).
    *lock(&session.run) = Run::Ended;
    // Retired: removed once whatever the shell left running has exited.
    lock(&session.cgroup).take();
    let finish = if killed {
        Finish::killed()
    } else {
        match status {
            Ok(st) => {
                use std::os::unix::process::ExitStatusExt;
                match (st.code(), st.signal()) {
                    (Some(code), _) => Finish::exited(code),
                    (None, Some(sig)) => Finish::exited(128 + sig),
                    (None, None) => Finish::process_error(),
                }
            }
            Err(err) => {
                tracing::warn!(id = %session.spec.id, error = %err, "waiting for the PTY shell failed");
                Finish::process_error()
            }
        }
    };
    tracing::debug!(id = %session.spec.id, code = finish.code, "PTY session ended");
    session.progress.send_modify(|p| p.finished = Some(finish));
}

/// Live processes whose session id is `sid` (the shell's pid), found in `/proc`.
fn session_members(sid: Pid) -> Vec<Pid> {
    proc::table::all()
        .into_iter()
        .filter(|s| s.session == sid.as_raw() && !s.is_zombie())
        .map(|s| Pid::from_raw(s.pid))
        .collect()
}

/// Live processes other than the daemon that have `tty` open (e.g. a `setsid` child that kept
/// its stdout), found in `/proc/<pid>/fd`.
///
/// A process still running the daemon's own executable is never one: it is the daemon, or a
/// child the daemon forked for another spawn (a PTY shell, a session shell, an exec) that has
/// not reached `exec` yet and so still holds copies of every descriptor the daemon had open at
/// the fork, this terminal's slave among them when that fork raced this session's spawn. Its
/// copies are close-on-exec and vanish at its `exec`. Killing it would kill the other spawn.
/// The executable is compared (device and inode of `/proc/<pid>/exe`) *before* the descriptors
/// are read: `exec` only ever moves a process away from the daemon's executable, so a process
/// seen holding the terminal after it was seen running something else holds it for real.
fn terminal_holders(tty: &str) -> Vec<Pid> {
    let me = std::process::id() as i32;
    let own_exe = proc::table::exe_identity("self");
    proc::table::pids()
        .into_iter()
        .filter(|&pid| pid != me)
        .filter(|pid| own_exe.is_none() || proc::table::exe_identity(&pid.to_string()) != own_exe)
        .filter(|&pid| proc::table::holds(pid, std::ffi::OsStr::new(tty)))
        .map(Pid::from_raw)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_reasons_follow_the_spec() {
        assert_eq!(Finish::exited(0).reason, None);
        assert_eq!(Finish::exited(3).reason.as_deref(), Some("non-zero exit"));
        assert_eq!(Finish::exited(130).reason.as_deref(), Some("Ctrl+C"));
        assert_eq!(Finish::exited(137).reason.as_deref(), Some("SIGKILL"));
        assert_eq!(Finish::exited(143).reason.as_deref(), Some("SIGTERM"));
        assert_eq!(Finish::exited(129).reason.as_deref(), Some("signal 1"));
    }

    /// Set in the stand-in holder's environment (see `holder_stand_in`).
    const STAND_IN_ENV: &str = "PROCESSD_TEST_HOLDER_STAND_IN";

    /// Not a test: the body of a child that runs this test binary (the daemon's executable)
    /// while holding a terminal, like a just-forked child of another spawn.
    #[test]
    #[ignore = "run by holders_never_include_children_running_the_daemons_executable"]
    fn holder_stand_in() {
        if std::env::var_os(STAND_IN_ENV).is_some() {
            std::thread::sleep(Duration::from_secs(30));
        }
    }

    #[test]
    fn holders_never_include_children_running_the_daemons_executable() {
        let pair = sys::open_pty(80, 24).unwrap();
        let slave = || Stdio::from(pair.slave.try_clone().unwrap());
        // A real stray (another program with the terminal as its stdout)...
        let mut stray = std::process::Command::new("sleep")
            .arg("30")
            .stdin(Stdio::null())
            .stdout(slave())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // ...and a child still running the daemon's executable that holds the terminal.
        let mut own = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "pty::session::tests::holder_stand_in",
                "--exact",
                "--ignored",
                "--test-threads=1",
            ])
            .env(STAND_IN_ENV, "1")
            .stdin(Stdio::null())
            .stdout(slave())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (stray_pid, own_pid) = (stray.id() as i32, own.id() as i32);
        // Both hold the terminal once they run (the stand-in as soon as it exists).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let holds =
            |pid: i32| proc::table::holds(pid, std::ffi::OsStr::new(pair.slave_path.as_str()));
        while !(holds(stray_pid)
            && holds(own_pid)
            && proc::table::exe_identity(&stray_pid.to_string())
                != proc::table::exe_identity("self"))
        {
            assert!(
                std::time::Instant::now() < deadline,
                "children never started"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let holders = terminal_holders(&pair.slave_path);
        let _ = stray.kill();
        let _ = own.kill();
        let _ = stray.wait();
        let _ = own.wait();
        assert!(
            holders.contains(&Pid::from_raw(stray_pid)),
            "the stray {stray_pid} was not found: {holders:?}"
        );
        assert!(
            !holders.contains(&Pid::from_raw(own_pid)),
            "a child running the daemon's executable ({own_pid}) counted as a holder: {holders:?}"
        );
    }

    #[test]
    fn own_session_id_is_readable() {
        let sid = nix::unistd::getsid(None).unwrap();
        assert_eq!(
            proc::table::stat(std::process::id() as i32).map(|s| s.session),
            Some(sid.as_raw())
        );
    }
}
