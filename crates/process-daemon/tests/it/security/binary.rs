//! The `processd` binary itself: the address line, refusing a non-loopback address without
//! a token, scrubbed child environment and fds, zombie reaping as PID 1, the entrypoint.

use super::*;

/// A `processd` child process, killed when dropped.
struct Binary {
    child: std::process::Child,
    url: String,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_binary(prefix: &[&str], args: &[&str], env: &[(&str, &str)]) -> Binary {
    let work = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_processd");
    let mut cmd = if prefix.is_empty() {
        Command::new(bin)
    } else {
        let mut c = Command::new(prefix[0]);
        c.args(&prefix[1..]).arg(bin);
        c
    };
    cmd.args(["--listen", "127.0.0.1:0", "--log-level", "warn"])
        .arg("--workdir")
        .arg(work.path())
        .arg("--state-dir")
        .arg(state.path())
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("start processd");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("processd listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    Binary {
        child,
        url,
        _dirs: (work, state),
    }
}

/// One POST to a binary daemon.
async fn post(
    url: &str,
    path: &str,
    token: Option<&str>,
    body: &serde_json::Value,
) -> serde_json::Value {
    request(url, Method::POST, path, token, Some(body)).await
}

/// One HTTP request to a binary daemon; the JSON body, or `{"status": N}` when empty.
async fn request(
    url: &str,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&serde_json::Value>,
) -> serde_json::Value {
    use http_body_util::BodyExt;
    let addr = url.trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr)
        .header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = req
        .body(http_body_util::Full::new(bytes::Bytes::from(
            body.map(|b| serde_json::to_vec(b).unwrap())
                .unwrap_or_default(),
        )))
        .unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(30), sender.send_request(req))
        .await
        .unwrap()
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    if bytes.is_empty() {
        return json!({ "status": status.as_u16() });
    }
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{status}: {e}: {:?}", String::from_utf8_lossy(&bytes)))
}

#[test]
fn the_binary_refuses_a_non_loopback_address_without_a_token() {
    let out = Command::new(env!("CARGO_BIN_EXE_processd"))
        .args(["--listen", "0.0.0.0:0"])
        .env_remove("PROCESSD_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("token"), "{err}");
}

#[tokio::test]
async fn children_get_a_scrubbed_environment_and_only_fds_0_1_2() {
    let secret = "s3cr3t-token-value-5d2a";
    let b = start_binary(&[], &[], &[("PROCESSD_TOKEN", secret)]);
    let r = post(
        &b.url,
        "/process/execute",
        Some(secret),
        &json!({"command": "env; sh -c 'ls /proc/$$/fd'"}),
    )
    .await;
    let out = r["result"].as_str().unwrap();
    assert!(!out.contains("PROCESSD_"), "{out}");
    assert!(!out.contains(secret), "the token reached a child");
    assert!(out.ends_with("\n0\n1\n2\n"), "unexpected fds: {out}");
    // Without the token: refused.
    let r = post(
        &b.url,
        "/process/execute",
        None,
        &json!({"command": "true"}),
    )
    .await;
    assert_eq!(r["statusCode"], 401);
    // Session commands: same fds.
    let _ = post(
        &b.url,
        "/process/session",
        Some(secret),
        &json!({"sessionId": "s"}),
    )
    .await;
    let r = post(
        &b.url,
        "/process/session/s/exec",
        Some(secret),
        &json!({"command": "sh -c 'ls /proc/$$/fd'"}),
    )
    .await;
    assert_eq!(r["stdout"], "0\n1\n2\n");
}

#[tokio::test]
async fn as_pid_1_orphans_are_reaped_and_exit_codes_are_exact() {
    let probe = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "true"])
        .stderr(Stdio::null())
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("skipping: cannot create a PID namespace here (needs root and unshare)");
        return;
    }
    let b = start_binary(&["unshare", "--pid", "--fork", "--mount-proc"], &[], &[]);
    let unshare_pid = b.child.id() as i32;
    let daemon_pid = *process_daemon::proc::children_of(unshare_pid)
        .first()
        .expect("the daemon under unshare");
    for _ in 0..100 {
        let r = post(
            &b.url,
            "/process/execute",
            None,
            &json!({"command": "(sleep 0.01 &); sh -c 'sleep 0.01 &'; true"}),
        )
        .await;
        assert_eq!(r["exitCode"], 0);
    }
    let _ = post(&b.url, "/process/session", None, &json!({"sessionId": "z"})).await;
    for i in 0..100 {
        let code = (i * 37) % 256;
        let r = post(
            &b.url,
            "/process/execute",
            None,
            &json!({"command": format!("(sleep 0.01 &); exit {code}")}),
        )
        .await;
        assert_eq!(r["exitCode"], code, "exec exit code");
        let r = post(
            &b.url,
            "/process/session/z/exec",
            None,
            &json!({"command": format!("(sleep 0.01 &); (exit {code})")}),
        )
        .await;
        assert_eq!(r["exitCode"], code, "session exit code");
    }
    let zombies = || {
        process_daemon::proc::children_of(daemon_pid)
            .into_iter()
            .filter(|p| process_daemon::proc::proc_state(*p) == Some('Z'))
            .count()
    };
    assert!(
        eventually(Duration::from_secs(5), || zombies() == 0).await,
        "{} zombies under the PID-1 daemon",
        zombies()
    );
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon_pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

#[tokio::test]
async fn the_binary_runs_the_command_after_double_dash_as_the_entrypoint() {
    let b = start_binary(
        &[],
        &["--", "sh", "-c", "echo \"entry $0\"; echo warn >&2", "arg0"],
        &[],
    );
    let mut logs = json!(null);
    for _ in 0..200 {
        logs = request(
            &b.url,
            Method::GET,
            "/process/session/entrypoint",
            None,
            None,
        )
        .await;
        if logs["commands"][0]["exitCode"].is_number() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(logs["commands"][0]["id"], "entrypoint_command");
    assert_eq!(logs["commands"][0]["exitCode"], 0);
    let out = request(
        &b.url,
        Method::GET,
        "/process/session/entrypoint/logs",
        None,
        None,
    )
    .await;
    assert_eq!(out["stdout"], "entry arg0\n");
    assert_eq!(out["stderr"], "warn\n");
}
