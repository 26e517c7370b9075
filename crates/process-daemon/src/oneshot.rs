//! Running one command to completion for `execute` and `code-run`: its own process group,
//! stdin `/dev/null`, stdout and stderr read into bounded buffers (from one shared pipe, so the
//! combined output keeps write order, or from two when the caller wants them apart), a timeout
//! that kills the whole tree, and completion at process exit plus a short drain (a background
//! child that keeps the pipes open cannot hold the call).

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::time::Instant;

use std::os::fd::OwnedFd;

use crate::capture::Capped;
use crate::drain::Source;
use crate::proc;

pub(crate) use crate::drain::DRAIN_GRACE;
/// Between SIGTERM and SIGKILL when a timeout kills a command tree.
pub(crate) const KILL_GRACE: Duration = Duration::from_secs(2);

/// An output pipe being read.
pub(crate) type Pipe = Box<dyn tokio::io::AsyncRead + Send + Unpin>;

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct OneShot {
    /// Program to execute.
    pub program: PathBuf,
    /// Its arguments (after argv\[0\]).
    pub args: Vec<OsString>,
    /// Working directory (must exist).
    pub cwd: PathBuf,
    /// The complete environment.
    pub env: HashMap<String, String>,
    /// Kill the tree after this long.
    pub timeout: Option<Duration>,
    /// Cap on each captured buffer.
    pub max_output: usize,
    /// Read stdout and stderr from separate pipes (filling [`Outcome::stdout`] and
    /// [`Outcome::stderr`]); otherwise one pipe for both, so [`Outcome::combined`] keeps the
    /// exact write order and the split buffers stay empty.
    pub split: bool,
}

/// How a command ended and what it printed.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// Exit code (128 + signal when killed by a signal).
    pub exit_code: i32,
    /// stdout and stderr interleaved (in write order unless `split`, else in arrival order).
    pub combined: Capped,
    /// stdout alone (only with `split`).
    pub stdout: Capped,
    /// stderr alone (only with `split`).
    pub stderr: Capped,
    /// The timeout fired and the tree was killed.
    pub timed_out: bool,
    /// A process other than the main one still held the output pipes when reading stopped.
    pub abandoned: bool,
}

/// A command whose process is running: what [`collect`] needs to read its output, wait for it
/// and kill its tree. Built by [`spawn`] (cold) or by the warm shell pool.
pub(crate) struct Started {
    /// The main process.
    pub child: tokio::process::Child,
    /// Its reaper registration, dropped after it was waited for.
    pub tracked: Option<crate::reaper::Tracked>,
    /// The tag every process of the run inherits (see [`proc::RUN_ID_ENV`]).
    pub run_id: String,
    /// stdout (or the one pipe of both streams).
    pub out: Option<Pipe>,
    /// stderr, when read apart.
    pub err: Option<Pipe>,
    /// Dropped once the command is done (the warm pool refills then).
    pub done: Option<Box<dyn Send>>,
    /// The run's cgroup (the main process and all it starts), when the daemon has a cgroup
    /// root: a timeout kills it with `cgroup.kill`. Retired when the run ends (background
    /// processes it left keep it until they exit).
    pub cgroup: Option<crate::cgroup::Cgroup>,
}

