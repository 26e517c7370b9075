//! `git config` behind `GET`/`POST /git/config` and `POST /git/config/user`: scopes, key
//! validation, reads and writes.

use std::path::PathBuf;

use process_proto::wire::{GitConfigureUserRequest, GitSetConfigRequest};

use super::ops::Dirs;
use super::GitError;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keys() {
        assert!(check_key("user.name").is_ok());
        assert!(check_key("remote.origin.url").is_ok());
        assert!(check_key("branch.a/b.merge").is_ok());
        assert!(check_key("nodot").is_err());
        assert!(check_key("-x.y").is_err());
    }
}
