//! cgroup v2 containment: where the daemon has a writable cgroup v2 subtree, every session
//! shell, PTY and interpreter worker runs in its own cgroup, and killing one writes
//! `cgroup.kill`, which takes every process inside, including escapees that left the process
//! group and cleared their environment. Without one, the process-group/tree/tag path is used.

use std::path::Path;

/// Kills every process in the cgroup `dir` (and its descendants) with `cgroup.kill`.
pub(crate) fn kill_dir(dir: &Path) {
    if let Err(err) = std::fs::write(dir.join("cgroup.kill"), "1") {
        tracing::debug!(cgroup = %dir.display(), error = %err, "cgroup.kill failed");
    }
}

/// Removes the (empty) cgroup `dir`; a cgroup that still has processes stays.
pub(crate) fn remove_dir(dir: &Path) {
    let _ = std::fs::remove_dir(dir);
}
