//! The end-to-end figures (2–9): our client (`process::Client`) against a separate `processd`
//! on 127.0.0.1, each beside its floor measured in the same run. Every loop is bounded in count
//! and time; every process started is stopped.

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use process::Client;

use crate::daemon::Processd;
use crate::floors::BoxError;
use crate::row::Row;
use crate::stats::Summary;

mod code;
mod exec;
mod follow;
mod pty;
mod resilience;
mod scale;
mod session;

pub use code::CHART_CODE;

/// What the end-to-end run needs and how big it is.
#[derive(Debug, Clone)]
pub struct Opts {
    /// The `processd` binary.
    pub processd: PathBuf,
    /// The Python interpreter for `code_run` and its floor (the compat venv's).
    pub python: Option<PathBuf>,
    /// Short run: smaller counts and sizes.
    pub quick: bool,
    /// Why `processd` is not available, if it is not.
    pub processd_missing: Option<String>,
    /// Run only these figures (empty: all).
    pub only: Vec<u32>,
}

/// Counts and sizes of one run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sizes {
    exec_rounds: usize,
    exec_per_round: usize,
    conc_total: usize,
    session_n: usize,
    follow_bytes: u64,
    follow_reps: usize,
    code_n: usize,
    chart_n: usize,
    pty_keys: usize,
    idle_sessions: usize,
    ptys: usize,
    /// Size of the log fetched whole by the log-GET memory figure.
    log_get_bytes: u64,
    /// SIGKILL + restart cycles of the durability figure.
    crash_cycles: usize,
    /// Connections cut under one log follow.
    follow_drops: usize,
    group_budget: Duration,
}

impl Sizes {
    fn new(quick: bool) -> Sizes {
        if quick {
            Sizes {
                exec_rounds: 2,
                exec_per_round: 50,
                conc_total: 240,
                session_n: 200,
                follow_bytes: 64 << 20,
                follow_reps: 1,
                code_n: 6,
                chart_n: 2,
                pty_keys: 100,
                idle_sessions: 100,
                ptys: 20,
                log_get_bytes: 32 << 20,
                crash_cycles: 3,
                follow_drops: 5,
                group_budget: Duration::from_mins(1),
            }
        } else {
            Sizes {
                exec_rounds: 5,
                exec_per_round: 100,
                conc_total: 1200,
                session_n: 1000,
                follow_bytes: 1 << 30,
                follow_reps: 3,
                code_n: 30,
                chart_n: 8,
                pty_keys: 500,
                idle_sessions: 1000,
                ptys: 200,
                log_get_bytes: 256 << 20,
                crash_cycles: 20,
                follow_drops: 50,
                group_budget: Duration::from_mins(4),
            }
        }
    }
}

/// Runs figures 2–9 (and 10 and 11, whose rows belong to section 8) and returns their rows (a
/// figure that fails becomes a "not measured" row).
pub async fn run(opts: &Opts) -> Vec<Row> {
    let sizes = Sizes::new(opts.quick);
    let mut rows = Vec::new();
    // 10 and 11 report in figure 8's section (their own runs and budgets; `--only 10` runs 10
    // alone).
    let groups: [(u32, &str); 10] = [
        (2, "exec round trip of `true`"),
        (3, "exec throughput, 8 concurrent clients"),
        (4, "session command round trip (`echo hi`)"),
        (5, "log follow throughput"),
        (6, "code_run"),
        (7, "PTY keystroke echo"),
        (8, "scale: idle sessions and PTYs"),
        (9, "file transfers and listing"),
        (10, "scale: whole-log GET memory"),
        (11, "resilience: SIGKILL + restart cycles, dropped follows"),
    ];
    for (group, name) in groups {
        if !opts.only.is_empty() && !opts.only.contains(&group) {
            continue;
        }
        // Figures 10 and 11 belong to section 8 (section 10 is the sandboxes').
        let section = if group >= 10 { 8 } else { group };
        if let Some(why) = &opts.processd_missing {
            rows.push(Row::not_measured(section, name, why));
            continue;
        }
        eprintln!("bench: figure {group}: {name}");
        let started = Instant::now();
        let result = bounded(sizes.group_budget, run_group(group, opts, sizes)).await;
        eprintln!(
            "bench: figure {group} took {:.1} s",
            started.elapsed().as_secs_f64()
        );
        match result {
            Ok(r) => rows.extend(r),
            Err(e) => rows.push(Row::not_measured(section, name, e.to_string())),
        }
    }
    rows
}

async fn bounded<T>(
    budget: Duration,
    f: impl Future<Output = Result<T, BoxError>>,
) -> Result<T, BoxError> {
    tokio::time::timeout(budget, f)
        .await
        .map_err(|_| format!("did not finish within {} s", budget.as_secs()))?
}

async fn run_group(group: u32, opts: &Opts, sizes: Sizes) -> Result<Vec<Row>, BoxError> {
    // Figure 8 wants a fresh daemon (idle RSS first); the others share one started here.
    let max_log = (sizes.follow_bytes * 2).max(256 << 20);
    // The exec figures measure the warm shell pool beside a cold daemon (2 is the binary's
    // default; spelled out so that the figure does not move with it).
    let args: &[&str] = if matches!(group, 2 | 3) {
        &["--warm-shells", "2"]
    } else {
        &[]
    };
    let daemon = Processd::start_with_args(
        &opts.processd,
        opts.python.as_deref(),
        max_log,
        &std::env::temp_dir(),
        args,
    )?;
    let client = Client::connect(daemon.url.clone())?;
    match group {
        2 => {
            let mut rows = exec::exec_rtt(opts, max_log, &daemon, &client, sizes).await?;
            rows.extend(exec::exec_on_tmpfs(opts, max_log, sizes).await);
            Ok(rows)
        }
        3 => exec::exec_throughput(&daemon.url, sizes).await,
        4 => session::session_rtt(&client, sizes).await,
        5 => {
            let mut rows = follow::log_follow(&client, sizes).await?;
            rows.extend(follow::follow_on_tmpfs(opts, max_log, sizes).await);
            Ok(rows)
        }
        6 => code::code_run(&client, opts.python.as_deref(), sizes).await,
        7 => pty::pty_echo(&client, sizes).await,
        10 => {
            drop(client);
            drop(daemon);
            scale::log_get_memory(opts, sizes.log_get_bytes).await
        }
        11 => {
            drop(client);
            drop(daemon);
            let mut rows = resilience::restart_cycles(opts, sizes.crash_cycles).await?;
            rows.extend(resilience::dropped_follows(opts, sizes.follow_drops).await?);
            Ok(rows)
        }
        9 => {
            crate::transfer::run(
                &daemon,
                &client,
                opts.python.as_deref(),
                crate::transfer::Sizes::new(opts.quick),
            )
            .await
        }
        _ => {
            drop(client);
            drop(daemon);
            scale::scale(opts, max_log, sizes).await
        }
    }
}

fn summary(samples: &[Duration]) -> Result<Summary, BoxError> {
    Summary::of_micros(samples).ok_or_else(|| "no samples".into())
}
