//! Seed: PTY sessions — create a terminal, type into it, read its screen, resize it, inspect,
//! connect a second time, kill it.
//!
//! `cargo run -p process --example pty`

use std::time::Duration;

use process::PtySize;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = process::Client::embedded().await?;

    let mut pty = client
        .create_pty_session("my-pty")
        .env("VAR", "value")
        .size(PtySize::new(24, 80))
        .await?;
    pty.send_input("echo \"VAR is $VAR\"; stty size\n").await?;

    // Print the output until the echo shows up (the on_data of the seed).
    let mut screen = String::new();
    while !screen.contains("24 80") {
        let Some(data) = tokio::time::timeout(Duration::from_secs(10), pty.recv()).await? else {
            break;
        };
        let data = data?;
        screen.push_str(&String::from_utf8_lossy(&data));
    }
    println!("--- screen ---\n{}\n--------------", screen.trim_end());

    // Manage the PTY.
    let info = client.get_pty_session_info("my-pty").await?;
    println!(
        "Terminal size: {}x{} (active: {})",
        info.cols, info.rows, info.active
    );
    let updated = client
        .resize_pty_session("my-pty", PtySize::new(40, 150))
        .await?;
    println!("Resized to {}x{}", updated.cols, updated.rows);
    for session in client.list_pty_sessions().await? {
        println!(
            "Session {}: active={}, created={}",
            session.id, session.active, session.created_at
        );
    }

    // A second connection to the same terminal.
    let second = client.connect_pty_session("my-pty").await?;
    println!(
        "second connection to {}: connected={}",
        second.session_id(),
        second.is_connected()
    );
    second.disconnect().await;

    client.kill_pty_session("my-pty").await?;
    let result = pty.wait().await?;
    println!(
        "PTY ended: exit code {:?}, {:?}",
        result.exit_code, result.error
    );
    Ok(())
}
