//! Process utilities shared by exec, sessions, PTYs and interpreter workers: shell selection,
//! the child environment, and killing whole process trees.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

/// Environment variables of the daemon that children never see.
const SCRUBBED_ENV: &[&str] = &[
    "PROCESSD_TOKEN",
    "PROCESSD_LISTEN",
    "PROCESSD_STATE_DIR",
    "PROCESSD_LOG",
];

/// The shell every exec, code-run, session and PTY uses (spec §8.2): the first of zsh, bash
/// listed in `/etc/shells` and present, else `$SHELL`, else `/bin/sh`.
pub fn select_shell() -> PathBuf {
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

/// The environment a child starts with: the daemon's own, minus its secrets and settings,
/// plus `extra` (which wins).
pub fn child_env<'a>(
    extra: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = std::env::vars()
        .filter(|(k, _)| !SCRUBBED_ENV.contains(&k.as_str()))
        .collect();
    for (k, v) in extra {
        env.insert(k.to_owned(), v.to_owned());
    }
    env
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
    }

    #[test]
    fn select_shell_returns_an_existing_program() {
        assert!(select_shell().exists());
    }
}
