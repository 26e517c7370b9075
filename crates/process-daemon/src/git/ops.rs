//! The local git operations (index, commits, branches, history, reset/restore), one function
//! per endpoint, each a few `git` runs, and the helpers the other operation modules share.
//! Remote operations are in `remote.rs`, configuration in `config.rs`.

use std::path::{Path, PathBuf};

use process_proto::wire::{
    GitAddRequest, GitCommitInfo, GitCommitRequest, GitInitRequest, GitResetRequest,
    GitRestoreRequest, GitStatus, ListBranchResponse,
};

use super::{GitError, Run};
use crate::fs::resolve;

/// Where the daemon keeps things and resolves paths.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dirs<'a> {
    pub(crate) workdir: &'a Path,
    pub(crate) state_dir: &'a Path,
}

impl Dirs<'_> {
    pub(super) fn repo(&self, path: &str) -> Result<PathBuf, GitError> {
        if path.is_empty() {
            return Err(GitError::BadRequest(
                "bad request: path is required".to_owned(),
            ));
        }
        let p = resolve(self.workdir, path);
        if !p.is_dir() {
            return Err(GitError::RepoNotFound(
                "repository does not exist".to_owned(),
            ));
        }
        Ok(p)
    }

    pub(super) fn git(&self, args: &[&str]) -> Run<'_> {
        Run::new(self.state_dir, args)
    }
}

pub(super) fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).trim().to_owned()
}

/// Refuses values git would read as options.
pub(super) fn not_option(what: &str, v: &str) -> Result<(), GitError> {
    if v.starts_with('-') {
        Err(GitError::BadRequest(format!(
            "bad request: invalid {what}: {v}"
        )))
    } else {
        Ok(())
    }
}

/// A URL as git should see it: `host/path` without a scheme gets `https://` (as the original's
/// CLI mode); local paths, `file://` and scp-like `user@host:path` stay.
pub(super) fn normalize_url(url: &str) -> String {
    let local = url.starts_with('/') || url.starts_with('.') || url.starts_with('~');
    let scp_like = url
        .split_once(':')
        .is_some_and(|(host, _)| !host.contains('/'));
    if url.contains("://") || local || scp_like {
        url.to_owned()
    } else {
        format!("https://{url}")
    }
}

/// The current branch (`None` when detached); works on unborn branches.
pub(super) async fn current_branch(d: &Dirs<'_>, repo: &Path) -> Result<Option<String>, GitError> {
    let out = d
        .git(&["symbolic-ref", "--short", "-q", "HEAD"])
        .cwd(repo)
        .output()
        .await?;
    if out.success {
        Ok(Some(text(&out.stdout)))
    } else if out.code == Some(1) {
        Ok(None)
    } else {
        Err(super::classify("read HEAD", &out.stderr))
    }
}

pub(super) async fn has_commits(d: &Dirs<'_>, repo: &Path) -> Result<bool, GitError> {
    Ok(d.git(&["rev-parse", "--verify", "-q", "HEAD"])
        .cwd(repo)
        .output()
        .await?
        .success)
}

pub(super) async fn branch_exists(d: &Dirs<'_>, repo: &Path, name: &str) -> Result<bool, GitError> {
    Ok(d.git(&["show-ref", "--verify", "-q"])
        .arg(format!("refs/heads/{name}"))
        .cwd(repo)
        .output()
        .await?
        .success)
}

/// Whether `path` is the root of a repository (work tree or bare), not just inside one.
pub(super) fn is_repo(path: &Path) -> bool {
    path.join(".git").exists() || (path.join("HEAD").is_file() && path.join("objects").is_dir())
}

/// `POST /git/add`: `git add -- files` (directories recursively, deletions staged).
pub(crate) async fn add(d: Dirs<'_>, req: &GitAddRequest) -> Result<(), GitError> {
    let repo = d.repo(&req.path)?;
    if req.files.is_empty() {
        return Err(GitError::BadRequest(
            "bad request: files are required".to_owned(),
        ));
    }
    d.git(&["add", "-A", "--"])
        .args(req.files.iter().cloned())
        .cwd(&repo)
        .ok("add failed")
        .await
        .map(|_| ())
}

