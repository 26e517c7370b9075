//! Access and hygiene: the bearer-token matrix over every route (WebSocket upgrades included),
//! Origin checks, body limits, and the `processd` binary itself (address line, refusing a
//! non-loopback address without a token, scrubbed child environment, child fds, zombie
//! reaping as PID 1).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::json;

use crate::support::{eventually, TestDaemon};

const TOKEN: &str = "test-token-8c1f";

/// Every route the daemon serves: (method, path, is a WebSocket upgrade).
const ROUTES: &[(&str, &str, bool)] = &[
    ("GET", "/version", false),
    ("POST", "/process/execute", false),
    ("POST", "/process/code-run", false),
    ("GET", "/process/session", false),
    ("POST", "/process/session", false),
    ("GET", "/process/session/entrypoint", false),
    ("GET", "/process/session/entrypoint/logs", false),
    ("GET", "/process/session/entrypoint/logs?follow=true", true),
    ("GET", "/process/session/s1", false),
    ("DELETE", "/process/session/s1", false),
    ("POST", "/process/session/s1/exec", false),
    ("GET", "/process/session/s1/command/c1", false),
    ("POST", "/process/session/s1/command/c1/input", false),
    ("GET", "/process/session/s1/command/c1/logs", false),
    (
        "GET",
        "/process/session/s1/command/c1/logs?follow=true",
        true,
    ),
    ("GET", "/process/pty", false),
    ("POST", "/process/pty", false),
    (
        "GET",
        "/process/pty/create-connect?id=p1&cols=80&rows=24",
        true,
    ),
    ("GET", "/process/pty/p1", false),
    ("DELETE", "/process/pty/p1", false),
    ("GET", "/process/pty/p1/connect", true),
    ("POST", "/process/pty/p1/resize", false),
    ("POST", "/process/interpreter/context", false),
    ("GET", "/process/interpreter/context", false),
    ("DELETE", "/process/interpreter/context/x1", false),
    ("GET", "/process/interpreter/execute", true),
];

/// A body that would have visible effects if it were ever executed.
fn body_for(path: &str, canary: &std::path::Path) -> serde_json::Value {
    let touch = format!("touch {}", canary.display());
    if path.contains("execute") || path.ends_with("/exec") {
        json!({"command": touch})
    } else if path.contains("code-run") {
        json!({"code": format!("open({:?}, 'w')", canary.display().to_string()), "language": "python"})
    } else if path == "/process/session" {
        json!({"sessionId": "s1"})
    } else if path == "/process/pty" {
        json!({"id": "p1"})
    } else {
        json!({"data": "x", "cols": 10, "rows": 10})
    }
}

#[tokio::test]
async fn every_route_requires_the_token_and_nothing_happens_without_it() {
    let d = TestDaemon::start_with(|c| c.token = Some(TOKEN.into())).await;
    let canary = d.workdir.path().join("canary");
    let good = format!("Bearer {TOKEN}");
    let bad_headers: Vec<Vec<(&str, String)>> = vec![
        vec![],
        vec![("authorization", String::new())],
        vec![("authorization", "Bearer wrong".into())],
        vec![("authorization", format!("Bearer  {TOKEN}"))],
        vec![("authorization", format!("bearer {TOKEN}"))],
        vec![("authorization", format!("Basic {TOKEN}"))],
        vec![("authorization", TOKEN.into())],
        vec![("x-access-token", TOKEN.into())],
        vec![
            ("authorization", good.clone()),
            ("authorization", "Bearer wrong".into()),
        ],
    ];
    for (method, path, is_ws) in ROUTES {
        for headers in &bad_headers {
            let hs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let status = if *is_ws {
                match d.ws(path, &hs).await {
                    Ok(_) => StatusCode::SWITCHING_PROTOCOLS,
                    Err(r) => r.status,
                }
            } else {
                let body = body_for(path, &canary);
                d.call(method.parse().unwrap(), path, Some(&body), &hs)
                    .await
                    .status
            };
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {headers:?}"
            );
        }
        // The token in the query string does not count either.
        let sep = if path.contains('?') { '&' } else { '?' };
        let with_query = format!("{path}{sep}token={TOKEN}&access_token={TOKEN}");
        let r = d
            .call(method.parse().unwrap(), &with_query, None, &[])
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {with_query}");
    }
    // No side effects: nothing ran, nothing was created.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !canary.exists(),
        "a request without the token ran a command"
    );
    let auth = [("authorization", good.as_str())];
    let sessions = d.call(Method::GET, "/process/session", None, &auth).await;
    assert_eq!(sessions.json(), json!([]));

    // With the token every route answers something other than 401.
    for (method, path, is_ws) in ROUTES {
        let status = if *is_ws {
            match d.ws(path, &auth).await {
                Ok(_) => StatusCode::SWITCHING_PROTOCOLS,
                Err(r) => r.status,
            }
        } else {
            let body = body_for(path, &d.workdir.path().join("ok"));
            d.call(method.parse().unwrap(), path, Some(&body), &auth)
                .await
                .status
        };
        assert_ne!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
    }
    // /health is the one open route.
    let r = d.get("/health").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!r.text().contains(env!("CARGO_PKG_VERSION")));
    let r = d.call(Method::GET, "/version", None, &auth).await;
    assert_eq!(r.json()["version"], env!("CARGO_PKG_VERSION"));
    d.stop().await;
}

