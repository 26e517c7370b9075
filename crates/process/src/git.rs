//! [`Git`]: git in the sandbox (`client.git()`), as the SDK's `sandbox.git`. The daemon runs
//! the `git` command line; credentials travel in the request body only and never reach git's
//! argv, config or error messages.

use http::Method;
use process_proto::wire::endpoint;
use process_proto::wire::{
    GitAddRequest, GitBranchRequest, GitCheckoutRequest, GitCloneRequest, GitCommitRequest,
    GitCommitResponse, GitPullRequest, GitPushRequest,
};
use process_proto::wire::{GitStatus, ListBranchResponse};

use crate::client::Client;
use crate::error::{Context, Error};

/// HTTP Basic credentials (user name and password or token).
#[derive(Clone)]
pub struct Auth {
    username: String,
    password: String,
}

impl Auth {
    /// Credentials for one call.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Auth {
        Auth {
            username: username.into(),
            password: password.into(),
        }
    }
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Options of [`Git::clone`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CloneOptions {
    /// Branch to check out.
    pub branch: Option<String>,
    /// Commit to check out (detached).
    pub commit_id: Option<String>,
    /// Shallow depth.
    pub depth: Option<u32>,
    /// Credentials.
    pub auth: Option<Auth>,
}

impl CloneOptions {
    /// Sets the branch.
    #[must_use]
    pub fn branch(mut self, b: impl Into<String>) -> CloneOptions {
        self.branch = Some(b.into());
        self
    }

    /// Sets the commit.
    #[must_use]
    pub fn commit_id(mut self, c: impl Into<String>) -> CloneOptions {
        self.commit_id = Some(c.into());
        self
    }

    /// Sets the depth.
    #[must_use]
    pub fn depth(mut self, d: u32) -> CloneOptions {
        self.depth = Some(d);
        self
    }

    /// Sets credentials.
    #[must_use]
    pub fn auth(mut self, a: Auth) -> CloneOptions {
        self.auth = Some(a);
        self
    }
}

/// Git in the sandbox; get one with [`Client::git`].
#[derive(Debug)]
pub struct Git<'a> {
    client: &'a Client,
}

impl Client {
    /// Git in the sandbox (the SDK's `sandbox.git`).
    pub fn git(&self) -> Git<'_> {
        Git { client: self }
    }
}

fn q(v: &str) -> String {
    percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
}

impl Git<'_> {
    async fn post<B: serde::Serialize>(
        &self,
        op: &'static str,
        path: &str,
        body: &B,
    ) -> Result<(), Error> {
        self.client
            .send_json(&Context::new(op), Method::POST, path, body, None)
            .await
            .map(|_| ())
    }

    /// `clone(url, path, branch=, commit_id=, username=, password=, depth=)`.
    pub async fn clone(&self, url: &str, path: &str, opts: CloneOptions) -> Result<(), Error> {
        let (username, password) = opts.auth.map(|a| (a.username, a.password)).unzip();
        let body = GitCloneRequest {
            url: url.to_owned(),
            path: path.to_owned(),
            branch: opts.branch,
            commit_id: opts.commit_id,
            username,
            password,
            insecure_skip_tls: None,
            depth: opts.depth.map(i64::from),
        };
        self.post("clone", endpoint::GIT_CLONE.template(), &body)
            .await
    }

    /// `add(path, files)` (files relative to the repository; `"."` = all).
    pub async fn add(&self, path: &str, files: &[&str]) -> Result<(), Error> {
        let body = GitAddRequest {
            path: path.to_owned(),
            files: files.iter().map(|f| (*f).to_owned()).collect(),
        };
        self.post("add", endpoint::GIT_ADD.template(), &body).await
    }

    /// `commit(path, message, author, email)`: returns the new commit's id.
    pub async fn commit(
        &self,
        path: &str,
        message: &str,
        author: &str,
        email: &str,
    ) -> Result<String, Error> {
        let ctx = Context::new("commit");
        let body = GitCommitRequest {
            path: path.to_owned(),
            message: message.to_owned(),
            author: author.to_owned(),
            email: email.to_owned(),
            allow_empty: Some(false),
        };
        let r: GitCommitResponse = self
            .client
            .send_json(
                &ctx,
                Method::POST,
                endpoint::GIT_COMMIT.template(),
                &body,
                None,
            )
            .await?
            .json(&ctx)?;
        Ok(r.hash)
    }

    /// `push(path, username=, password=)` of the current branch to `origin`.
    pub async fn push(&self, path: &str, auth: Option<Auth>) -> Result<(), Error> {
        let (username, password) = auth.map(|a| (a.username, a.password)).unzip();
        let body = GitPushRequest {
            path: path.to_owned(),
            username,
            password,
            set_upstream: Some(false),
            ..GitPushRequest::default()
        };
        self.post("push", endpoint::GIT_PUSH.template(), &body)
            .await
    }

    /// `pull(path, username=, password=)`: fast-forward from the current branch's upstream.
    pub async fn pull(&self, path: &str, auth: Option<Auth>) -> Result<(), Error> {
        let (username, password) = auth.map(|a| (a.username, a.password)).unzip();
        let body = GitPullRequest {
            path: path.to_owned(),
            username,
            password,
            ..GitPullRequest::default()
        };
        self.post("pull", endpoint::GIT_PULL.template(), &body)
            .await
    }

    /// `status(path)`.
    pub async fn status(&self, path: &str) -> Result<GitStatus, Error> {
        self.client
            .get_json(
                &Context::new("status"),
                &format!("{}?path={}", endpoint::GIT_STATUS, q(path)),
            )
            .await
    }

    /// `branches(path)`.
    pub async fn branches(&self, path: &str) -> Result<ListBranchResponse, Error> {
        self.client
            .get_json(
                &Context::new("branches"),
                &format!("{}?path={}", endpoint::GIT_BRANCHES, q(path)),
            )
            .await
    }

    /// `create_branch(path, name)` (and checks it out, as the SDK's daemon does).
    pub async fn create_branch(&self, path: &str, name: &str) -> Result<(), Error> {
        let body = GitBranchRequest {
            path: path.to_owned(),
            name: name.to_owned(),
        };
        self.post("create_branch", endpoint::GIT_BRANCHES.template(), &body)
            .await
    }

    /// `checkout_branch(path, branch)`.
    pub async fn checkout_branch(&self, path: &str, branch: &str) -> Result<(), Error> {
        let body = GitCheckoutRequest {
            path: path.to_owned(),
            branch: branch.to_owned(),
        };
        self.post("checkout_branch", endpoint::GIT_CHECKOUT.template(), &body)
            .await
    }

    /// `delete_branch(path, name)` (not the current branch).
    pub async fn delete_branch(&self, path: &str, name: &str) -> Result<(), Error> {
        let body = GitBranchRequest {
            path: path.to_owned(),
            name: name.to_owned(),
        };
        self.client
            .send_json(
                &Context::new("delete_branch"),
                Method::DELETE,
                endpoint::GIT_BRANCHES.template(),
                &body,
                None,
            )
            .await
            .map(|_| ())
    }
}
