//! `POST /process/execute` and `POST /process/code-run` (spec §2 endpoints 1–2, §6, §8.1).
//!
//! Differences from the official daemon, all compatible:
//! * the script reaches the shell as its `-c` argument (or, beyond 64 KiB, as a file in the
//!   state directory: no ARG_MAX limit) and the command's stdin is `/dev/null`, so a command that
//!   reads stdin cannot swallow the rest;
//! * the call ends when the main process exits (plus a 200 ms drain), not when a background
//!   child closes the output pipes;
//! * a timeout kills the whole tree (SIGTERM, 2 s, SIGKILL), including escapees that left the
//!   process group and the tree (found by the `PROCESS_RUN_ID` variable every process of the
//!   run inherits), and the 408 error still carries the output so far in additive fields
//!   (`result`, `timedOut`, `exitCode`, and `stdout`/`stderr` with `splitOutput`);
//! * output is bounded by `max_output_bytes` (first and last halves kept; `truncated`,
//!   `totalBytes` report it); `result` keeps write order (one pipe for both streams), and a
//!   request with `"splitOutput": true` also gets `stdout`/`stderr` apart (from two pipes);
//! * code-run `argv` elements are passed as real argv elements (the official daemon splices
//!   them unquoted into shell text, so they are word-split and expanded there);
//! * Python charts come from our own capture module over a private file, never from stdout.

use process_proto::wire::endpoint;
use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::extract::State;
use axum::routing::post;
use http::{Response, StatusCode};
use process_proto::wire::{
    CodeRunRequest, CodeRunResponse, ExecuteRequest, ExecuteResponse, Language,
};

use crate::error::{json_response, ApiError};
use crate::http::Json;
use crate::oneshot::{self, OneShot, Outcome};
use crate::router::AppRouter;
use crate::{proc, Body, Daemon};

/// `POST /process/execute`, `POST /process/code-run`.
pub(crate) fn routes() -> AppRouter {
    AppRouter::new()
        .route(endpoint::EXECUTE.template(), post(execute))
        .route(endpoint::CODE_RUN.template(), post(code_run))
}

/// Checks environment variable names (`^[A-Za-z_][A-Za-z0-9_]*$`).
pub(crate) fn validate_envs(envs: Option<&BTreeMap<String, String>>) -> Result<(), ApiError> {
    for key in envs.into_iter().flat_map(BTreeMap::keys) {
        let mut chars = key.chars();
        let ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(ApiError::bad_request(format!(
                "invalid environment variable name: '{key}'"
            )));
        }
    }
    Ok(())
}

fn child_env(envs: Option<&BTreeMap<String, String>>) -> HashMap<String, String> {
    proc::child_env(
        envs.into_iter()
            .flat_map(|m| m.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
    )
}

fn timeout_of(seconds: Option<u32>) -> Option<Duration> {
    seconds
        .filter(|s| *s > 0)
        .map(|s| Duration::from_secs(u64::from(s)))
}

/// Creates a fresh private scratch directory `<state>/<kind>/<uuid>`.
fn scratch_dir(daemon: &Daemon, kind: &str) -> Result<PathBuf, ApiError> {
    let dir = daemon
        .config()
        .state_dir
        .join(kind)
        .join(uuid::Uuid::new_v4().to_string());
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| ApiError::internal(format!("cannot create a scratch directory: {e}")))?;
    Ok(dir)
}

fn write_private(path: &Path, content: &[u8]) -> Result<(), ApiError> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(content))
        .map_err(|e| ApiError::internal(format!("cannot write {}: {e}", path.display())))
}

/// The split/truncation fields shared by both responses.
struct Rendered {
    result: String,
    /// `stdout`/`stderr`, when the request asked for them apart.
    split: Option<(String, String)>,
    truncated: bool,
    total: u64,
}

fn render(outcome: Outcome, split: bool) -> Rendered {
    let truncated =
        outcome.combined.truncated() || outcome.stdout.truncated() || outcome.stderr.truncated();
    let total = outcome.combined.total();
    Rendered {
        result: text(outcome.combined.into_bytes()),
        split: split.then(|| {
            (
                text(outcome.stdout.into_bytes()),
                text(outcome.stderr.into_bytes()),
            )
        }),
        truncated,
        total,
    }
}

/// Bytes as text without a copy when they are valid UTF-8 (invalid sequences become U+FFFD).
fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The 408 error of a timed-out command, with its partial output as additive fields.
fn timeout_error(exit_code: i32, r: &Rendered) -> ApiError {
    let mut run = ExecuteResponse::new(exit_code, r.result.clone());
    if let Some((stdout, stderr)) = &r.split {
        run = run.with_split(stdout.clone(), stderr.clone());
    }
    if r.truncated {
        run = run.with_truncation(true, r.total);
    }
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "PROCESS_EXECUTION_TIMEOUT",
        "command execution timeout",
    )
    .with_partial_run(run)
}

