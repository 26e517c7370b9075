//! Process utilities shared by exec, sessions, PTYs and interpreter workers: shell selection,
//! the child environment, and killing whole process trees.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

/// Environment variables of the daemon that children never see (besides every `PROCESSD_*`).
const SCRUBBED_ENV: &[&str] = &[
    "PROCESSD_TOKEN",
    "PROCESSD_LISTEN",
    "PROCESSD_STATE_DIR",
    "PROCESSD_LOG",
];

/// Whether a daemon environment variable is kept out of children: the listed ones and every
/// `PROCESSD_*` setting (token, listen address, state dir, ...).
fn scrubbed(key: &str) -> bool {
    SCRUBBED_ENV.contains(&key) || key.starts_with("PROCESSD_")
}

/// The variable that tags every process of one exec/code-run run (children inherit it), so a
/// timeout can find descendants that left both the process group and the process tree (e.g.
/// `(setsid cmd &)`, whose parent exited and which was re-parented to the daemon).
pub const RUN_ID_ENV: &str = "PROCESS_RUN_ID";

/// Live processes whose environment holds `key=value` exactly (from `/proc/<pid>/environ`;
/// processes we may not read are skipped).
pub fn processes_with_env(key: &str, value: &str) -> Vec<Pid> {
    let needle = format!("{key}={value}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let me = std::process::id();
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
                env.split(|b| *b == 0)
                    .any(|entry| entry == needle.as_bytes())
            })
        })
        .filter_map(|pid| i32::try_from(pid).ok().map(Pid::from_raw))
        .collect()
}

/// The shell every exec, code-run, session and PTY uses (spec §8.2), chosen once per process
/// by [`choose_shell`] (it used to read `/etc/shells` on every request).
pub fn select_shell() -> PathBuf {
    static SHELL: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    SHELL.get_or_init(choose_shell).clone()
}

/// The first of zsh, bash listed in `/etc/shells` and present, else `$SHELL`, else `/bin/sh`.
fn choose_shell() -> PathBuf {
    let listed = std::fs::read_to_string("/etc/shells").unwrap_or_default();
    for candidate in ["/usr/bin/zsh", "/bin/zsh", "/usr/bin/bash", "/bin/bash"] {
        let in_list = listed.lines().any(|l| l.trim() == candidate);
        if in_list && std::path::Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    if let Some(shell) = std::env::var_os("SHELL").filter(|s| !s.is_empty()) {
        return PathBuf::from(shell);
    }
    PathBuf::from("/bin/sh")
}

/// The environment a child starts with: the daemon's own, minus its secrets and settings, then
/// the `POST /env` overlay, plus `extra` (which wins). A daemon variable whose name or value is
/// not UTF-8 is left out (with a debug log) rather than taking the daemon down: it could not be
/// reported or changed through the API's JSON either.
pub fn child_env<'a>(
    extra: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| match (k.into_string(), v.into_string()) {
            (Ok(k), Ok(v)) => Some((k, v)),
            (k, _) => {
                tracing::debug!(variable = ?k, "not UTF-8: not passed to children");
                None
            }
        })
        .filter(|(k, _)| !scrubbed(k))
        .collect();
    crate::info::env::apply(&mut env);
    for (k, v) in extra {
        env.insert(k.to_owned(), v.to_owned());
    }
    env
}

/// Marks every open file descriptor above 2 close-on-exec, so descriptors the daemon inherited
/// from whoever started it never reach the commands it runs. Call at startup.
#[allow(unsafe_code)] // fcntl on raw fds we did not open: no safe wrapper takes a raw fd
pub fn cloexec_inherited_fds() {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .filter(|fd| *fd > 2)
        .collect();
    for fd in fds {
        // SAFETY: F_GETFD/F_SETFD only read and set the descriptor's close-on-exec flag; on a
        // descriptor that is no longer open (e.g. the directory handle of the listing above)
        // they fail with EBADF, which is ignored. No memory is touched.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
    }
}

