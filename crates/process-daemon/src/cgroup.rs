//! cgroup v2 units: where processd has a writable cgroup v2 directory ([`crate::CgroupRoot`],
//! chosen by the binary's `--cgroup-root`; off for an embedded daemon), every session, PTY,
//! interpreter worker and cold exec runs in a cgroup of its own, and killing it writes
//! `cgroup.kill`, which takes every process inside, including escapees that left the process
//! group (`setsid`), were re-parented and cleared their environment. Only `cgroup.procs` and
//! `cgroup.kill` are used, so no controller needs to be enabled (here the controllers are on v1
//! and `/sys/fs/cgroup/unified` is a bare v2 hierarchy).
//!
//! Layout: `<root>/processd-<hash of the state dir>/<daemon pid>-<n>`. The state dir is locked
//! (one daemon per state dir), so the base belongs to this daemon and its earlier incarnations
//! only; with `kill_leftovers` every unit found below it at startup is killed and removed.
//!
//! Off the request path: empty unit directories are made ahead of time by a background thread
//! (a pool of [`POOL`]), and the directories of ended units are removed by the same thread once
//! they are empty (a unit whose background processes outlive it stays until they exit). A unit
//! taken from an empty pool is made on the spot. A session command's cgroup (nested in its
//! session's) is made with the command's slot, ahead of time ([`Cgroup::child`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::time::Duration;

/// Unit directories kept made ahead of time.
const POOL: usize = 16;
/// How often the background thread retries removing ended units that still hold processes.
const SWEEP: Duration = Duration::from_millis(500);

/// The cgroup subtree of one daemon. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Cgroups {
    inner: Arc<Inner>,
}

struct Inner {
    base: PathBuf,
    next: AtomicU64,
    /// Testing only: a pause before each move into a unit (see `Config::test_adopt_delay`).
    adopt_delay: Duration,
    state: Mutex<PoolState>,
    wake: Condvar,
}

#[derive(Default)]
struct PoolState {
    /// Empty unit directories ready to be handed out.
    ready: Vec<PathBuf>,
    /// Directories of ended units, removed once empty.
    retired: Vec<PathBuf>,
}

/// One unit's cgroup. Dropping it retires the directory: it is removed once empty.
pub(crate) struct Cgroup {
    dir: PathBuf,
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Cgroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Cgroup").field(&self.dir).finish()
    }
}

/// The cgroup v2 directory this process is in (`/proc/self/cgroup`'s `0::` line under the
/// cgroup2 mount of `/proc/self/mountinfo`), if there is one.
pub(crate) fn own_dir() -> Option<PathBuf> {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let own = cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mount = mountinfo.lines().find_map(|line| {
        // `id parent major:minor root mountpoint options... - fstype source superoptions`
        let (left, right) = line.split_once(" - ")?;
        if right.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        let mut fields = left.split_whitespace();
        let root = fields.nth(3)?;
        let point = fields.next()?;
        (root == "/").then(|| PathBuf::from(point))
    })?;
    let dir = mount.join(own.trim_start_matches('/'));
    dir.join("cgroup.procs").exists().then_some(dir)
}

