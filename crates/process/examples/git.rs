//! Seed: `sandbox.git` — clone (with a branch), add, commit, push, pull, status, branches,
//! create/checkout/delete branch. The seed's github.com URL is replaced by a bare repository
//! in a temporary directory (`file://`), so the example runs offline.
//!
//! `cargo run -p process --example git`

use process::CloneOptions;

fn sh(dir: &std::path::Path, args: &[&str]) -> Result<(), Box<dyn std::error::Error>> {
    let ok = std::process::Command::new("git")
        .args(["-c", "user.name=Seed", "-c", "user.email=seed@example.com"])
        .args(args)
        .current_dir(dir)
        .status()?
        .success();
    if ok {
        Ok(())
    } else {
        Err(format!("git {args:?} failed").into())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A local "remote" with branches main and develop.
    let remote = tempfile::tempdir()?;
    let seed = remote.path().join("seed");
    std::fs::create_dir(&seed)?;
    sh(&seed, &["init", "-q", "-b", "main"])?;
    std::fs::write(seed.join("README.md"), "hello\n")?;
    sh(&seed, &["add", "."])?;
    sh(&seed, &["commit", "-q", "-m", "first"])?;
    sh(&seed, &["branch", "develop"])?;
    sh(
        remote.path(),
        &["clone", "-q", "--bare", "seed", "repo.git"],
    )?;
    let url = format!("file://{}", remote.path().join("repo.git").display());

    // The daemon's work dir (where relative paths land): a scratch directory.
    let work = tempfile::tempdir()?;
    let state = tempfile::tempdir()?;
    let client = process::Client::embedded_with(process::embedded::DaemonConfig::new(
        work.path(),
        state.path(),
    ))
    .await?;
    let git = client.git();
    git.clone(
        &url,
        "workspace/repo",
        CloneOptions::default().branch("develop"),
    )
    .await?;
    client
        .fs()
        .upload_file(&b"text\n"[..], "workspace/repo/file.txt")
        .await?;
    client
        .fs()
        .upload_file(&b"print(1)\n"[..], "workspace/repo/src/main.py")
        .await?;
    git.add("workspace/repo", &["file.txt", "src/main.py"])
        .await?;
    let sha = git
        .commit("workspace/repo", "Update docs", "John", "john@example.com")
        .await?;
    println!("committed {sha}");
    git.push("workspace/repo", None).await?;
    git.pull("workspace/repo", None).await?;
    let status = git.status("workspace/repo").await?;
    println!(
        "{} ahead={} behind={} published={}",
        status.current_branch, status.ahead, status.behind, status.branch_published
    );
    let branches = git.branches("workspace/repo").await?;
    println!("branches: {:?}", branches.branches);
    git.create_branch("workspace/repo", "feature").await?;
    git.checkout_branch("workspace/repo", "develop").await?;
    git.create_branch("workspace/repo", "old-feature").await?;
    git.checkout_branch("workspace/repo", "feature").await?;
    git.delete_branch("workspace/repo", "old-feature").await?;
    assert!(!git
        .branches("workspace/repo")
        .await?
        .branches
        .contains(&"old-feature".to_owned()));
    client.shutdown().await;
    Ok(())
}
