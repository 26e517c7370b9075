//! Git endpoints (`/git/...`, spec toolbox §4). Request fields are **snake_case** where
//! multi-word (`commit_id`, `set_upstream`), responses camelCase (`currentBranch`).
//!
//! Plain data: every field is public, construct with struct literals (`..Default::default()`
//! for the optional ones). Optional request fields are omitted when `None`.

use serde::{Deserialize, Serialize};

use crate::serde_util::null_as_default;

/// `POST /git/clone`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GitCloneRequest {
    /// Remote URL.
    pub url: String,
    /// Destination work tree.
    pub path: String,
    /// Branch to clone (default: the remote's default branch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Commit to check out (detached) after cloning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_id: Option<String>,
    /// HTTP Basic user name (used only together with `password`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// HTTP Basic password or token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Skip TLS verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure_skip_tls: Option<bool>,
    /// Shallow-clone depth (≥ 0; 0 = full).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<i64>,
}

/// `POST /git/add`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GitAddRequest {
    /// Work tree.
    pub path: String,
    /// Paths relative to the repository root (`"."` = all).
    #[serde(default, deserialize_with = "null_as_default")]
    pub files: Vec<String>,
}

/// `POST /git/commit`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GitCommitRequest {
    /// Work tree.
    pub path: String,
    /// Commit message.
    pub message: String,
    /// Author (and committer) name.
    pub author: String,
    /// Author (and committer) email.
    pub email: String,
    /// Allow a commit with nothing staged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_empty: Option<bool>,
}

/// The answer of `POST /git/commit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GitCommitResponse {
    /// The new commit's id (40 hex digits).
    pub hash: String,
}

/// `POST /git/push` (and, without `set_upstream`, `POST /git/pull`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GitPushRequest {
    /// Work tree.
    pub path: String,
    /// HTTP Basic user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// HTTP Basic password or token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Branch (default: the current one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Remote (default `origin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    /// Record the remote branch as upstream after pushing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_upstream: Option<bool>,
}

/// `POST /git/pull`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GitPullRequest {
    /// Work tree.
    pub path: String,
    /// HTTP Basic user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// HTTP Basic password or token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Remote branch (default: the current branch's upstream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Remote (default: the upstream's, else `origin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
}

/// `POST /git/branches` and `DELETE /git/branches` (a JSON body on DELETE).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GitBranchRequest {
    /// Work tree.
    pub path: String,
    /// Branch name.
    pub name: String,
}

/// `POST /git/checkout`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GitCheckoutRequest {
    /// Work tree.
    pub path: String,
    /// Branch name or a 40-hex commit id (checked out detached).
    pub branch: String,
}

/// `POST /git/init`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GitInitRequest {
    /// Directory to initialise.
    pub path: String,
    /// Create a bare repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bare: Option<bool>,
    /// Name of the initial branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_branch: Option<String>,
}

/// `POST /git/reset`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GitResetRequest {
    /// Work tree.
    pub path: String,
    /// `soft`, `mixed` (default), `hard`, `merge` or `keep`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Revision (default `HEAD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Limit a mixed/soft reset to these paths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<String>>,
}

/// `POST /git/restore`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GitRestoreRequest {
    /// Work tree.
    pub path: String,
    /// Paths relative to the repository root.
    #[serde(default, deserialize_with = "null_as_default")]
    pub files: Vec<String>,
    /// Restore the index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staged: Option<bool>,
    /// Restore the work tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree: Option<bool>,
    /// Revision to restore from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// `POST /git/remotes`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GitAddRemoteRequest {
    /// Work tree.
    pub path: String,
    /// Remote name.
    pub name: String,
    /// Remote URL.
    pub url: String,
    /// Fetch after adding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch: Option<bool>,
    /// Replace an existing remote of that name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overwrite: Option<bool>,
}

/// `POST /git/config`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GitSetConfigRequest {
    /// `section.name` or `section.sub.name`.
    pub key: String,
    /// Value (non-empty).
    pub value: String,
    /// `global` (default), `local` or `system`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Work tree (required for `local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// `POST /git/config/user`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GitConfigureUserRequest {
    /// `user.name`.
    pub name: String,
    /// `user.email`.
    pub email: String,
    /// `global` (default), `local` or `system`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Work tree (required for `local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// `POST /git/credentials`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GitAuthenticateRequest {
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: String,
    /// Host (default `github.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Protocol (default `https`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
}

/// The answer of `GET /git/config`: `{}` when the key is unset.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GitConfigResponse {
    /// The value, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A file's state on one side (index or work tree) in [`FileStatus`]. Open: unknown strings
