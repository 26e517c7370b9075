//! The info domain (spec toolbox §6.1), free of routing: the user's home, listening TCP ports
//! (IPv4 and IPv6, sorted: the original missed IPv6 listeners and answered in random order),
//! a port probe, system metrics from `/proc` and `statvfs`, and the loopback reverse proxy.

pub(crate) mod env;

use std::path::Path;
use std::time::Duration;

use process_proto::wire::SystemMetrics;

/// An info operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum InfoError {
    /// Reading system state failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being read.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The proxied server could not be reached or broke.
    #[error("{0}")]
    Upstream(String),
}

fn io_err(context: &str) -> impl FnOnce(std::io::Error) -> InfoError + '_ {
    move |source| InfoError::Io {
        context: context.to_owned(),
        source,
    }
}

/// The daemon user's home: `$HOME`, else the passwd entry.
pub(crate) fn home_dir() -> Option<String> {
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return Some(h.to_string_lossy().into_owned());
    }
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.dir.to_string_lossy().into_owned())
}

/// Ports in LISTEN state in `/proc/net/tcp` and `/proc/net/tcp6`, ascending, without
/// duplicates.
pub(crate) fn listening_ports() -> Vec<u16> {
    let mut ports: Vec<u16> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|text| parse_proc_net_tcp(&text))
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// The listening ports of one `/proc/net/tcp*` table (state `0A`).
pub(crate) fn parse_proc_net_tcp(text: &str) -> Vec<u16> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut cols = line.split_whitespace();
            let local = cols.nth(1)?;
            let state = cols.nth(1)?;
            if state != "0A" {
                return None;
            }
            let port = local.rsplit_once(':')?.1;
            u16::from_str_radix(port, 16).ok()
        })
        .collect()
}

/// Whether a TCP connect to `port` on loopback (v4 or v6) succeeds within 50 ms.
pub(crate) async fn connects(port: u16) -> bool {
    for addr in [
        std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port)),
    ] {
        if let Ok(Ok(_)) = tokio::time::timeout(
            Duration::from_millis(50),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            return true;
        }
    }
    false
}

/// `(busy, total)` jiffies from the `cpu` line of `/proc/stat`.
fn cpu_times() -> Result<(u64, u64), InfoError> {
    let stat = std::fs::read_to_string("/proc/stat").map_err(io_err("read /proc/stat"))?;
    let line = stat.lines().next().unwrap_or_default();
    let vals: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = vals.iter().sum();
    let idle = vals.get(3).copied().unwrap_or(0) + vals.get(4).copied().unwrap_or(0);
    Ok((total.saturating_sub(idle), total))
}

/// A field of `/proc/meminfo`, in bytes.
fn meminfo_field(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// A metrics sample: CPU use over 100 ms, memory from `/proc/meminfo`, the file system of the
/// work dir.
pub(crate) async fn metrics(workdir: &Path) -> Result<SystemMetrics, InfoError> {
    let (b0, t0) = cpu_times()?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (b1, t1) = cpu_times()?;
    let cpu_used_pct = if t1 > t0 {
        (b1.saturating_sub(b0)) as f64 * 100.0 / (t1 - t0) as f64
    } else {
        0.0
    };
    let mem = std::fs::read_to_string("/proc/meminfo").map_err(io_err("read /proc/meminfo"))?;
    let mem_total = meminfo_field(&mem, "MemTotal");
    let mem_available = meminfo_field(&mem, "MemAvailable");
    let vfs = nix::sys::statvfs::statvfs(workdir).map_err(|e| InfoError::Io {
        context: format!("statvfs {}", workdir.display()),
        source: std::io::Error::from_raw_os_error(e as i32),
    })?;
    let frag = vfs.fragment_size();
    let disk_total = vfs.blocks() * frag;
    let disk_free = vfs.blocks_available() * frag;
    let disk_used = disk_total.saturating_sub(vfs.blocks_free() * frag);
    let now = time::OffsetDateTime::now_utc();
    Ok(SystemMetrics {
        cpu_count: std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
        cpu_used_pct,
        mem_total,
        mem_used: mem_total.saturating_sub(mem_available),
        mem_cache: meminfo_field(&mem, "Cached"),
        disk_total,
        disk_used,
        disk_free,
        timestamp: now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        timestamp_unix: now.unix_timestamp(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_tcp_listeners() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1\n   1: 0100007F:0050 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 2\n";
        assert_eq!(parse_proc_net_tcp(text), vec![3000]);
        let v6 = "sl local rem st\n 0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 0 0 0 0 0 0\n";
        assert_eq!(parse_proc_net_tcp(v6), vec![8080]);
    }

    #[test]
    fn meminfo_fields() {
        let m = "MemTotal:       1000 kB\nMemAvailable:    400 kB\nCached:  10 kB\n";
        assert_eq!(meminfo_field(m, "MemTotal"), 1_024_000);
        assert_eq!(meminfo_field(m, "Cached"), 10_240);
        assert_eq!(meminfo_field(m, "Nope"), 0);
    }
}
