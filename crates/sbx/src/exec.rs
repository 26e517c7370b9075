//! `sbx exec` and `sbx run`: one-shot commands and code, output to the terminal's streams.

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use process::proto::wire::Language;
use process::Chart;

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

/// `sbx exec ID -- CMD…`.
pub(crate) async fn exec(ctx: &Ctx, args: ExecArgs) -> Result<ExitCode, SbxError> {
    let client = process_client(&ctx.conn, &args.id).await?;
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
fn chart_type(chart: &Chart) -> String {
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