/// `POST /git/commit`: the index only, author = committer, no hooks; returns the new id.
/// Nothing staged without `allow_empty` is a 400 that says what to do (the original: 500).
pub(crate) async fn commit(d: Dirs<'_>, req: &GitCommitRequest) -> Result<String, GitError> {
    let repo = d.repo(&req.path)?;
    for (name, v) in [
        ("message", &req.message),
        ("author", &req.author),
        ("email", &req.email),
    ] {
        if v.is_empty() {
            return Err(GitError::InvalidBody(format!(
                "invalid body request: invalid request body: {name} is required"
            )));
        }
    }
    let mut run = d
        .git(&["-c"])
        .arg(format!("user.name={}", req.author))
        .arg("-c")
        .arg(format!("user.email={}", req.email))
        .args([
            "-c",
            "commit.gpgSign=false",
            "commit",
            "--no-verify",
            "--quiet",
            "--cleanup=verbatim",
            "-m",
        ])
        .arg(req.message.clone())
        .arg(format!("--author={} <{}>", req.author, req.email));
    if req.allow_empty == Some(true) {
        run = run.arg("--allow-empty");
    }
    let out = run.cwd(&repo).output().await?;
    if !out.success {
        let stdout = text(&out.stdout);
        if stdout.contains("nothing to commit")
            || stdout.contains("no changes added to commit")
            || out.stderr.contains("nothing to commit")
        {
            return Err(GitError::BadRequest(
                "bad request: cannot create empty commit: nothing is staged (add files first, or set allow_empty)".to_owned(),
            ));
        }
        return Err(super::classify(
            "commit failed",
            &format!("{}\n{stdout}", out.stderr),
        ));
    }
    let head = d
        .git(&["rev-parse", "HEAD"])
        .cwd(&repo)
        .ok("commit failed")
        .await?;
    Ok(text(&head.stdout))
}

/// `GET /git/status` from porcelain v2 (stable order; an unborn branch is reported by name).
pub(crate) async fn status(d: Dirs<'_>, path: &str) -> Result<GitStatus, GitError> {
    let repo = d.repo(path)?;
    let out = d
        .git(&[
            "status",
            "--porcelain=v2",
            "--branch",
            "-z",
            "--untracked-files=all",
        ])
        .cwd(&repo)
        .ok("status failed")
        .await?;
    Ok(super::status::parse_porcelain_v2(&out.stdout))
}

/// `GET /git/branches`: local branches and the current one (absent when detached).
pub(crate) async fn branches(d: Dirs<'_>, path: &str) -> Result<ListBranchResponse, GitError> {
    let repo = d.repo(path)?;
    let out = d
        .git(&["for-each-ref", "--format=%(refname)", "refs/heads"])
        .cwd(&repo)
        .ok("listing branches failed")
        .await?;
    let branches = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("refs/heads/").map(str::to_owned))
        .collect();
    Ok(ListBranchResponse {
        branches,
        current: current_branch(&d, &repo).await?,
    })
}

/// `POST /git/branches`: creates `name` at HEAD and checks it out (as the original).
pub(crate) async fn create_branch(d: Dirs<'_>, path: &str, name: &str) -> Result<(), GitError> {
    let repo = d.repo(path)?;
    not_option("branch name", name)?;
    if name.is_empty() {
        return Err(GitError::BadRequest(
            "bad request: name is required".to_owned(),
        ));
    }
    if branch_exists(&d, &repo, name).await? {
        return Err(GitError::BranchExists(format!(
            "branch {name} already exists"
        )));
    }
    if !has_commits(&d, &repo).await? {
        return Err(GitError::NotFound(
            "not found: reference not found: commit something first".to_owned(),
        ));
    }
    d.git(&["switch", "-c", name])
        .cwd(&repo)
        .ok("create branch failed")
        .await
        .map(|_| ())
}

/// `DELETE /git/branches`: refuses the current branch (409) and a missing one (404); the
/// original deleted both silently.
pub(crate) async fn delete_branch(d: Dirs<'_>, path: &str, name: &str) -> Result<(), GitError> {
    let repo = d.repo(path)?;
    not_option("branch name", name)?;
    if !branch_exists(&d, &repo, name).await? {
        return Err(GitError::BranchNotFound(format!(
            "branch \"{name}\" not found: branch not found"
        )));
    }
    if current_branch(&d, &repo).await?.as_deref() == Some(name) {
        return Err(GitError::Conflict(format!(
            "conflict: cannot delete the current branch {name}: check out another branch first"
        )));
    }
    d.git(&["branch", "-D", "--", name])
        .cwd(&repo)
        .ok("delete branch failed")
        .await
        .map(|_| ())
}

