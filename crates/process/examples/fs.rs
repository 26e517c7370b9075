//! Seed: `sandbox.fs` — create_folder, upload_file (bytes and streamed from a local path),
//! download_file (to memory and streamed to a local path), list_files, find_files,
//! replace_in_files, move_files, set_file_permissions.
//!
//! `cargo run -p process --example fs`

use process::Permissions;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The daemon's work dir (where relative paths land): a scratch directory.
    let work = tempfile::tempdir()?;
    let state = tempfile::tempdir()?;
    let client = process::Client::embedded_with(process::embedded::DaemonConfig::new(
        work.path(),
        state.path(),
    ))
    .await?;
    let fs = client.fs();
    let local = tempfile::tempdir()?;

    fs.create_folder("workspace/data", "755").await?;
    fs.upload_file(&b"content"[..], "tmp/file.txt").await?;
    std::fs::write(local.path().join("local.txt"), vec![b'x'; 1 << 20])?;
    fs.upload_file_from_path(local.path().join("local.txt"), "tmp/large.txt") // streaming
        .await?;
    let content = fs.download_file("tmp/file.txt").await?;
    assert_eq!(&content[..], b"content");
    let n = fs
        .download_file_to("tmp/large.txt", local.path().join("back.txt")) // streaming
        .await?;
    assert_eq!(n, 1 << 20);

    fs.upload_file(
        &b"# TODO: write docs\nprint('old')\n"[..],
        "workspace/src/file1.py",
    )
    .await?;
    fs.upload_file(&b"old = 1\n"[..], "file2.py").await?;
    let files = fs.list_files("workspace").await?;
    for f in &files {
        println!("{} dir={} size={}", f.name, f.is_dir, f.size);
    }
    let matches = fs.find_files("workspace/src", "TODO:").await?;
    println!(
        "{}:{}: {}",
        matches[0].file, matches[0].line, matches[0].content
    );
    let results = fs
        .replace_in_files(&["workspace/src/file1.py", "file2.py"], "old", "new")
        .await?;
    assert!(results.iter().all(|r| r.success));
    fs.upload_file(&b"#!/bin/sh\n"[..], "script.sh").await?;
    fs.move_files("file2.py", "new_name.py").await?;
    let uid = fs.get_file_info("script.sh").await?.owner;
    fs.set_file_permissions("script.sh", &Permissions::mode("755").owner(uid))
        .await?;
    assert_eq!(fs.get_file_info("script.sh").await?.permissions, "0755");
    let err = fs.get_file_info("missing.txt").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    client.shutdown().await;
    Ok(())
}
