//! `processd --listen fd:N`: serving on a Unix socket its parent created and passed in.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use command_fds::{CommandFdExt, FdMapping};

/// Sends one HTTP/1.1 request over a Unix socket and returns the whole response text.
fn request(path: &std::path::Path, raw: &str) -> String {
    let mut conn = std::os::unix::net::UnixStream::connect(path).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    conn.write_all(raw.as_bytes()).unwrap();
    let mut out = String::new();
    conn.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn serves_on_an_inherited_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("processd.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let work = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_processd"));
    cmd.args(["--listen", "fd:3", "--workdir"])
        .arg(work.path())
        .arg("--state-dir")
        .arg(state.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    cmd.fd_mappings(vec![FdMapping {
        parent_fd: OwnedFd::from(listener),
        child_fd: 3,
    }])
    .unwrap();
    let mut child = cmd.spawn().expect("spawn processd");
    // The socket exists before the daemon runs: connecting succeeds at once and the request
    // waits in the backlog until the daemon accepts it.
    let body = r#"{"command": "echo via-fd"}"#;
    let started = Instant::now();
    let resp = request(
        &sock,
        &format!(
            "POST /process/execute HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    let _ = child.kill();
    let _ = child.wait();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains(r#""result":"via-fd\n""#), "{resp}");
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn refuses_a_descriptor_that_is_not_open() {
    let out = Command::new(env!("CARGO_BIN_EXE_processd"))
        .args(["--listen", "fd:987"])
        .stdin(Stdio::null())
        .output()
        .expect("run processd");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("descriptor 987 is not open"), "{stderr}");
}

#[test]
fn refuses_a_descriptor_that_is_not_a_unix_socket() {
    let file = tempfile::tempfile().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_processd"));
    cmd.args(["--listen", "fd:3"]).stdin(Stdio::null());
    cmd.fd_mappings(vec![FdMapping {
        parent_fd: OwnedFd::from(file),
        child_fd: 3,
    }])
    .unwrap();
    let out = cmd.output().expect("run processd");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not a Unix socket"), "{stderr}");
}
