//! The git domain behind `/git/...` (spec toolbox §4), free of HTTP, driving the `git`
//! command line (bounded memory, credential helpers honoured; found on `PATH`, its helpers
//! with `git --exec-path`). Every run has `GIT_TERMINAL_PROMPT=0`, no stdin, hooks disabled
//! and `LC_ALL=C`; credentials reach git only through `GIT_ASKPASS` reading the child's
//! environment (never argv, `.git/config`, logs or error messages). Errors are [`GitError`],
//! classified from git's messages; the HTTP edge maps them to the spec's codes.

mod config;
mod ops;
mod remote;
mod status;

pub(crate) use config::*;
pub(crate) use ops::*;
pub(crate) use remote::*;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;

/// A git operation failed. Each variant is one of the spec's error codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum GitError {
    /// 400 `BAD_REQUEST`.
    #[error("{0}")]
    BadRequest(String),
    /// 400 `INVALID_REQUEST_BODY`.
    #[error("{0}")]
    InvalidBody(String),
    /// 401 `GIT_AUTH_FAILED`.
    #[error("{0}")]
    AuthFailed(String),
    /// 403 `FORBIDDEN`.
    #[error("{0}")]
    Forbidden(String),
    /// 404 `GIT_REPO_NOT_FOUND`.
    #[error("{0}")]
    RepoNotFound(String),
    /// 404 `GIT_BRANCH_NOT_FOUND`.
    #[error("{0}")]
    BranchNotFound(String),
    /// 404 `NOT_FOUND`.
    #[error("{0}")]
    NotFound(String),
    /// 409 `GIT_BRANCH_EXISTS`.
    #[error("{0}")]
    BranchExists(String),
    /// 409 `GIT_PUSH_REJECTED` (also a divergent pull, as the original).
    #[error("{0}")]
    PushRejected(String),
    /// 409 `GIT_DIRTY_WORKTREE`.
    #[error("{0}")]
    DirtyWorktree(String),
    /// 409 `GIT_MERGE_CONFLICT`.
    #[error("{0}")]
    MergeConflict(String),
    /// 409 `CONFLICT`.
    #[error("{0}")]
    Conflict(String),
    /// 502 `GIT_TRANSPORT_FAILED`: the remote could not be reached.
    #[error("{0}")]
    Transport(String),
    /// 500 `INTERNAL_SERVER_ERROR`.
    #[error("{0}")]
    Internal(String),
}

/// The `git` program and its helper directory.
#[derive(Debug, Clone)]
pub(crate) struct GitBin {
    /// The `git` executable.
    pub(crate) program: PathBuf,
    /// `git --exec-path` (where `git-http-backend` and friends live).
    pub(crate) exec_path: PathBuf,
}

/// Finds `git` on `PATH` once and asks it for its exec path.
pub(crate) fn git_bin() -> Result<&'static GitBin, GitError> {
    static BIN: OnceLock<Result<GitBin, String>> = OnceLock::new();
    BIN.get_or_init(|| {
        let program = std::env::var_os("PATH")
            .and_then(|path| {
                std::env::split_paths(&path)
                    .map(|d| d.join("git"))
                    .find(|p| p.is_file())
            })
            .ok_or_else(|| "the git command line is not installed (no `git` on PATH)".to_owned())?;
        let out = std::process::Command::new(&program)
            .arg("--exec-path")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
        let exec_path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        tracing::debug!(git = %program.display(), exec_path = %exec_path.display(), "found git");
        Ok(GitBin { program, exec_path })
    })
    .as_ref()
    .map_err(|e| GitError::Internal(format!("internal server error: {e}")))
}

/// HTTP Basic credentials for one network operation.
#[derive(Clone)]
pub(crate) struct Credentials {
    pub(crate) username: String,
    pub(crate) password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Credentials when both fields are present and non-empty (as the original).
    pub(crate) fn from_parts(
        username: Option<&str>,
        password: Option<&str>,
    ) -> Option<Credentials> {
        match (username, password) {
            (Some(u), Some(p)) if !u.is_empty() && !p.is_empty() => Some(Credentials {
                username: u.to_owned(),
                password: p.to_owned(),
            }),
            _ => None,
        }
    }
}

