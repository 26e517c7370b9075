//! The PTY syscalls: opening a master/slave pair with close-on-exec set atomically, setting the
//! window size, and making the PTY the controlling terminal of a new session in the child.
//!
//! This is the only module of the daemon with `unsafe`: `pre_exec`, the two terminal ioctls
//! (`TIOCSWINSZ`, `TIOCSCTTY`) and tokio's `AsyncFd::register` have no safe form in nix, std or
//! tokio.
#![allow(unsafe_code)] // pre_exec + TIOCSWINSZ/TIOCSCTTY, each with a SAFETY note

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::fcntl::{FcntlArg, OFlag};
use nix::sys::stat::Mode;

/// Both ends of a fresh pseudo-terminal. Both fds are close-on-exec, so no other child of the
/// daemon inherits them; the shell gets the slave only as its fds 0, 1 and 2.
#[derive(Debug)]
pub(crate) struct PtyPair {
    /// The daemon's end: output of the terminal is read here, input written here.
    pub(crate) master: OwnedFd,
    /// The terminal the shell runs on.
    pub(crate) slave: OwnedFd,
    /// The slave's path (`/dev/pts/N`).
    pub(crate) slave_path: String,
}

/// Opens a PTY pair of `cols`×`rows`. Unlike `openpty(3)`, both fds get `O_CLOEXEC` in the
/// `open` call itself, so a concurrent fork in another thread cannot inherit them.
pub(crate) fn open_pty(cols: u16, rows: u16) -> std::io::Result<PtyPair> {
    let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    let master = nix::pty::posix_openpt(flags)?;
    nix::pty::grantpt(&master)?;
    nix::pty::unlockpt(&master)?;
    let name = nix::pty::ptsname_r(&master)?;
    let slave = nix::fcntl::open(name.as_str(), flags, Mode::empty())?;
    let master = OwnedFd::from(master);
    set_winsize(master.as_fd(), cols, rows)?;
    Ok(PtyPair {
        master,
        slave,
        slave_path: name,
    })
}

/// Puts `fd` in non-blocking mode (for tokio's `AsyncFd`).
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> std::io::Result<()> {
    let flags = nix::fcntl::fcntl(fd, FcntlArg::F_GETFL)?;
    let flags = OFlag::from_bits_retain(flags) | OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(fd, FcntlArg::F_SETFL(flags))?;
    Ok(())
}

/// Registers the (non-blocking) master with tokio's reactor.
pub(crate) fn register_master(
    master: OwnedFd,
) -> std::io::Result<tokio::io::unix::AsyncFd<OwnedFd>> {
    // SAFETY: an `OwnedFd` is open for its whole lifetime and `as_raw_fd` always returns the
    // same descriptor; the `AsyncFd` owns it and nothing else closes it.
    let fd = unsafe { tokio::io::unix::AsyncFd::register(master) }?;
    Ok(fd)
}

nix::ioctl_write_ptr_bad!(tiocswinsz, libc::TIOCSWINSZ, libc::winsize);

/// Sets the terminal size. The kernel sends `SIGWINCH` to the terminal's foreground process
/// group when the size changes.
pub(crate) fn set_winsize(fd: BorrowedFd<'_>, cols: u16, rows: u16) -> std::io::Result<()> {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: `fd` is an open descriptor borrowed for the duration of the call, and `size` is a
    // valid `winsize` that outlives it; TIOCSWINSZ only reads the struct.
    unsafe { tiocswinsz(fd.as_raw_fd(), &raw const size) }?;
    Ok(())
}

/// Prepares the child between fork and exec: a new session whose controlling terminal is its
/// stdin (the PTY slave), so the shell gets job control (`setsid()`, `ioctl(0, TIOCSCTTY, 0)`),
/// and every descriptor above 2 marked close-on-exec, so nothing the daemon inherited without
/// `O_CLOEXEC` (from whoever started it) reaches the shell. With `join` (a cgroup's
/// `cgroup.procs`), the child first moves itself into that cgroup (writing `0` there moves the
/// writer), so the shell runs nothing outside it; a failed move is left to the parent's.
pub(crate) fn session_leader_on_stdin(
    cmd: &mut tokio::process::Command,
    join: Option<std::ffi::CString>,
) {
    // SAFETY: the hook runs in the forked child before exec. It only makes async-signal-safe
    // syscalls and allocates nothing (`last_os_error` reads errno), so it is sound even though
    // the parent is multi-threaded.
    unsafe {
        cmd.pre_exec(move || {
            if let Some(procs) = &join {
                // SAFETY: open(2), write(2) and close(2) on a path and a buffer allocated
                // before the fork: async-signal-safe, no allocation, no lock.
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd >= 0 {
                    let _ = libc::write(fd, b"0".as_ptr().cast(), 1);
                    libc::close(fd);
                }
            }
            nix::unistd::setsid()?;
            // SAFETY: fd 0 is the PTY slave (std dup2'ed it there before this hook runs);
            // TIOCSCTTY takes an int argument, 0 = do not steal from another session.
            if libc::ioctl(0, libc::TIOCSCTTY, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: close_range(2) with CLOSE_RANGE_CLOEXEC only sets flags on this process's
            // descriptors (std's exec-error pipe is close-on-exec already). Kernels before 5.11
            // lack it; then inherited descriptors stay as they are.
            let _ = libc::syscall(
                libc::SYS_close_range,
                3u32,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ends_are_close_on_exec() {
        let pair = open_pty(80, 24).unwrap();
        for fd in [pair.master.as_fd(), pair.slave.as_fd()] {
            let flags = nix::fcntl::fcntl(fd, FcntlArg::F_GETFD).unwrap();
            assert!(nix::fcntl::FdFlag::from_bits_retain(flags)
                .contains(nix::fcntl::FdFlag::FD_CLOEXEC));
        }
    }

    #[test]
    fn winsize_is_applied() {
        let pair = open_pty(132, 40).unwrap();
        nix::ioctl_read_bad!(tiocgwinsz, libc::TIOCGWINSZ, libc::winsize);
        let mut size = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: valid fd and a writable winsize for the call.
        unsafe { tiocgwinsz(pair.slave.as_raw_fd(), &raw mut size) }.unwrap();
        assert_eq!((size.ws_col, size.ws_row), (132, 40));
    }
}