/// are kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GitFileState {
    /// `Unmodified`.
    Unmodified,
    /// `Untracked`.
    Untracked,
    /// `Modified`.
    Modified,
    /// `Added`.
    Added,
    /// `Deleted`.
    Deleted,
    /// `Renamed`.
    Renamed,
    /// `Copied`.
    Copied,
    /// `Updated but unmerged` (a conflict).
    UpdatedButUnmerged,
    /// Any other string.
    Unknown(String),
}

impl GitFileState {
    /// The wire spelling.
    pub fn as_str(&self) -> &str {
        match self {
            GitFileState::Unmodified => "Unmodified",
            GitFileState::Untracked => "Untracked",
            GitFileState::Modified => "Modified",
            GitFileState::Added => "Added",
            GitFileState::Deleted => "Deleted",
            GitFileState::Renamed => "Renamed",
            GitFileState::Copied => "Copied",
            GitFileState::UpdatedButUnmerged => "Updated but unmerged",
            GitFileState::Unknown(s) => s,
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> GitFileState {
        match s {
            "Unmodified" => GitFileState::Unmodified,
            "Untracked" => GitFileState::Untracked,
            "Modified" => GitFileState::Modified,
            "Added" => GitFileState::Added,
            "Deleted" => GitFileState::Deleted,
            "Renamed" => GitFileState::Renamed,
            "Copied" => GitFileState::Copied,
            "Updated but unmerged" => GitFileState::UpdatedButUnmerged,
            other => GitFileState::Unknown(other.to_owned()),
        }
    }
}

impl Serialize for GitFileState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for GitFileState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(GitFileState::parse(&String::deserialize(d)?))
    }
}

/// One changed file in [`GitStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FileStatus {
    /// Path relative to the repository root.
    pub name: String,
    /// Rename/copy source, or `""`.
    #[serde(default)]
    pub extra: String,
    /// State in the index.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub staging: GitFileState,
    /// State in the work tree.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub worktree: GitFileState,
}

/// The answer of `GET /git/status`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GitStatus {
    /// Current branch (the unborn branch's name before the first commit; `HEAD` when detached).
    pub current_branch: String,
    /// Changed and untracked files (always a list).
    #[serde(default, deserialize_with = "null_as_default")]
    pub file_status: Vec<FileStatus>,
    /// Whether the branch has an upstream.
    #[serde(default)]
    pub branch_published: bool,
    /// Commits ahead of the upstream.
    #[serde(default)]
    pub ahead: u64,
    /// Commits behind the upstream.
    #[serde(default)]
    pub behind: u64,
    /// Whether HEAD is detached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detached: Option<bool>,
    /// The upstream (`origin/main`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
}

/// The answer of `GET /git/branches`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ListBranchResponse {
    /// Local branches (short names; always a list).
    #[serde(default, deserialize_with = "null_as_default")]
    pub branches: Vec<String>,
    /// The current branch (absent when detached).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
}

/// One remote in [`ListRemotesResponse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GitRemote {
    /// Remote name.
    pub name: String,
    /// Its first URL, with any password redacted.
    pub url: String,
}

/// The answer of `GET /git/remotes`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ListRemotesResponse {
    /// Remotes (always a list).
    #[serde(default, deserialize_with = "null_as_default")]
    pub remotes: Vec<GitRemote>,
}

/// One commit of `GET /git/history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GitCommitInfo {
    /// Commit id.
    pub hash: String,
    /// Author name.
    pub author: String,
    /// Author email.
    pub email: String,
    /// Full message.
    pub message: String,
    /// RFC 3339 with the author's offset.
    pub timestamp: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_request_is_snake_case_and_omits_none() {
        let req = GitCloneRequest {
            url: "u".into(),
            path: "p".into(),
            commit_id: Some("c".into()),
            insecure_skip_tls: Some(true),
            ..Default::default()
        };
        assert_eq!(
            crate::wire::encode(&req),
            br#"{"url":"u","path":"p","commit_id":"c","insecure_skip_tls":true}"#
        );
    }

    #[test]
    fn status_keeps_unknown_states_and_reads_camel_case() {
        let st: GitStatus = crate::wire::decode(
            br#"{"currentBranch":"main","fileStatus":[{"name":"a","extra":"","staging":"Weird","worktree":"Updated but unmerged"}],"branchPublished":true,"ahead":1,"behind":2}"#,
        )
        .unwrap();
        assert_eq!(
            st.file_status[0].staging,
            GitFileState::Unknown("Weird".into())
        );
        assert_eq!(st.file_status[0].worktree, GitFileState::UpdatedButUnmerged);
        let back = String::from_utf8(crate::wire::encode(&st)).unwrap();
        assert!(back.contains(r#""staging":"Weird""#), "{back}");
        assert!(!back.contains("detached"), "{back}");
    }
}
