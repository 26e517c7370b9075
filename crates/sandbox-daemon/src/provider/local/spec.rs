//! The OCI runtime `config.json` of one sandbox (built with `oci-spec`), including our seccomp
//! profile.

use std::collections::BTreeMap;
use std::path::PathBuf;

use oci_spec::runtime::{
    Arch, Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxCpuBuilder,
    LinuxDeviceCgroupBuilder, LinuxIdMappingBuilder, LinuxMemoryBuilder, LinuxNamespaceBuilder,
    LinuxNamespaceType, LinuxPidsBuilder, LinuxResourcesBuilder, LinuxSeccomp, LinuxSeccompAction,
    LinuxSeccompArgBuilder, LinuxSeccompBuilder, LinuxSeccompOperator, LinuxSyscall,
    LinuxSyscallBuilder, Mount, MountBuilder, PosixRlimitBuilder, PosixRlimitType, ProcessBuilder,
    RootBuilder, Spec, SpecBuilder, UserBuilder,
};

use super::image::{HOST_ID_BASE, ID_RANGE};
use crate::provider::{ProviderError, Resources};

/// Where `processd` appears inside every sandbox (bind-mounted read-only).
pub const PROCESSD_IN_SANDBOX: &str = "/.sandboxd/processd";

/// The descriptor number of the listening socket inside the sandbox (`--preserve-fds 1`).
pub const LISTEN_FD: i32 = 3;

/// CFS period used for the cpu quota, in microseconds.
pub const CPU_PERIOD_US: u64 = 100_000;

/// Who the sandbox's processes run as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxUser {
    /// User name.
    pub name: String,
    /// Uid inside the sandbox.
    pub uid: u32,
    /// Gid inside the sandbox.
    pub gid: u32,
    /// Home (also the default working directory).
    pub home: String,
}

impl SandboxUser {
    /// The user for an `os_user` of a create: `root`, or `daytona` for anything else we do not
    /// know (the image has only these two).
    pub fn for_os_user(os_user: &str) -> Result<SandboxUser, ProviderError> {
        match os_user {
            "root" => Ok(SandboxUser {
                name: "root".into(),
                uid: 0,
                gid: 0,
                home: "/root".into(),
            }),
            "" | "daytona" => Ok(SandboxUser {
                name: "daytona".into(),
                uid: 1000,
                gid: 1000,
                home: "/home/daytona".into(),
            }),
            other => Err(ProviderError::Unsupported(format!(
                "os user '{other}': the local images have the users 'daytona' and 'root'"
            ))),
        }
    }
}