fn is_commit_id(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `POST /git/checkout`: a local branch (or one git can create from a unique remote-tracking
/// branch), or a 40-hex commit detached. Dirty files refuse with HEAD untouched.
pub(crate) async fn checkout(d: Dirs<'_>, path: &str, branch: &str) -> Result<(), GitError> {
    let repo = d.repo(path)?;
    not_option("branch", branch)?;
    if branch.is_empty() {
        return Err(GitError::BadRequest(
            "bad request: branch is required".to_owned(),
        ));
    }
    let run = if is_commit_id(branch) && !branch_exists(&d, &repo, branch).await? {
        d.git(&["switch", "--detach", branch])
    } else {
        d.git(&["switch", branch])
    };
    let out = run.cwd(&repo).output().await?;
    if out.success {
        return Ok(());
    }
    let lower = out.stderr.to_ascii_lowercase();
    if lower.contains("invalid reference")
        || lower.contains("not a commit")
        || lower.contains("did not match")
    {
        return Err(GitError::BranchNotFound(format!(
            "branch \"{branch}\" not found: branch not found"
        )));
    }
    Err(super::classify("checkout failed", &out.stderr))
}

/// `GET /git/history`: commits from HEAD, newest first.
pub(crate) async fn history(d: Dirs<'_>, path: &str) -> Result<Vec<GitCommitInfo>, GitError> {
    let repo = d.repo(path)?;
    if !has_commits(&d, &repo).await? {
        return Err(GitError::NotFound(
            "not found: reference not found".to_owned(),
        ));
    }
    let out = d
        .git(&["log", "-z", "--format=%H%x1f%an%x1f%ae%x1f%aI%x1f%B"])
        .cwd(&repo)
        .ok("log failed")
        .await?;
    Ok(out
        .stdout
        .split(|&b| b == 0)
        .filter(|r| !r.is_empty())
        .filter_map(|rec| {
            let rec = String::from_utf8_lossy(rec);
            let mut f = rec.splitn(5, '\u{1f}');
            Some(GitCommitInfo {
                hash: f.next()?.to_owned(),
                author: f.next()?.to_owned(),
                email: f.next()?.to_owned(),
                timestamp: f.next()?.to_owned(),
                message: f.next().unwrap_or_default().to_owned(),
            })
        })
        .collect())
}

/// `POST /git/init` (parents created; an existing repository is a conflict).
pub(crate) async fn init(d: Dirs<'_>, req: &GitInitRequest) -> Result<(), GitError> {
    if req.path.is_empty() {
        return Err(GitError::BadRequest(
            "bad request: path is required".to_owned(),
        ));
    }
    let dest = resolve(d.workdir, &req.path);
    if is_repo(&dest) {
        return Err(GitError::Conflict(
            "conflict: repository already exists".to_owned(),
        ));
    }
    let mut run = d.git(&["init", "--quiet"]);
    if req.bare == Some(true) {
        run = run.arg("--bare");
    }
    if let Some(b) = req.initial_branch.as_deref().filter(|b| !b.is_empty()) {
        not_option("initial branch", b)?;
        run = run.arg(format!("--initial-branch={b}"));
    }
    run.arg("--")
        .arg(dest.to_string_lossy())
        .ok("init failed")
        .await
        .map(|_| ())
}

/// `POST /git/reset`.
pub(crate) async fn reset(d: Dirs<'_>, req: &GitResetRequest) -> Result<(), GitError> {
    let repo = d.repo(&req.path)?;
    let mode = req
        .mode
        .clone()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "mixed".to_owned());
    if !["soft", "mixed", "hard", "merge", "keep"].contains(&mode.as_str()) {
        return Err(GitError::BadRequest(format!(
            "bad request: unsupported reset mode {mode}"
        )));
    }
    let target = req
        .target
        .clone()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "HEAD".to_owned());
    not_option("target", &target)?;
    let files = req.files.clone().unwrap_or_default();
    let run = if files.is_empty() {
        d.git(&["reset", "--quiet"])
            .arg(format!("--{mode}"))
            .arg(target)
            .arg("--")
    } else {
        if mode == "keep" || mode == "hard" || mode == "merge" {
            return Err(GitError::BadRequest(format!(
                "bad request: a {mode} reset cannot be limited to files"
            )));
        }
        d.git(&["reset", "--quiet"])
            .arg(target)
            .arg("--")
            .args(files)
    };
    run.cwd(&repo).ok("reset failed").await.map(|_| ())
}

/// `POST /git/restore`.
pub(crate) async fn restore(d: Dirs<'_>, req: &GitRestoreRequest) -> Result<(), GitError> {
    let repo = d.repo(&req.path)?;
    if req.files.is_empty() {
        return Err(GitError::BadRequest(
            "bad request: files are required".to_owned(),
        ));
    }
    let mut run = d.git(&["restore"]);
    if req.staged == Some(true) {
        run = run.arg("--staged");
    }
    if req.worktree == Some(true) {
        run = run.arg("--worktree");
    }
    if let Some(src) = req.source.as_deref().filter(|s| !s.is_empty()) {
        not_option("source", src)?;
        run = run.arg(format!("--source={src}"));
    }
    run.arg("--")
        .args(req.files.iter().cloned())
        .cwd(&repo)
        .ok("restore failed")
        .await
        .map(|_| ())
}