/// Whether this daemon runs with a non-zero `oom_score_adj` its children must not inherit (a
/// sandbox's processd is protected from the sandbox's own OOM; what it runs is not). Read at
/// each spawn (a few µs): sandboxd sets it from outside after processd has started.
fn oom_score_adjusted() -> bool {
    std::fs::read_to_string("/proc/self/oom_score_adj").is_ok_and(|v| v.trim() != "0")
}

/// Makes the child of `cmd` set its `oom_score_adj` back to 0 before exec when the daemon's is
/// not 0, so commands get no OOM protection from the daemon (raising one's own score needs no
/// privilege). Without an adjusted score no hook is installed (a hook costs fork+exec instead
/// of posix_spawn).
#[allow(unsafe_code)] // pre_exec: std's only door to code between fork and exec
pub fn reset_oom_score_in_child(cmd: &mut tokio::process::Command) {
    if !oom_score_adjusted() {
        return;
    }
    // SAFETY: the hook runs in the forked child before exec and only makes the syscalls
    // open(2), write(2) and close(2) on a static path and a static buffer: async-signal-safe,
    // no allocation, no lock.
    unsafe {
        cmd.pre_exec(|| {
            let fd = nix::fcntl::open(
                c"/proc/self/oom_score_adj",
                nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )?;
            nix::unistd::write(&fd, b"0")?;
            Ok(())
        });
    }
}

/// Every live descendant of `root` (not `root` itself), found by walking `/proc`.
pub fn descendants(root: Pid) -> Vec<Pid> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if let Some(ppid) = read_ppid(pid) {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut stack = vec![root.as_raw()];
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

/// Parent pid from `/proc/<pid>/stat` (the field after the last `)`).
fn read_ppid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

/// The start time of `pid` (`/proc/<pid>/stat` field 22, clock ticks since boot), if it exists.
/// With the pid it names one process for good: a recycled pid has a later start time.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// The process group of `pid` (`/proc/<pid>/stat` field 5), if it exists.
pub fn pgid_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(2)?.parse().ok()
}

/// The state letter of `/proc/<pid>/stat` (`R`, `S`, `Z`, ...), if the process exists.
pub fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().next()?.chars().next()
}

/// Direct children of `pid`: from `/proc/<pid>/task/*/children` when the kernel has it, else
/// by scanning every process's parent.
pub fn children_of(pid: i32) -> Vec<i32> {
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
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if read_ppid(child) == Some(pid) {
            out.push(child);
        }
    }
    out
}

/// The conventional exit code of a finished process: its own code, or 128 + the signal that
/// killed it (137 for SIGKILL, 143 for SIGTERM), or -1 when neither is known.
pub fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        code
    } else if let Some(sig) = status.signal() {
        128 + sig
    } else {
        -1
    }
}

/// Signals a whole command tree: its process group `pgid` and the listed pids (descendants
/// collected earlier, which may have left the group). Never signals pid 0, 1 or the daemon.
pub fn signal_group_and(pgid: Pid, pids: &[Pid], sig: Signal) {
    let me = std::process::id() as i32;
    if pgid.as_raw() > 1 && pgid.as_raw() != me {
        let _ = signal::killpg(pgid, sig);
    }
    for &pid in pids {
        if pid.as_raw() > 1 && pid.as_raw() != me {
            let _ = signal::kill(pid, sig);
        }
    }
}

/// Sends `sig` to the process group led by `leader`, to `leader` itself, and to every
/// descendant found under it (which catches children that left the group, e.g. `setsid`).
/// Descendants are collected before signalling so re-parenting cannot hide them.
pub fn kill_tree(leader: Pid, sig: Signal) {
    let tree = descendants(leader);
    let _ = signal::killpg(leader, sig);
    let _ = signal::kill(leader, sig);
    for pid in tree {
        let _ = signal::kill(pid, sig);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubbed_env_never_reaches_children() {
        let env = child_env([("A", "1")]);
        assert_eq!(env.get("A").map(String::as_str), Some("1"));
        for key in SCRUBBED_ENV {
            assert!(!env.contains_key(*key));
        }
        assert!(env.keys().all(|k| !k.starts_with("PROCESSD_")));
    }

    #[test]
    fn select_shell_returns_an_existing_program() {
        assert!(select_shell().exists());
    }
}