/// Everything `config.json` depends on.
#[derive(Debug, Clone)]
pub struct BundleParams {
    /// Sandbox id (hostname, cgroup name).
    pub id: String,
    /// The mounted overlay (the container's root).
    pub rootfs: PathBuf,
    /// The host copy of the processd binary.
    pub processd_host: PathBuf,
    /// Arguments before processd's own flags (`["processd"]` for sandboxd's processd mode).
    pub processd_args: Vec<String>,
    /// User of processd and of every command.
    pub user: SandboxUser,
    /// Extra environment.
    pub env: BTreeMap<String, String>,
    /// Limits.
    pub resources: Resources,
    /// Max processes in the sandbox.
    pub pids_limit: u32,
    /// Whether the host has `memory.memsw.*` (swap accounting): then swap is limited too.
    pub limit_swap: bool,
    /// Host files bind-mounted read-only at `/etc/{hosts,hostname,resolv.conf}`.
    pub etc_files: Vec<(PathBuf, &'static str)>,
    /// Hard limit for open files (at most the host's own hard limit: raising it needs a
    /// capability the sandbox's user namespace lacks).
    pub nofile: u64,
}

fn oci(err: impl std::fmt::Display) -> ProviderError {
    ProviderError::Runtime(format!("cannot build the OCI config: {err}"))
}

/// Docker's default capability set.
pub fn default_capabilities() -> std::collections::HashSet<Capability> {
    [
        Capability::Chown,
        Capability::DacOverride,
        Capability::Fsetid,
        Capability::Fowner,
        Capability::Mknod,
        Capability::NetRaw,
        Capability::Setgid,
        Capability::Setuid,
        Capability::Setfcap,
        Capability::Setpcap,
        Capability::NetBindService,
        Capability::SysChroot,
        Capability::Kill,
        Capability::AuditWrite,
    ]
    .into_iter()
    .collect()
}

/// The memory limit in bytes of `resources`.
pub fn memory_bytes(resources: Resources) -> i64 {
    i64::from(resources.memory_gib) * 1024 * 1024 * 1024
}

/// The CFS quota (µs per [`CPU_PERIOD_US`]) of `resources`.
pub fn cpu_quota(resources: Resources) -> i64 {
    i64::from(resources.cpu) * CPU_PERIOD_US as i64
}

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Result<Mount, ProviderError> {
    MountBuilder::default()
        .destination(dest)
        .typ(typ)
        .source(source)
        .options(options.iter().map(|o| (*o).to_owned()).collect::<Vec<_>>())
        .build()
        .map_err(oci)
}

/// `oom_score_adj` of the sandbox's PID 1 (processd), set by sandboxd as soon as `runc run
/// --detach` has started it (before the start returns): last to go when the sandbox runs out of memory, yet not unkillable (-1000
/// would leave the kernel nothing to kill in a full cgroup holding only processd). Its
/// children reset theirs to 0 before exec, so they get no such protection.
pub const PROCESSD_OOM_SCORE_ADJ: i32 = -999;

/// Builds the sandbox's `config.json`.
pub fn build(p: &BundleParams) -> Result<Spec, ProviderError> {
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    env.insert(
        "PATH".into(),
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
    );
    env.insert("HOME".into(), p.user.home.clone());
    env.insert("USER".into(), p.user.name.clone());
    env.insert("LOGNAME".into(), p.user.name.clone());
    env.insert("SHELL".into(), "/bin/bash".into());
    env.insert("LANG".into(), "C.UTF-8".into());
    env.insert("HOSTNAME".into(), p.id.clone());
    for (k, v) in &p.env {
        env.insert(k.clone(), v.clone());
    }
    let mut args = vec![PROCESSD_IN_SANDBOX.to_owned()];
    args.extend(p.processd_args.iter().cloned());
    args.extend([
        "--listen".to_owned(),
        format!("fd:{LISTEN_FD}"),
        "--workdir".to_owned(),
        p.user.home.clone(),
    ]);
    let caps = default_capabilities();
    let process = ProcessBuilder::default()
        .terminal(false)
        .user(
            UserBuilder::default()
                .uid(p.user.uid)
                .gid(p.user.gid)
                .build()
                .map_err(oci)?,
        )
        .args(args)
        .env(
            env.into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>(),
        )
        .cwd(p.user.home.clone())
        .capabilities(
            LinuxCapabilitiesBuilder::default()
                .bounding(caps.clone())
                .effective(caps.clone())
                .permitted(caps)
                .inheritable(std::collections::HashSet::new())
                .ambient(std::collections::HashSet::new())
                .build()
                .map_err(oci)?,
        )
        .rlimits(vec![PosixRlimitBuilder::default()
            .typ(PosixRlimitType::RlimitNofile)
            .soft(p.nofile)
            .hard(p.nofile)
            .build()
            .map_err(oci)?])
        .no_new_privileges(true)
        // No `oomScoreAdj` here: runc 1.1 writes it from inside the user namespace, where
        // lowering it is refused (EACCES); sandboxd sets it from the host instead.
        .build()
        .map_err(oci)?;

    let mut mounts = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?,
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        )?,
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"],
        )?,
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        )?,
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        )?,
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        )?,
    ];
    let processd_source = p.processd_host.to_string_lossy().into_owned();
    mounts.push(mount(
        PROCESSD_IN_SANDBOX,
        "bind",
        &processd_source,
        &["bind", "ro", "nosuid", "nodev"],
    )?);
    for (source, dest) in &p.etc_files {
        mounts.push(mount(
            dest,
            "bind",
            &source.to_string_lossy(),
            &["bind", "ro", "nosuid", "nodev", "noexec"],
        )?);
    }

    let mut memory = LinuxMemoryBuilder::default().limit(memory_bytes(p.resources));
    if p.limit_swap {
        memory = memory.swap(memory_bytes(p.resources));
    }
    let resources = LinuxResourcesBuilder::default()
        .devices(vec![LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm")
            .build()
            .map_err(oci)?])
        .memory(memory.build().map_err(oci)?)
        .cpu(
            LinuxCpuBuilder::default()
                .quota(cpu_quota(p.resources))
                .period(CPU_PERIOD_US)
                .build()
                .map_err(oci)?,
        )
        .pids(
            LinuxPidsBuilder::default()
                .limit(i64::from(p.pids_limit))
                .build()
                .map_err(oci)?,
        )
        .build()
        .map_err(oci)?;
    let namespaces = [
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Cgroup,
        LinuxNamespaceType::User,
    ]
    .into_iter()
    .map(|typ| {
        LinuxNamespaceBuilder::default()
            .typ(typ)
            .build()
            .map_err(oci)
    })
    .collect::<Result<Vec<_>, _>>()?;
    let mapping = LinuxIdMappingBuilder::default()
        .container_id(0u32)
        .host_id(HOST_ID_BASE)
        .size(ID_RANGE)
        .build()
        .map_err(oci)?;
    let defaults = oci_spec::runtime::Linux::default();
    let linux = LinuxBuilder::default()
        .uid_mappings(vec![mapping])
        .gid_mappings(vec![mapping])
        .namespaces(namespaces)
        .resources(resources)
        .cgroups_path(PathBuf::from(format!("sandboxd/{}", p.id)))
        .seccomp(seccomp()?)
        .masked_paths(defaults.masked_paths().clone().unwrap_or_default())
        .readonly_paths(defaults.readonly_paths().clone().unwrap_or_default())
        .build()
        .map_err(oci)?;
    SpecBuilder::default()
        .version("1.0.2")
        .root(
            RootBuilder::default()
                .path(p.rootfs.clone())
                .readonly(false)
                .build()
                .map_err(oci)?,
        )
        .process(process)
        .hostname(p.id.clone())
        .mounts(mounts)
        .linux(linux)
        .build()
        .map_err(oci)
}

