//! Seed: sessions — create one, run commands that share state (`cd`, files, variables), inspect
//! commands and logs, list, send input, delete.
//!
//! `cargo run -p process --example sessions`

use process::CommandRequest;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = process::Client::embedded().await?;
    let workspace = tempfile::tempdir()?;

    let session_id = "my-session";
    client.create_session(session_id).await?;

    // Execute commands in sequence, maintaining state.
    client
        .execute_session_command(session_id, format!("cd {}", workspace.path().display()))
        .await?;
    client
        .execute_session_command(session_id, "echo 'Hello' > test.txt")
        .await?;
    let result = client
        .execute_session_command(session_id, CommandRequest::new("cat test.txt"))
        .await?;
    print!("stdout: {}", result.stdout); // Prints: Hello
    println!(
        "stderr: {:?}, exit code: {:?}",
        result.stderr, result.exit_code
    );

    // Commands and their logs.
    let cmd = client
        .get_session_command(session_id, &result.cmd_id)
        .await?;
    if cmd.exit_code == Some(0) {
        println!("Command {:?} completed successfully", cmd.command);
    }
    let logs = client
        .get_session_command_logs(session_id, &result.cmd_id)
        .await?;
    println!("logs: stdout {:?}, stderr {:?}", logs.stdout, logs.stderr);

    let session = client.get_session(session_id).await?;
    for cmd in &session.commands {
        println!("Command: {} (exit code {:?})", cmd.command, cmd.exit_code);
    }

    // A background command that reads its input.
    let asking = client
        .execute_session_command(
            session_id,
            CommandRequest::new("read -r answer; echo \"you said: $answer\"").run_async(true),
        )
        .await?;
    client
        .send_session_command_input(session_id, &asking.cmd_id, "input data")
        .await?;
    let mut out = String::new();
    client
        .follow_session_command_logs(session_id, &asking.cmd_id, |s| out.push_str(s), |_| {})
        .await?;
    print!("{out}");

    for session in client.list_sessions().await? {
        println!(
            "Session {}: {} commands",
            session.session_id,
            session.commands.len()
        );
    }

    client.delete_session(session_id).await?;
    match client.get_session(session_id).await {
        Err(err) if err.is_not_found() => println!("after delete: {err}"),
        other => return Err(format!("expected not found, got {other:?}").into()),
    }
    Ok(())
}
