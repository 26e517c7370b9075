//! Outbound network of a sandbox: `slirp4netns` attached to the sandbox's own network namespace,
//! plus nftables rules that drop what slirp4netns sends to the host itself (its addresses, its
//! gateway, link-local 169.254.0.0/16 with the cloud metadata service, loopback), read
//! in-process at every sandbox start.
//!
//! The rules match on the slirp4netns processes' cgroup (v2): every slirp4netns runs in
//! `sandboxd-net`, and only sockets created there are filtered, so the host's own traffic is
//! untouched.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use command_fds::{CommandFdExt, FdMapping};
use tokio::io::AsyncReadExt;

use crate::provider::ProviderError;

/// Name of the cgroup (v2) every slirp4netns runs in.
const NET_CGROUP: &str = "sandboxd-net";

/// Name of our nftables table (family `inet`).
const TABLE: &str = "sandboxd_egress";

/// Where the network plumbing runs and with which tools.
#[derive(Debug, Clone)]
pub struct Network {
    /// `slirp4netns` binary.
    pub slirp4netns: PathBuf,
    /// `nft` binary.
    pub nft: PathBuf,
    /// Network namespace (a path like `/run/netns/NAME`) the plumbing lives in; `None` is
    /// sandboxd's own. Tests point it at a namespace with a fake uplink.
    pub host_netns: Option<PathBuf>,
}

fn err(what: impl std::fmt::Display) -> ProviderError {
    ProviderError::Runtime(format!("network: {what}"))
}

/// The cgroup v2 mount and the path nft resolves cgroup names against (`/sys/fs/cgroup`).
fn cgroup2() -> Result<(PathBuf, String), ProviderError> {
    let base = Path::new("/sys/fs/cgroup");
    if base.join("cgroup.controllers").exists() {
        return Ok((base.join(NET_CGROUP), NET_CGROUP.to_owned()));
    }
    let unified = base.join("unified");
    if unified.join("cgroup.controllers").exists() {
        return Ok((unified.join(NET_CGROUP), format!("unified/{NET_CGROUP}")));
    }
    Err(err(
        "no cgroup v2 hierarchy (neither /sys/fs/cgroup nor /sys/fs/cgroup/unified): cannot \
         filter the sandboxes' outbound traffic",
    ))
}

impl Network {
    /// A command that runs `program` in the plumbing's network namespace.
    fn command(&self, program: &Path) -> std::process::Command {
        match &self.host_netns {
            None => std::process::Command::new(program),
            Some(ns) => {
                let mut cmd = std::process::Command::new("nsenter");
                cmd.arg(format!("--net={}", ns.display()))
                    .arg("--")
                    .arg(program);
                cmd
            }
        }
    }