/// Environment variables the askpass script reads.
const ASKPASS_USER_ENV: &str = "PROCESSD_GIT_ASKPASS_USERNAME";
const ASKPASS_PASS_ENV: &str = "PROCESSD_GIT_ASKPASS_PASSWORD";

/// The askpass script (no secrets in it: it prints the variables of its own environment).
fn askpass_script(state_dir: &Path) -> Result<PathBuf, GitError> {
    use std::os::unix::fs::PermissionsExt;
    let path = state_dir.join("git-askpass.sh");
    let script = format!(
        "#!/bin/sh\ncase \"$1\" in\n  Username*) printf '%s\\n' \"${ASKPASS_USER_ENV}\" ;;\n  *) printf '%s\\n' \"${ASKPASS_PASS_ENV}\" ;;\nesac\n"
    );
    if std::fs::read_to_string(&path).ok().as_deref() != Some(script.as_str()) {
        let tmp = state_dir.join(format!(".git-askpass.{}", uuid::Uuid::new_v4().simple()));
        std::fs::write(&tmp, &script)
            .and_then(|()| std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o700)))
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| {
                GitError::Internal(format!(
                    "internal server error: cannot write the askpass helper: {e}"
                ))
            })?;
    }
    Ok(path)
}

/// One git invocation.
pub(crate) struct Run<'a> {
    args: Vec<String>,
    cwd: Option<&'a Path>,
    creds: Option<&'a Credentials>,
    state_dir: &'a Path,
    stdin: Option<Vec<u8>>,
    /// Disable configured credential helpers (explicit credentials win).
    no_helpers: bool,
}

/// What a finished git run printed.
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) success: bool,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: String,
    pub(crate) code: Option<i32>,
}

impl<'a> Run<'a> {
    pub(crate) fn new(state_dir: &'a Path, args: &[&str]) -> Run<'a> {
        Run {
            args: args.iter().map(|s| (*s).to_owned()).collect(),
            cwd: None,
            creds: None,
            state_dir,
            stdin: None,
            no_helpers: false,
        }
    }

    pub(crate) fn arg(mut self, a: impl Into<String>) -> Run<'a> {
        self.args.push(a.into());
        self
    }

    pub(crate) fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, it: I) -> Run<'a> {
        self.args.extend(it.into_iter().map(Into::into));
        self
    }

    pub(crate) fn cwd(mut self, dir: &'a Path) -> Run<'a> {
        self.cwd = Some(dir);
        self
    }

    pub(crate) fn creds(mut self, creds: Option<&'a Credentials>) -> Run<'a> {
        self.no_helpers = creds.is_some();
        self.creds = creds;
        self
    }

    pub(crate) fn stdin(mut self, data: Vec<u8>) -> Run<'a> {
        self.stdin = Some(data);
        self
    }

    /// Runs git to completion (killed if the request is dropped).
    pub(crate) async fn output(self) -> Result<Output, GitError> {
        use tokio::io::AsyncWriteExt;
        let bin = git_bin()?;
        let mut cmd = tokio::process::Command::new(&bin.program);
        crate::proc::reset_oom_score_in_child(&mut cmd);
        cmd.env_clear();
        cmd.envs(crate::proc::child_env([
            ("LC_ALL", "C"),
            ("LANGUAGE", "C"),
            ("GIT_TERMINAL_PROMPT", "0"),
            ("GCM_INTERACTIVE", "never"),
        ]));
        if std::env::var_os("GIT_SSH_COMMAND").is_none() {
            cmd.env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes");
        }
        cmd.env_remove("SSH_ASKPASS");
        if !bin.exec_path.as_os_str().is_empty() {
            cmd.env("GIT_EXEC_PATH", &bin.exec_path);
        }
        cmd.env_remove("GIT_ASKPASS");
        cmd.args(["-c", "core.hooksPath=/dev/null", "-c", "core.askPass="]);
        if self.no_helpers {
            cmd.args(["-c", "credential.helper="]);
        }
        if let Some(c) = self.creds {
            cmd.env("GIT_ASKPASS", askpass_script(self.state_dir)?);
            cmd.env(ASKPASS_USER_ENV, &c.username);
            cmd.env(ASKPASS_PASS_ENV, &c.password);
        }
        cmd.args(&self.args);
        if let Some(dir) = self.cwd {
            cmd.current_dir(dir);
        }
        cmd.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| {
            GitError::Internal(format!("internal server error: cannot run git: {e}"))
        })?;
        if let (Some(data), Some(mut pipe)) = (self.stdin, child.stdin.take()) {
            let _ = pipe.write_all(&data).await;
        }
        let out = child.wait_with_output().await.map_err(|e| {
            GitError::Internal(format!("internal server error: git did not finish: {e}"))
        })?;
        let stderr = redact(&String::from_utf8_lossy(&out.stderr), self.creds);
        Ok(Output {
            success: out.status.success(),
            stdout: out.stdout,
            stderr,
            code: out.status.code(),
        })
    }

    /// Runs git; a failure is classified into a [`GitError`] naming `what`.
    pub(crate) async fn ok(self, what: &str) -> Result<Output, GitError> {
        let out = self.output().await?;
        if out.success {
            Ok(out)
        } else {
            Err(classify(what, &out.stderr))
        }
    }
}

