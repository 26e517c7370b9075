//! `sbx session …`: stateful shell sessions, their commands and logs (followed live, resumed
//! after a dropped connection).

use std::process::ExitCode;
use std::time::Duration;

use futures_util::StreamExt;
use process::{CommandRequest, OutputStream};

use crate::cli::SessionCommand;
use crate::connect::{process_client, shell_command};
use crate::error::{exit_status, SbxError};
use crate::exec::emit;
use crate::Ctx;

/// How often `logs -f` reconnects after a dropped connection before giving up.
const FOLLOW_RETRIES: u32 = 10;

/// Runs one `sbx session` subcommand.
pub(crate) async fn run(ctx: &Ctx, cmd: SessionCommand) -> Result<ExitCode, SbxError> {
    match cmd {
        SessionCommand::Create { id, session } => {
            let client = process_client(&ctx.conn, &id).await?;
            let session = session.unwrap_or_else(|| format!("sbx-{}", short_id()));
            client
                .create_session(&session)
                .await
                .map_err(|e| SbxError::remote(format!("creating session '{session}'"), e))?;
            if ctx.json {
                crate::print_json(&serde_json::json!({ "sessionId": session }));
            } else {
                println!("{session}");
            }
            Ok(ExitCode::SUCCESS)
        }
        SessionCommand::Exec {
            id,
            session,
            run_async,
            timeout,
            command,
        } => {
            let client = process_client(&ctx.conn, &id).await?;
            let request = CommandRequest::new(shell_command(&command)).run_async(run_async);
            let mut call = client.execute_session_command(&session, request);
            if let Some(secs) = timeout {
                call = call.timeout(Duration::from_secs(secs));
            }
            let resp = call.await.map_err(|e| {
                SbxError::remote(format!("running a command in session '{session}'"), e)
            })?;
            if ctx.json {
                crate::print_json(&serde_json::json!({
                    "cmdId": resp.cmd_id,
                    "exitCode": resp.exit_code,
                    "stdout": resp.stdout,
                    "stderr": resp.stderr,
                }));
            } else if run_async {
                println!("{}", resp.cmd_id);
            } else {
                emit(false, resp.stdout.as_bytes());
                emit(true, resp.stderr.as_bytes());
            }
            Ok(resp.exit_code.map_or(ExitCode::SUCCESS, exit_status))
        }
        SessionCommand::Logs {
            id,
            session,
            command_id,
            follow,
        } => {
            let client = process_client(&ctx.conn, &id).await?;
            if follow {
                follow_logs(&client, &session, &command_id).await?;
            } else {
                let logs = client
                    .get_session_command_logs(&session, &command_id)
                    .await
                    .map_err(|e| {
                        SbxError::remote(format!("reading the logs of '{command_id}'"), e)
                    })?;
                if ctx.json {
                    crate::print_json(&serde_json::json!({
                        "stdout": logs.stdout,
                        "stderr": logs.stderr,
                    }));
                    return Ok(ExitCode::SUCCESS);
                }
                emit(false, logs.stdout.as_bytes());
                emit(true, logs.stderr.as_bytes());
            }
            // The command's exit code, when it has ended.
            let command = client
                .get_session_command(&session, &command_id)
                .await
                .map_err(|e| SbxError::remote(format!("reading command '{command_id}'"), e))?;
            Ok(command.exit_code.map_or(ExitCode::SUCCESS, exit_status))
        }
        SessionCommand::Ls { id } => {
            let client = process_client(&ctx.conn, &id).await?;
            let sessions = client
                .list_sessions()
                .await
                .map_err(|e| SbxError::remote("listing sessions", e))?;
            if ctx.json {
                crate::print_json(&serde_json::to_value(&sessions).unwrap_or_default());
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:<24} {:<38} {:>5}  COMMAND",
                "SESSION", "COMMAND ID", "EXIT"
            );
            for s in &sessions {
                if s.commands.is_empty() {
                    println!("{:<24} {:<38} {:>5}  -", s.session_id, "-", "-");
                }
                for c in &s.commands {
                    let exit = c
                        .exit_code
                        .map_or_else(|| "-".to_owned(), |e| e.to_string());
                    println!(
                        "{:<24} {:<38} {:>5}  {}",
                        s.session_id, c.id, exit, c.command
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        SessionCommand::Rm { id, session } => {
            let client = process_client(&ctx.conn, &id).await?;
            client
                .delete_session(&session)
                .await
                .map_err(|e| SbxError::remote(format!("deleting session '{session}'"), e))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A short random id for generated names.
pub(crate) fn short_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

/// Follows a command's logs until it ends. The daemon replays the log from its start on every
/// connection, so after a dropped connection sbx reconnects and skips, per stream, the bytes
/// it already printed: nothing is lost or printed twice.
pub(crate) async fn follow_logs(
    client: &process::Client,
    session: &str,
    command_id: &str,
) -> Result<(), SbxError> {
    let mut printed = [0usize; 2]; // stdout, stderr bytes already written
    let mut failures = 0u32;
    loop {
        let mut stream = match client
            .stream_session_command_logs(session, command_id)
            .await
        {
            Ok(s) => s,
            Err(e) if e.is_not_found() || e.is_unauthorized() || failures >= FOLLOW_RETRIES => {
                return Err(SbxError::remote(
                    format!("following the logs of '{command_id}'"),
                    e,
                ));
            }
            Err(_) => {
                failures += 1;
                tokio::time::sleep(backoff(failures)).await;
                continue;
            }
        };
        let mut seen = [0usize; 2];
        let mut dropped = false;
        while let Some(item) = stream.next().await {
            let Ok(chunk) = item else {
                dropped = true;
                break;
            };
            let i = usize::from(chunk.stream == OutputStream::Stderr);
            let data = &chunk.data[..];
            let start = seen[i];
            seen[i] += data.len();
            // Skip what an earlier connection already printed.
            if seen[i] > printed[i] {
                let from = printed[i].saturating_sub(start);
                emit(i == 1, &data[from..]);
                printed[i] = seen[i];
            }
            failures = 0;
        }
        if !dropped {
            return Ok(());
        }
        failures += 1;
        if failures > FOLLOW_RETRIES {
            return Err(SbxError::Lost(format!(
                "lost the connection while following '{command_id}' {FOLLOW_RETRIES} times in a row: giving up"
            )));
        }
        eprintln!("sbx: connection lost while following the logs; reconnecting");
        tokio::time::sleep(backoff(failures)).await;
    }
}

/// 100 ms, 200 ms, … up to 3 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((100u64 << attempt.min(5)).min(3000))
}