    async fn output(
        &self,
        program: &Path,
        args: &[&str],
        stdin: Option<String>,
    ) -> Result<String, ProviderError> {
        let mut cmd = self.command(program);
        cmd.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = tokio::process::Command::from(cmd)
            .spawn()
            .map_err(|e| err(format!("cannot run {}: {e}", program.display())))?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            use tokio::io::AsyncWriteExt;
            pipe.write_all(text.as_bytes())
                .await
                .map_err(|e| err(format!("cannot feed {}: {e}", program.display())))?;
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| err(format!("{}: {e}", program.display())))?;
        if !out.status.success() {
            return Err(err(format!(
                "{} {} failed ({}): {}",
                program.display(),
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Addresses slirp4netns must never reach: the host's own (every interface), its default
    /// gateways, loopback and link-local ranges.
    async fn blocked_addresses(&self) -> Result<(Vec<String>, Vec<String>), ProviderError> {
        let mut v4 = vec![
            "127.0.0.0/8".to_owned(),
            "169.254.0.0/16".to_owned(),
            "0.0.0.0/8".to_owned(),
        ];
        let mut v6 = vec!["::1/128".to_owned(), "fe80::/10".to_owned()];
        let host = host_addresses(self.host_netns.clone()).await?;
        v4.extend(host.v4.iter().map(ToString::to_string));
        v6.extend(host.v6.iter().map(ToString::to_string));
        Ok((v4, v6))
    }

    /// (Re)writes the nftables table that filters every slirp4netns's traffic, from the
    /// host's current addresses. Atomic (one `nft -f` transaction); cheap enough to run at
    /// every sandbox start so a changed host address is covered.
    pub async fn ensure_firewall(&self) -> Result<(), ProviderError> {
        let (cgroup_dir, nft_path) = cgroup2()?;
        std::fs::create_dir_all(&cgroup_dir)
            .map_err(|e| err(format!("cannot create {}: {e}", cgroup_dir.display())))?;
        let (v4, v6) = self.blocked_addresses().await?;
        let mut rules = String::new();
        let _ = writeln!(rules, "add table inet {TABLE}");
        let _ = writeln!(rules, "delete table inet {TABLE}");
        let _ = writeln!(rules, "table inet {TABLE} {{");
        let _ = writeln!(
            rules,
            "  set host4 {{ type ipv4_addr; flags interval; auto-merge; elements = {{ {} }} }}",
            v4.join(", ")
        );
        let _ = writeln!(
            rules,
            "  set host6 {{ type ipv6_addr; flags interval; auto-merge; elements = {{ {} }} }}",
            v6.join(", ")
        );
        let _ = writeln!(
            rules,
            "  chain output {{ type filter hook output priority 0; policy accept;"
        );
        for set in ["ip daddr @host4", "ip6 daddr @host6"] {
            let _ = writeln!(
                rules,
                "    socket cgroupv2 level 1 \"{nft_path}\" {set} reject with icmpx type admin-prohibited"
            );
        }
        let _ = writeln!(rules, "  }}");
        let _ = writeln!(rules, "}}");
        self.output(&self.nft.clone(), &["-f", "-"], Some(rules))
            .await
            .map(drop)
    }

    /// Starts slirp4netns for the network namespace of `pid` (tap0 10.0.2.100/24, gateway
    /// 10.0.2.2, DNS 10.0.2.3), inside the filtered cgroup, and returns once it has configured
    /// the interface. `log` receives its output.
    pub async fn start_slirp(
        &self,
        pid: i32,
        log: std::fs::File,
    ) -> Result<tokio::process::Child, ProviderError> {
        let (cgroup_dir, _) = cgroup2()?;
        let (ready_read, ready_write): (OwnedFd, OwnedFd) =
            nix::unistd::pipe().map_err(|e| err(format!("cannot create a pipe: {e}")))?;
        // Its own mount namespace, every mount private: `--enable-sandbox` pivots and detaches
        // the old root, and on mounts still shared with ours (e.g. `/run/netns/*`) that
        // unmount would propagate back to the host (seen with slirp4netns 1.2).
        // Join the cgroup before exec, so every socket slirp4netns creates is filtered.
        let mut cmd = self.command(Path::new("unshare"));
        cmd.args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c"])
            .arg("echo $$ > \"$0\" && exec \"$@\"")
            .arg(cgroup_dir.join("cgroup.procs"))
            .arg(&self.slirp4netns)
            .args([
                "--configure",
                "--mtu=65520",
                "--disable-host-loopback",
                "--enable-sandbox",
                "--enable-seccomp",
                "--ready-fd=3",
            ])
            .arg(pid.to_string())
            .arg("tap0");
        let log_err = log
            .try_clone()
            .map_err(|e| err(format!("cannot duplicate the log: {e}")))?;
        cmd.stdin(Stdio::null()).stdout(log).stderr(log_err);
        cmd.fd_mappings(vec![FdMapping {
            parent_fd: ready_write,
            child_fd: 3,
        }])
        .map_err(|e| err(format!("cannot pass the ready pipe: {e}")))?;
        let mut child = tokio::process::Command::from(cmd)
            .kill_on_drop(false)
            .spawn()
            .map_err(|e| err(format!("cannot run {}: {e}", self.slirp4netns.display())))?;
        // `cmd` (and its copy of the write end) is gone: EOF without a byte = it died.
        let mut ready = tokio::fs::File::from_std(std::fs::File::from(ready_read));
        let mut byte = [0u8; 1];
        let got = tokio::time::timeout(Duration::from_secs(10), ready.read(&mut byte)).await;
        match got {
            Ok(Ok(1)) => Ok(child),
            other => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                Err(err(format!(
                    "slirp4netns did not come up ({}); see the sandbox's network log",
                    match other {
                        Err(_) => "timed out after 10 s".to_owned(),
                        Ok(Ok(_)) => "it exited".to_owned(),
                        Ok(Err(e)) => e.to_string(),
                    }
                )))
            }
        }
    }
}

/// The host's own addresses and default gateways, as the egress rules need them.
#[derive(Debug, Default, PartialEq, Eq)]
struct HostAddresses {
    v4: Vec<Ipv4Addr>,
    v6: Vec<Ipv6Addr>,
}

/// Reads [`HostAddresses`] of the network namespace at `netns` (`None`: ours) in-process:
/// `getifaddrs` and `/proc/thread-self/net/{route,ipv6_route}`, on a thread of its own that
/// joins the namespace (`setns` moves only the calling thread; the thread then ends). Three
/// `ip` processes per sandbox start cost more than the rest of the firewall refresh.
async fn host_addresses(netns: Option<PathBuf>) -> Result<HostAddresses, ProviderError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("sandboxd-addrs".into())
        .spawn(move || {
            let _ = tx.send(read_host_addresses(netns.as_deref()));
        })
        .map_err(|e| {
            err(format!(
                "cannot start a thread to read the host's addresses: {e}"
            ))
        })?;
    rx.await
        .map_err(|_| err("the thread reading the host's addresses died"))?
}

fn read_host_addresses(netns: Option<&Path>) -> Result<HostAddresses, ProviderError> {
    if let Some(ns) = netns {
        let file = std::fs::File::open(ns).map_err(|e| {
            err(format!(
                "cannot open the network namespace {}: {e}",
                ns.display()
            ))
        })?;
        nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
            err(format!(
                "cannot join the network namespace {}: {e}",
                ns.display()
            ))
        })?;
    }
    let mut out = HostAddresses::default();
    let addrs = nix::ifaddrs::getifaddrs().map_err(|e| {
        err(format!(
            "cannot list the host's addresses (getifaddrs): {e}"
        ))
    })?;
    for ifa in addrs {
        let Some(addr) = ifa.address else { continue };
        if let Some(sin) = addr.as_sockaddr_in() {
            out.v4.push(sin.ip());
        } else if let Some(sin6) = addr.as_sockaddr_in6() {
            out.v6.push(sin6.ip());
        }
    }
    // A host without IPv6 has no ipv6_route: no IPv6 gateway then.
    let read = |name: &str| match std::fs::read_to_string(format!("/proc/thread-self/net/{name}")) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(err(format!(
            "cannot read /proc/thread-self/net/{name}: {e}"
        ))),
    };
    out.v4.extend(ipv4_gateways(&read("route")?));
    out.v6.extend(ipv6_gateways(&read("ipv6_route")?));
    Ok(out)
}

