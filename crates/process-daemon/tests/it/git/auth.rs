//! Smart HTTP with Basic auth: explicit and stored credentials, never a prompt, never a leak.

use std::path::{Path, PathBuf};

use http::StatusCode;
use serde_json::{json, Value};

use super::{bare_remote, code, daemon_with_home, sh_git};

/// A git smart-HTTP server on 127.0.0.1 (`git http-backend` as CGI) requiring Basic auth.
async fn http_git_server(
    root: PathBuf,
    user: &'static str,
    pass: &'static str,
) -> std::net::SocketAddr {
    use base64::Engine;
    use http_body_util::BodyExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let exec_path = sh_git(Path::new("/"), &["--exec-path"]);
    let backend = PathBuf::from(exec_path).join("git-http-backend");
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    );
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (root, backend, expected) = (root.clone(), backend.clone(), expected.clone());
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let (root, backend, expected) =
                            (root.clone(), backend.clone(), expected.clone());
                        async move {
                            let authed = req
                                .headers()
                                .get("authorization")
                                .and_then(|v| v.to_str().ok())
                                == Some(expected.as_str());
                            if !authed {
                                return Ok::<_, std::convert::Infallible>(
                                    http::Response::builder()
                                        .status(401)
                                        .header("WWW-Authenticate", "Basic realm=\"test\"")
                                        .body(http_body_util::Full::new(bytes::Bytes::new()))
                                        .unwrap(),
                                );
                            }
                            let (parts, body) = req.into_parts();
                            let body = body.collect().await.unwrap().to_bytes();
                            let mut cmd = tokio::process::Command::new(&backend);
                            cmd.env_clear()
                                .env("GIT_PROJECT_ROOT", &root)
                                .env("GIT_HTTP_EXPORT_ALL", "1")
                                .env("REMOTE_USER", "u")
                                .env("REMOTE_ADDR", "127.0.0.1")
                                .env("REQUEST_METHOD", parts.method.as_str())
                                .env("PATH_INFO", parts.uri.path())
                                .env("QUERY_STRING", parts.uri.query().unwrap_or(""))
                                .env("CONTENT_LENGTH", body.len().to_string())
                                .stdin(std::process::Stdio::piped())
                                .stdout(std::process::Stdio::piped());
                            for (h, env) in [
                                ("content-type", "CONTENT_TYPE"),
                                ("content-encoding", "HTTP_CONTENT_ENCODING"),
                                ("git-protocol", "GIT_PROTOCOL"),
                            ] {
                                if let Some(v) = parts.headers.get(h).and_then(|v| v.to_str().ok())
                                {
                                    cmd.env(env, v);
                                }
                            }
                            let mut child = cmd.spawn().unwrap();
                            let mut stdin = child.stdin.take().unwrap();
                            tokio::io::AsyncWriteExt::write_all(&mut stdin, &body)
                                .await
                                .unwrap();
                            drop(stdin);
                            let out = child.wait_with_output().await.unwrap().stdout;
                            let split = out
                                .windows(4)
                                .position(|w| w == b"\r\n\r\n")
                                .map(|i| (i, 4))
                                .or_else(|| {
                                    out.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2))
                                })
                                .unwrap();
                            let head = String::from_utf8_lossy(&out[..split.0]).into_owned();
                            let mut resp = http::Response::builder();
                            for line in head.lines() {
                                let (k, v) = line.split_once(':').unwrap();
                                if k.eq_ignore_ascii_case("status") {
                                    resp = resp.status(v.trim()[..3].parse::<u16>().unwrap());
                                } else {
                                    resp = resp.header(k.trim(), v.trim());
                                }
                            }
                            Ok(resp
                                .body(http_body_util::Full::new(bytes::Bytes::copy_from_slice(
                                    &out[split.0 + split.1..],
                                )))
                                .unwrap())
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn http_basic_auth_clone_push_without_leaking_credentials() {
    let (d, _home) = daemon_with_home().await;
    let remotes = tempfile::tempdir().unwrap();
    bare_remote(remotes.path());
    let addr = http_git_server(remotes.path().to_path_buf(), "alice", "s3cr3t-token").await;
    let url = format!("http://{addr}/remote.git");
    // No credentials: a 401 at once, never a prompt.
    let started = std::time::Instant::now();
    let r = d
        .post("/git/clone", &json!({"path": "noauth", "url": url}))
        .await;
    assert_eq!(
        (r.status, code(&r)),
        (StatusCode::UNAUTHORIZED, "GIT_AUTH_FAILED".into()),
        "{}",
        r.text()
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert!(
        !d.workdir.path().join("noauth").exists(),
        "a failed clone leaves no directory"
    );
    let r = d
        .post(
            "/git/clone",
            &json!({"path": "bad", "url": url, "username": "alice", "password": "wrong-pass-xyz"}),
        )
        .await;
    assert_eq!(code(&r), "GIT_AUTH_FAILED");
    assert!(
        !r.text().contains("wrong-pass-xyz"),
        "the password never appears in errors: {}",
        r.text()
    );
    let r = d
        .post(
            "/git/clone",
            &json!({"path": "repo", "url": url, "username": "alice", "password": "s3cr3t-token"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let repo = d.workdir.path().join("repo");
    let config = std::fs::read_to_string(repo.join(".git/config")).unwrap();
    assert!(
        !config.contains("s3cr3t") && !config.contains("alice"),
        "{config}"
    );
    std::fs::write(repo.join("new.txt"), "n\n").unwrap();
    d.post("/git/add", &json!({"path": "repo", "files": ["new.txt"]}))
        .await;
    let r = d
        .post(
            "/git/commit",
            &json!({"path": "repo", "message": "n", "author": "A", "email": "a@x"}),
        )
        .await;
    let hash = r.json()["hash"].as_str().unwrap().to_owned();
    let r = d.post("/git/push", &json!({"path": "repo"})).await;
    assert_eq!(code(&r), "GIT_AUTH_FAILED", "{}", r.text());
    let r = d.post("/git/push", &json!({"path": "repo", "username": "alice", "password": "s3cr3t-token", "set_upstream": true})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        sh_git(&remotes.path().join("remote.git"), &["rev-parse", "main"]),
        hash
    );
    let r = d
        .post(
            "/git/pull",
            &json!({"path": "repo", "username": "alice", "password": "s3cr3t-token"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // Stored credentials (dangerously_authenticate) serve later pulls without explicit ones.
    let r = d.post("/git/credentials", &json!({"username": "alice", "password": "s3cr3t-token", "host": addr.to_string(), "protocol": "http"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = d.post("/git/pull", &json!({"path": "repo"})).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "stored credentials are used: {}",
        r.text()
    );
    // ... and later pushes (the original's go-git ignored them for both).
    std::fs::write(repo.join("stored.txt"), "s\n").unwrap();
    d.post(
        "/git/add",
        &json!({"path": "repo", "files": ["stored.txt"]}),
    )
    .await;
    let r = d
        .post(
            "/git/commit",
            &json!({"path": "repo", "message": "s", "author": "A", "email": "a@x"}),
        )
        .await;
    let hash = r.json()["hash"].as_str().unwrap().to_owned();
    let r = d.post("/git/push", &json!({"path": "repo"})).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "stored credentials serve a push: {}",
        r.text()
    );
    assert_eq!(
        sh_git(&remotes.path().join("remote.git"), &["rev-parse", "main"]),
        hash
    );
    let r = d
        .post(
            "/git/credentials",
            &json!({"username": "a\nb", "password": "p"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let _: Value = r.json();
}
