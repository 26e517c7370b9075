//! The git operations, one function per endpoint, each a few `git` runs.

use std::path::{Path, PathBuf};

use process_proto::wire::{
    GitAddRemoteRequest, GitAddRequest, GitAuthenticateRequest, GitCloneRequest, GitCommitInfo,
    GitCommitRequest, GitConfigureUserRequest, GitInitRequest, GitPullRequest, GitPushRequest,
    GitRemote, GitResetRequest, GitRestoreRequest, GitSetConfigRequest, GitStatus,
    ListBranchResponse, ListRemotesResponse,
};

use super::{redact_url_passwords, Credentials, GitError, Run};
use crate::fs::resolve;

/// Where the daemon keeps things and resolves paths.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dirs<'a> {
    pub(crate) workdir: &'a Path,
    pub(crate) state_dir: &'a Path,
}

impl Dirs<'_> {
    fn repo(&self, path: &str) -> Result<PathBuf, GitError> {
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

    fn git(&self, args: &[&str]) -> Run<'_> {
        Run::new(self.state_dir, args)
    }
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).trim().to_owned()
}

/// Refuses values git would read as options.
fn not_option(what: &str, v: &str) -> Result<(), GitError> {
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
fn normalize_url(url: &str) -> String {
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
async fn current_branch(d: &Dirs<'_>, repo: &Path) -> Result<Option<String>, GitError> {
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

async fn has_commits(d: &Dirs<'_>, repo: &Path) -> Result<bool, GitError> {
    Ok(d.git(&["rev-parse", "--verify", "-q", "HEAD"])
        .cwd(repo)
        .output()
        .await?
        .success)
}

async fn branch_exists(d: &Dirs<'_>, repo: &Path, name: &str) -> Result<bool, GitError> {
    Ok(d.git(&["show-ref", "--verify", "-q"])
        .arg(format!("refs/heads/{name}"))
        .cwd(repo)
        .output()
        .await?
        .success)
}

/// Whether `path` is the root of a repository (work tree or bare), not just inside one.
fn is_repo(path: &Path) -> bool {
    path.join(".git").exists() || (path.join("HEAD").is_file() && path.join("objects").is_dir())
}

/// `POST /git/clone`: all branches (the original fetched one only), `depth` if given,
/// `commit_id` checked out detached; a failed clone into a new directory removes it.
pub(crate) async fn clone(d: Dirs<'_>, req: &GitCloneRequest) -> Result<(), GitError> {
    if req.url.is_empty() || req.path.is_empty() {
        return Err(GitError::InvalidBody(
            "invalid body request: invalid request body: url and path are required".to_owned(),
        ));
    }
    if req.depth.is_some_and(|n| n < 0) {
        return Err(GitError::InvalidBody(
            "invalid body request: invalid request body: depth must be >= 0".to_owned(),
        ));
    }
    let dest = resolve(d.workdir, &req.path);
    if is_repo(&dest) {
        return Err(GitError::Conflict(
            "conflict: repository already exists".to_owned(),
        ));
    }
    let existed = dest.exists();
    let creds = Credentials::from_parts(req.username.as_deref(), req.password.as_deref());
    let mut run = d.git(&[]);
    if req.insecure_skip_tls == Some(true) {
        run = run.args(["-c", "http.sslVerify=false"]);
    }
    run = run.arg("clone");
    if let Some(b) = req.branch.as_deref().filter(|b| !b.is_empty()) {
        not_option("branch", b)?;
        run = run.args(["--branch", b]);
    }
    if let Some(depth) = req.depth.filter(|n| *n > 0) {
        if req.commit_id.is_none() {
            run = run
                .arg(format!("--depth={depth}"))
                .arg("--no-single-branch");
        }
    }
    let url = normalize_url(&req.url);
    let result = run
        .arg("--")
        .arg(url)
        .arg(dest.to_string_lossy())
        .creds(creds.as_ref())
        .ok("clone failed")
        .await;
    let result = match (result, req.commit_id.as_deref().filter(|c| !c.is_empty())) {
        (Ok(_), Some(commit)) => {
            not_option("commit_id", commit)?;
            d.git(&["checkout", "--detach", commit, "--"])
                .cwd(&dest)
                .ok("checkout of the commit failed")
                .await
                .map(|_| ())
        }
        (r, _) => r.map(|_| ()),
    };
    if result.is_err() && !existed {
        let _ = std::fs::remove_dir_all(&dest);
    }
    result
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

/// `POST /git/push`: `remote` (default `origin`) gets `branch` (default: current).
pub(crate) async fn push(d: Dirs<'_>, req: &GitPushRequest) -> Result<(), GitError> {
    let repo = d.repo(&req.path)?;
    let remote = req
        .remote
        .clone()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "origin".to_owned());
    not_option("remote", &remote)?;
    let branch = match req.branch.clone().filter(|b| !b.is_empty()) {
        Some(b) => b,
        None => current_branch(&d, &repo).await?.ok_or_else(|| {
            GitError::NotFound("not found: HEAD is detached: name the branch to push".to_owned())
        })?,
    };
    not_option("branch", &branch)?;
    let creds = Credentials::from_parts(req.username.as_deref(), req.password.as_deref());
    let mut run = d.git(&["push", "--porcelain"]);
    if req.set_upstream == Some(true) {
        run = run.arg("--set-upstream");
    }
    run.arg(remote)
        .arg(format!("refs/heads/{branch}:refs/heads/{branch}"))
        .cwd(&repo)
        .creds(creds.as_ref())
        .ok("push failed")
        .await
        .map(|_| ())
}

/// `POST /git/pull`: fast-forward only into the current branch, from its upstream by default
/// (the original pulled the remote's default branch), else `origin <current branch>`. A
/// divergent history is `GIT_PUSH_REJECTED` (as the original) and leaves HEAD untouched.
pub(crate) async fn pull(d: Dirs<'_>, req: &GitPullRequest) -> Result<(), GitError> {
    let repo = d.repo(&req.path)?;
    let creds = Credentials::from_parts(req.username.as_deref(), req.password.as_deref());
    let remote = req.remote.clone().filter(|r| !r.is_empty());
    let branch = req.branch.clone().filter(|b| !b.is_empty());
    let mut run = d.git(&["pull", "--ff-only", "--no-rebase"]);
    let has_upstream = d
        .git(&[
            "rev-parse",
            "--abbrev-ref",
            "--symbolic-full-name",
            "@{upstream}",
        ])
        .cwd(&repo)
        .output()
        .await?
        .success;
    match (remote, branch) {
        (None, None) if has_upstream => {}
        (remote, branch) => {
            let remote = remote.unwrap_or_else(|| "origin".to_owned());
            not_option("remote", &remote)?;
            let branch = match branch {
                Some(b) => b,
                None => current_branch(&d, &repo).await?.ok_or_else(|| {
                    GitError::NotFound(
                        "not found: HEAD is detached: name the branch to pull".to_owned(),
                    )
                })?,
            };
            not_option("branch", &branch)?;
            run = run.arg(remote).arg(branch);
        }
    }
    run.cwd(&repo)
        .creds(creds.as_ref())
        .ok("pull failed")
        .await
        .map(|_| ())
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

/// `POST /git/remotes`.
pub(crate) async fn add_remote(d: Dirs<'_>, req: &GitAddRemoteRequest) -> Result<(), GitError> {
    let repo = d.repo(&req.path)?;
    not_option("remote name", &req.name)?;
    let existing = remotes(d, &req.path).await?;
    if existing.remotes.iter().any(|r| r.name == req.name) {
        if req.overwrite == Some(true) {
            d.git(&["remote", "remove", &req.name])
                .cwd(&repo)
                .ok("remote remove failed")
                .await?;
        } else {
            return Err(GitError::Conflict(
                "conflict: remote already exists".to_owned(),
            ));
        }
    }
    d.git(&["remote", "add", "--", &req.name, &normalize_url(&req.url)])
        .cwd(&repo)
        .ok("remote add failed")
        .await?;
    if req.fetch == Some(true) {
        d.git(&["fetch", "--quiet", &req.name])
            .cwd(&repo)
            .ok("fetch failed")
            .await?;
    }
    Ok(())
}

/// `GET /git/remotes`: the first URL of each remote, passwords redacted.
pub(crate) async fn remotes(d: Dirs<'_>, path: &str) -> Result<ListRemotesResponse, GitError> {
    let repo = d.repo(path)?;
    let names = d
        .git(&["remote"])
        .cwd(&repo)
        .ok("listing remotes failed")
        .await?;
    let mut out = Vec::new();
    for name in String::from_utf8_lossy(&names.stdout)
        .lines()
        .filter(|l| !l.is_empty())
    {
        let url = d
            .git(&["config", "--get"])
            .arg(format!("remote.{name}.url"))
            .cwd(&repo)
            .output()
            .await?;
        out.push(GitRemote {
            name: name.to_owned(),
            url: redact_url_passwords(&text(&url.stdout)),
        });
    }
    Ok(ListRemotesResponse { remotes: out })
}

/// `--global`/`--local`/`--system` and the directory to run in.
fn scope_args(
    d: &Dirs<'_>,
    scope: Option<&str>,
    path: Option<&str>,
) -> Result<(&'static str, Option<PathBuf>), GitError> {
    match scope.unwrap_or("global") {
        "global" | "" => Ok(("--global", None)),
        "system" => Ok(("--system", None)),
        "local" => {
            let path = path.filter(|p| !p.is_empty()).ok_or_else(|| {
                GitError::BadRequest("bad request: path is required for the local scope".to_owned())
            })?;
            Ok(("--local", Some(d.repo(path)?)))
        }
        other => Err(GitError::BadRequest(format!(
            "bad request: invalid scope {other}: use global, local or system"
        ))),
    }
}

fn check_key(key: &str) -> Result<(), GitError> {
    let valid = regex::Regex::new(r"^[A-Za-z][A-Za-z0-9-]*(\..+)?\.[A-Za-z][A-Za-z0-9-]*$")
        .is_ok_and(|re| re.is_match(key))
        && !key.contains('\n');
    if valid {
        Ok(())
    } else {
        Err(GitError::BadRequest(format!(
            "bad request: invalid argument: invalid config key {key}"
        )))
    }
}

/// `POST /git/config`.
pub(crate) async fn set_config(d: Dirs<'_>, req: &GitSetConfigRequest) -> Result<(), GitError> {
    check_key(&req.key)?;
    if req.value.is_empty() {
        return Err(GitError::InvalidBody(
            "invalid body request: invalid request body: value is required".to_owned(),
        ));
    }
    let (flag, dir) = scope_args(&d, req.scope.as_deref(), req.path.as_deref())?;
    let mut run = d.git(&["config", flag, "--replace-all", "--", &req.key, &req.value]);
    if let Some(dir) = &dir {
        run = run.cwd(dir);
    }
    run.ok("config failed").await.map(|_| ())
}

/// `GET /git/config`: `None` when unset.
pub(crate) async fn get_config(
    d: Dirs<'_>,
    key: &str,
    scope: Option<&str>,
    path: Option<&str>,
) -> Result<Option<String>, GitError> {
    check_key(key)?;
    let (flag, dir) = scope_args(&d, scope, path)?;
    let mut run = d.git(&["config", flag, "--get", "--", key]);
    if let Some(dir) = &dir {
        run = run.cwd(dir);
    }
    let out = run.output().await?;
    match (out.success, out.code) {
        (true, _) => Ok(Some(
            String::from_utf8_lossy(&out.stdout)
                .trim_end_matches('\n')
                .to_owned(),
        )),
        (false, Some(1)) => Ok(None),
        _ => Err(super::classify("config failed", &out.stderr)),
    }
}

/// `POST /git/config/user`.
pub(crate) async fn configure_user(
    d: Dirs<'_>,
    req: &GitConfigureUserRequest,
) -> Result<(), GitError> {
    for (key, value) in [("user.name", &req.name), ("user.email", &req.email)] {
        set_config(
            d,
            &GitSetConfigRequest {
                key: key.to_owned(),
                value: value.clone(),
                scope: req.scope.clone(),
                path: req.path.clone(),
            },
        )
        .await?;
    }
    Ok(())
}

/// `POST /git/credentials`: `credential.helper=store` globally, then `git credential approve`
/// with the credentials on stdin (never in argv). The stored credentials also serve push and
/// pull without explicit ones (the original's go-git ignored them).
pub(crate) async fn authenticate(
    d: Dirs<'_>,
    req: &GitAuthenticateRequest,
) -> Result<(), GitError> {
    let host = req
        .host
        .clone()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "github.com".to_owned());
    let protocol = req
        .protocol
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "https".to_owned());
    for v in [&req.username, &req.password, &host, &protocol] {
        if v.contains(['\r', '\n', '\0']) {
            return Err(GitError::BadRequest(
                "bad request: credentials must not contain CR, LF or NUL".to_owned(),
            ));
        }
    }
    if req.username.is_empty() || req.password.is_empty() {
        return Err(GitError::InvalidBody(
            "invalid body request: invalid request body: username and password are required"
                .to_owned(),
        ));
    }
    d.git(&["config", "--global", "credential.helper", "store"])
        .ok("config failed")
        .await?;
    let input = format!(
        "protocol={protocol}\nhost={host}\nusername={}\npassword={}\n\n",
        req.username, req.password
    );
    let creds = Credentials {
        username: req.username.clone(),
        password: req.password.clone(),
    };
    let out = d
        .git(&["credential", "approve"])
        .stdin(input.into_bytes())
        .output()
        .await?;
    if out.success {
        Ok(())
    } else {
        Err(super::classify(
            "credential approve failed",
            &super::redact(&out.stderr, Some(&creds)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_get_a_scheme_only_when_host_like() {
        assert_eq!(
            normalize_url("github.com/u/r.git"),
            "https://github.com/u/r.git"
        );
        assert_eq!(normalize_url("file:///tmp/r.git"), "file:///tmp/r.git");
        assert_eq!(normalize_url("/tmp/r.git"), "/tmp/r.git");
        assert_eq!(
            normalize_url("git@github.com:u/r.git"),
            "git@github.com:u/r.git"
        );
    }

    #[test]
    fn config_keys() {
        assert!(check_key("user.name").is_ok());
        assert!(check_key("remote.origin.url").is_ok());
        assert!(check_key("branch.a/b.merge").is_ok());
        assert!(check_key("nodot").is_err());
        assert!(check_key("-x.y").is_err());
    }
}
