//! `sbx exec` and `sbx run`: one-shot commands and code, output to the terminal's streams.

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use process::proto::wire::Language;
use process::{CommandRequest, TypedChart};

use crate::cli::{ExecArgs, RunArgs};
use crate::connect::{process_client, shell_command};
use crate::error::{exit_status, SbxError, EXIT_CANNOT_RUN, EXIT_TIMEOUT};
use crate::Ctx;

/// Writes `data` to stdout or stderr and flushes (a closed pipe is not an error of ours).
pub(crate) fn emit(to_stderr: bool, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    if to_stderr {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(data);
        let _ = err.flush();
    } else {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(data);
        let _ = out.flush();
    }
}

/// A timed-out command: its partial output, a message, exit 124.
fn timed_out(e: &process::Error, secs: u64) -> ExitCode {
    if let Some(partial) = e.partial_output() {
        emit(false, partial.as_bytes());
    }
    eprintln!("sbx: the command did not finish within {secs}s and was killed");
    ExitCode::from(EXIT_TIMEOUT)
}

/// `sbx exec ID -- CMD…`: without `--json` the output streams as the command produces it
/// ([`exec_live`]); with it, one result object at the end.
pub(crate) async fn exec(ctx: &Ctx, args: ExecArgs) -> Result<ExitCode, SbxError> {
    let client = process_client(&ctx.conn, &args.id).await?;
    if !ctx.json {
        return exec_live(&client, &args).await;
    }
    let mut call = client
        .exec(shell_command(&args.command))
        .envs(args.env)
        .split_output(true);
    if let Some(cwd) = &args.cwd {
        call = call.cwd(cwd.clone());
    }
    if let Some(secs) = args.timeout {
        call = call.timeout(Duration::from_secs(secs));
    }
    let resp = match call.await {
        Ok(r) => r,
        Err(e) if e.is_timeout() && args.timeout.is_some() => {
            return Ok(timed_out(&e, args.timeout.unwrap_or_default()))
        }
        Err(e) => return Err(SbxError::remote("exec", e)),
    };
    if ctx.json {
        let (stdout, stderr) = resp.split.as_ref().map_or((resp.result.as_str(), ""), |s| {
            (s.stdout.as_str(), s.stderr.as_str())
        });
        crate::print_json(&serde_json::json!({
            "exitCode": resp.exit_code,
            "stdout": stdout,
            "stderr": stderr,
        }));
        return Ok(exit_status(resp.exit_code));
    }
    // -1: the daemon could not start the command (e.g. a missing cwd); its message says why.
    if resp.exit_code == -1 {
        return Err(SbxError::CannotRun(format!(
            "cannot run the command: {}",
            resp.result.trim_end()
        )));
    }
    match &resp.split {
        Some(split) => {
            emit(false, split.stdout.as_bytes());
            emit(true, split.stderr.as_bytes());
        }
        // A daemon without split output: everything is on stdout, as it came.
        None => emit(false, resp.result.as_bytes()),
    }
    Ok(exit_status(resp.exit_code))
}

/// The exit code when a command ended without one (killed by a signal the daemon did not
/// record): sbx's own error code.
const NO_EXIT_CODE: u8 = crate::error::EXIT_SBX;

/// Live `sbx exec`: the command runs in a session of its own (created here, deleted on every
/// exit path, which also ends the command), `--cwd` and `--env` applied first by a synchronous
/// `cd`/`export` in that session (a failure there is exit 126, as the one-shot exec's), then the
/// command asynchronously with stdin `/dev/null`, its log followed (resuming after a dropped
/// connection) so each chunk reaches our stdout or stderr when the daemon has it.
async fn exec_live(client: &process::Client, args: &ExecArgs) -> Result<ExitCode, SbxError> {
    let session = format!("sbx-exec-{}", crate::session::short_id());
    client
        .create_session(&session)
        .await
        .map_err(|e| SbxError::remote("exec", e))?;
    let outcome = tokio::select! {
        r = run_in_session(client, &session, args) => r,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("sbx: interrupted: the command is being stopped");
            Ok(ExitCode::from(130))
        }
    };
    // Deleting the session ends the command if it still runs (a timeout, Ctrl-C, an error).
    let _ = client.delete_session(&session).await;
    outcome
}

async fn run_in_session(
    client: &process::Client,
    session: &str,
    args: &ExecArgs,
) -> Result<ExitCode, SbxError> {
    let mut setup = Vec::new();
    if let Some(cwd) = &args.cwd {
        setup.push(format!("cd -- {}", crate::connect::quote(cwd)));
    }
    for (key, value) in &args.env {
        if !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            || key.starts_with(|c: char| c.is_ascii_digit())
        {
            return Err(SbxError::Usage(format!(
                "--env {key}=…: a variable name is letters, digits and '_', not starting with a digit"
            )));
        }
        setup.push(format!("export {key}={}", crate::connect::quote(value)));
    }
    if !setup.is_empty() {
        let resp = client
            .execute_session_command(session, CommandRequest::new(setup.join(" && ")))
            .await
            .map_err(|e| SbxError::remote("exec", e))?;
        if resp.exit_code != Some(0) {
            return Err(SbxError::CannotRun(format!(
                "cannot run the command: {}",
                resp.stderr.trim_end()
            )));
        }
    }
    // `{ …\n}`: the user's text as it is, its stdin /dev/null as the one-shot exec's.
    let text = format!("{{ {}\n}} </dev/null", shell_command(&args.command));
    let cmd = client
        .execute_session_command(session, CommandRequest::new(text).run_async(true))
        .await
        .map_err(|e| SbxError::remote("exec", e))?;
    let follow = crate::session::follow_logs(client, session, &cmd.cmd_id);
    if let Some(secs) = args.timeout {
        if tokio::time::timeout(Duration::from_secs(secs), follow)
            .await
            .is_err()
        {
            eprintln!("sbx: the command did not finish within {secs}s and was killed");
            return Ok(ExitCode::from(EXIT_TIMEOUT));
        }
    } else {
        follow.await?;
    }
    exit_code_of(client, session, &cmd.cmd_id).await
}

