//! `processd` as a separate process on 127.0.0.1 for the end-to-end figures: start, read its
//! address, read its memory and file descriptors from `/proc`, stop it and every process it
//! started.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::floors::BoxError;

/// A running `processd`, stopped (with its descendants) when dropped.
pub struct Processd {
    child: Child,
    /// Its base URL, `http://127.0.0.1:<port>`.
    pub url: String,
    /// Its work and state directories (`None` once [`kill_hard`](Self::kill_hard) handed them
    /// out).
    dir: Option<tempfile::TempDir>,
    root: std::path::PathBuf,
}

impl Processd {
    /// Starts `bin` on 127.0.0.1 port 0 with scratch work and state directories, `python` as
    /// its interpreter and a log cap of `max_log_bytes` per session command.
    pub fn start(
        bin: &Path,
        python: Option<&Path>,
        max_log_bytes: u64,
    ) -> Result<Processd, BoxError> {
        Processd::start_in(bin, python, max_log_bytes, &std::env::temp_dir())
    }

    /// Like [`start`](Self::start) with the work and state directories under `parent` (e.g. a
    /// tmpfs, to tell the filesystem's share of a figure).
    pub fn start_in(
        bin: &Path,
        python: Option<&Path>,
        max_log_bytes: u64,
        parent: &Path,
    ) -> Result<Processd, BoxError> {
        Processd::start_with_args(bin, python, max_log_bytes, parent, &[])
    }

    /// Like [`start_in`](Self::start_in) with extra `processd` flags (e.g. `--warm-shells 0`).
    pub fn start_with_args(
        bin: &Path,
        python: Option<&Path>,
        max_log_bytes: u64,
        parent: &Path,
        extra: &[&str],
    ) -> Result<Processd, BoxError> {
        let dir = tempfile::Builder::new()
            .prefix("processd-bench-")
            .tempdir_in(parent)?;
        Processd::spawn_in(bin, python, max_log_bytes, dir, extra)
    }

    /// Starts `bin` again on the work and state directories of a daemon that
    /// [`kill_hard`](Self::kill_hard) ended (a restart after a crash).
    pub fn restart(
        bin: &Path,
        python: Option<&Path>,
        max_log_bytes: u64,
        dirs: tempfile::TempDir,
    ) -> Result<Processd, BoxError> {
        Processd::spawn_in(bin, python, max_log_bytes, dirs, &[])
    }

    /// SIGKILLs the daemon alone (what it started lives on, as after a crash), waits for it and
    /// hands back its directories for [`restart`](Self::restart).
    pub fn kill_hard(mut self) -> Result<tempfile::TempDir, BoxError> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // `stop` (in `Drop`) then finds no daemon and signals nothing.
        self.dir
            .take()
            .ok_or_else(|| "the daemon's directories were handed out already".into())
    }

    fn spawn_in(
        bin: &Path,
        python: Option<&Path>,
        max_log_bytes: u64,
        dir: tempfile::TempDir,
        extra: &[&str],
    ) -> Result<Processd, BoxError> {
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work)?;
        let mut cmd = Command::new(bin);
        cmd.args(["--listen", "127.0.0.1:0", "--log-level", "warn"])
            .arg("--workdir")
            .arg(&work)
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .arg("--max-log-bytes")
            .arg(max_log_bytes.to_string())
            .args(extra)
            .env_remove("PROCESSD_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        if let Some(py) = python {
            cmd.env("PROCESSD_PYTHON", py);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let mut stdout = BufReader::new(child.stdout.take().ok_or("processd has no stdout")?);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        // Keep draining its stdout so it never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = stdout.read_to_end(&mut sink);
        });
        let url = line
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_owned();
        let root = dir.path().to_owned();
        let mut daemon = Processd {
            child,
            url,
            dir: Some(dir),
            root,
        };
        if !daemon.url.starts_with("http://127.0.0.1:") {
            daemon.stop();
            return Err(format!("processd did not print its address (got {line:?})").into());
        }
        Ok(daemon)
    }

    /// Its work directory (where relative paths of the toolbox API resolve).
    pub fn work_dir(&self) -> std::path::PathBuf {
        self.root.join("work")
    }

    /// Resets its peak resident memory (`VmHWM`) to the current RSS (`clear_refs` 5).
    pub fn reset_peak(&self) -> Result<(), BoxError> {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5")
            .map_err(|e| format!("cannot reset the daemon's peak RSS: {e}").into())
    }

    /// Its peak resident memory in KiB (`VmHWM`) since start or the last
    /// [`reset_peak`](Self::reset_peak).
    pub fn peak_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its resident memory in KiB (`VmRSS`), the daemon's own (children not included).
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// How many file descriptors it holds open.
    pub fn fd_count(&self) -> Option<usize> {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .ok()
            .map(Iterator::count)
    }

    /// Stops it: SIGTERM, up to 5 s for a clean exit, then SIGKILL; then SIGKILL to every
    /// descendant still alive (found from `/proc` before the stop).
    pub fn stop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            // Gone already (or killed hard on purpose): its pid may be another process's now.
            let _ = self.child.wait();
            return;
        }
        let descendants = descendants(self.pid());
        let pid = Pid::from_raw(self.pid() as i32);
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = kill(pid, Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        for d in descendants {
            let _ = kill(Pid::from_raw(d as i32), Signal::SIGKILL);
        }
    }
}

impl Drop for Processd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Every process below `root` in the process tree, from `/proc/<pid>/stat`.
pub fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The command name is in parentheses and may hold spaces: parse after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parent_of.push((pid, ppid));
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found.remove(0);
    found
}

/// The resident memory of the processes in `pids`, summed, in KiB.
pub fn rss_sum_kib(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/status")).ok())
        .filter_map(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .sum()
}

/// A running process's start time (clock ticks since boot, field 22 of `/proc/<pid>/stat`),
/// which with its pid identifies it (pids are reused); `None` when there is no such process or
/// it has exited (a zombie).
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat.get(stat.rfind(')')? + 2..)?.split(' ');
    if fields.next()? == "Z" {
        return None;
    }
    fields.nth(18)?.parse().ok()
}
