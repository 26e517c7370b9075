//! Clone, commit, push and pull over `file://`, init, status, reset, restore, config, hooks.

use std::path::Path;

use http::StatusCode;
use serde_json::json;

use super::{bare_remote, code, daemon_with_home, sh_git};

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
    assert_eq!(
        (r.status, code(&r)),
        (StatusCode::BAD_REQUEST, "BAD_REQUEST".into()),
        "{}",
        r.text()
    );
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("nothing is staged"),
        "{}",
        r.text()
    );
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

/// Fault fixed (spec §8.6): repository hooks never run from the daemon's git (commit, branch
/// creation and checkout, clone, pull), while the same hooks do run for a plain `git`.
#[tokio::test]
async fn repository_hooks_never_run() {
    use std::os::unix::fs::PermissionsExt;
    let (d, _home) = daemon_with_home().await;
    let marks = tempfile::tempdir().unwrap();
    let install = |repo: &Path| {
        for hook in [
            "pre-commit",
            "post-commit",
            "post-checkout",
            "post-merge",
            "pre-push",
        ] {
            let p = repo.join(".git/hooks").join(hook);
            let script = format!(
                "#!/bin/sh\necho ran >> '{}/{hook}'\n",
                marks.path().display()
            );
            std::fs::write(&p, script).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    };
    let ran = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(marks.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
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
    install(&repo);
    // A repository-level hooks path must not win either.
    sh_git(&repo, &["config", "core.hooksPath", ".git/hooks"]);
    std::fs::write(repo.join("a.txt"), "a\n").unwrap();
    d.post("/git/add", &json!({"path": "r", "files": ["a.txt"]}))
        .await;
    let r = d
        .post(
            "/git/commit",
            &json!({"path": "r", "message": "m", "author": "A", "email": "a@x"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = d
        .post("/git/branches", &json!({"path": "r", "name": "feature"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = d
        .post("/git/checkout", &json!({"path": "r", "branch": "main"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = d.post("/git/push", &json!({"path": "r"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = d.post("/git/pull", &json!({"path": "r"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        ran(),
        Vec::<String>::new(),
        "no hook ran through the daemon"
    );
    // The hooks are live: plain git runs them (so the check above can fail).
    sh_git(&repo, &["switch", "-q", "feature"]);
    assert_eq!(ran(), ["post-checkout"]);
}

/// Fault fixed (§9): a pull into a dirty worktree that would overwrite local changes is
/// refused (`GIT_DIRTY_WORKTREE`) before anything moves: HEAD and the local change stay.
#[tokio::test]
async fn dirty_pull_refuses_with_head_and_changes_untouched() {
    let (d, _home) = daemon_with_home().await;
    let remotes = tempfile::tempdir().unwrap();
    let bare = bare_remote(remotes.path());
    let url = format!("file://{}", bare.display());
    let r = d
        .post("/git/clone", &json!({"path": "r", "url": url}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let repo = d.workdir.path().join("r");
    let other = remotes.path().join("other");
    sh_git(
        remotes.path(),
        &["clone", "-q", url.as_str(), other.to_str().unwrap()],
    );
    std::fs::write(other.join("README"), "theirs\n").unwrap();
    sh_git(&other, &["commit", "-q", "-am", "theirs"]);
    sh_git(&other, &["push", "-q", "origin", "main"]);
    std::fs::write(repo.join("README"), "mine, uncommitted\n").unwrap();
    let head = sh_git(&repo, &["rev-parse", "HEAD"]);
    let r = d.post("/git/pull", &json!({"path": "r"})).await;
    assert_eq!(
        (r.status, code(&r)),
        (StatusCode::CONFLICT, "GIT_DIRTY_WORKTREE".into()),
        "{}",
        r.text()
    );
    assert_eq!(
        sh_git(&repo, &["rev-parse", "HEAD"]),
        head,
        "HEAD untouched"
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("README")).unwrap(),
        "mine, uncommitted\n"
    );
    // Once the change is gone the same pull goes through.
    sh_git(&repo, &["checkout", "-q", "--", "README"]);
    let r = d.post("/git/pull", &json!({"path": "r"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        std::fs::read_to_string(repo.join("README")).unwrap(),
        "theirs\n"
    );
}
