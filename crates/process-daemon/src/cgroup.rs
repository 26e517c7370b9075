//! cgroup v2 helpers: `cgroup.kill` takes every process inside a cgroup, including escapees that
//! left the process group and cleared their environment. Today only the startup cleanup of an
//! earlier incarnation's processes uses them (for records that name a cgroup); sessions, PTYs,
//! execs and interpreter workers are not yet placed in cgroups of their own, so their kills
//! take the process-group/tree/tag path.

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
