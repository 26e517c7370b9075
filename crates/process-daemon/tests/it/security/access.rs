//! Who may call: the bearer-token matrix over every route (WebSocket upgrades included),
//! Origin and Host checks, body limits.

use super::*;

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
