//! `/git/...` routes against local repositories only: bare repos over `file://`, and
//! `git http-backend` behind a tiny server on 127.0.0.1 that requires Basic auth. Also the
//! fixed faults: status before the first commit, pull of the current branch's upstream,
//! checkout refusing a dirty tree with HEAD untouched, delete-branch refusing the current
//! branch, credentials kept out of config and errors, no prompt without credentials, hooks
//! never run. Shared helpers live here; the tests are split by concern.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Resp, TestDaemon};

mod auth;
mod branches;
mod repo;

pub fn sh_git(dir: &Path, args: &[&str]) -> String {
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
pub fn bare_remote(root: &Path) -> PathBuf {
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

pub fn code(r: &Resp) -> String {
    r.json()["code"].as_str().unwrap_or_default().to_owned()
}

/// One private `HOME` (and global git config) for every git run of this test binary, so the
/// credential store and `--global` config never touch the machine user's files.
pub fn private_git_home() {
    static HOME: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    HOME.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        std::env::set_var("HOME", &dir);
        std::env::set_var("GIT_CONFIG_GLOBAL", dir.join(".gitconfig"));
        std::env::remove_var("XDG_CONFIG_HOME");
        dir
    });
}

pub async fn daemon_with_home() -> (TestDaemon, ()) {
    private_git_home();
    (TestDaemon::start().await, ())
}