/// Removes secrets from git's text: the password itself, and `user:password@` in URLs.
pub(crate) fn redact(text: &str, creds: Option<&Credentials>) -> String {
    let mut out = text.to_owned();
    if let Some(c) = creds {
        if !c.password.is_empty() {
            out = out.replace(&c.password, "*****");
        }
    }
    redact_url_passwords(&out)
}

/// `scheme://user:secret@host` → `scheme://user@host` everywhere in `text`.
pub(crate) fn redact_url_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        out.push_str(&rest[..i + 3]);
        rest = &rest[i + 3..];
        let end = rest
            .find(|c: char| c == '/' || c.is_whitespace() || c == '\'' || c == '"')
            .unwrap_or(rest.len());
        let authority = &rest[..end];
        if let Some(at) = authority.rfind('@') {
            let userinfo = &authority[..at];
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            out.push_str(user);
            out.push_str(&authority[at..]);
        } else {
            out.push_str(authority);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The last 4 KiB of git's message, trimmed.
fn tail(stderr: &str) -> String {
    let t = stderr.trim();
    let mut start = t.len().saturating_sub(4096);
    while !t.is_char_boundary(start) {
        start += 1;
    }
    t[start..].to_owned()
}

/// Classifies a failed git run from its (C-locale) message (spec §4.4).
pub(crate) fn classify(what: &str, stderr: &str) -> GitError {
    let text = tail(stderr);
    let lower = text.to_ascii_lowercase();
    let msg = format!("{what}: {text}");
    let has = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
    if has(&["not a git repository"]) {
        GitError::RepoNotFound("repository does not exist".to_owned())
    } else if has(&["must be run in a work tree"]) {
        GitError::BadRequest(format!(
            "{what}: the repository is bare (it has no work tree to operate on)"
        ))
    } else if has(&[
        "url using bad/illegal format",
        "malformed url",
        "url rejected",
    ]) {
        GitError::BadRequest(format!("{what}: not a valid repository URL: {text}"))
    } else if has(&[
        "authentication failed",
        "could not read username",
        "could not read password",
        "terminal prompts disabled",
        "invalid username or password",
        "access denied",
        "returned error: 401",
    ]) {
        GitError::AuthFailed(msg)
    } else if has(&["returned error: 403"])
        || (lower.contains("permission") && lower.contains("denied") && lower.contains("remote:"))
    {
        GitError::Forbidden(format!("forbidden: {msg}"))
    } else if has(&[
        "repository not found",
        "does not appear to be a git repository",
        "returned error: 404",
    ]) || (lower.contains("repository '")
        && (lower.contains("not found") || lower.contains("does not exist")))
    {
        GitError::RepoNotFound(msg)
    } else if has(&["remote branch", "couldn't find remote ref"]) && lower.contains("not found")
        || has(&["couldn't find remote ref"])
    {
        GitError::BranchNotFound(msg)
    } else if has(&[
        "would be overwritten by",
        "please commit your changes or stash them",
        "your local changes",
    ]) {
        GitError::DirtyWorktree(msg)
    } else if has(&[
        "non-fast-forward",
        "[rejected]",
        "updates were rejected",
        "fetch first",
        "not possible to fast-forward",
        "diverging branches",
        "have diverged",
    ]) {
        GitError::PushRejected(msg)
    } else if has(&["automatic merge failed", "conflict ("]) {
        GitError::MergeConflict(msg)
    } else if has(&[
        "could not resolve host",
        "connection refused",
        "failed to connect",
        "connection timed out",
        "ssl certificate problem",
        "unable to access",
    ]) {
        GitError::Transport(msg)
    } else if has(&[
        "unknown revision",
        "bad revision",
        "invalid reference",
        "not a valid object name",
        "did not match any file",
    ]) {
        GitError::NotFound(format!("not found: {msg}"))
    } else if has(&["already exists"]) {
        GitError::Conflict(format!("conflict: {msg}"))
    } else {
        GitError::Internal(format!("internal server error: {msg}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords_are_redacted() {
        assert_eq!(
            redact_url_passwords("fatal: unable to access 'https://u:s3cret@host/r.git/': x"),
            "fatal: unable to access 'https://u@host/r.git/': x"
        );
        assert_eq!(redact_url_passwords("https://host/a"), "https://host/a");
        let c = Credentials {
            username: "u".into(),
            password: "tok".into(),
        };
        assert_eq!(redact("bad tok here", Some(&c)), "bad ***** here");
        assert!(!format!("{c:?}").contains("tok"));
    }

    /// Found by schemathesis: a bare repository's status and an unusable URL were 500 and 502.
    #[test]
    fn a_bare_repository_and_a_malformed_url_are_the_callers_errors() {
        assert!(matches!(
            classify(
                "status failed",
                "fatal: this operation must be run in a work tree"
            ),
            GitError::BadRequest(_)
        ));
        assert!(matches!(
            classify(
                "clone failed",
                "Cloning into 'x'...\nfatal: unable to access 'https://a b/': URL using bad/illegal format or missing URL"
            ),
            GitError::BadRequest(_)
        ));
        assert!(matches!(
            classify(
                "clone failed",
                "fatal: unable to access 'https://h/': Could not resolve host: h"
            ),
            GitError::Transport(_)
        ));
    }

    #[test]
    fn classification_follows_the_spec_table() {
        assert!(matches!(
            classify("push", "fatal: Authentication failed for 'x'"),
            GitError::AuthFailed(_)
        ));
        assert!(matches!(
            classify(
                "x",
                "fatal: not a git repository (or any of the parent directories): .git"
            ),
            GitError::RepoNotFound(_)
        ));
        assert!(matches!(
            classify(
                "push",
                " ! [rejected]        main -> main (non-fast-forward)"
            ),
            GitError::PushRejected(_)
        ));
        assert!(matches!(
            classify("pull", "fatal: Not possible to fast-forward, aborting."),
            GitError::PushRejected(_)
        ));
        assert!(matches!(classify("co", "error: Your local changes to the following files would be overwritten by checkout:"), GitError::DirtyWorktree(_)));
        assert!(matches!(
            classify(
                "clone",
                "fatal: Remote branch nope not found in upstream origin"
            ),
            GitError::BranchNotFound(_)
        ));
        assert!(matches!(
            classify("clone", "fatal: repository '/x' does not exist"),
            GitError::RepoNotFound(_)
        ));
        assert!(matches!(
            classify(
                "clone",
                "fatal: unable to access 'http://127.0.0.1:1/': Failed to connect"
            ),
            GitError::Transport(_)
        ));
    }
}