/// The default gateways in `/proc/net/route` text (the main table, as `ip route show default`).
fn ipv4_gateways(route: &str) -> Vec<Ipv4Addr> {
    route
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (dest, gateway, flags, mask) = (f.get(1)?, f.get(2)?, f.get(3)?, f.get(7)?);
            let flags = u32::from_str_radix(flags, 16).ok()?;
            // RTF_UP | RTF_GATEWAY, to 0.0.0.0/0.
            if *dest != "00000000" || *mask != "00000000" || flags & 0x3 != 0x3 {
                return None;
            }
            // The kernel prints the address's bytes as a native u32.
            let raw = u32::from_str_radix(gateway, 16).ok()?;
            Some(Ipv4Addr::from(raw.to_ne_bytes()))
        })
        .filter(|gw| !gw.is_unspecified())
        .collect()
}

/// The default gateways in `/proc/net/ipv6_route` text.
fn ipv6_gateways(route: &str) -> Vec<Ipv6Addr> {
    fn hex16(s: &str) -> Option<Ipv6Addr> {
        if s.len() != 32 {
            return None;
        }
        let mut bytes = [0u8; 16];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Ipv6Addr::from(bytes))
    }
    route
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (dest, plen, next_hop) = (hex16(f.first()?)?, f.get(1)?, hex16(f.get(4)?)?);
            (dest.is_unspecified() && *plen == "00" && !next_hop.is_unspecified())
                .then_some(next_hop)
        })
        .collect()
}

/// Whether `pid` is a slirp4netns serving the namespace of `target` (guards against pid reuse
/// before signalling a recorded pid).
pub fn is_slirp_for(pid: i32, target: i32) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    args.first().is_some_and(|a| a.ends_with(b"slirp4netns"))
        && args.iter().any(|a| *a == target.to_string().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_default_gateways_come_from_proc_net_route() {
        // 10.0.2.2 via eth0 (default), a link route, and a default without RTF_GATEWAY.
        let text =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                    eth0\t00000000\t0202000A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
                    eth0\t0002000A\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n\
                    tun0\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0\n";
        let want = Ipv4Addr::from(u32::from_str_radix("0202000A", 16).unwrap().to_ne_bytes());
        assert_eq!(ipv4_gateways(text), vec![want]);
        if cfg!(target_endian = "little") {
            assert_eq!(want, Ipv4Addr::new(10, 0, 2, 2));
        }
    }

    #[test]
    fn ipv6_default_gateways_come_from_proc_net_ipv6_route() {
        let text = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00450003 eth0\n\
                    fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth0\n\
                    00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200 lo\n";
        assert_eq!(
            ipv6_gateways(text),
            vec!["fe80::1".parse::<Ipv6Addr>().unwrap()]
        );
    }

    #[test]
    fn our_own_addresses_are_read_in_process() {
        // Loopback is in every network namespace.
        let host = read_host_addresses(None).unwrap();
        assert!(host.v4.contains(&Ipv4Addr::LOCALHOST), "{host:?}");
    }

    proptest::proptest! {
        #[test]
        fn route_parsers_never_panic(text in "\\PC*") {
            let _ = ipv4_gateways(&text);
            let _ = ipv6_gateways(&text);
        }

        #[test]
        fn every_ipv4_gateway_is_found(raw in proptest::collection::vec(1u32.., 0..5)) {
            let mut text = String::from("Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n");
            for gw in &raw {
                let _ = writeln!(text, "eth0\t00000000\t{gw:08X}\t0003\t0\t0\t0\t00000000\t0\t0\t0");
            }
            let want: Vec<Ipv4Addr> = raw.iter().map(|g| Ipv4Addr::from(g.to_ne_bytes())).collect();
            proptest::prop_assert_eq!(ipv4_gateways(&text), want);
        }
    }
}
