//! `/git/...` routes against local repositories only: bare repos over `file://`, and
//! `git http-backend` behind a tiny server on 127.0.0.1 that requires Basic auth. Also the
//! fixed faults: status before the first commit, pull of the current branch's upstream,
//! checkout refusing a dirty tree with HEAD untouched, delete-branch refusing the current
//! branch, credentials kept out of config and errors, no prompt without credentials.

use std::path::{Path, PathBuf};
use std::process::Command;

use http::StatusCode;
use serde_json::{json, Value};

use crate::support::{Resp, TestDaemon};

fn sh_git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@x",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A bare repo with one commit on `main` (file `README`) and a branch `develop`.
fn bare_remote(root: &Path) -> PathBuf {
    let seed = root.join("seed");
    std::fs::create_dir_all(&seed).unwrap();
    sh_git(&seed, &["init", "-q", "-b", "main"]);
    std::fs::write(seed.join("README"), "hello\n").unwrap();
    sh_git(&seed, &["add", "README"]);
    sh_git(&seed, &["commit", "-q", "-m", "first"]);
    sh_git(&seed, &["branch", "develop"]);
    let bare = root.join("remote.git");
    sh_git(
        root,
        &[
            "clone",
            "-q",
            "--bare",
            seed.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    bare
}

fn code(r: &Resp) -> String {
    r.json()["code"].as_str().unwrap_or_default().to_owned()
}

/// One private `HOME` (and global git config) for every git run of this test binary, so the
/// credential store and `--global` config never touch the machine user's files.
fn private_git_home() {
    static HOME: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    HOME.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        std::env::set_var("HOME", &dir);
        std::env::set_var("GIT_CONFIG_GLOBAL", dir.join(".gitconfig"));
        std::env::remove_var("XDG_CONFIG_HOME");
        dir
    });
}

async fn daemon_with_home() -> (TestDaemon, ()) {
    private_git_home();
    (TestDaemon::start().await, ())
}