/// The exit code of a command whose log has ended (the daemon records it as the command
/// ends; a few short waits cover a status that lands just after the log's end).
async fn exit_code_of(
    client: &process::Client,
    session: &str,
    cmd_id: &str,
) -> Result<ExitCode, SbxError> {
    for attempt in 0..50u32 {
        let command = client
            .get_session_command(session, cmd_id)
            .await
            .map_err(|e| SbxError::remote("exec", e))?;
        if let Some(code) = command.exit_code {
            return Ok(exit_status(code));
        }
        tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt.min(10)) + 10)).await;
    }
    eprintln!("sbx: the command ended without an exit code");
    Ok(ExitCode::from(NO_EXIT_CODE))
}

/// The language of `file` by extension.
fn language_of(file: &Path) -> Option<Language> {
    match file.extension()?.to_str()? {
        "py" => Some(Language::Python),
        "js" | "cjs" | "mjs" => Some(Language::Javascript),
        "ts" | "cts" | "mts" => Some(Language::Typescript),
        _ => None,
    }
}

/// The `--lang` value as a language.
fn parse_language(s: &str) -> Result<Language, SbxError> {
    match s.to_ascii_lowercase().as_str() {
        "python" | "py" => Ok(Language::Python),
        "javascript" | "js" | "node" => Ok(Language::Javascript),
        "typescript" | "ts" => Ok(Language::Typescript),
        other => Err(SbxError::Usage(format!(
            "unknown language '{other}': use python, javascript or typescript"
        ))),
    }
}

/// The chart's type as the wire names it (`line`, `bar`, …).
fn chart_type(chart: &TypedChart) -> String {
    chart.kind().as_str().to_owned()
}

/// `sbx run ID FILE|-`.
pub(crate) async fn run(ctx: &Ctx, args: RunArgs) -> Result<ExitCode, SbxError> {
    let stdin = args.file.as_os_str() == "-";
    let language = match (&args.lang, stdin) {
        (Some(l), _) => parse_language(l)?,
        (None, true) => Language::Python,
        (None, false) => language_of(&args.file).ok_or_else(|| {
            SbxError::Usage(format!(
                "cannot tell the language of {} from its extension: pass --lang",
                args.file.display()
            ))
        })?,
    };
    let code = if stdin {
        let mut code = String::new();
        std::io::stdin()
            .read_to_string(&mut code)
            .map_err(|e| SbxError::io("reading the code from stdin", e))?;
        code
    } else {
        std::fs::read_to_string(&args.file)
            .map_err(|e| SbxError::io(format!("reading {}", args.file.display()), e))?
    };
    let client = process_client(&ctx.conn, &args.id).await?;
    let mut call = client
        .code_run(code)
        .language(language)
        .argv(args.argv.clone());
    for (k, v) in args.env {
        call = call.env(k, v);
    }
    if let Some(secs) = args.timeout {
        call = call.timeout(Duration::from_secs(secs));
    }
    let resp = match call.await {
        Ok(r) => r,
        Err(e) if e.is_timeout() && args.timeout.is_some() => {
            return Ok(timed_out(&e, args.timeout.unwrap_or_default()))
        }
        Err(e) => return Err(SbxError::remote("code run", e)),
    };
    let mut saved = Vec::new();
    if !resp.artifacts.charts.is_empty() {
        std::fs::create_dir_all(&args.charts_dir)
            .map_err(|e| SbxError::io(format!("creating {}", args.charts_dir.display()), e))?;
    }
    for (i, chart) in resp.artifacts.charts.iter().enumerate() {
        let path = match chart.png() {
            Some(png) => {
                let path = args.charts_dir.join(format!("chart-{}.png", i + 1));
                std::fs::write(&path, png)
                    .map_err(|e| SbxError::io(format!("writing {}", path.display()), e))?;
                Some(path)
            }
            None => None,
        };
        saved.push((chart_type(chart), chart.title().map(str::to_owned), path));
    }
    if ctx.json {
        let charts: Vec<_> = saved
            .iter()
            .map(|(kind, title, path)| {
                serde_json::json!({"type": kind, "title": title, "png": path})
            })
            .collect();
        crate::print_json(&serde_json::json!({
            "exitCode": resp.exit_code,
            "result": resp.result,
            "charts": charts,
        }));
        return Ok(exit_status(resp.exit_code));
    }
    emit(false, resp.result.as_bytes());
    for (kind, title, path) in &saved {
        let title = title.as_deref().unwrap_or("(untitled)");
        match path {
            Some(p) => eprintln!("chart: {kind} \"{title}\" -> {}", p.display()),
            None => eprintln!("chart: {kind} \"{title}\" (no image)"),
        }
    }
    if resp.exit_code == 127 && resp.result.contains("not found") {
        // The daemon could not find the language's runtime: its message says what to install.
        return Ok(ExitCode::from(EXIT_CANNOT_RUN));
    }
    Ok(exit_status(resp.exit_code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_by_extension_and_flag() {
        assert_eq!(language_of(Path::new("a/b.py")), Some(Language::Python));
        assert_eq!(language_of(Path::new("x.mts")), Some(Language::Typescript));
        assert_eq!(language_of(Path::new("x.js")), Some(Language::Javascript));
        assert_eq!(language_of(Path::new("Makefile")), None);
        assert!(matches!(parse_language("TS"), Ok(Language::Typescript)));
        assert!(parse_language("ruby").is_err());
    }
}
