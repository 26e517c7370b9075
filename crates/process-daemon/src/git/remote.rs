//! The git operations that talk to remotes or manage them: clone, push, pull, remotes and
//! stored credentials. Credentials reach git only through the environment (see `super`).

use process_proto::wire::{
    GitAddRemoteRequest, GitAuthenticateRequest, GitCloneRequest, GitPullRequest, GitPushRequest,
    GitRemote, ListRemotesResponse,
};

use super::ops::{current_branch, is_repo, normalize_url, not_option, text, Dirs};
use super::{redact_url_passwords, Credentials, GitError};
use crate::fs::resolve;

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
}