#[tokio::test]
async fn foreign_origins_are_refused() {
    let d = TestDaemon::start().await;
    for origin in [
        "http://evil.example",
        "null",
        "https://127.0.0.1.evil.example",
    ] {
        let r = d
            .call(
                Method::POST,
                "/process/execute",
                Some(&json!({"command": "true"})),
                &[("origin", origin)],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{origin}");
        let ws = d
            .ws("/process/interpreter/execute", &[("origin", origin)])
            .await;
        assert_eq!(
            ws.err().map(|r| r.status),
            Some(StatusCode::FORBIDDEN),
            "{origin}"
        );
    }
    // Loopback, but another port: another local web app, not this daemon.
    let r = d
        .call(
            Method::POST,
            "/process/execute",
            Some(&json!({"command": "true"})),
            &[("origin", "http://localhost:3000")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["code"], "FORBIDDEN");
    let port = d.addr.port();
    for own in [
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
        format!("http://[::1]:{port}"),
    ] {
        let r = d
            .call(
                Method::POST,
                "/process/execute",
                Some(&json!({"command": "echo ok"})),
                &[("origin", own.as_str())],
            )
            .await;
        assert_eq!(r.json()["result"], "ok\n", "{own}");
    }
    d.stop().await;
    // `--allow-origin` adds origins (exactly those).
    let d =
        TestDaemon::start_with(|c| c.allowed_origins = vec!["http://localhost:3000".into()]).await;
    for (origin, status) in [
        ("http://localhost:3000", StatusCode::OK),
        ("http://localhost:3001", StatusCode::FORBIDDEN),
    ] {
        let r = d
            .call(
                Method::POST,
                "/process/execute",
                Some(&json!({"command": "true"})),
                &[("origin", origin)],
            )
            .await;
        assert_eq!(r.status, status, "{origin}");
    }
    d.stop().await;
}

/// DNS rebinding: without a token, a TCP listener answers only requests addressed to a
/// loopback name with its own port; a page on `evil.example` that rebinds to 127.0.0.1 sends
/// `Host: evil.example:PORT` and gets 421 with the envelope, WebSocket upgrades included.
#[tokio::test]
async fn foreign_host_values_are_refused_without_a_token() {
    let d = TestDaemon::start().await;
    let port = d.addr.port();
    let foreign = [
        format!("evil.example:{port}"),
        "evil.example".to_owned(),
        format!("127.0.0.1.evil.example:{port}"),
        format!("localhost.evil.example:{port}"),
        "127.0.0.1:1".to_owned(),
        format!("10.0.0.1:{port}"),
        "localhost".to_owned(),
    ];
    for host in &foreign {
        for path in ["/process/session", "/pty", "/process/execute"] {
            let (method, body) = if path == "/process/execute" {
                (Method::POST, Some(json!({"command": "true"})))
            } else {
                (Method::GET, None)
            };
            let r = d
                .call(method, path, body.as_ref(), &[("host", host.as_str())])
                .await;
            assert_eq!(r.status, StatusCode::MISDIRECTED_REQUEST, "{host} {path}");
            let env = r.json();
            assert_eq!(env["code"], "MISDIRECTED_REQUEST", "{host}");
            assert_eq!(env["path"], path);
            assert!(env["message"].as_str().unwrap().contains("--token"));
        }
        let ws = d
            .ws("/process/interpreter/execute", &[("host", host.as_str())])
            .await;
        assert_eq!(
            ws.err().map(|r| r.status),
            Some(StatusCode::MISDIRECTED_REQUEST),
            "{host}"
        );
    }
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("LocalHost:{port}"),
        format!("[::1]:{port}"),
    ] {
        let r = d
            .call(
                Method::POST,
                "/process/execute",
                Some(&json!({"command": "echo ok"})),
                &[("host", host.as_str())],
            )
            .await;
        assert_eq!(r.json()["result"], "ok\n", "{host}");
    }
    // `/health` tells nothing and stays open (probes use any name).
    let r = d
        .call(Method::GET, "/health", None, &[("host", "evil.example")])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    d.stop().await;
    // With a token the token is the guard: any Host is served.
    let d = TestDaemon::start_with(|c| c.token = Some("t0k".into())).await;
    let r = d
        .call(
            Method::POST,
            "/process/execute",
            Some(&json!({"command": "echo ok"})),
            &[("host", "sandbox.example"), ("authorization", "Bearer t0k")],
        )
        .await;
    assert_eq!(r.json()["result"], "ok\n");
    d.stop().await;
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let d = TestDaemon::start().await;
    let big = format!("{{\"command\": \"{}\"}}", "x".repeat(9 * 1024 * 1024));
    let r = d
        .call_raw(Method::POST, "/process/execute", big.into(), &[])
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
}

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

#[tokio::test]
async fn hostile_ids_and_values_never_reach_a_shell_as_code() {
    let d = TestDaemon::start().await;
    let canary = d.workdir.path().join("canary");
    let touch = format!("touch {}", canary.display());
    let hostile = [
        format!("$({touch})"),
        format!("`{touch}`"),
        format!("'; {touch}; '"),
        format!("\"; {touch}; \""),
        format!("x\n{touch}\n"),
        format!("${{IFS}}{touch}"),
        "*".to_owned(),
        "a b".to_owned(),
    ];
    for (i, value) in hostile.iter().enumerate() {
        // As a session id (accepted or refused with 400, never 500), used everywhere.
        let r = d
            .post("/process/session", &json!({ "sessionId": value }))
            .await;
        assert!(
            r.status == StatusCode::CREATED || r.status == StatusCode::BAD_REQUEST,
            "{value:?}: {}",
            r.status
        );
        if r.status == StatusCode::CREATED {
            let enc =
                percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC)
                    .to_string();
            let out = d
                .post(
                    &format!("/process/session/{enc}/exec"),
                    &json!({"command": "echo ok"}),
                )
                .await;
            assert_eq!(out.json()["stdout"], "ok\n", "{value:?}");
            assert_eq!(
                d.delete(&format!("/process/session/{enc}")).await.status,
                StatusCode::NO_CONTENT
            );
        }
        // As an env value and a code-run argument: arrives byte-exact.
        let r = d
            .post(
                "/process/execute",
                &json!({"command": "printf %s \"$V\"", "envs": {"V": value}}),
            )
            .await;
        assert_eq!(
            r.json()["result"].as_str(),
            Some(value.as_str()),
            "case {i}"
        );
        let r = d
            .post(
                "/process/code-run",
                &json!({"code": "console.log(process.argv[1])", "language": "javascript", "argv": [value]}),
            )
            .await;
        assert_eq!(
            r.json()["result"].as_str(),
            Some(format!("{value}\n").as_str()),
            "case {i}"
        );
        // As a cwd: an error, not an execution.
        let r = d
            .post(
                "/process/execute",
                &json!({"command": "true", "cwd": value}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!canary.exists(), "a hostile value was executed");
    d.stop().await;
}
