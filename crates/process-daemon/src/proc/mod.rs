//! Process utilities shared by exec, sessions, PTYs and interpreter workers: shell selection,
//! the child environment, the `/proc` reader ([`table`]) and the one kill-tree function
//! ([`signal_unit`], [`kill_tree`]).

pub mod table;

use std::collections::HashMap;
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

pub use table::{children as children_of, descendants, Stat};

/// Live processes whose environment holds `key=value` exactly (from `/proc/<pid>/environ`;
/// processes we may not read are skipped).
pub fn processes_with_env(key: &str, value: &str) -> Vec<Pid> {
    let me = std::process::id();
    table::pids()
        .into_iter()
        .filter(|&pid| pid.unsigned_abs() != me)
        .filter(|&pid| table::env_var(pid, key).is_some_and(|v| v == value.as_bytes()))
        .map(Pid::from_raw)
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

/// Makes `cmd` a long-lived child the daemon drives over pipes: stdin, stdout and stderr piped,
/// its own process group, not killed when its handle is dropped (a warm shell, a session
/// shell).
pub(crate) fn piped_group(cmd: &mut tokio::process::Command) -> &mut tokio::process::Command {
    use std::process::Stdio;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(false)
}

/// The start time of `pid` (`/proc/<pid>/stat` field 22, clock ticks since boot), if it exists.
/// With the pid it names one process for good: a recycled pid has a later start time.
pub fn start_time(pid: i32) -> Option<u64> {
    table::stat(pid).map(|s| s.start_time)
}

/// The state letter of `/proc/<pid>/stat` (`R`, `S`, `Z`, ...), if the process exists.
pub fn proc_state(pid: i32) -> Option<char> {
    table::stat(pid).map(|s| s.state)
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

/// The one kill-tree function: signals one unit's processes. With `sig` SIGKILL its cgroup, when
/// it has one, is killed with `cgroup.kill` (which also takes processes that left the group and
/// the tree and cleared their environment); with another signal each process in the cgroup gets
/// it. Then each process group in `groups` and each pid in `pids` (collected earlier, so
/// re-parenting cannot hide them) get `sig`. Never signals pid 0, 1 or the daemon.
pub(crate) fn signal_unit(
    cgroup: Option<&crate::cgroup::Cgroup>,
    groups: &[Pid],
    pids: &[Pid],
    sig: Signal,
) {
    let me = std::process::id() as i32;
    let fair = |p: &Pid| p.as_raw() > 1 && p.as_raw() != me;
    let in_cgroup = match cgroup {
        Some(cg) if sig == Signal::SIGKILL => {
            cg.kill();
            Vec::new()
        }
        Some(cg) => cg.procs(),
        None => Vec::new(),
    };
    for pg in groups.iter().filter(|p| fair(p)) {
        let _ = signal::killpg(*pg, sig);
    }
    // Each process once (a second SIGINT is not the same as one).
    let mut each: Vec<Pid> = pids
        .iter()
        .chain(&in_cgroup)
        .copied()
        .filter(fair)
        .collect();
    each.sort_unstable();
    each.dedup();
    for pid in each {
        let _ = signal::kill(pid, sig);
    }
}

/// Signals the tree of `leader` through [`signal_unit`]: its cgroup, its process group, itself
/// and every descendant found under it now (which catches children that left the group, e.g.
/// `setsid`). Returns the pids signalled besides the cgroup (for a later SIGKILL).
pub(crate) fn kill_tree(
    leader: Pid,
    cgroup: Option<&crate::cgroup::Cgroup>,
    sig: Signal,
) -> Vec<Pid> {
    let mut tree = descendants(leader);
    tree.push(leader);
    signal_unit(cgroup, &[leader], &tree, sig);
    tree
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