/// A stable name for `state_dir` (FNV-1a of its path): the same across incarnations.
fn base_name(state_dir: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let canonical = state_dir
        .canonicalize()
        .unwrap_or_else(|_| state_dir.to_owned());
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in canonical.as_os_str().as_bytes() {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("processd-{hash:016x}")
}

impl Cgroups {
    /// Takes `root` for this daemon: makes its base directory, kills and removes what an
    /// earlier incarnation left there when `kill_leftovers`, checks that units can be made and
    /// killed (`cgroup.kill`, Linux ≥ 5.14), and starts the background thread.
    pub(crate) fn open(
        root: &Path,
        state_dir: &Path,
        kill_leftovers: bool,
        adopt_delay: Duration,
    ) -> Result<Cgroups, String> {
        let base = root.join(base_name(state_dir));
        match std::fs::create_dir(&base) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("cannot create the cgroup {}: {e}", base.display())),
        }
        if kill_leftovers {
            clear(&base);
        }
        sweep_stale(root, &base);
        let inner = Arc::new(Inner {
            base,
            next: AtomicU64::new(0),
            adopt_delay,
            state: Mutex::new(PoolState::default()),
            wake: Condvar::new(),
        });
        let probe = inner.make()?;
        if !probe.join("cgroup.kill").exists() {
            let _ = std::fs::remove_dir(&probe);
            return Err(format!(
                "the cgroup {} has no cgroup.kill (Linux 5.14 or later is needed)",
                probe.display()
            ));
        }
        inner.lock().ready.push(probe);
        let weak = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("processd-cgroups".to_owned())
            .spawn(move || background(&weak))
            .map_err(|e| format!("cannot start the cgroup thread: {e}"))?;
        Ok(Cgroups { inner })
    }

    /// The base directory (every unit is a child of it).
    pub(crate) fn base(&self) -> &Path {
        &self.inner.base
    }

    /// A fresh, empty unit cgroup: one made ahead of time, or made now when none is left
    /// (`None` when even that fails, with a warning: the unit then runs without a cgroup).
    pub(crate) fn take(&self) -> Option<Cgroup> {
        let ready = {
            let mut state = self.inner.lock();
            let dir = state.ready.pop();
            self.inner.wake.notify_one();
            dir
        };
        let dir = match ready {
            Some(dir) => dir,
            None => match self.inner.make() {
                Ok(dir) => dir,
                Err(err) => {
                    tracing::warn!(error = %err, "no cgroup for this unit; it is killed by process group");
                    return None;
                }
            },
        };
        Some(Cgroup {
            dir,
            inner: self.inner.clone(),
        })
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes one unit directory with a name not used before.
    fn make(&self) -> Result<PathBuf, String> {
        loop {
            let n = self.next.fetch_add(1, Ordering::Relaxed);
            let dir = self.base.join(format!("{}-{n}", std::process::id()));
            match std::fs::create_dir(&dir) {
                Ok(()) => return Ok(dir),
                // An earlier incarnation with our pid kept its leftovers.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(format!("cannot create the cgroup {}: {e}", dir.display())),
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let state = std::mem::take(&mut *self.lock());
        for dir in state.ready.iter().chain(&state.retired) {
            let _ = std::fs::remove_dir(dir);
        }
        // Fails while an ended unit's processes still run: the next incarnation clears it.
        let _ = std::fs::remove_dir(&self.base);
    }
}

/// The background thread: keeps [`POOL`] units ready and removes ended ones once empty. Ends
/// with the daemon's [`Cgroups`].
fn background(weak: &Weak<Inner>) {
    loop {
        let Some(inner) = weak.upgrade() else { return };
        loop {
            if inner.lock().ready.len() >= POOL {
                break;
            }
            match inner.make() {
                Ok(dir) => inner.lock().ready.push(dir),
                Err(err) => {
                    tracing::debug!(error = %err, "cannot make a cgroup ahead of time");
                    break;
                }
            }
        }
        let retired = std::mem::take(&mut inner.lock().retired);
        let left: Vec<PathBuf> = retired
            .into_iter()
            .filter(|dir| std::fs::remove_dir(dir).is_err() && dir.exists())
            .collect();
        let mut state = inner.lock();
        state.retired.extend(left);
        let _ = inner
            .wake
            .wait_timeout(state, SWEEP)
            .unwrap_or_else(PoisonError::into_inner);
    }
}

/// Removes the empty units of daemons that are gone from the other bases below `root` (a
/// daemon killed with SIGKILL leaves its pool behind; its state dir may be gone too), and such
/// a base once it is empty. A unit is named after its daemon's pid: a live pid's units stay.
fn sweep_stale(root: &Path, own: &Path) {
    let Ok(bases) = std::fs::read_dir(root) else {
        return;
    };
    for base in bases.flatten() {
        let path = base.path();
        let name = base.file_name();
        let is_base = name
            .to_str()
            .and_then(|n| n.strip_prefix("processd-"))
            .is_some_and(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()));
        if !is_base || path == own {
            continue;
        }
        let Ok(units) = std::fs::read_dir(&path) else {
            continue;
        };
        for unit in units.flatten() {
            let owner = unit
                .file_name()
                .to_str()
                .and_then(|n| n.split_once('-'))
                .and_then(|(pid, _)| pid.parse::<i32>().ok());
            let gone = owner
                .is_some_and(|pid| crate::proc::table::stat(pid).is_none_or(|s| s.is_zombie()));
            if gone {
                // Fails, and stays, while it (or a nested command cgroup) has processes.
                let _ = std::fs::remove_dir(unit.path());
            }
        }
        let _ = std::fs::remove_dir(&path);
    }
}

/// Kills every process below `base` and removes its unit directories (bounded: a unit whose
/// processes take longer than 2 s to exit stays, and is retried at the next start).
fn clear(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    let units: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    for unit in &units {
        kill_dir(unit);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    for unit in &units {
        while populated(unit) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        remove_dir(unit);
    }
}

impl Cgroup {
    /// The unit's directory.
    pub(crate) fn path(&self) -> &Path {
        &self.dir
    }

    /// Moves the process `pid` into this cgroup (its later children are born inside), and the
    /// descendants it already has.
    ///
    /// Called by the parent right after the spawn, instead of a `pre_exec` hook in the child or
    /// `clone3(CLONE_INTO_CGROUP)`: std spawns with `posix_spawn` only while no hook is set (a
    /// hook costs fork + exec), and std exposes no `clone3`. Cold spawns wait at a gate until
    /// they are moved (`oneshot::bash_gate` for a bash, the trampoline of `crate::gate` for
    /// anything else, then [`Cgroup::adopt_alone`]); a warm shell is moved while it waits in
    /// `read`. This call is for a process that may already have run: its descendants found
    /// now are moved too, so what would escape is a process forked *and* re-parented (its
    /// parent gone) before the write; every kill path also signals the process group, the
    /// tree and (for execs) the run tag ([`crate::proc::signal_unit`]).
    pub(crate) fn adopt(&self, pid: u32) -> bool {
        self.test_delay();
        let procs = self.dir.join("cgroup.procs");
        if let Err(err) = std::fs::write(&procs, pid.to_string()) {
            tracing::warn!(cgroup = %self.dir.display(), pid, error = %err, "cannot move a process into its cgroup");
            return false;
        }
        let mut stack: Vec<i32> = i32::try_from(pid).into_iter().collect();
        while let Some(p) = stack.pop() {
            for child in crate::proc::table::children(p) {
                let _ = std::fs::write(&procs, child.to_string());
                stack.push(child);
            }
        }
        true
    }

    /// Moves `pid` into this cgroup, and nothing else: for a process that cannot have
    /// started a child yet (a cold exec's shell held at its gate). `false`, with a warning,
    /// when the write fails.
    pub(crate) fn adopt_alone(&self, pid: u32) -> bool {
        self.test_delay();
        let procs = self.dir.join("cgroup.procs");
        match std::fs::write(&procs, pid.to_string()) {
            Ok(()) => true,
            Err(err) => {
                tracing::warn!(cgroup = %self.dir.display(), pid, error = %err, "cannot move a process into its cgroup");
                false
            }
        }
    }

    /// The test-only pause before a move (`Config::test_adopt_delay`; none in production).
    fn test_delay(&self) {
        if !self.inner.adopt_delay.is_zero() {
            std::thread::sleep(self.inner.adopt_delay);
        }
    }

    /// A cgroup nested in this one, named `name` (its processes die with this one's
    /// `cgroup.kill` too), or `None` when it cannot be made.
    pub(crate) fn child(&self, name: &str) -> Option<Cgroup> {
        let dir = self.dir.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => Some(Cgroup {
                dir,
                inner: self.inner.clone(),
            }),
            Err(err) => {
                tracing::debug!(cgroup = %dir.display(), error = %err, "cannot make a nested cgroup");
                None
            }
        }
    }

    /// The processes inside now (`cgroup.procs`).
    pub(crate) fn procs(&self) -> Vec<nix::unistd::Pid> {
        std::fs::read_to_string(self.dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse::<i32>().ok())
            .map(nix::unistd::Pid::from_raw)
            .collect()
    }

    /// SIGKILLs every process in the cgroup (`cgroup.kill`).
    pub(crate) fn kill(&self) {
        kill_dir(&self.dir);
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let mut state = self.inner.lock();
        state.retired.push(std::mem::take(&mut self.dir));
        self.inner.wake.notify_one();
    }
}

/// Whether the cgroup `dir` holds a live process (`populated 1` in `cgroup.events`).
fn populated(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("cgroup.events"))
        .is_ok_and(|events| events.lines().any(|l| l == "populated 1"))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_name_is_stable_and_names_the_state_dir() {
        let a = base_name(Path::new("/nonexistent/a"));
        assert_eq!(a, base_name(Path::new("/nonexistent/a")));
        assert_ne!(a, base_name(Path::new("/nonexistent/b")));
        assert!(a.starts_with("processd-") && a.len() == "processd-".len() + 16);
    }
}
