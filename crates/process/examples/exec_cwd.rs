//! Seed: `sandbox.process.exec("ls", cwd="workspace/src")` — run a command in a directory.
//!
//! `cargo run -p process --example exec_cwd`

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = process::Client::embedded().await?;

    // A scratch project to list.
    let project = tempfile::tempdir()?;
    let src = project.path().join("workspace/src");
    std::fs::create_dir_all(&src)?;
    std::fs::write(src.join("main.rs"), "fn main() {}\n")?;
    std::fs::write(src.join("lib.rs"), "")?;

    let result = client.exec("ls").cwd(src.to_string_lossy()).await?;
    println!("exit code {}; files in workspace/src:", result.exit_code);
    print!("{}", result.result);
    assert_eq!(result.result, "lib.rs\nmain.rs\n");

    // A directory that does not exist: the shell cannot start there (exit code -1).
    let missing = client.exec("ls").cwd("/no/such/dir").await?;
    println!("in a missing directory: exit code {}", missing.exit_code);
    Ok(())
}
