//! The one `/proc` reader of the daemon (and of its tests): a process's `stat` fields, the
//! process table, environments, open descriptors and executables. Everything that looks at
//! other processes (kill paths, the orphan reaper, the startup cleanup, PTY sessions) reads
//! `/proc` through here. Processes that vanish or that we may not read are skipped.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;

use nix::unistd::Pid;

/// The fields of `/proc/<pid>/stat` the daemon uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// The process id.
    pub pid: i32,
    /// The state letter (`R`, `S`, `D`, `Z`, `T`, ...).
    pub state: char,
    /// The parent's pid.
    pub ppid: i32,
    /// The process group.
    pub pgid: i32,
    /// The session id.
    pub session: i32,
    /// Clock ticks since boot when it started: with the pid it names one process for good (a
    /// recycled pid has a later start time).
    pub start_time: u64,
}

impl Stat {
    /// Whether it is a zombie (exited, not yet reaped).
    pub fn is_zombie(&self) -> bool {
        self.state == 'Z'
    }
}

/// Parses one `/proc/<pid>/stat` line. The command name (field 2) is in parentheses and may
/// itself hold spaces and `)`, so the fields are counted after the *last* `)`.
pub fn parse_stat(pid: i32, line: &str) -> Option<Stat> {
    let after = &line[line.rfind(')')? + 1..];
    let mut f = after.split_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    let pgid = f.next()?.parse().ok()?;
    let session = f.next()?.parse().ok()?;
    // Fields 7..=21 (tty_nr .. itrealvalue), then 22: starttime.
    let start_time = f.nth(15)?.parse().ok()?;
    Some(Stat {
        pid,
        state,
        ppid,
        pgid,
        session,
        start_time,
    })
}

/// The stat of `pid`, if it exists.
pub fn stat(pid: i32) -> Option<Stat> {
    let line = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(pid, &line)
}

/// Every pid in `/proc` now.
pub fn pids() -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .collect()
}

/// The stat of every process now (zombies included).
pub fn all() -> Vec<Stat> {
    pids().into_iter().filter_map(stat).collect()
}

/// The value of the variable `key` in the environment `pid` started with, if it is set.
pub fn env_var(pid: i32, key: &str) -> Option<Vec<u8>> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    env.split(|b| *b == 0).find_map(|entry| {
        entry
            .strip_prefix(key.as_bytes())
            .and_then(|rest| rest.strip_prefix(b"="))
            .map(<[u8]>::to_vec)
    })
}

/// The command line of `pid`, NUL-separated (empty for a zombie or a kernel thread).
pub fn cmdline(pid: i32) -> Option<Vec<u8>> {
    std::fs::read(format!("/proc/{pid}/cmdline")).ok()
}

/// Whether `pid` has a descriptor open on `target` (a path such as `/dev/pts/3`).
pub fn holds(pid: i32, target: &OsStr) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
        fds.flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t.as_os_str() == target))
    })
}

/// The executable of `pid` (`"self"` for this process) as (device, inode), when readable.
pub fn exe_identity(pid: &str) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(format!("/proc/{pid}/exe")).ok()?;
    Some((meta.dev(), meta.ino()))
}

/// Direct children of `pid`: from `/proc/<pid>/task/*/children` when the kernel has it, else
/// from every process's parent.
pub fn children(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let mut found_file = false;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            if let Ok(list) = std::fs::read_to_string(task.path().join("children")) {
                found_file = true;
                out.extend(
                    list.split_whitespace()
                        .filter_map(|p| p.parse::<i32>().ok()),
                );
            }
        }
    }
    if found_file {
        out.sort_unstable();
        out.dedup();
        return out;
    }
    all()
        .into_iter()
        .filter(|s| s.ppid == pid)
        .map(|s| s.pid)
        .collect()
}

/// Every live descendant of `root` in `table` (not `root` itself).
pub fn descendants_in(table: &[Stat], root: i32) -> Vec<Pid> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for s in table {
        children.entry(s.ppid).or_default().push(s.pid);
    }
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut stack = vec![root];
    while let Some(p) = stack.pop() {
        for &c in children.get(&p).map_or(&[][..], Vec::as_slice) {
            if seen.insert(c) {
                out.push(Pid::from_raw(c));
                stack.push(c);
            }
        }
    }
    out
}

/// Every live descendant of `root` (not `root` itself), from one read of the process table.
pub fn descendants(root: Pid) -> Vec<Pid> {
    descendants_in(&all(), root.as_raw())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn our_own_stat_reads() {
        let me = i32::try_from(std::process::id()).unwrap();
        let s = stat(me).unwrap();
        assert_eq!(s.pid, me);
        assert!(!s.is_zombie());
        assert_eq!(
            s.ppid,
            i32::try_from(std::os::unix::process::parent_id()).unwrap()
        );
        assert!(pids().contains(&me));
    }

    #[test]
    fn descendants_follow_parents_not_groups() {
        let table = [(10, 1), (11, 10), (12, 11), (13, 1), (14, 12)].map(|(pid, ppid)| Stat {
            pid,
            state: 'S',
            ppid,
            pgid: pid,
            session: 1,
            start_time: 0,
        });
        let mut d: Vec<i32> = descendants_in(&table, 10)
            .iter()
            .map(|p| p.as_raw())
            .collect();
        d.sort_unstable();
        assert_eq!(d, [11, 12, 14]);
    }

    proptest! {
        /// Whatever the command name holds (spaces, parentheses), the fields after it parse.
        #[test]
        fn stat_lines_parse_whatever_the_command_name(
            comm in "[ -~]{0,16}",
            state in "[RSDZTtXI]",
            ppid in 0i32..4_194_304,
            pgid in 0i32..4_194_304,
            session in 0i32..4_194_304,
            start in any::<u64>(),
        ) {
            let line = format!(
                "42 ({comm}) {state} {ppid} {pgid} {session} 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 {start} 2400000 200 18446744073709551615\n"
            );
            let s = parse_stat(42, &line).unwrap();
            prop_assert_eq!(s.state, state.chars().next().unwrap());
            prop_assert_eq!((s.ppid, s.pgid, s.session, s.start_time), (ppid, pgid, session, start));
        }
    }
}
