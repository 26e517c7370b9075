//! Branches: create, checkout (dirty trees refused with HEAD untouched) and delete.

use http::StatusCode;
use serde_json::json;

use super::{bare_remote, code, daemon_with_home, sh_git};

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

/// Fault fixed (§9, spec §4.3 G8): the original moved HEAD and then answered 409
/// `GIT_DIRTY_WORKTREE`. `create_branch` on a dirty worktree now creates the branch at HEAD,
/// switches to it and carries the uncommitted changes over (201), as `git switch -c` does.
#[tokio::test]
async fn create_branch_on_a_dirty_worktree_carries_the_changes_over() {
    let (d, _home) = daemon_with_home().await;
    let repo = d.workdir.path().join("w");
    std::fs::create_dir(&repo).unwrap();
    sh_git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("a.txt"), "committed\n").unwrap();
    sh_git(&repo, &["add", "a.txt"]);
    sh_git(&repo, &["commit", "-q", "-m", "1"]);
    let head = sh_git(&repo, &["rev-parse", "HEAD"]);
    std::fs::write(repo.join("a.txt"), "changed\n").unwrap();
    std::fs::write(repo.join("new.txt"), "untracked\n").unwrap();
    sh_git(&repo, &["add", "new.txt"]);
    let r = d
        .post("/git/branches", &json!({"path": "w", "name": "topic"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(sh_git(&repo, &["symbolic-ref", "--short", "HEAD"]), "topic");
    assert_eq!(
        sh_git(&repo, &["rev-parse", "topic"]),
        head,
        "at the old HEAD"
    );
    assert_eq!(sh_git(&repo, &["rev-parse", "main"]), head, "main unmoved");
    assert_eq!(
        std::fs::read_to_string(repo.join("a.txt")).unwrap(),
        "changed\n"
    );
    let st = d.get("/git/status?path=w").await.json();
    assert_eq!(st["currentBranch"], "topic");
    let states: Vec<(String, String, String)> = st["fileStatus"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_owned(),
                f["staging"].as_str().unwrap().to_owned(),
                f["worktree"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            (
                "a.txt".to_owned(),
                "Unmodified".to_owned(),
                "Modified".to_owned()
            ),
            (
                "new.txt".to_owned(),
                "Added".to_owned(),
                "Unmodified".to_owned()
            ),
        ]
    );
}
