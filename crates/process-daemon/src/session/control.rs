//! Per-command control in a session: signalling one running command (the processes it
//! started, never the session shell or other commands) and its timeout.
//!
//! The processes of a command are those tagged with its id ([`super::shell::CMD_ID_ENV`] in
//! their environment: every program the command runs inherits it, `setsid` escapees included)
//! plus, for an async command, everything under its subshell. A sync command runs in the
//! session shell itself: a terminating signal also makes the shell abandon the rest of its
//! script (bash: a `USR2` trap that returns from the sourced script). Where that cannot work
//! (another shell, or the script replaced the trap), SIGKILL ends the shell generation running
//! it, and the session continues in a fresh shell that restores the saved cwd and exported
//! variables.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::shell::CMD_ID_ENV;
use super::SessionError;
use super::{CommandRec, Session, SessionCore};
use crate::proc;

/// How long a timed-out command gets after SIGTERM before SIGKILL.
pub(crate) const TIMEOUT_GRACE: Duration = Duration::from_secs(2);
/// How long a SIGKILLed sync command may take to report before its shell generation is ended.
const KILL_ESCALATION: Duration = Duration::from_millis(500);

/// The signals a client may send: `KILL`, `TERM`, `INT`, `HUP`, `QUIT`, `USR1`, `USR2`,
/// `WINCH`, `STOP`, `CONT`, by name (with or without `SIG`, any case) or number.
pub(crate) fn parse_signal(name: &str) -> Result<Signal, SessionError> {
    const ALLOWED: [Signal; 10] = [
        Signal::SIGKILL,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
        Signal::SIGSTOP,
        Signal::SIGCONT,
    ];
    let upper = name.trim().to_ascii_uppercase();
    let found = if let Ok(n) = upper.parse::<i32>() {
        ALLOWED.iter().find(|s| **s as i32 == n)
    } else {
        let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
        ALLOWED
            .iter()
            .find(|s| s.as_str().strip_prefix("SIG") == Some(bare))
    };
    found
        .copied()
        .ok_or_else(|| SessionError::Signal(name.to_owned()))
}

/// The live processes of command `rec` (see the module docs).
fn processes_of(core: &SessionCore, rec: &CommandRec) -> Vec<Pid> {
    let subshell = core
        .pids
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&rec.id)
        .copied();
    // Parents before children: a shell whose child dies first could run the rest of its script
    // before its own signal lands. The subshell's own children are the command's `( … )`; the
    // subshell itself is the wrapper that reports the status and stays.
    let mut out = subshell.map_or_else(Vec::new, |pid| proc::descendants(Pid::from_raw(pid)));
    let in_cgroup = rec
        .cgroup
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .as_ref()
        .map(crate::cgroup::Cgroup::procs)
        .unwrap_or_default();
    for p in proc::processes_with_env(CMD_ID_ENV, &rec.id)
        .into_iter()
        .chain(in_cgroup)
    {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    let shell = *core
        .shell_pid
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    out.retain(|p| Some(*p) != shell && p.as_raw() > 1);
    out
}

/// Signals that end a command (a sync command's script is then abandoned too).
fn terminates(sig: Signal) -> bool {
    matches!(
        sig,
        Signal::SIGKILL | Signal::SIGTERM | Signal::SIGINT | Signal::SIGHUP | Signal::SIGQUIT
    )
}

/// Sends `sig` to the processes of a running command; a terminating signal also abandons the
/// rest of a sync command's script (the shell's `USR2` trap returns from it, with the exit code
/// `128 + sig`), and a SIGKILL that does not end it escalates (see the module docs). Returns
/// how many processes were signalled.
async fn signal_command(core: &SessionCore, rec: &CommandRec, sig: Signal) -> usize {
    let targets = processes_of(core, rec);
    {
        let cgroup = rec
            .cgroup
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A sync command's cgroup holds the session shell while it runs: a signal that ends
        // the command first moves the shell back into the session's cgroup (it then abandons
        // the script, below); another signal goes to the command's processes alone.
        let unit = match cgroup.as_ref() {
            Some(_) if !rec.is_async && !terminates(sig) => None,
            Some(cg) if !rec.is_async => {
                let shell = *core
                    .shell_pid
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let released = match (shell, core.cgroup.as_ref()) {
                    (Some(shell), Some(session)) => {
                        session.adopt_alone(shell.as_raw().unsigned_abs())
                    }
                    _ => false,
                };
                // Never `cgroup.kill` a cgroup the shell may still be in.
                released.then_some(cg)
            }
            other => other,
        };
        // With the command's own cgroup, SIGKILL also takes escapees that cleared their
        // environment.
        proc::signal_unit(unit, &[], &targets, sig);
    }
    if !rec.is_async && terminates(sig) && core.abort_trap {
        rec.abort_code.store(128 + sig as i32, Ordering::Relaxed);
        let shell = *core
            .shell_pid
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let (Some(shell), None) = (shell, rec.log.state().exit_code) {
            let _ = nix::sys::signal::kill(shell, Signal::SIGUSR2);
        }
    }
    if sig == Signal::SIGKILL {
        let ended = tokio::time::timeout(KILL_ESCALATION, rec.log.wait())
            .await
            .is_ok();
        if !ended {
            // Stragglers forked meanwhile, then the shell generation of a sync command.
            let again = processes_of(core, rec);
            proc::signal_unit(None, &[], &again, sig);
            if !rec.is_async
                && tokio::time::timeout(KILL_ESCALATION, rec.log.wait())
                    .await
                    .is_err()
            {
                let shell = *core
                    .shell_pid
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Some(shell) = shell {
                    proc::signal_unit(None, &[], &[shell], Signal::SIGKILL);
                }
            }
        }
    }
    targets.len()
}

impl Session {
    /// Sends `sig` to the running command `rec`. 410 when it has finished.
    pub(crate) async fn signal(
        &self,
        rec: &CommandRec,
        sig: Signal,
    ) -> Result<usize, SessionError> {
        if let Some(code) = rec.log.state().exit_code {
            return Err(SessionError::Completed(code));
        }
        Ok(signal_command(&self.core, rec, sig).await)
    }
}

/// Starts the timeout of a command that has just been handed to the shell: at the deadline
/// SIGTERM to its processes, [`TIMEOUT_GRACE`] later SIGKILL.
pub(crate) fn arm_timeout(core: &Arc<SessionCore>, rec: &Arc<CommandRec>, timeout: Duration) {
    let core = core.clone();
    let rec = rec.clone();
    tokio::spawn(async move {
        if tokio::time::timeout(timeout, rec.log.wait()).await.is_ok() {
            return;
        }
        rec.timed_out.store(true, Ordering::Relaxed);
        tracing::debug!(session = %core.id, command = %rec.id, "session command timed out");
        signal_command(&core, &rec, Signal::SIGTERM).await;
        if tokio::time::timeout(TIMEOUT_GRACE, rec.log.wait())
            .await
            .is_err()
        {
            signal_command(&core, &rec, Signal::SIGKILL).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_by_name_and_number_within_the_allowlist() {
        assert_eq!(parse_signal("KILL").ok(), Some(Signal::SIGKILL));
        assert_eq!(parse_signal("sigterm").ok(), Some(Signal::SIGTERM));
        assert_eq!(parse_signal("2").ok(), Some(Signal::SIGINT));
        assert_eq!(parse_signal(" SIGUSR1 ").ok(), Some(Signal::SIGUSR1));
        for bad in ["", "SEGV", "11", "0", "SIG", "KILLX"] {
            assert!(parse_signal(bad).is_err(), "{bad:?}");
        }
    }
}
