//! Starting a session's shell on a new PTY ([`spawn_shell`]) and finding the processes that
//! still belong to its terminal after the shell ([`session_members`], [`terminal_holders`]).

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::process::Stdio;

use nix::unistd::Pid;
use tokio::io::unix::AsyncFd;

use super::Spec;
use crate::proc;
use crate::pty::sys;

/// A shell just started on its PTY.
pub(super) struct Spawned {
    pub(super) child: tokio::process::Child,
    /// Keeps the daemon's reaper off the shell's pid until we have waited for it.
    pub(super) tracked: Option<crate::reaper::Tracked>,
    pub(super) master: AsyncFd<OwnedFd>,
    pub(super) tty: String,
}

/// Opens the PTY and starts the shell `-i -l` on it as a session leader with the PTY as its
/// controlling terminal, inside `cgroup` from before its `exec` (the fork already needs a hook
/// for the terminal, so joining there costs nothing and leaves no window: its profile and
/// rc files run inside).
pub(super) fn spawn_shell(
    spec: &Spec,
    cols: u16,
    rows: u16,
    cgroup: Option<&crate::cgroup::Cgroup>,
) -> std::io::Result<Spawned> {
    let pair = sys::open_pty(cols, rows)?;
    let shell = proc::select_shell();
    let mut cmd = tokio::process::Command::new(&shell);
    cmd.arg("-i")
        .arg("-l")
        .current_dir(&spec.cwd)
        .env_clear()
        .envs(proc::child_env(
            spec.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        ))
        .stdin(Stdio::from(pair.slave.try_clone()?))
        .stdout(Stdio::from(pair.slave.try_clone()?))
        .stderr(Stdio::from(pair.slave))
        .kill_on_drop(false);
    let join = cgroup
        .map(|cg| std::ffi::CString::new(cg.path().join("cgroup.procs").as_os_str().as_bytes()))
        .transpose()
        .map_err(std::io::Error::other)?;
    sys::session_leader_on_stdin(&mut cmd, join);
    let (child, tracked) = crate::reaper::spawn(&mut cmd).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("{} in {}: {e}", shell.display(), spec.cwd.display()),
        )
    })?;
    // `cmd` (and with it the parent's copies of the slave) is dropped here: only the shell
    // holds the terminal now, so its exit makes the master read EOF.
    drop(cmd);
    sys::set_nonblocking(pair.master.as_fd())?;
    let master = sys::register_master(pair.master)?;
    Ok(Spawned {
        child,
        tracked,
        master,
        tty: pair.slave_path,
    })
}

/// Live processes whose session id is `sid` (the shell's pid), found in `/proc`.
pub(super) fn session_members(sid: Pid) -> Vec<Pid> {
    proc::table::all()
        .into_iter()
        .filter(|s| s.session == sid.as_raw() && !s.is_zombie())
        .map(|s| Pid::from_raw(s.pid))
        .collect()
}

/// Live processes other than the daemon that have `tty` open (e.g. a `setsid` child that kept
/// its stdout), found in `/proc/<pid>/fd`.
///
/// A process still running the daemon's own executable is never one: it is the daemon, or a
/// child the daemon forked for another spawn (a PTY shell, a session shell, an exec) that has
/// not reached `exec` yet and so still holds copies of every descriptor the daemon had open at
/// the fork, this terminal's slave among them when that fork raced this session's spawn. Its
/// copies are close-on-exec and vanish at its `exec`. Killing it would kill the other spawn.
/// The executable is compared (device and inode of `/proc/<pid>/exe`) *before* the descriptors
/// are read: `exec` only ever moves a process away from the daemon's executable, so a process
/// seen holding the terminal after it was seen running something else holds it for real.
pub(super) fn terminal_holders(tty: &str) -> Vec<Pid> {
    let me = std::process::id() as i32;
    let own_exe = proc::table::exe_identity("self");
    proc::table::pids()
        .into_iter()
        .filter(|&pid| pid != me)
        .filter(|pid| own_exe.is_none() || proc::table::exe_identity(&pid.to_string()) != own_exe)
        .filter(|&pid| proc::table::holds(pid, std::ffi::OsStr::new(tty)))
        .map(Pid::from_raw)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Set in the stand-in holder's environment (see `holder_stand_in`).
    const STAND_IN_ENV: &str = "PROCESSD_TEST_HOLDER_STAND_IN";

    /// Not a test: the body of a child that runs this test binary (the daemon's executable)
    /// while holding a terminal, like a just-forked child of another spawn.
    #[test]
    #[ignore = "run by holders_never_include_children_running_the_daemons_executable"]
    fn holder_stand_in() {
        if std::env::var_os(STAND_IN_ENV).is_some() {
            std::thread::sleep(Duration::from_secs(30));
        }
    }

    #[test]
    fn holders_never_include_children_running_the_daemons_executable() {
        let pair = sys::open_pty(80, 24).unwrap();
        let slave = || Stdio::from(pair.slave.try_clone().unwrap());
        // A real stray (another program with the terminal as its stdout)...
        let mut stray = std::process::Command::new("sleep")
            .arg("30")
            .stdin(Stdio::null())
            .stdout(slave())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // ...and a child still running the daemon's executable that holds the terminal.
        let mut own = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "pty::session::spawn::tests::holder_stand_in",
                "--exact",
                "--ignored",
                "--test-threads=1",
            ])
            .env(STAND_IN_ENV, "1")
            .stdin(Stdio::null())
            .stdout(slave())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (stray_pid, own_pid) = (stray.id() as i32, own.id() as i32);
        // Both hold the terminal once they run (the stand-in as soon as it exists).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let holds =
            |pid: i32| proc::table::holds(pid, std::ffi::OsStr::new(pair.slave_path.as_str()));
        while !(holds(stray_pid)
            && holds(own_pid)
            && proc::table::exe_identity(&stray_pid.to_string())
                != proc::table::exe_identity("self"))
        {
            assert!(
                std::time::Instant::now() < deadline,
                "children never started"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let holders = terminal_holders(&pair.slave_path);
        let _ = stray.kill();
        let _ = own.kill();
        let _ = stray.wait();
        let _ = own.wait();
        assert!(
            holders.contains(&Pid::from_raw(stray_pid)),
            "the stray {stray_pid} was not found: {holders:?}"
        );
        assert!(
            !holders.contains(&Pid::from_raw(own_pid)),
            "a child running the daemon's executable ({own_pid}) counted as a holder: {holders:?}"
        );
    }

    #[test]
    fn own_session_id_is_readable() {
        let sid = nix::unistd::getsid(None).unwrap();
        assert_eq!(
            proc::table::stat(std::process::id() as i32).map(|s| s.session),
            Some(sid.as_raw())
        );
    }
}
