//! Seed: `sandbox.process.exec("echo 'Hello'")` — run a shell command, print its output.
//!
//! `cargo run -p process --example exec`

#[tokio::main]
async fn main() -> Result<(), process::Error> {
    let client = process::Client::embedded().await?;

    let response = client.exec("echo 'Hello'").await?;
    print!("{}", response.artifacts.stdout); // Prints: Hello
    assert_eq!(response.exit_code, 0);

    // Environment variables for one command.
    let response = client
        .exec("echo \"$GREETING from $(pwd)\"")
        .env("GREETING", "Hi")
        .await?;
    print!("{}", response.result);
    Ok(())
}
