//! Zombie reaping: the daemon becomes a child subreaper (or is PID 1) and collects orphans that
//! re-parent to it, without ever stealing the exit status of a child the daemon itself waits for.
//!
//! Every child the daemon spawns goes through [`spawn`] (or [`track`]), which records its pid in
//! a process-wide registry until its owner has waited for it. The reaper only reaps zombies whose
//! parent is the daemon, that are **not** in the registry, and that have stayed zombies for at
//! least [`UNTRACKED_GRACE`] (a safety net for code that spawns without registering and waits a
//! little later). A spawn holds the registry's gate for reading while it forks and records the
//! pid; a reaper scan holds it for writing, so a fast-exiting new child can never be mistaken
//! for an orphan.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// How long an unregistered zombie child may wait for its owner before the reaper collects it.
pub const UNTRACKED_GRACE: Duration = Duration::from_secs(1);

struct Registry {
    /// Held for reading while spawning (fork + record), for writing while scanning.
    gate: RwLock<()>,
    /// Pids of children whose owner will wait for them.
    ours: Mutex<HashSet<i32>>,
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry {
        gate: RwLock::new(()),
        ours: Mutex::new(HashSet::new()),
    })
}

/// Marks a child pid as owned until dropped: the reaper leaves it alone. Drop it after the
/// owner's wait has returned.
#[derive(Debug)]
pub struct Tracked {
    pid: i32,
}

impl Tracked {
    /// The tracked pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Ok(mut ours) = registry().ours.lock() {
            ours.remove(&self.pid);
        }
    }
}

/// Runs `spawn_fn` (which forks a child and returns it) with the registry gate held, and records
/// the child's pid (from `pid_of`) before the reaper can look at it.
pub fn track<T, E>(
    spawn_fn: impl FnOnce() -> Result<T, E>,
    pid_of: impl FnOnce(&T) -> Option<u32>,
) -> Result<(T, Option<Tracked>), E> {
    let reg = registry();
    let _gate = reg
        .gate
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let child = spawn_fn()?;
    let tracked = pid_of(&child).and_then(|pid| {
        let pid = i32::try_from(pid).ok()?;
        let mut ours = reg
            .ours
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        ours.insert(pid);
        Some(Tracked { pid })
    });
    Ok((child, tracked))
}

/// Spawns a tokio child through [`track`] (its `oom_score_adj` reset to 0, see
/// [`crate::proc::reset_oom_score_in_child`]).
pub fn spawn(
    cmd: &mut tokio::process::Command,
) -> std::io::Result<(tokio::process::Child, Option<Tracked>)> {
    crate::proc::reset_oom_score_in_child(cmd);
    track(|| cmd.spawn(), tokio::process::Child::id)
}

/// How often the reaper looks for orphaned zombies.
const SCAN_INTERVAL: Duration = Duration::from_millis(200);

/// Makes the daemon a child subreaper (unless it is PID 1, which already is one) and starts the
/// reaper thread (a plain thread, so it outlives any one tokio runtime). Later calls do nothing.
pub fn start() {
    static STARTED: OnceLock<()> = OnceLock::new();
    if STARTED.set(()).is_err() {
        return;
    }
    if std::process::id() != 1 {
        if let Err(err) = nix::sys::prctl::set_child_subreaper(true) {
            tracing::warn!(error = %err, "cannot become a child subreaper; orphans go to init");
        }
    }
    let spawned = std::thread::Builder::new()
        .name("processd-reaper".into())
        .spawn(|| {
            let mut seen: HashMap<i32, Instant> = HashMap::new();
            loop {
                std::thread::sleep(SCAN_INTERVAL);
                let n = scan_once(&mut seen, Instant::now());
                if n > 0 {
                    tracing::debug!(reaped = n, "reaped orphaned children");
                }
            }
        });
    if let Err(err) = spawned {
        tracing::warn!(error = %err, "cannot start the reaper thread; orphans stay zombies");
    }
}

/// One reaper pass: reaps unregistered zombie children first seen at least [`UNTRACKED_GRACE`]
/// ago. `seen` remembers when each zombie was first observed. Returns how many were reaped.
fn scan_once(seen: &mut HashMap<i32, Instant>, now: Instant) -> usize {
    let reg = registry();
    let _gate = reg
        .gate
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let zombies = zombie_children();
    let ours = reg
        .ours
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    seen.retain(|pid, _| zombies.contains(pid));
    let mut reaped = 0;
    for pid in zombies {
        if ours.contains(&pid) {
            continue;
        }
        let first = *seen.entry(pid).or_insert(now);
        if now.duration_since(first) < UNTRACKED_GRACE {
            continue;
        }
        if !matches!(
            waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)),
            Ok(WaitStatus::StillAlive)
        ) {
            seen.remove(&pid);
            reaped += 1;
        }
    }
    reaped
}

/// Pids of the daemon's children that are zombies.
fn zombie_children() -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    for pid in crate::proc::children_of(me) {
        if crate::proc::proc_state(pid) == Some('Z') {
            out.push(pid);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tracked_children_are_never_reaped_by_the_scan() {
        let mut cmd = tokio::process::Command::new("/bin/sh");
        cmd.arg("-c").arg("exit 7");
        let (mut child, tracked) = spawn(&mut cmd).unwrap();
        let pid = tracked.as_ref().unwrap().pid();
        // Wait until it is a zombie, then scan with the grace already elapsed.
        for _ in 0..200 {
            if crate::proc::proc_state(pid) == Some('Z') {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut seen = HashMap::new();
        seen.insert(
            pid,
            Instant::now().checked_sub(Duration::from_secs(10)).unwrap(),
        );
        scan_once(&mut seen, Instant::now());
        let status = child.wait().await.unwrap();
        assert_eq!(
            status.code(),
            Some(7),
            "the owner must still get the real status"
        );
        drop(tracked);
    }
}