#[tokio::test]
async fn clone_commit_push_pull_status_over_file_urls() {
    let (d, _home) = daemon_with_home().await;
    let remotes = tempfile::tempdir().unwrap();
    let bare = bare_remote(remotes.path());
    let url = format!("file://{}", bare.display());
    let r = d
        .post(
            "/git/clone",
            &json!({"path": "workspace/repo", "url": url, "branch": "develop"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let repo = d.workdir.path().join("workspace/repo");
    assert_eq!(
        std::fs::read_to_string(repo.join("README")).unwrap(),
        "hello\n"
    );
    let r = d
        .post("/git/clone", &json!({"path": "workspace/repo", "url": url}))
        .await;
    assert_eq!(
        (r.status, code(&r)),
        (StatusCode::CONFLICT, "CONFLICT".into())
    );

    let b = d.get("/git/branches?path=workspace/repo").await.json();
    assert_eq!(b["current"], "develop");

    std::fs::write(repo.join("file.txt"), "x\n").unwrap();
    let st = d.get("/git/status?path=workspace/repo").await.json();
    assert_eq!(st["currentBranch"], "develop");
    assert_eq!(
        st["fileStatus"][0],
        json!({"name": "file.txt", "extra": "", "staging": "Untracked", "worktree": "Untracked"})
    );
    assert_eq!(
        (st["branchPublished"].as_bool(), st["ahead"].as_u64()),
        (Some(true), Some(0))
    );

    let r = d
        .post(
            "/git/add",
            &json!({"path": "workspace/repo", "files": ["file.txt"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = d
        .post("/git/commit", &json!({"path": "workspace/repo", "message": "Update docs", "author": "John", "email": "john@example.com", "allow_empty": false}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let hash = r.json()["hash"].as_str().unwrap().to_owned();
    assert_eq!(hash.len(), 40);
    assert_eq!(
        sh_git(&repo, &["log", "-1", "--format=%an <%ae>|%cn"]),
        "John <john@example.com>|John"
    );
    // Nothing staged: a clear 400 (the original: 500).
    let r = d.post("/git/commit", &json!({"path": "workspace/repo", "message": "m", "author": "a", "email": "e", "allow_empty": false})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let st = d.get("/git/status?path=workspace/repo").await.json();
    assert_eq!(st["ahead"], 1);

    let r = d
        .post(
            "/git/push",
            &json!({"path": "workspace/repo", "set_upstream": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(sh_git(&bare, &["rev-parse", "develop"]), hash);

    // Someone else pushes to develop; pull fast-forwards the current branch from its upstream.
    let other = remotes.path().join("other");
    sh_git(
        remotes.path(),
        &[
            "clone",
            "-q",
            "-b",
            "develop",
            url.as_str(),
            other.to_str().unwrap(),
        ],
    );
    std::fs::write(other.join("more.txt"), "m\n").unwrap();
    sh_git(&other, &["add", "more.txt"]);
    sh_git(&other, &["commit", "-q", "-m", "more"]);
    sh_git(&other, &["push", "-q", "origin", "develop"]);
    let r = d
        .post("/git/pull", &json!({"path": "workspace/repo"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(
        repo.join("more.txt").exists(),
        "pulled develop's upstream, not the remote's default branch"
    );

    // Divergent histories: push rejected, pull rejected with HEAD untouched.
    std::fs::write(other.join("o.txt"), "o\n").unwrap();
    sh_git(&other, &["add", "o.txt"]);
    sh_git(&other, &["commit", "-q", "-m", "o"]);
    sh_git(&other, &["push", "-q", "origin", "develop"]);
    std::fs::write(repo.join("mine.txt"), "m\n").unwrap();
    d.post(
        "/git/add",
        &json!({"path": "workspace/repo", "files": ["."]}),
    )
    .await;
    d.post(
        "/git/commit",
        &json!({"path": "workspace/repo", "message": "mine", "author": "a", "email": "e@x"}),
    )
    .await;
    let head = sh_git(&repo, &["rev-parse", "HEAD"]);
    let r = d
        .post("/git/push", &json!({"path": "workspace/repo"}))
        .await;
    assert_eq!(
        (r.status, code(&r)),
        (StatusCode::CONFLICT, "GIT_PUSH_REJECTED".into()),
        "{}",
        r.text()
    );
    let r = d
        .post("/git/pull", &json!({"path": "workspace/repo"}))
        .await;
    assert_eq!(
        (r.status, code(&r)),
        (StatusCode::CONFLICT, "GIT_PUSH_REJECTED".into()),
        "{}",
        r.text()
    );
    assert_eq!(sh_git(&repo, &["rev-parse", "HEAD"]), head);

    let h = d.get("/git/history?path=workspace/repo").await.json();
    assert_eq!(h[0]["message"], "mine\n");
    assert_eq!(h[0]["email"], "e@x");
    let rem = d.get("/git/remotes?path=workspace/repo").await.json();
    assert_eq!(rem["remotes"][0]["name"], "origin");
}

#[tokio::test]
async fn branches_checkout_and_delete_faults() {
    let (d, _home) = daemon_with_home().await;
    let remotes = tempfile::tempdir().unwrap();
    let bare = bare_remote(remotes.path());
    let r = d
        .post(
            "/git/clone",
            &json!({"path": "r", "url": format!("file://{}", bare.display())}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let repo = d.workdir.path().join("r");
    // All branches were fetched (the original fetched one): develop can be checked out.
    let r = d
        .post("/git/checkout", &json!({"path": "r", "branch": "develop"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = d
        .post("/git/branches", &json!({"path": "r", "name": "feature"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(
        d.get("/git/branches?path=r").await.json()["current"],
        "feature"
    );
    let r = d
        .post("/git/branches", &json!({"path": "r", "name": "feature"}))
        .await;
    assert_eq!(code(&r), "GIT_BRANCH_EXISTS");
    let r = d
        .post("/git/checkout", &json!({"path": "r", "branch": "nope"}))
        .await;
    assert_eq!(
        (r.status, code(&r)),
        (StatusCode::NOT_FOUND, "GIT_BRANCH_NOT_FOUND".into())
    );
    // Fault fixed: delete refuses the current branch and a missing one.
    let r = d
        .call(
            http::Method::DELETE,
            "/git/branches",
            Some(&json!({"path": "r", "name": "feature"})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    let r = d
        .call(
            http::Method::DELETE,
            "/git/branches",
            Some(&json!({"path": "r", "name": "ghost"})),
            &[],
        )
        .await;
    assert_eq!(code(&r), "GIT_BRANCH_NOT_FOUND");
    let _ = &repo;
    let r = d
        .call(
            http::Method::DELETE,
            "/git/branches",
            Some(&json!({"path": "r", "name": "develop"})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = d.get("/git/status?path=nowhere").await;
    assert_eq!(code(&r), "GIT_REPO_NOT_FOUND");
}

#[tokio::test]
async fn dirty_checkout_refuses_with_head_untouched() {
    let (d, _home) = daemon_with_home().await;
    let repo = d.workdir.path().join("w");
    std::fs::create_dir(&repo).unwrap();
    sh_git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("a.txt"), "main\n").unwrap();
    sh_git(&repo, &["add", "a.txt"]);
    sh_git(&repo, &["commit", "-q", "-m", "1"]);
    sh_git(&repo, &["switch", "-q", "-c", "other"]);
    std::fs::write(repo.join("a.txt"), "other\n").unwrap();
    sh_git(&repo, &["commit", "-q", "-am", "2"]);
    std::fs::write(repo.join("a.txt"), "uncommitted\n").unwrap();
    let r = d
        .post("/git/checkout", &json!({"path": "w", "branch": "main"}))
        .await;
    assert_eq!(
        (r.status, code(&r)),
        (StatusCode::CONFLICT, "GIT_DIRTY_WORKTREE".into()),
        "{}",
        r.text()
    );
    assert_eq!(sh_git(&repo, &["symbolic-ref", "--short", "HEAD"]), "other");
    assert_eq!(
        std::fs::read_to_string(repo.join("a.txt")).unwrap(),
        "uncommitted\n"
    );
    // Detached checkout of a commit id.
    let first = sh_git(&repo, &["rev-parse", "main"]);
    sh_git(&repo, &["checkout", "-q", "--", "a.txt"]);
    let r = d
        .post("/git/checkout", &json!({"path": "w", "branch": first}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let st = d.get("/git/status?path=w").await.json();
    assert_eq!(
        (st["currentBranch"].as_str(), st["detached"].as_bool()),
        (Some("HEAD"), Some(true))
    );
}

#[tokio::test]
async fn init_status_before_first_commit_reset_restore_config() {
    let (d, _home) = daemon_with_home().await;
    let r = d
        .post(
            "/git/init",
            &json!({"path": "new/repo", "bare": false, "initial_branch": "trunk"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = d.post("/git/init", &json!({"path": "new/repo"})).await;
    assert_eq!(code(&r), "CONFLICT");
    // Fault fixed: status works before the first commit (the original: 404).
    let st = d.get("/git/status?path=new/repo").await;
    assert_eq!(st.status, StatusCode::OK, "{}", st.text());
    assert_eq!(st.json()["currentBranch"], "trunk");
    assert_eq!(st.json()["fileStatus"], json!([]));
    let repo = d.workdir.path().join("new/repo");
    std::fs::write(repo.join("a.txt"), "1\n").unwrap();
    d.post("/git/add", &json!({"path": "new/repo", "files": ["a.txt"]}))
        .await;
    let r = d
        .post(
            "/git/commit",
            &json!({"path": "new/repo", "message": "one", "author": "A", "email": "a@x"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    std::fs::write(repo.join("a.txt"), "2\n").unwrap();
    d.post("/git/add", &json!({"path": "new/repo", "files": ["a.txt"]}))
        .await;
    let r = d
        .post(
            "/git/restore",
            &json!({"path": "new/repo", "files": ["a.txt"], "staged": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let st = d.get("/git/status?path=new/repo").await.json();
    assert_eq!(
        (
            st["fileStatus"][0]["staging"].as_str(),
            st["fileStatus"][0]["worktree"].as_str()
        ),
        (Some("Unmodified"), Some("Modified"))
    );
    let r = d
        .post(
            "/git/reset",
            &json!({"path": "new/repo", "mode": "hard", "target": "HEAD"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(std::fs::read_to_string(repo.join("a.txt")).unwrap(), "1\n");
    let r = d
        .post(
            "/git/reset",
            &json!({"path": "new/repo", "mode": "sideways"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let r = d
        .post(
            "/git/config",
            &json!({"key": "core.x", "value": "y", "scope": "local", "path": "new/repo"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        d.get("/git/config?key=core.x&path=new/repo&scope=local")
            .await
            .json(),
        json!({"value": "y"})
    );
    assert_eq!(
        d.get("/git/config?key=core.unset&path=new/repo&scope=local")
            .await
            .json(),
        json!({})
    );
    let r = d
        .post(
            "/git/config/user",
            &json!({"name": "John", "email": "j@x", "scope": "local", "path": "new/repo"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(sh_git(&repo, &["config", "--local", "user.name"]), "John");
    let r = d.get("/git/config?key=nodot").await;
    assert_eq!(code(&r), "BAD_REQUEST");
    let r = d.post("/git/remotes", &json!({"path": "new/repo", "name": "up", "url": "https://u:secret@example.invalid/r.git", "fetch": false, "overwrite": false})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = d
        .post(
            "/git/remotes",
            &json!({"path": "new/repo", "name": "up", "url": "x"}),
        )
        .await;
    assert_eq!(code(&r), "CONFLICT");
    assert_eq!(
        d.get("/git/remotes?path=new/repo").await.json()["remotes"][0]["url"],
        "https://u@example.invalid/r.git"
    );
}

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
    let r = d
        .post(
            "/git/credentials",
            &json!({"username": "a\nb", "password": "p"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let _: Value = r.json();
}