/// Starts `spec`'s process (a fresh one: `posix_spawn`, no hook between fork and exec), in a
/// cgroup of its own taken from `cgroups` when the daemon has them (see `Cgroup::adopt`).
///
/// With cgroups the process is held at a gate until it is in its cgroup, so nothing it runs
/// can fork outside it: a bash sources [`bash_gate`] (no extra process); any other program,
/// and a bash whose environment could subvert that gate, starts through the trampoline of
/// [`crate::gate`]. Only where neither can be used (no `/bin/sh` or `env`, a `=` in the
/// program's path) is it moved after the spawn, with the race that implies.
pub(crate) fn spawn(
    spec: &OneShot,
    cgroups: Option<&crate::cgroup::Cgroups>,
) -> std::io::Result<Started> {
    // Tags every process of this run, so a timeout also finds escapees (see `RUN_ID_ENV`).
    let run_id = uuid::Uuid::new_v4().to_string();
    let bash = cgroups.and_then(|_| bash_gate(&spec.program, &spec.env));
    let trampoline = match (cgroups, &bash) {
        (Some(_), None) => {
            let mut env = spec.env.clone();
            env.insert(proc::RUN_ID_ENV.to_owned(), run_id.clone());
            match crate::gate::trampoline() {
                Some(t) => t.command(&spec.program, &spec.args, &env, crate::gate::Stdin::Null)?,
                None => None,
            }
        }
        _ => None,
    };
    let gated = bash.is_some() || trampoline.is_some();
    let mut cmd = trampoline.unwrap_or_else(|| {
        let mut cmd = tokio::process::Command::new(&spec.program);
        cmd.args(&spec.args)
            .env_clear()
            .envs(&spec.env)
            .env(proc::RUN_ID_ENV, &run_id);
        cmd
    });
    cmd.current_dir(&spec.cwd)
        .process_group(0)
        .kill_on_drop(false);
    // The gate's write end: dropped once the process is in its cgroup, which opens the gate.
    let mut gate = None;
    if gated {
        let (reader, mut writer) = std::io::pipe()?;
        if let Some(script) = &bash {
            // Far below the pipe's capacity: never blocks, whoever reads.
            std::io::Write::write_all(&mut writer, script.as_bytes())?;
            cmd.env("BASH_ENV", GATE_PATH);
        }
        cmd.stdin(Stdio::from(reader));
        gate = Some(writer);
    } else {
        cmd.stdin(Stdio::null());
    }
    // One pipe for both streams (exact write order in `combined`), unless asked to split.
    let shared = if spec.split {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        None
    } else {
        let (reader, writer) = std::io::pipe()?;
        cmd.stdout(Stdio::from(writer.try_clone()?))
            .stderr(Stdio::from(writer));
        Some(reader)
    };
    let (mut child, tracked) = crate::reaper::spawn(&mut cmd)?;
    let cgroup = match (cgroups, child.id()) {
        // Held at the gate, it has started nothing yet: only it needs moving.
        (Some(cgroups), Some(pid)) if gate.is_some() => {
            cgroups.take().filter(|cg| cg.adopt_alone(pid))
        }
        (Some(cgroups), Some(pid)) => cgroups.take().filter(|cg| cg.adopt(pid)),
        _ => None,
    };
    // Opens the gate (also when the move failed: the command then runs outside a cgroup).
    drop(gate);
    // The command keeps our copies of the pipe's write end: drop it, or the pipe never ends.
    drop(cmd);
    let (out, err): (Option<Pipe>, Option<Pipe>) = match shared {
        Some(reader) => {
            let rx = tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(reader))?;
            (Some(Box::new(rx)), None)
        }
        None => (
            child.stdout.take().map(|p| Box::new(p) as Pipe),
            child.stderr.take().map(|p| Box::new(p) as Pipe),
        ),
    };
    Ok(Started {
        child,
        tracked,
        run_id,
        out,
        err,
        done: None,
        cgroup,
    })
}

/// What a gated bash sources first: [`GATE_PATH`] is its stdin, a pipe holding the gate script,
/// whose write end the daemon closes once the shell is in its cgroup. bash reads a sourced
/// pipe to its end before running any of it, so the `-c` command (or script) starts only
/// then.
const GATE_PATH: &str = "/dev/stdin";

/// The gate script for a cold exec of `program` with `env`, or `None` when the program is not
/// bash or the environment changes how bash reads its start-up file or what runs before it
/// (then the trampoline of [`crate::gate`] holds it instead).
///
/// bash (not in POSIX mode) sources `$BASH_ENV` before it runs a `-c` command, and nothing of
/// the command runs before the gate opens. The script then gives the command the start a
/// plain `bash -c` has: stdin `/dev/null` (the pipe closed), `BASH_ENV` unset (so no child
/// sees it), and `$_` back to the value bash started with (the environment's `_`, else the
/// program path: the last argument of the script's last command). `$0`, the positional
/// parameters, `BASH_EXECUTION_STRING`, `LINENO`, error messages (`bash: -c: line 1: ...`),
/// exit codes, the exec of a lone program in place of the shell and the descriptors (0–2
/// only) are bash's own, untouched. What remains different (in `ARCHITECTURE.md`): the
/// shell's own `/proc/PID/environ` lists `BASH_ENV`; `PIPESTATUS` is set before the first
/// command; and bash fills `BASH_ARGV`/`BASH_ARGC` when it sources the gate instead of at
/// their first use, so a command that reads them without `extdebug` sees no arguments and a
/// count of 0 where a plain shell sees the positional parameters of that moment.
///
/// Refused (the trampoline instead) when the environment has its own `BASH_ENV`, `POSIXLY_CORRECT` (bash
/// then reads no start-up file), `SHELLOPTS` or `BASHOPTS` (`xtrace`, `verbose`, `errexit`
/// or `noexec` would show or change the script) or an exported function (`BASH_FUNC_*`,
/// which could shadow the builtins the script uses), `LD_PRELOAD` or `LD_AUDIT` (code the
/// loader runs before bash reads anything), and where `/dev/stdin` is missing.
/// Any other `LD_*` setting (`LD_LIBRARY_PATH`: a library planted there would run before the
/// gate) is refused too when it is not the daemon's own (common in daemons' environments,
/// and the operator's choice).
fn bash_gate(program: &std::path::Path, env: &HashMap<String, String>) -> Option<String> {
    static DEV_STDIN: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if !crate::warm::supports(program)
        || env.keys().any(|k| {
            matches!(
                k.as_str(),
                "BASH_ENV" | "POSIXLY_CORRECT" | "SHELLOPTS" | "BASHOPTS"
            ) || k.starts_with("BASH_FUNC_")
                || k == "LD_PRELOAD"
                || k == "LD_AUDIT"
        })
        || env.iter().any(|(k, v)| {
            // A loader setting of the request's own (the daemon's are the operator's).
            k.starts_with("LD_") && std::env::var_os(k).is_none_or(|own| own != v.as_str())
        })
        || !*DEV_STDIN.get_or_init(|| std::path::Path::new(GATE_PATH).exists())
    {
        return None;
    }
    // bash starts `$_` from the environment's `_`, else from argv[0] (the program as spawned).
    let underscore = env
        .get("_")
        .cloned()
        .unwrap_or_else(|| program.to_string_lossy().into_owned());
    Some(format!(
        "exec 0</dev/null; unset -v BASH_ENV; : {}\n",
        crate::warm::ansi_quote(&underscore)
    ))
}