/// Syscalls no sandbox may make (EPERM): kernel keyring, BPF, userfaultfd, io_uring, perf,
/// kexec, modules, clocks, swap, reboot, accounting, namespaces and mounts (a user namespace
/// inside the sandbox would hand its code a fresh set of capabilities against the kernel),
/// handle-based opens, and the obsolete or privileged rest of Docker's deny list.
pub const DENIED_SYSCALLS: &[&str] = &[
    "add_key",
    "request_key",
    "keyctl",
    "bpf",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "perf_event_open",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "create_module",
    "query_module",
    "get_kernel_syms",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "settimeofday",
    "stime",
    "swapon",
    "swapoff",
    "reboot",
    "acct",
    "unshare",
    "setns",
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    "open_by_handle_at",
    "name_to_handle_at",
    "lookup_dcookie",
    "nfsservctl",
    "quotactl",
    "quotactl_fd",
    "iopl",
    "ioperm",
    "vm86",
    "vm86old",
    "uselib",
    "ustat",
    "sysfs",
    "_sysctl",
    "syslog",
];

/// `clone` flags that create namespaces; a clone with any of them fails like `unshare`.
const CLONE_NAMESPACE_FLAGS: &[u64] = &[
    0x0002_0000, // CLONE_NEWNS
    0x0200_0000, // CLONE_NEWCGROUP
    0x0400_0000, // CLONE_NEWUTS
    0x0800_0000, // CLONE_NEWIPC
    0x1000_0000, // CLONE_NEWUSER
    0x2000_0000, // CLONE_NEWPID
    0x4000_0000, // CLONE_NEWNET
];

const EPERM: u32 = 1;
const ENOSYS: u32 = 38;

