//! fd hygiene (runs in a child process: `/proc/self/fd` must not see other tests' sockets).

use super::*;

const FD_CHILD_ENV: &str = "PROCESSD_PTY_FD_CHILD";

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn fd_targets() -> BTreeSet<(String, String)> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .map(|e| {
            let t = std::fs::read_link(e.path()).unwrap_or_default();
            (
                e.file_name().to_string_lossy().into_owned(),
                t.display().to_string(),
            )
        })
        .collect()
}

fn ptmx_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter(|e| std::fs::read_link(e.path()).is_ok_and(|p| p.ends_with("ptmx")))
        .count()
}

#[test]
fn fds_return_to_baseline_after_many_sessions() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "pty::fds::fd_churn_in_own_process",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(FD_CHILD_ENV, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the fd churn child failed");
    assert!(
        stdout.contains("1 passed"),
        "the fd churn child did not run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by fds_return_to_baseline_after_many_sessions in its own process"]
async fn fd_churn_in_own_process() {
    if std::env::var_os(FD_CHILD_ENV).is_none() {
        return;
    }
    let d = TestDaemon::start().await;
    // Warm up: first connections and lazily created runtime fds.
    http(d.addr, "GET", "/process/pty", None).await;
    let mut c = PtyClient::create(d.addr, "id=warm").await;
    // Neither the shell nor its children inherit anything of the daemon: their 0, 1, 2 are the
    // terminal, and no other descriptor of theirs is one the daemon holds (the login profile
    // may open its own, e.g. pyenv's pipe).
    c.send(b"sleep 60.8642\n").await;
    let deadline = Instant::now() + HANG;
    let child = loop {
        if let Some(&pid) = processes_with("sleep 60.8642").first() {
            break pid;
        }
        assert!(Instant::now() < deadline, "sleep never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let fds_of = |pid: &str| -> Vec<(String, String)> {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .flatten()
            .map(|e| {
                let target = std::fs::read_link(e.path()).unwrap_or_default();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    target.display().to_string(),
                )
            })
            .collect()
    };
    let daemon_fds: BTreeSet<String> = fds_of("self")
        .into_iter()
        .map(|(_, t)| t)
        .filter(|t| !t.starts_with("/dev/null") && !t.starts_with("/dev/pts/"))
        .collect();
    let shell: i32 = table::stat(child).unwrap().ppid;
    for pid in [child, shell] {
        let fds = fds_of(&pid.to_string());
        for (name, target) in &fds {
            if ["0", "1", "2"].contains(&name.as_str()) {
                assert!(target.starts_with("/dev/pts/"), "{pid}: {fds:?}");
            }
            assert!(
                !daemon_fds.contains(target),
                "{pid} inherited {target} from the daemon: {fds:?}; daemon: {:?}",
                fds_of("self")
            );
            assert!(
                !target.contains("ptmx") && !target.starts_with("socket:"),
                "{pid}: {fds:?}"
            );
        }
    }
    c.send(b"\x03").await;
    assert!(wait_gone("sleep 60.8642").await);
    c.send(b"exit\n").await;
    c.read_to_close().await;
    drop(c);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = fd_count();
    let before_list = fd_targets();
    // 100 create/kill cycles, 10 at a time; every third session also gets a client.
    let addr = d.addr;
    for batch in 0..10 {
        let cycles = (0..10).map(|j| async move {
            let i = batch * 10 + j;
            let id = format!("churn{i}");
            let body = json!({"id": id, "envs": {"HOME": test_home()}});
            let (status, _) = http(addr, "POST", "/process/pty", Some(body)).await;
            assert_eq!(status, 201);
            if i % 3 == 0 {
                let mut c = PtyClient::connect(addr, &id).await;
                c.send(b"echo $((i+1))hi\n").await;
                c.read_until("1hi").await;
                drop(c);
            }
            let (status, _) = http(addr, "DELETE", &format!("/process/pty/{id}"), None).await;
            assert_eq!(status, 200);
        });
        futures_util::future::join_all(cycles).await;
    }
    // Sockets of dropped clients close asynchronously.
    let deadline = Instant::now() + Duration::from_secs(5);
    while fd_count() > before && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = fd_count();
    let after_list = fd_targets();
    println!(
        "fds added: {:?}",
        after_list.difference(&before_list).collect::<Vec<_>>()
    );
    println!(
        "daemon fds: before churn {before}, after 100 create/kill cycles {after}; ptmx open: {}",
        ptmx_count()
    );
    assert!(after <= before + 2, "fd leak: {before} → {after}");
    assert_eq!(ptmx_count(), 0);
    // And no shell (or zombie) of ours is left.
    let me = i32::try_from(std::process::id()).unwrap();
    let children =
        || -> Vec<table::Stat> { table::all().into_iter().filter(|s| s.ppid == me).collect() };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !children().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(children(), Vec::<table::Stat>::new());
}