/// Runs `spec` to completion (in a cgroup from `cgroups`, when given). Fails only when the
/// process cannot be started.
pub(crate) async fn run(
    spec: OneShot,
    cgroups: Option<&crate::cgroup::Cgroups>,
) -> std::io::Result<Outcome> {
    let started = spawn(&spec, cgroups)?;
    Ok(collect(started, spec.timeout, spec.max_output, spec.split).await)
}

/// Reads a started command's output into bounded buffers until it exits (plus the drain
/// grace, see [`crate::drain`]), killing its whole tree if `timeout` passes first.
pub(crate) async fn collect(
    started: Started,
    timeout: Option<Duration>,
    max_output: usize,
    split: bool,
) -> Outcome {
    let Started {
        mut child,
        tracked,
        run_id,
        out,
        err,
        done,
        cgroup,
    } = started;
    let pid = child
        .id()
        .and_then(|p| i32::try_from(p).ok())
        .map(Pid::from_raw);
    let mut combined = Capped::new(max_output);
    let mut stdout = Capped::new(max_output);
    let mut stderr = Capped::new(max_output);

    // The owner's end: its exit, with the timeout's SIGTERM and SIGKILL of the tree meanwhile.
    let exit = async {
        let far = Instant::now() + Duration::from_hours(24 * 365);
        let timeout_at = timeout.map_or(far, |t| Instant::now() + t);
        let mut kill_at = far;
        let mut timed_out = false;
        let mut tree: Vec<Pid> = Vec::new();
        let mut term_sent = far;
        loop {
            tokio::select! {
                status = child.wait() => {
                    let code = match status {
                        Ok(s) => proc::exit_code(s),
                        Err(e) => {
                            tracing::warn!(error = %e, "waiting for a command failed");
                            -1
                        }
                    };
                    return Exit { code, timed_out, tree, term_sent };
                }
                () = tokio::time::sleep_until(timeout_at), if !timed_out => {
                    timed_out = true;
                    if let Some(pid) = pid {
                        tree = proc::descendants(pid);
                        tree.push(pid);
                        for tagged in proc::processes_with_env(proc::RUN_ID_ENV, &run_id) {
                            if !tree.contains(&tagged) {
                                tree.push(tagged);
                            }
                        }
                        proc::signal_unit(cgroup.as_ref(), &[pid], &tree, Signal::SIGTERM);
                    }
                    term_sent = Instant::now();
                    kill_at = term_sent + KILL_GRACE;
                }
                () = tokio::time::sleep_until(kill_at), if timed_out => {
                    if let Some(pid) = pid {
                        proc::signal_unit(cgroup.as_ref(), &[pid], &tree, Signal::SIGKILL);
                    }
                    kill_at = far;
                }
            }
        }
    };
    let drained = crate::drain::read_until_ended(out, err, exit, DRAIN_GRACE, |source, bytes| {
        combined.push(bytes);
        match source {
            Source::Out if split => stdout.push(bytes),
            Source::Out => {}
            Source::Err => stderr.push(bytes),
        }
    })
    .await;
    let Exit {
        code,
        timed_out,
        mut tree,
        term_sent,
    } = drained.ended;
    drop(tracked);
    drop(done);
    if timed_out {
        // Whatever survived SIGTERM (the main process is gone, its group may not be) gets
        // SIGKILL after the grace, without holding up the response.
        if let Some(pid) = pid {
            tokio::spawn(async move {
                tokio::time::sleep_until(term_sent + KILL_GRACE).await;
                // Anything tagged that started since the first pass, too.
                for tagged in proc::processes_with_env(proc::RUN_ID_ENV, &run_id) {
                    if !tree.contains(&tagged) {
                        tree.push(tagged);
                    }
                }
                let alive: Vec<Pid> = tree
                    .into_iter()
                    .filter(|p| *p != pid && proc::proc_state(p.as_raw()).is_some_and(|s| s != 'Z'))
                    .collect();
                proc::signal_unit(cgroup.as_ref(), &[pid], &alive, Signal::SIGKILL);
            });
        }
    }
    Outcome {
        exit_code: code,
        combined,
        stdout,
        stderr,
        timed_out,
        abandoned: drained.abandoned,
    }
}

/// How the main process ended (the exit future of [`collect`]).
struct Exit {
    code: i32,
    timed_out: bool,
    /// The tree signalled at the timeout (empty without one).
    tree: Vec<Pid>,
    /// When SIGTERM went out (far in the future without a timeout).
    term_sent: Instant,
}
