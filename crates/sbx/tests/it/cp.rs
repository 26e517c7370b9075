//! `sbx cp`: files, directories, stdin/stdout, modes, errors, the progress bar only on a
//! terminal, and bounded memory for a large file.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::{sbx_bin, sbx_with, text, TestDaemon};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn remote(p: &Path) -> String {
    format!("local:{}", p.display())
}

#[tokio::test(flavor = "multi_thread")]
async fn cp_copies_files_both_ways() {
    let d = TestDaemon::start(None).await;
    let here = tempfile::tempdir().unwrap();
    let there = tempfile::tempdir().unwrap();
    let src = here.path().join("run.sh");
    std::fs::write(&src, "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o750)).unwrap();

    // To a new path: written there, mode kept, nothing on stderr when piped (no progress bar).
    let dst = there.path().join("copy.sh");
    let out = d.sbx(&["cp", src.to_str().unwrap(), &remote(&dst)]).await;
    assert_eq!(text(&out), (String::new(), String::new(), 0));
    assert_eq!(
        std::fs::read_to_string(&dst).unwrap(),
        "#!/bin/sh\necho hi\n"
    );
    assert_eq!(mode(&dst), 0o750);

    // Into an existing directory: under the source's name.
    let out = d
        .sbx(&["cp", src.to_str().unwrap(), &remote(there.path())])
        .await;
    assert_eq!(text(&out).2, 0, "{:?}", text(&out));
    assert!(there.path().join("run.sh").is_file());

    // Back down, into a local directory, with --json.
    let back = tempfile::tempdir().unwrap();
    let out = d
        .sbx(&["--json", "cp", &remote(&dst), back.path().to_str().unwrap()])
        .await;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"files": 1, "directories": 0, "bytes": 18})
    );
    let got = back.path().join("copy.sh");
    assert_eq!(
        std::fs::read_to_string(&got).unwrap(),
        "#!/bin/sh\necho hi\n"
    );
    assert_eq!(mode(&got), 0o750);
    // No temporary file is left beside it.
    assert_eq!(std::fs::read_dir(back.path()).unwrap().count(), 1);

    // stdin up, stdout down (binary-safe).
    let data: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let piped = there.path().join("piped.bin");
    let out = sbx_with(&d.url, &["cp", "-", &remote(&piped)], Some(&data)).await;
    assert_eq!(text(&out).2, 0, "{:?}", text(&out));
    assert_eq!(std::fs::read(&piped).unwrap(), data);
    let out = d.sbx(&["cp", &remote(&piped), "-"]).await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, data);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cp_copies_directories_both_ways() {
    let d = TestDaemon::start(None).await;
    let here = tempfile::tempdir().unwrap();
    let tree = here.path().join("tree");
    std::fs::create_dir_all(tree.join("sub/deeper")).unwrap();
    std::fs::create_dir_all(tree.join("empty")).unwrap();
    std::fs::write(tree.join("a.txt"), "a").unwrap();
    std::fs::write(tree.join("sub/b.txt"), "bb").unwrap();
    std::fs::write(tree.join("sub/deeper/c.bin"), vec![7u8; 300_000]).unwrap();
    std::fs::set_permissions(
        tree.join("sub/b.txt"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();

    // Up into an existing directory: it lands as there/tree.
    let there = tempfile::tempdir().unwrap();
    let out = d
        .sbx(&[
            "--json",
            "cp",
            tree.to_str().unwrap(),
            &remote(there.path()),
        ])
        .await;
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"files": 3, "directories": 4, "bytes": 300_003})
    );
    let up = there.path().join("tree");
    assert_eq!(std::fs::read_to_string(up.join("a.txt")).unwrap(), "a");
    assert_eq!(std::fs::read_to_string(up.join("sub/b.txt")).unwrap(), "bb");
    assert_eq!(mode(&up.join("sub/b.txt")), 0o600);
    assert_eq!(
        std::fs::read(up.join("sub/deeper/c.bin")).unwrap(),
        vec![7u8; 300_000]
    );
    assert!(up.join("empty").is_dir());

    // Down to a new local path: the directory is created under that name.
    let back = tempfile::tempdir().unwrap();
    let copy = back.path().join("copy");
    let out = d.sbx(&["cp", &remote(&up), copy.to_str().unwrap()]).await;
    assert_eq!(text(&out), (String::new(), String::new(), 0));
    assert_eq!(std::fs::read_to_string(copy.join("a.txt")).unwrap(), "a");
    assert_eq!(
        std::fs::read_to_string(copy.join("sub/b.txt")).unwrap(),
        "bb"
    );
    assert_eq!(mode(&copy.join("sub/b.txt")), 0o600);
    assert_eq!(
        std::fs::read(copy.join("sub/deeper/c.bin")).unwrap(),
        vec![7u8; 300_000]
    );
    assert!(copy.join("empty").is_dir());
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cp_errors_say_what_failed() {
    let d = TestDaemon::start(None).await;
    let here = tempfile::tempdir().unwrap();

    // A missing remote file: 127, naming it.
    let missing = here.path().join("nope");
    let out = d
        .sbx(&["cp", &remote(&missing), here.path().to_str().unwrap()])
        .await;
    let (_, stderr, code) = text(&out);
    assert_eq!(code, 127, "{stderr}");
    assert!(stderr.contains("nope"), "{stderr}");

    // A missing local file: 127.
    let out = d
        .sbx(&["cp", missing.to_str().unwrap(), &remote(here.path())])
        .await;
    let (_, stderr, code) = text(&out);
    assert_eq!(code, 127, "{stderr}");
    assert!(stderr.contains("nope"), "{stderr}");

    // Two local paths, two remote ones, a directory to stdout: usage errors (125).
    for args in [
        vec!["cp", "a", "b"],
        vec!["cp", "local:/a", "local:/b"],
        vec!["cp", "local:", "x"],
    ] {
        let out = d.sbx(&args).await;
        let (_, stderr, code) = text(&out);
        assert_eq!(code, 125, "{args:?}: {stderr}");
        assert!(stderr.starts_with("sbx: cp: "), "{stderr}");
    }
    let out = d.sbx(&["cp", &remote(here.path()), "-"]).await;
    let (stdout, stderr, code) = text(&out);
    assert_eq!((stdout.as_str(), code), ("", 125), "{stderr}");
    assert!(stderr.contains("is a directory"), "{stderr}");
    d.stop().await;
}

