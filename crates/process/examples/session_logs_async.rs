//! Seed: `get_session_command_logs_async(session, cmd, on_stdout, on_stderr)` — follow a
//! background command's output as it is written, with callbacks or as a `Stream`.
//!
//! `cargo run -p process --example session_logs_async`

use futures_util::StreamExt;
use process::{CommandRequest, OutputStream};

#[tokio::main]
async fn main() -> Result<(), process::Error> {
    let client = process::Client::embedded().await?;
    client.create_session("my-session").await?;

    let job = "for i in 1 2 3; do echo \"step $i\"; echo \"warning $i\" >&2; sleep 0.2; done";
    let cmd = client
        .execute_session_command("my-session", CommandRequest::new(job).run_async(true))
        .await?;

    // Callbacks, as in the seed.
    client
        .follow_session_command_logs(
            "my-session",
            &cmd.cmd_id,
            |log| print!("[STDOUT]: {log}"),
            |log| print!("[STDERR]: {log}"),
        )
        .await?;

    // The same log again as a OutputStream (it replays from the beginning).
    let mut logs = client
        .stream_session_command_logs("my-session", &cmd.cmd_id)
        .await?
        .text();
    let (mut out, mut err) = (0, 0);
    while let Some(piece) = logs.next().await {
        match piece?.stream {
            OutputStream::Stdout => out += 1,
            OutputStream::Stderr => err += 1,
        }
    }
    println!("stream: {out} stdout pieces, {err} stderr pieces");

    let done = client
        .get_session_command("my-session", &cmd.cmd_id)
        .await?;
    println!("exit code: {:?}", done.exit_code);
    client.delete_session("my-session").await?;
    Ok(())
}
