//! Outbound network of a sandbox: `slirp4netns` attached to the sandbox's own network namespace,
//! plus nftables rules that drop what slirp4netns sends to the host itself (its addresses, its
//! gateway, link-local 169.254.0.0/16 with the cloud metadata service, loopback).
//!
//! The rules match on the slirp4netns processes' cgroup (v2): every slirp4netns runs in
//! `sandboxd-net`, and only sockets created there are filtered, so the host's own traffic is
//! untouched.

use std::fmt::Write as _;
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

    /// Addresses slirp4netns must never reach: the host's own (every interface, from `ip`),
    /// its default gateways, loopback and link-local ranges.
    async fn blocked_addresses(&self) -> Result<(Vec<String>, Vec<String>), ProviderError> {
        let mut v4 = vec![
            "127.0.0.0/8".to_owned(),
            "169.254.0.0/16".to_owned(),
            "0.0.0.0/8".to_owned(),
        ];
        let mut v6 = vec!["::1/128".to_owned(), "fe80::/10".to_owned()];
        let addrs = self
            .output(Path::new("ip"), &["-j", "addr", "show"], None)
            .await?;
        let addrs: serde_json::Value = serde_json::from_str(&addrs)
            .map_err(|e| err(format!("cannot read `ip -j addr`: {e}")))?;
        for iface in addrs.as_array().into_iter().flatten() {
            for info in iface["addr_info"].as_array().into_iter().flatten() {
                let (Some(family), Some(local)) = (info["family"].as_str(), info["local"].as_str())
                else {
                    continue;
                };
                match family {
                    "inet" => v4.push(local.to_owned()),
                    "inet6" => v6.push(local.to_owned()),
                    _ => {}
                }
            }
        }
        for (flag, list) in [("-4", &mut v4), ("-6", &mut v6)] {
            let routes = self
                .output(
                    Path::new("ip"),
                    &["-j", flag, "route", "show", "default"],
                    None,
                )
                .await?;
            let routes: serde_json::Value =
                serde_json::from_str(&routes).unwrap_or(serde_json::Value::Null);
            for route in routes.as_array().into_iter().flatten() {
                if let Some(gw) = route["gateway"].as_str() {
                    list.push(gw.to_owned());
                }
            }
        }
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
