//! The tasks of a running session: [`pump_output`] (master → log, paced by flow control),
//! [`pump_input`] (clients → master) and [`drive`] (waits for the shell, drains the terminal,
//! publishes the [`Finish`]).

use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;

use super::spawn::session_members;
use super::{lock, Finish, PtySession, Run};

/// After the shell exits: how long to wait for the terminal's other holders to close it before
/// hanging them up (`SIGHUP`)...
const LINGER_BEFORE_HANGUP: Duration = Duration::from_millis(200);
/// ...and how much longer before the master is closed regardless (5 s in all, as the original).
const LINGER_AFTER_HANGUP: Duration = Duration::from_millis(4800);
/// After a kill: how long to wait for the output pump to see EOF.
const KILL_DRAIN: Duration = Duration::from_millis(500);

/// Reads the master until EOF (EIO once every holder of the slave closed it) into the log.
pub(super) async fn pump_output(session: Arc<PtySession>, master: Arc<AsyncFd<OwnedFd>>) {
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
pub(super) async fn pump_input(master: Arc<AsyncFd<OwnedFd>>, mut rx: mpsc::Receiver<Bytes>) {
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
pub(super) async fn drive(
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