/// The progress bar is drawn only when stderr is a terminal: the summary line it ends with
/// appears on a PTY, never on a pipe (checked in the other tests).
#[tokio::test(flavor = "multi_thread")]
async fn cp_shows_progress_on_a_terminal() {
    use std::io::Read;
    let d = TestDaemon::start(None).await;
    let here = tempfile::tempdir().unwrap();
    let src = here.path().join("f.bin");
    std::fs::write(&src, vec![1u8; 2_000_000]).unwrap();
    let dst = here.path().join("g.bin");
    let pty = nix::pty::openpty(None, None).unwrap();
    let slave = std::fs::File::from(pty.slave);
    let mut child = std::process::Command::new(sbx_bin())
        .args([
            "--daemon",
            &d.url,
            "cp",
            src.to_str().unwrap(),
            &remote(&dst),
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(slave)
        .spawn()
        .unwrap();
    let mut master = std::fs::File::from(pty.master);
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        // EIO once the child (the last holder of the slave) exits.
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&seen).into_owned()
    });
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    let seen = tokio::task::spawn_blocking(move || reader.join().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{seen}");
    assert!(seen.contains("copied 1 file(s), 1.91 MiB"), "{seen:?}");
    assert_eq!(std::fs::metadata(&dst).unwrap().len(), 2_000_000);
    d.stop().await;
}

/// Runs sbx to its end and returns (exit status, its peak resident memory in KiB), measured by
/// `wait4` for that child alone.
#[allow(clippy::zombie_processes)] // reaped by wait4, which std cannot do
fn run_measured(args: &[&str]) -> (i32, i64) {
    let child = std::process::Command::new(sbx_bin())
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own un-waited child; status and usage are valid for writes.
    let r = unsafe { libc::wait4(pid, &raw mut status, 0, &raw mut usage) };
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    // Reaped by wait4 above: std must not wait for it again.
    std::mem::forget(child);
    (libc::WEXITSTATUS(status), usage.ru_maxrss)
}

/// A 96 MiB file goes up and down with sbx's memory well under the file's size.
#[tokio::test(flavor = "multi_thread")]
async fn cp_streams_in_bounded_memory() {
    const SIZE: u64 = 96 << 20;
    let d = TestDaemon::start(None).await;
    let here = tempfile::tempdir().unwrap();
    let src = here.path().join("big.bin");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&src).unwrap());
        let block: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
        for _ in 0..(SIZE >> 20) {
            f.write_all(&block).unwrap();
        }
    }
    let up = here.path().join("up.bin");
    let down = here.path().join("down.bin");
    let url = d.url.clone();
    let (src2, up2, down2) = (src.clone(), up.clone(), down.clone());
    let ((code_up, rss_up), (code_down, rss_down)) = tokio::task::spawn_blocking(move || {
        let a = run_measured(&[
            "--daemon",
            &url,
            "cp",
            src2.to_str().unwrap(),
            &remote(&up2),
        ]);
        let b = run_measured(&[
            "--daemon",
            &url,
            "cp",
            &remote(&up2),
            down2.to_str().unwrap(),
        ]);
        (a, b)
    })
    .await
    .unwrap();
    assert_eq!((code_up, code_down), (0, 0));
    assert_eq!(std::fs::metadata(&up).unwrap().len(), SIZE);
    assert_eq!(std::fs::metadata(&down).unwrap().len(), SIZE);
    assert!(
        std::fs::read(&src).unwrap() == std::fs::read(&down).unwrap(),
        "the round trip changed the bytes"
    );
    // The limit is a third of the file: a copy holding the file in memory cannot pass.
    let limit_kib = i64::try_from(SIZE / 3 / 1024).unwrap();
    assert!(
        rss_up < limit_kib && rss_down < limit_kib,
        "peak RSS up {rss_up} KiB, down {rss_down} KiB (limit {limit_kib} KiB)"
    );
    d.stop().await;
}