/// Resolves the request's cwd against the daemon's work dir; `Err` carries the official
/// daemon's "could not start" text.
fn resolve_cwd(daemon: &Daemon, cwd: Option<&str>) -> Result<PathBuf, String> {
    let workdir = &daemon.config().workdir;
    let dir = match cwd.filter(|c| !c.is_empty()) {
        Some(c) => workdir.join(c),
        None => workdir.clone(),
    };
    if dir.is_dir() {
        Ok(dir)
    } else if dir.exists() {
        Err(format!(
            "chdir {}: not a directory",
            cwd.unwrap_or_default()
        ))
    } else {
        Err(format!(
            "chdir {}: no such file or directory",
            cwd.unwrap_or_else(|| workdir.to_str().unwrap_or_default())
        ))
    }
}

/// Commands up to this many bytes are passed inline (`shell -c -- command`).
const INLINE_SCRIPT_MAX: usize = 64 * 1024;

/// A permit to run one one-shot command, held until the answer is ready; 429 when
/// `max_execs` are running.
fn exec_permit(daemon: &Daemon) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
    daemon.inner.execs.clone().try_acquire_owned().map_err(|_| {
        ApiError::too_many_requests(format!(
            "{} one-shot commands are running, the daemon's limit (--max-execs): retry when one has finished",
            daemon.config().max_execs
        ))
    })
}

/// `POST /process/execute`.
async fn execute(
    State(daemon): State<Daemon>,
    Json(body): Json<ExecuteRequest>,
) -> Result<Response<Body>, ApiError> {
    let daemon = &daemon;
    let _running = exec_permit(daemon)?;
    if body.command.trim().is_empty() {
        return Err(ApiError::bad_request(
            "command cannot be empty or whitespace-only",
        ));
    }
    validate_envs(body.envs.as_ref())?;
    let cwd = match resolve_cwd(daemon, body.cwd.as_deref()) {
        Ok(cwd) => cwd,
        Err(msg) => {
            return Ok(json_response(
                StatusCode::OK,
                &ExecuteResponse::new(-1, msg),
            ))
        }
    };
    // Short commands reach the shell as its `-c` argument (`--` first, so a command starting with
    // `-` is not taken for options): no file work on the request path, and `$0` and error
    // messages read as with the original daemon. Longer ones (Linux caps one argument at
    // 128 KiB) and ones with a NUL go through a private file, so there is no ARG_MAX limit.
    let (args, dir) = if body.command.len() <= INLINE_SCRIPT_MAX && !body.command.contains('\0') {
        let args: Vec<OsString> = vec!["-c".into(), "--".into(), body.command.clone().into()];
        (args, None)
    } else {
        let dir = scratch_dir(daemon, "exec")?;
        let script = dir.join("command.sh");
        write_private(&script, body.command.as_bytes())?;
        (vec![script.into_os_string()], Some(dir))
    };
    let split = body.split_output.unwrap_or(false);
    let env = child_env(body.envs.as_ref());
    let timeout = timeout_of(body.timeout);
    // A warm shell when one can run it exactly as a fresh one would; else a fresh spawn.
    let warm = match (&daemon.inner.warm, &dir) {
        (Some(pool), None) => pool.launch(&body.command, &cwd, &env, split).await,
        _ => None,
    };
    let outcome = if let Some(started) = warm {
        Ok(oneshot::collect(started, timeout, max_output(daemon), split).await)
    } else {
        let spec = OneShot {
            program: proc::select_shell(),
            args,
            cwd,
            env,
            timeout,
            max_output: max_output(daemon),
            split,
        };
        oneshot::run(spec, daemon.inner.cgroups.as_ref()).await
    };
    if let Some(dir) = dir {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            return Ok(json_response(
                StatusCode::OK,
                &ExecuteResponse::new(-1, format!("cannot start the shell: {e}")),
            ))
        }
    };
    let exit_code = outcome.exit_code;
    let timed_out = outcome.timed_out;
    if outcome.abandoned {
        tracing::debug!(
            "a background process kept the output open; stopped reading after the drain grace"
        );
    }
    let r = render(outcome, split);
    if timed_out {
        return Err(timeout_error(exit_code, &r));
    }
    let mut resp = ExecuteResponse::new(exit_code, r.result);
    if let Some((stdout, stderr)) = r.split {
        resp = resp.with_split(stdout, stderr);
    }
    if r.truncated {
        resp = resp.with_truncation(true, r.total);
    }
    Ok(json_response(StatusCode::OK, &resp))
}

fn max_output(daemon: &Daemon) -> usize {
    usize::try_from(daemon.config().max_output_bytes).unwrap_or(usize::MAX)
}