fn deny(names: &[&str], errno: u32) -> Result<LinuxSyscall, ProviderError> {
    LinuxSyscallBuilder::default()
        .names(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
        .action(LinuxSeccompAction::ScmpActErrno)
        .errno_ret(errno)
        .build()
        .map_err(oci)
}

/// Our seccomp profile: allow by default, deny [`DENIED_SYSCALLS`] and namespace-creating
/// `clone`s with EPERM, and `clone3` with ENOSYS (its flags live in memory a filter cannot
/// read; libc then falls back to `clone`, which the filter checks).
pub fn seccomp() -> Result<LinuxSeccomp, ProviderError> {
    let mut syscalls = vec![deny(DENIED_SYSCALLS, EPERM)?, deny(&["clone3"], ENOSYS)?];
    for flag in CLONE_NAMESPACE_FLAGS {
        syscalls.push(
            LinuxSyscallBuilder::default()
                .names(vec!["clone".to_owned()])
                .action(LinuxSeccompAction::ScmpActErrno)
                .errno_ret(EPERM)
                .args(vec![LinuxSeccompArgBuilder::default()
                    .index(0usize)
                    .value(*flag)
                    .value_two(*flag)
                    .op(LinuxSeccompOperator::ScmpCmpMaskedEq)
                    .build()
                    .map_err(oci)?])
                .build()
                .map_err(oci)?,
        );
    }
    LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActAllow)
        .architectures(vec![
            Arch::ScmpArchX86_64,
            Arch::ScmpArchX86,
            Arch::ScmpArchX32,
        ])
        .syscalls(syscalls)
        .build()
        .map_err(oci)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> BundleParams {
        BundleParams {
            id: "sb-1".into(),
            rootfs: "/state/sandboxes/sb-1/rootfs".into(),
            processd_host: "/state/bin/processd".into(),
            processd_args: vec!["processd".into()],
            user: SandboxUser::for_os_user("daytona").unwrap(),
            env: BTreeMap::from([("FOO".into(), "bar".into())]),
            resources: Resources {
                cpu: 2,
                memory_gib: 3,
                disk_gib: 10,
            },
            pids_limit: 512,
            limit_swap: true,
            etc_files: vec![("/state/sandboxes/sb-1/hosts".into(), "/etc/hosts")],
            nofile: 65536,
        }
    }

    #[test]
    fn config_has_the_isolation_the_issue_asks_for() {
        let spec = build(&params()).unwrap();
        let json = serde_json::to_value(&spec).unwrap();
        let linux = &json["linux"];
        let ns: Vec<&str> = linux["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        for want in ["pid", "network", "ipc", "uts", "mount", "cgroup", "user"] {
            assert!(ns.contains(&want), "{want} missing from {ns:?}");
        }
        assert_eq!(linux["uidMappings"][0]["hostID"], HOST_ID_BASE);
        assert_eq!(linux["uidMappings"][0]["containerID"], 0);
        assert_eq!(linux["gidMappings"][0]["size"], ID_RANGE);
        assert_eq!(linux["resources"]["memory"]["limit"], 3i64 << 30);
        assert_eq!(linux["resources"]["memory"]["swap"], 3i64 << 30);
        assert_eq!(linux["resources"]["cpu"]["quota"], 200_000);
        assert_eq!(linux["resources"]["pids"]["limit"], 512);
        assert_eq!(linux["cgroupsPath"], "sandboxd/sb-1");
        assert_eq!(json["hostname"], "sb-1");
        let process = &json["process"];
        assert_eq!(process["noNewPrivileges"], true);
        assert_eq!(process["user"]["uid"], 1000);
        assert_eq!(process["cwd"], "/home/daytona");
        assert_eq!(
            process["args"],
            serde_json::json!([
                PROCESSD_IN_SANDBOX,
                "processd",
                "--listen",
                "fd:3",
                "--workdir",
                "/home/daytona"
            ])
        );
        let env: Vec<&str> = process["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        assert!(env.contains(&"FOO=bar") && env.contains(&"HOME=/home/daytona"));
        let bounding = process["capabilities"]["bounding"].as_array().unwrap();
        assert_eq!(bounding.len(), 14);
        assert!(!bounding.iter().any(|c| c == "CAP_SYS_ADMIN"));
        let mounts = json["mounts"].as_array().unwrap();
        let processd = mounts
            .iter()
            .find(|m| m["destination"] == PROCESSD_IN_SANDBOX)
            .unwrap();
        assert!(processd["options"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "ro"));
        assert!(mounts.iter().any(|m| m["destination"] == "/etc/hosts"));
    }

    #[test]
    fn seccomp_denies_the_dangerous_calls() {
        let json = serde_json::to_value(seccomp().unwrap()).unwrap();
        assert_eq!(json["defaultAction"], "SCMP_ACT_ALLOW");
        let denied: Vec<&str> = json["syscalls"][0]["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        for name in [
            "keyctl",
            "bpf",
            "userfaultfd",
            "io_uring_setup",
            "io_uring_enter",
            "io_uring_register",
            "perf_event_open",
            "kexec_load",
            "kexec_file_load",
            "init_module",
            "finit_module",
            "delete_module",
            "clock_settime",
            "clock_adjtime",
            "adjtimex",
            "settimeofday",
            "unshare",
            "mount",
        ] {
            assert!(denied.contains(&name), "{name}");
        }
        assert_eq!(json["syscalls"][0]["action"], "SCMP_ACT_ERRNO");
    }

    #[test]
    fn swap_is_left_alone_without_swap_accounting_and_root_runs_in_root_home() {
        let mut p = params();
        p.limit_swap = false;
        p.user = SandboxUser::for_os_user("root").unwrap();
        let json = serde_json::to_value(build(&p).unwrap()).unwrap();
        assert!(json["linux"]["resources"]["memory"].get("swap").is_none());
        assert_eq!(json["process"]["user"]["uid"], 0);
        assert_eq!(json["process"]["cwd"], "/root");
        assert!(SandboxUser::for_os_user("mallory").is_err());
    }
}
