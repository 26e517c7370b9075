//! Host-side helpers of the provider: mount points, log tails, processd's OOM protection, the
//! sandbox init's identity and reaping, installing the processd binary, processd's health.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use super::{rt, spec};
use crate::provider::ProviderError;

/// Whether `path` is a mount point (listed in our mountinfo).
pub(crate) fn is_mounted(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.to_string_lossy();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|mp| mp == want)
}

/// The last `n` lines of a log file (for error messages).
pub(super) fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Lowers the `oom_score_adj` of the sandbox's init (processd) so it survives the sandbox's own
/// OOM. Written from the host: lowering needs `CAP_SYS_RESOURCE` in the initial user namespace
/// (as root, the kernel also lowers the floor, so its children may raise theirs back to 0).
/// Where sandboxd lacks that capability (some container hosts drop it) the sandbox still runs,
/// unprotected, and a warning says so once.
pub(super) fn protect_from_oom(pid: i32) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let path = format!("/proc/{pid}/oom_score_adj");
    if let Err(e) = std::fs::write(&path, spec::PROCESSD_OOM_SCORE_ADJ.to_string()) {
        if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
            tracing::warn!(
                error = %e,
                "cannot protect processd from the sandbox's own OOM (sandboxd lacks CAP_SYS_RESOURCE?); sandboxes run without that protection"
            );
        }
    }
}

/// Whether `pid` is sandbox `id`'s init and a child of this process not yet reaped (alive or a
/// zombie): its pid cannot be reused before we reap it, so signalling it is safe. (A pid file
/// left from an earlier run could name any process now: the cgroup check rules that out.)
pub(super) fn is_own_init(pid: i32, id: &str) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let ppid = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(1))
        .and_then(|p| p.parse::<u32>().ok());
    ppid == Some(std::process::id())
        && std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
            .is_ok_and(|c| c.contains(&format!("sandboxd/{id}")))
}

/// Waits (at most `limit`) until process `pid` has exited and left the process table: reaps it
/// if it is our child, else waits for its parent to.
pub(super) async fn reap_or_wait(pid: i32, limit: Duration) {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    let deadline = Instant::now() + limit;
    let pid = nix::unistd::Pid::from_raw(pid);
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {}
            Ok(_) => return,
            Err(_) => {
                // Not our child: someone else reaps it.
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    return;
                }
            }
        }
        if Instant::now() > deadline {
            tracing::warn!(%pid, "process still in the process table after {limit:?}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Copies `from` to `to` (mode 0755) unless `to` already has the same size and mtime.
pub(super) fn copy_if_changed(from: &Path, to: &Path) -> Result<(), ProviderError> {
    let src = std::fs::metadata(from).map_err(|e| {
        rt(
            format!("cannot find the processd binary {}", from.display()),
            e,
        )
    })?;
    if let Ok(dst) = std::fs::metadata(to) {
        if dst.len() == src.len()
            && dst.mtime() == src.mtime()
            && dst.mtime_nsec() == src.mtime_nsec()
        {
            return Ok(());
        }
    }
    let tmp = to.with_extension(format!("tmp{}", std::process::id()));
    std::fs::copy(from, &tmp).map_err(|e| {
        rt(
            format!("cannot copy {} to {}", from.display(), tmp.display()),
            e,
        )
    })?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| rt(format!("cannot chmod {}", tmp.display()), e))?;
    let mtime = src
        .modified()
        .map_err(|e| rt("cannot read the binary's mtime", e))?;
    std::fs::File::options()
        .write(true)
        .open(&tmp)
        .and_then(|f| f.set_modified(mtime))
        .map_err(|e| rt(format!("cannot set the mtime of {}", tmp.display()), e))?;
    // A rename keeps the old inode alive for sandboxes still running it.
    std::fs::rename(&tmp, to).map_err(|e| rt(format!("cannot install {}", to.display()), e))
}

/// One `GET /health` over the Unix socket.
pub(super) async fn health(sock: &Path) -> Result<(), String> {
    use http_body_util::{BodyExt, Empty};
    let stream = tokio::net::UnixStream::connect(sock)
        .await
        .map_err(|e| e.to_string())?;
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = http::Request::get(process_proto::wire::endpoint::HEALTH.template())
        .header(http::header::HOST, "sandbox")
        .body(Empty::<bytes::Bytes>::new())
        .map_err(|e| e.to_string())?;
    let resp = send.send_request(req).await.map_err(|e| e.to_string())?;
    let ok = resp.status().is_success();
    let _ = resp.into_body().collect().await;
    if ok {
        Ok(())
    } else {
        Err("not healthy".into())
    }
}