/// How one language's program is started.
struct Launch {
    program: PathBuf,
    args: Vec<OsString>,
    /// One variable the runtime needs on top of the request's environment.
    env: Option<(String, String)>,
}

/// `POST /process/code-run`.
async fn code_run(
    State(daemon): State<Daemon>,
    Json(body): Json<CodeRunRequest>,
) -> Result<Response<Body>, ApiError> {
    let daemon = &daemon;
    let _running = exec_permit(daemon)?;
    validate_envs(body.envs.as_ref())?;
    let argv: Vec<OsString> = body
        .argv
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(OsString::from)
        .collect();
    let mut env = child_env(body.envs.as_ref());
    let dir = scratch_dir(daemon, "run")?;
    let charts_file = dir.join("charts");
    let launch = match &body.language {
        Language::Python => {
            let code = dir.join("code.py");
            write_private(&code, crate::dedent::python(&body.code).as_bytes())?;
            write_private(&charts_file, b"")?;
            let python = daemon.runtimes().python().await;
            let mut args: Vec<OsString> = vec![
                "-u".into(),
                daemon.runtimes().chart_runner().into(),
                charts_file.clone().into(),
                code.into(),
            ];
            args.extend(argv);
            Ok(Launch {
                program: python,
                args,
                env: None,
            })
        }
        Language::Javascript => {
            let code = dir.join("main.js");
            write_private(&code, body.code.as_bytes())?;
            let mut args: Vec<OsString> = vec![
                "--require".into(),
                daemon.runtimes().argv_fix().into(),
                code.into(),
            ];
            args.extend(argv);
            Ok(Launch {
                program: PathBuf::from("node"),
                args,
                env: None,
            })
        }
        Language::Typescript => {
            let code = dir.join("main.ts");
            write_private(&code, body.code.as_bytes())?;
            match daemon.runtimes().typescript().await {
                Some(ts) => Ok(Launch {
                    args: ts.command_args(daemon.runtimes().argv_fix_for(ts.kind), &code, argv),
                    env: ts
                        .node_path_env(env.get("NODE_PATH").map(String::as_str))
                        .map(|p| ("NODE_PATH".to_owned(), p)),
                    program: ts.program,
                }),
                None => Err(crate::runtimes::NO_TYPESCRIPT.to_owned()),
            }
        }
        other => {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(ApiError::bad_request(format!(
                "unsupported language: {other}"
            )));
        }
    };
    let launch = match launch {
        Ok(l) => l,
        Err(msg) => {
            let _ = std::fs::remove_dir_all(&dir);
            let resp = CodeRunResponse::new(127, format!("{msg}\n"), Vec::new());
            return Ok(json_response(StatusCode::OK, &resp));
        }
    };
    let program_name = launch.program.display().to_string();
    env.extend(launch.env);
    let spec = OneShot {
        program: launch.program,
        args: launch.args,
        cwd: daemon.config().workdir.clone(),
        env,
        timeout: timeout_of(body.timeout),
        max_output: max_output(daemon),
        // One pipe: `result` in exact write order (code-run has no split option).
        split: false,
    };
    let outcome = oneshot::run(spec, daemon.inner.cgroups.as_ref()).await;
    let charts = std::fs::read_to_string(&charts_file).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            let msg = if e.kind() == std::io::ErrorKind::NotFound {
                format!("{program_name}: not found: install it or put it on PATH\n")
            } else {
                format!("cannot start {program_name}: {e}\n")
            };
            let resp = CodeRunResponse::new(127, msg, Vec::new());
            return Ok(json_response(StatusCode::OK, &resp));
        }
    };
    let exit_code = outcome.exit_code;
    let timed_out = outcome.timed_out;
    let mut r = render(outcome, false);
    // Marker lines printed by the program are never charts here (charts come from the private
    // file), but they are removed from the output as the official daemon does.
    r.result = process_proto::artifact::strip_artifacts(&r.result).0;
    if timed_out {
        return Err(timeout_error(exit_code, &r));
    }
    let (_, charts, errors) = process_proto::artifact::strip_artifacts_with_errors(&charts);
    for err in errors {
        tracing::warn!(error = %err, "a captured chart could not be decoded");
    }
    let mut resp = CodeRunResponse::new(exit_code, r.result, charts);
    if r.truncated {
        resp = resp.with_truncation(true, r.total);
    }
    Ok(json_response(StatusCode::OK, &resp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_follow_the_shell_rule() {
        let ok: BTreeMap<String, String> =
            [("A".into(), String::new()), ("_x9".into(), "=".into())].into();
        assert!(validate_envs(Some(&ok)).is_ok());
        for bad in ["", "9A", "A-B", "A B", "Ä", "A="] {
            let m: BTreeMap<String, String> = [(bad.to_owned(), String::new())].into();
            assert!(validate_envs(Some(&m)).is_err(), "{bad:?} accepted");
        }
    }
}
