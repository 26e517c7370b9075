//! What a previous incarnation left behind: the state-dir lock (one daemon per state dir) and
//! the killing of its process trees at startup.
//!
//! A previous process is identified by its pid **and** its start time (pids wrap at 32768
//! here, so a bare pid may name a stranger), by the `PROCESS_RUN_ID` tag its whole tree
//! inherited (a random UUID, which also finds `setsid` escapees that left the group and the
//! tree), and by its cgroup when it had one (which also finds escapees that cleared their
//! environment).

use std::collections::HashSet;
use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::proc;
use crate::store::ProcessRow;

/// The exclusive lock on a state dir, held for the daemon's lifetime.
pub(crate) struct StateLock {
    _lock: nix::fcntl::Flock<File>,
}

/// Locks `<state_dir>/processd.lock` (exclusive, non-blocking). Another live daemon on the same
/// state dir makes this fail with a message naming its pid.
pub(crate) fn lock_state_dir(state_dir: &Path) -> Result<StateLock, String> {
    use std::io::{Read, Seek, Write};
    let path = state_dir.join("processd.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("cannot open the state-dir lock {}: {e}", path.display()))?;
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(mut lock) => {
            let _ = lock.set_len(0);
            let _ = lock.rewind();
            let _ = writeln!(lock, "{}", std::process::id());
            Ok(StateLock { _lock: lock })
        }
        Err((mut file, errno)) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            Err(format!(
                "the state dir {} is in use by another processd (pid {}): {errno}; give this one its own --state-dir",
                state_dir.display(),
                holder.trim()
            ))
        }
    }
}

/// The processes of a previous incarnation still alive: recorded leaders whose pid and start
/// time both match, every member of their groups and every descendant, and every process that
/// carries one of the recorded tags. The daemon itself and pid 1 are never included.
pub(crate) fn survivors(rows: &[ProcessRow]) -> Vec<Pid> {
    if rows.is_empty() {
        return Vec::new(); // nothing recorded (a first start): no need to read every process
    }
    let me = i32::try_from(std::process::id()).unwrap_or(0);
    let own_start = proc::start_time(me).unwrap_or(u64::MAX);
    let stats: Vec<proc::Stat> = proc::table::all()
        .into_iter()
        .filter(|s| !s.is_zombie())
        .collect();
    let mut victims: HashSet<i32> = HashSet::new();
    let mut leaders: Vec<&ProcessRow> = Vec::new();
    for row in rows {
        let Some(st) = stats.iter().find(|s| s.pid == row.pid) else {
            continue;
        };
        if st.start_time != row.start_time {
            continue; // the pid was recycled: a stranger
        }
        leaders.push(row);
        victims.insert(row.pid);
        victims.extend(
            proc::table::descendants_in(&stats, row.pid)
                .iter()
                .map(|p| p.as_raw()),
        );
    }
    // Members of a live recorded leader's group (started after it and before this daemon).
    for st in &stats {
        if leaders.iter().any(|r| {
            st.pgid == r.pid && st.start_time >= r.start_time && st.start_time <= own_start
        }) {
            victims.insert(st.pid);
        }
    }
    let tags: HashSet<&str> = rows.iter().map(|r| r.tag.as_str()).collect();
    if !tags.is_empty() {
        for st in &stats {
            if victims.contains(&st.pid) {
                continue;
            }
            let tagged = proc::table::env_var(st.pid, proc::RUN_ID_ENV)
                .as_deref()
                .and_then(|v| std::str::from_utf8(v).ok())
                .is_some_and(|v| tags.contains(v));
            if tagged {
                victims.insert(st.pid);
            }
        }
    }
    victims.remove(&me);
    victims.remove(&1);
    victims.remove(&0);
    let mut out: Vec<Pid> = victims.into_iter().map(Pid::from_raw).collect();
    out.sort_unstable();
    out
}

/// Kills every survivor of a previous incarnation (cgroup kill where recorded, then SIGKILL to
/// each survivor, repeated until none is left or 5 s pass). Returns how many were found.
pub(crate) fn kill_previous(rows: &[ProcessRow]) -> usize {
    for row in rows {
        if let Some(cg) = &row.cgroup {
            crate::cgroup::kill_dir(cg);
        }
    }
    let first = survivors(rows);
    let found = first.len();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut current = first;
    while !current.is_empty() && Instant::now() < deadline {
        proc::signal_unit(None, &[], &current, Signal::SIGKILL);
        std::thread::sleep(Duration::from_millis(20));
        current = survivors(rows);
    }
    for row in rows {
        if let Some(cg) = &row.cgroup {
            crate::cgroup::remove_dir(cg);
        }
    }
    if found > 0 {
        tracing::info!(
            processes = found,
            "killed what the previous incarnation left running"
        );
    }
    found
}
