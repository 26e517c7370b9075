//! The local (runc) provider against the real runtime: lifecycle, isolation, limits, network.
//! Each isolation test would fail without the isolation it names.

use std::time::Duration;

use sandbox_daemon::provider::local::disk;
use sandbox_daemon::provider::local::image::HOST_ID_BASE;
use sandbox_daemon::provider::local::spec::PROCESSD_OOM_SCORE_ADJ;
use sandbox_daemon::provider::local::LocalProvider;
use sandbox_daemon::provider::{Endpoint, Observed, Provider, Resources};

use crate::local_support::{
    exec, host, leftovers, ok, FakeNet, TestProvider, FAKE_GATEWAY, FAKE_HOST_ADDR, FAKE_INTERNET,
    FAKE_METADATA,
};
use crate::require_sandboxes;

#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_keeps_files_across_stop_and_delete_leaves_nothing() {
    require_sandboxes!();
    let t = TestProvider::new().await;
    let spec = t.spec("life");
    let ep = t.up(&spec).await;
    let out = ok(
        &ep,
        "id -un; hostname; pwd; echo $SBX_TEST; echo kept > ~/note",
    )
    .await;
    assert_eq!(out, format!("daytona\n{}\n/home/daytona\nyes\n", spec.id));
    assert_eq!(
        t.provider.observe(&spec.id).await.unwrap(),
        Observed::Running(ep.clone())
    );
    let netns = std::fs::read_link(format!("/proc/{}/ns/net", t.init_pid(&spec.id))).unwrap();

    t.provider.stop(&spec.id, false).await.unwrap();
    assert_eq!(
        t.provider.observe(&spec.id).await.unwrap(),
        Observed::Stopped
    );
    // Stopped: no process, mount or socket of it remains, but its files do.
    let left = leftovers(&t.provider.config().state_dir, &spec.id);
    assert!(
        left.iter()
            .all(|l| l.starts_with("file: ") && l.ends_with(&spec.id)),
        "{left:#?}"
    );
    // Stop is idempotent.
    t.provider.stop(&spec.id, true).await.unwrap();

    let ep = t.provider.start(&spec).await.unwrap();
    assert_eq!(ok(&ep, "cat ~/note").await, "kept\n");

    t.provider.delete(&spec.id).await.unwrap();
    let left = leftovers(&t.provider.config().state_dir, &spec.id);
    assert!(left.is_empty(), "delete left: {left:#?}");
    // Its network namespace is gone with its processes.
    let users: Vec<_> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| std::fs::read_link(e.path().join("ns/net")).ok().as_ref() == Some(&netns))
        .collect();
    assert!(users.is_empty(), "network namespace still used");
    assert_eq!(
        t.provider.observe(&spec.id).await.unwrap(),
        Observed::Missing
    );
    // Delete is idempotent.
    t.provider.delete(&spec.id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn host_files_and_processes_are_invisible() {
    require_sandboxes!();
    let t = TestProvider::new().await;
    let secret = format!("/tmp/sbx-secret-{}", crate::local_support::uuid_like());
    std::fs::write(&secret, "host secret").unwrap();
    let mut sleeper = std::process::Command::new("sleep")
        .arg("1234.5")
        .spawn()
        .unwrap();
    let spec = t.spec("iso");
    let ep = t.up(&spec).await;
    let (code, out) = exec(&ep, &format!("cat {secret}")).await;
    assert_ne!(code, 0, "host file readable: {out}");
    assert!(!out.contains("host secret"));
    // Nor any trace of the host's state dir or home.
    let (code, _) = exec(
        &ep,
        &format!("ls {}", t.provider.config().state_dir.display()),
    )
    .await;
    assert_ne!(code, 0);
    let ps = ok(&ep, "ps -eo pid,args").await;
    assert!(!ps.contains("1234.5"), "host process visible:\n{ps}");
    let first = ps.lines().nth(1).unwrap_or_default();
    assert!(
        first.trim_start().starts_with("1 ") && first.contains("processd"),
        "{ps}"
    );
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let _ = std::fs::remove_file(&secret);
    t.provider.delete(&spec.id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn two_sandboxes_cannot_see_each_other() {
    require_sandboxes!();
    let t = TestProvider::new().await;
    let (a, b) = (t.spec("twa"), t.spec("twb"));
    let (ea, eb) = tokio::join!(t.up(&a), t.up(&b));
    ok(
        &ea,
        "echo mine > /tmp/only-a; nohup sleep 987.6 >/dev/null 2>&1 &",
    )
    .await;
    let (code, _) = exec(&eb, "cat /tmp/only-a").await;
    assert_ne!(code, 0, "b reads a's file");
    let ps = ok(&eb, "ps -eo args").await;
    assert!(!ps.contains("987.6"), "b sees a's process:\n{ps}");
    assert!(ok(&ea, "ps -eo args").await.contains("987.6"));
    assert_eq!(ok(&ea, "cat /tmp/only-a").await, "mine\n");
    tokio::try_join!(t.provider.delete(&a.id), t.provider.delete(&b.id)).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn root_inside_is_an_unprivileged_uid_on_the_host() {
    require_sandboxes!();
    let t = TestProvider::new().await;
    let mut spec = t.spec("root");
    spec.os_user = "root".into();
    let ep = t.up(&spec).await;
    assert_eq!(ok(&ep, "id -u").await, "0\n");
    let status = std::fs::read_to_string(format!("/proc/{}/status", t.init_pid(&spec.id))).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    let uids: Vec<u32> = uid_line
        .split_whitespace()
        .skip(1)
        .map(|u| u.parse().unwrap())
        .collect();
    assert_eq!(uids, vec![HOST_ID_BASE; 4], "{uid_line}");
    // Root inside still cannot do what the seccomp profile and the namespaces deny.
    let (code, out) = exec(&ep, "unshare --user --map-root-user true").await;
    assert_ne!(code, 0, "nested user namespace allowed: {out}");
    let (code, out) = exec(&ep, "mount -t tmpfs none /mnt").await;
    assert_ne!(code, 0, "mount allowed: {out}");
    // Files it writes belong to the unprivileged uid on the host.
    ok(&ep, "echo x > /root/made-by-root").await;
    let upper = t
        .provider
        .config()
        .state_dir
        .join("sandboxes")
        .join(&spec.id)
        .join("layer/upper/root/made-by-root");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(upper).unwrap().uid(), HOST_ID_BASE);
    t.provider.delete(&spec.id).await.unwrap();
}

/// Lists every cgroup hierarchy mounted in the caller's mount namespace, one line each:
/// `writable <path>` when root can make a child cgroup there, else `read-only <path>`.
const CGROUP_PROBE: &str = r#"awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { print $(i + 1), $5; break } }' /proc/self/mountinfo |
while read -r fstype path; do
  case "$fstype" in cgroup|cgroup2) ;; *) continue ;; esac
  probe="$path/sbx-cgroup-probe-$$"
  if mkdir "$probe" 2>/dev/null; then rmdir "$probe"; echo "writable $path"; else echo "read-only $path"; fi
done"#;

#[tokio::test(flavor = "multi_thread")]
async fn no_cgroup_is_writable_from_inside_even_for_root() {
    require_sandboxes!();
    // The probe itself can tell: the host, where this test runs as root, has a writable cgroup
    // hierarchy (the sandboxes' own cgroups are made in one).
    let on_host = host(&["bash", "-c", CGROUP_PROBE]);
    assert!(
        on_host.lines().any(|l| l.starts_with("writable ")),
        "the probe finds no writable cgroup on the host:\n{on_host}"
    );
    let t = TestProvider::new().await;
    let mut spec = t.spec("cgro");
    spec.os_user = "root".into();
    let ep = t.up(&spec).await;
    let inside = ok(&ep, CGROUP_PROBE).await;
    assert!(
        inside.lines().any(|l| l.starts_with("read-only ")),
        "no cgroup hierarchy is mounted inside (the limits test reads them):\n{inside}"
    );
    assert!(
        !inside.lines().any(|l| l.starts_with("writable ")),
        "a cgroup hierarchy is writable from inside the sandbox:\n{inside}"
    );
    // So processd inside (`--cgroup-root auto`) made no cgroup of its own anywhere.
    let units = ok(
        &ep,
        "find /sys/fs/cgroup -maxdepth 3 -name 'processd-*' 2>/dev/null; true",
    )
    .await;
    assert_eq!(units, "", "processd made cgroups inside the sandbox");
    t.provider.delete(&spec.id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_memory_hog_is_killed_at_the_limit_and_the_sandbox_keeps_working() {
    require_sandboxes!();
    let t = TestProvider::new().await;
    let spec = t.spec("mem"); // 1 GiB
    let ep = t.up(&spec).await;
    let (code, out) = exec(
        &ep,
        "python3 -c 'b = []\nfor _ in range(3 * 1024): b.append(bytearray(1 << 20))\nprint(\"survived\")'",
    )
    .await;
    assert_ne!(code, 0, "3 GiB allocated under a 1 GiB limit: {out}");
    assert!(!out.contains("survived"));
    assert_eq!(ok(&ep, "echo alive").await, "alive\n");
    // The limit is the cgroup's, as the sandbox sees it.
    let limit = ok(&ep, "cat /sys/fs/cgroup/memory/memory.limit_in_bytes").await;
    assert_eq!(limit.trim(), (1u64 << 30).to_string());
    // Resize raises it live.
    t.provider
        .resize(
            &spec.id,
            Resources {
                cpu: 2,
                memory_gib: 2,
                disk_gib: 3,
            },
        )
        .await
        .unwrap();
    let limit = ok(&ep, "cat /sys/fs/cgroup/memory/memory.limit_in_bytes").await;
    assert_eq!(limit.trim(), (2u64 << 30).to_string());
    let quota = ok(&ep, "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us").await;
    assert_eq!(quota.trim(), "200000");
    t.provider.delete(&spec.id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn processd_is_protected_from_the_sandbox_oom_and_its_commands_are_not() {
    require_sandboxes!();
    let t = TestProvider::new().await;
    let spec = t.spec("oom");
    let ep = t.up(&spec).await;
    let path = format!("/proc/{}/oom_score_adj", t.init_pid(&spec.id));
    let pid1: i32 = std::fs::read_to_string(&path)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Lowering a score needs CAP_SYS_RESOURCE, which some hosts (this CI's container) drop.
    let can_lower = std::process::Command::new("sh")
        .args(["-c", "echo -1 > /proc/self/oom_score_adj"])
        .status()
        .unwrap()
        .success();
    let expected = if can_lower {
        PROCESSD_OOM_SCORE_ADJ
    } else {
        eprintln!("this host cannot lower oom_score_adj: processd runs unprotected (checked)");
        assert_eq!(pid1, 0);
        // Still check that commands do not inherit processd's score: give it one (raising
        // needs no privilege).
        std::fs::write(&path, "500").unwrap();
        500
    };
    assert_eq!(
        std::fs::read_to_string(&path).unwrap().trim(),
        expected.to_string()
    );
    // A command (and what it starts) is back at 0: the kernel picks it, not processd.
    assert_eq!(
        ok(
            &ep,
            "cat /proc/1/oom_score_adj; cat /proc/self/oom_score_adj; sh -c 'cat /proc/self/oom_score_adj'"
        )
        .await,
        format!("{expected}\n0\n0\n")
    );
    // So do session commands.
    let (st, _) = crate::local_support::call(
        &ep,
        "POST",
        "/process/session",
        Some(serde_json::json!({"sessionId": "s"})),
    )
    .await;
    assert_eq!(st, 201);
    let (st, out) = crate::local_support::call(
        &ep,
        "POST",
        "/process/session/s/exec",
        Some(serde_json::json!({"command": "cat /proc/self/oom_score_adj"})),
    )
    .await;
    assert_eq!(st, 200, "{out}");
    assert_eq!(
        out["stdout"].as_str().unwrap_or_default().trim(),
        "0",
        "{out}"
    );
    t.provider.delete(&spec.id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fork_bomb_stops_at_the_pids_limit() {
    require_sandboxes!();
    let t = TestProvider::with(|c| c.pids_limit = 64).await;
    let spec = t.spec("pids");
    let ep = t.up(&spec).await;
    // Forks until fork fails, reports how many children it got, then lets them all go.
    let script = "python3 -c '
import os, signal, time
kids = []
err = None
for _ in range(500):
    try:
        pid = os.fork()
    except OSError as e:
        err = e.errno
        break
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    kids.append(pid)
for k in kids:
    os.kill(k, signal.SIGKILL)
    os.waitpid(k, 0)
print(len(kids), err)
'";
    let out = ok(&ep, script).await;
    let mut parts = out.split_whitespace();
    let kids: usize = parts.next().unwrap().parse().unwrap();
    let errno = parts.next().unwrap();
    assert!(kids < 64, "{out}");
    assert_eq!(errno, "11", "fork should fail with EAGAIN: {out}");
    assert_eq!(ok(&ep, "echo alive").await, "alive\n");
    t.provider.delete(&spec.id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn network_block_all_has_only_loopback() {
    require_sandboxes!();
    let t = TestProvider::new().await;
    let mut spec = t.spec("nonet");
    spec.network_block_all = true;
    let ep = t.up(&spec).await;
    assert_eq!(ok(&ep, "ls /sys/class/net").await, "lo\n");
    t.provider.delete(&spec.id).await.unwrap();
}

/// Connects from inside the sandbox; returns what the server said or the error.
async fn connect(ep: &Endpoint, addr: &str, port: u16) -> String {
    let cmd = format!(
        "python3 -c '
import socket
try:
    s = socket.create_connection((\"{addr}\", {port}), timeout=3)
    print(s.recv(100).decode().strip())
except Exception as e:
    print(\"failed:\", type(e).__name__)
'"
    );
    ok(ep, &cmd).await.trim().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn egress_works_but_the_host_its_gateway_and_metadata_are_unreachable() {
    require_sandboxes!();
    let fake = FakeNet::new();
    let t = TestProvider::with(|c| c.host_netns = Some(fake.host_path())).await;
    let port = 18_080;
    FakeNet::serve(&fake.uplink, FAKE_INTERNET, port, "internet");
    FakeNet::serve(&fake.uplink, FAKE_GATEWAY, port, "gateway");
    FakeNet::serve(&fake.uplink, FAKE_METADATA, port, "metadata");
    FakeNet::serve(&fake.host, "127.0.0.1", port, "host-loopback");
    FakeNet::serve(&fake.host, FAKE_HOST_ADDR, port + 1, "host-address");
    let spec = t.spec("net");
    let ep = t.up(&spec).await;
    // Outbound works: the server beyond the gateway answers.
    assert_eq!(
        connect(&ep, FAKE_INTERNET, port).await,
        "hello from internet"
    );
    // The host's loopback, through slirp's gateway alias and directly.
    for (addr, p) in [("10.0.2.2", port), ("127.0.0.1", port)] {
        let got = connect(&ep, addr, p).await;
        assert!(got.starts_with("failed"), "{addr}:{p} reachable: {got}");
    }
    // The host's own address, its gateway, the metadata range.
    for (addr, p) in [
        (FAKE_HOST_ADDR, port + 1),
        (FAKE_GATEWAY, port),
        (FAKE_METADATA, port),
    ] {
        let got = connect(&ep, addr, p).await;
        assert!(got.starts_with("failed"), "{addr}:{p} reachable: {got}");
    }
    // The host itself (outside the slirp cgroup) still reaches them: the rules are scoped.
    let out = FakeNet::connect_from(&fake.host, FAKE_GATEWAY, port);
    assert_eq!(out.trim(), "hello from gateway");
    t.provider.delete(&spec.id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_provider_readopts_running_sandboxes_and_a_crash_is_reported() {
    require_sandboxes!();
    let t = TestProvider::new().await;
    let spec = t.spec("adopt");
    let ep = t.up(&spec).await;
    ok(&ep, "echo before > ~/f").await;
    // A second provider on the same state dir (sandboxd restarted) finds it running.
    let mut config = t.provider.config().clone();
    config.stop_grace = Duration::from_secs(5);
    let again = LocalProvider::new(config).unwrap();
    let Observed::Running(ep2) = again.observe(&spec.id).await.unwrap() else {
        panic!("not running after restart");
    };
    assert_eq!(ok(&ep2, "cat ~/f").await, "before\n");
    // processd killed from the host: reported as failed, with a reason.
    let pid = t.init_pid(&spec.id);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let mut observed = again.observe(&spec.id).await.unwrap();
    for _ in 0..100 {
        if matches!(observed, Observed::Failed(_)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        observed = again.observe(&spec.id).await.unwrap();
    }
    assert!(matches!(observed, Observed::Failed(_)), "{observed:?}");
    // ...and can be started again, files intact.
    let ep3 = again.start(&spec).await.unwrap();
    assert_eq!(ok(&ep3, "cat ~/f").await, "before\n");
    again.delete(&spec.id).await.unwrap();
    assert!(leftovers(&t.provider.config().state_dir, &spec.id).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_disk_limit_is_enforced_reported_and_can_grow() {
    require_sandboxes!();
    let t = TestProvider::new().await;
    let mut spec = t.spec("disk");
    spec.resources.disk_gib = 1;
    let ep = t.up(&spec).await;
    // `df /` inside shows the limit (ext4 of 1 GiB, minus its own metadata).
    let total_kib = |out: &str| -> u64 { out.split_whitespace().nth(1).unwrap().parse().unwrap() };
    let size = total_kib(&ok(&ep, "df -k / | tail -1").await);
    assert!((900_000..=1_048_576).contains(&size), "df says {size} KiB");
    // More than the limit cannot be allocated; the sandbox keeps working.
    let (code, out) = exec(&ep, "fallocate -l 1200M ~/big").await;
    assert_ne!(code, 0, "1.2 GiB fitted in a 1 GiB disk: {out}");
    assert!(out.contains("No space left"), "{out}");
    ok(
        &ep,
        "rm -f ~/big; head -c 20M /dev/zero > ~/fits; ls -s ~/fits",
    )
    .await;
    // Grown while stopped (only growing is allowed), the files stay.
    t.provider.stop(&spec.id, false).await.unwrap();
    let smaller = Resources {
        disk_gib: 1,
        ..spec.resources
    };
    spec.resources.disk_gib = 2;
    t.provider.resize(&spec.id, spec.resources).await.unwrap();
    assert!(t.provider.resize(&spec.id, smaller).await.is_err());
    let ep = t.provider.start(&spec).await.unwrap();
    let size = total_kib(&ok(&ep, "df -k / | tail -1").await);
    assert!(
        (1_900_000..=2_097_152).contains(&size),
        "df says {size} KiB after growing"
    );
    ok(&ep, "test -s ~/fits").await;
    t.provider.delete(&spec.id).await.unwrap();
    let left = leftovers(&t.provider.config().state_dir, &spec.id);
    assert!(left.is_empty(), "delete left: {left:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spare_disk_layer_serves_the_next_create_and_shutdown_removes_the_rest() {
    require_sandboxes!();
    let t = TestProvider::with(|c| c.disk_spares = 1).await;
    let spares = t.provider.config().state_dir.join(disk::SPARES);
    let spares_text = spares.display().to_string();
    let mounted_spares = || -> usize {
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter(|l| l.contains(&spares_text))
            .count()
    };
    let wait_for = |want: usize, what: &'static str| async move {
        let deadline = std::time::Instant::now() + Duration::from_mins(1);
        while mounted_spares() != want {
            assert!(std::time::Instant::now() < deadline, "{what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    // The first create of a size makes its own layer and stocks a spare of that size.
    let mut first = t.spec("spare1");
    first.resources.disk_gib = 1;
    t.provider.create(&first).await.unwrap();
    wait_for(1, "no spare layer was made after the first create").await;
    let spare = std::fs::read_dir(&spares)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    // The next create of that size takes it: an empty filesystem of its size, its own.
    let mut second = t.spec("spare2");
    second.resources.disk_gib = 1;
    let ep = t.up(&second).await;
    assert!(
        !spare.exists(),
        "the spare {} was not taken",
        spare.display()
    );
    let df = ok(&ep, "df -k / | tail -1; ls -A ~ | wc -l").await;
    let size: u64 = df.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!((900_000..=1_048_576).contains(&size), "df says {size} KiB");
    ok(&ep, "echo kept > ~/note").await;
    t.provider.stop(&second.id, false).await.unwrap();
    let ep = t.provider.start(&second).await.unwrap();
    assert_eq!(ok(&ep, "cat ~/note").await, "kept\n");
    // The take is followed by a refill; shutdown removes it and leaves no mount or loop
    // device; deletes leave nothing of the sandboxes.
    wait_for(1, "the spare was not refilled").await;
    for spec in [&first, &second] {
        t.provider.delete(&spec.id).await.unwrap();
        let left = leftovers(&t.provider.config().state_dir, &spec.id);
        assert!(left.is_empty(), "delete left: {left:#?}");
    }
    t.provider.shutdown().await;
    assert_eq!(mounted_spares(), 0);
    assert_eq!(std::fs::read_dir(&spares).unwrap().count(), 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while host(&["losetup", "-a"]).contains(&spares_text) {
        assert!(
            std::time::Instant::now() < deadline,
            "a spare's loop device is still attached"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
