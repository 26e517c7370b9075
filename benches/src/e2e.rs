//! The end-to-end figures (2–9): our client (`process::Client`) against a separate `processd`
//! on 127.0.0.1, each beside its floor measured in the same run. Every loop is bounded in count
//! and time; every process started is stopped.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use process::{Client, CommandRequest};

use crate::daemon::{self, Processd};
use crate::floors::{self, BareServer, BoxError};
use crate::row::{format_ratio, micros, rate, Better, Row};
use crate::stats::Summary;

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
struct Sizes {
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
                group_budget: Duration::from_mins(4),
            }
        }
    }
}

/// The seeds' matplotlib line chart (Python SDK docs, `code_run` example).
pub const CHART_CODE: &str = "\
import matplotlib.pyplot as plt
import numpy as np

x = np.linspace(0, 10, 30)
y = np.sin(x)

plt.figure(figsize=(8, 5))
plt.plot(x, y, 'b-', linewidth=2)
plt.title('Line Chart')
plt.xlabel('X-axis (seconds)')
plt.ylabel('Y-axis (amplitude)')
plt.grid(True)
plt.show()
";

/// Runs figures 2–9 (and 10, whose rows belong to figure 8) and returns their rows (a figure that fails becomes a "not measured" row).
pub async fn run(opts: &Opts) -> Vec<Row> {
    let sizes = Sizes::new(opts.quick);
    let mut rows = Vec::new();
    // 10 reports in figure 8's section (its own run and budget; `--only 10` runs it alone).
    let groups: [(u32, &str); 9] = [
        (2, "exec round trip of `true`"),
        (3, "exec throughput, 8 concurrent clients"),
        (4, "session command round trip (`echo hi`)"),
        (5, "log follow throughput"),
        (6, "code_run"),
        (7, "PTY keystroke echo"),
        (8, "scale: idle sessions and PTYs"),
        (9, "file transfers and listing"),
        (10, "scale: whole-log GET memory"),
    ];
    for (group, name) in groups {
        if !opts.only.is_empty() && !opts.only.contains(&group) {
            continue;
        }
        if let Some(why) = &opts.processd_missing {
            rows.push(Row::not_measured(group, name, why));
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
            Err(e) => rows.push(Row::not_measured(group, name, e.to_string())),
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
    let daemon = Processd::start(&opts.processd, opts.python.as_deref(), max_log)?;
    let client = Client::connect(daemon.url.clone())?;
    match group {
        2 => {
            let mut rows = exec_rtt(&client, sizes).await?;
            rows.extend(exec_on_tmpfs(opts, max_log, sizes).await);
            Ok(rows)
        }
        3 => exec_throughput(&daemon.url, sizes).await,
        4 => session_rtt(&client, sizes).await,
        5 => {
            let mut rows = log_follow(&client, sizes).await?;
            rows.extend(follow_on_tmpfs(opts, max_log, sizes).await);
            Ok(rows)
        }
        6 => code_run(&client, opts.python.as_deref(), sizes).await,
        7 => pty_echo(&client, sizes).await,
        10 => {
            drop(client);
            drop(daemon);
            log_get_memory(opts, sizes.log_get_bytes).await
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
            scale(opts, max_log, sizes).await
        }
    }
}

fn summary(samples: &[Duration]) -> Result<Summary, BoxError> {
    Summary::of_micros(samples).ok_or_else(|| "no samples".into())
}

/// Figure 2: sequential `exec("true")` through our client vs spawn + bare HTTP round trip,
/// interleaved in rounds so that drift hits both alike.
async fn exec_rtt(client: &Client, sizes: Sizes) -> Result<Vec<Row>, BoxError> {
    let bare = BareServer::start()?;
    for _ in 0..5 {
        exec_true(client).await?;
    }
    let shell = process_daemon::proc::select_shell();
    let (mut ours, mut spawn, mut http) = (Vec::new(), Vec::new(), Vec::new());
    let mut spawn_shell = Vec::new();
    for _ in 0..sizes.exec_rounds {
        spawn.extend(floors::spawn_sequential(Path::new(SH), sizes.exec_per_round).await?);
        spawn_shell.extend(floors::spawn_sequential(&shell, sizes.exec_per_round).await?);
        http.extend(floors::http_rtt(bare.addr, sizes.exec_per_round * 4).await?);
        for _ in 0..sizes.exec_per_round {
            ours.push(exec_true(client).await?);
        }
    }
    let (ours, spawn, http) = (summary(&ours)?, summary(&spawn)?, summary(&http)?);
    let spawn_shell = summary(&spawn_shell)?;
    let floor50 = spawn.p50 + http.p50;
    let floor99 = spawn.p99 + http.p99;
    let shell_name = shell.display();
    Ok(vec![
        Row::ratio(
            2,
            format!("`exec(\"true\")` round trip p50 (n = {})", ours.n),
            micros(ours.p50),
            format!(
                "spawn `sh -c true` (tokio) {} + bare hyper RTT {} = {}",
                micros(spawn.p50),
                micros(http.p50),
                micros(floor50)
            ),
            ours.p50 / floor50,
            Some((Better::Lower, 1.25)),
        ),
        Row::ratio(
            2,
            format!("`exec(\"true\")` round trip p99 (n = {})", ours.n),
            micros(ours.p99),
            format!(
                "spawn p99 {} + bare hyper RTT p99 {} = {}",
                micros(spawn.p99),
                micros(http.p99),
                micros(floor99)
            ),
            ours.p99 / floor99,
            None,
        ),
        Row::ratio(
            2,
            format!("`exec(\"true\")` p50 vs the daemon's own shell (`{shell_name} -c true`), for scale"),
            micros(ours.p50),
            format!(
                "spawn `{shell_name} -c true` (tokio) {} (p99 {}) + bare hyper RTT {}",
                micros(spawn_shell.p50),
                micros(spawn_shell.p99),
                micros(http.p50)
            ),
            ours.p50 / (spawn_shell.p50 + http.p50),
            None,
        ),
    ])
}

/// Figure 2, diagnosis: the same `exec("true")` against a daemon whose state directory is on
/// tmpfs (`/dev/shm`), beside a default one, alternated: tells the filesystem's share.
async fn exec_on_tmpfs(opts: &Opts, max_log: u64, sizes: Sizes) -> Vec<Row> {
    let shm = Path::new("/dev/shm");
    if !shm.is_dir() {
        return vec![Row::not_measured(
            2,
            "`exec(\"true\")` with the state dir on tmpfs",
            "no /dev/shm",
        )];
    }
    let run = async {
        let disk = Processd::start(&opts.processd, opts.python.as_deref(), max_log)?;
        let mem = Processd::start_in(&opts.processd, opts.python.as_deref(), max_log, shm)?;
        let (cd, cm) = (
            Client::connect(disk.url.clone())?,
            Client::connect(mem.url.clone())?,
        );
        for _ in 0..5 {
            exec_true(&cd).await?;
            exec_true(&cm).await?;
        }
        let (mut on_disk, mut on_mem) = (Vec::new(), Vec::new());
        for _ in 0..sizes.exec_rounds * sizes.exec_per_round / 2 {
            on_disk.push(exec_true(&cd).await?);
            on_mem.push(exec_true(&cm).await?);
        }
        let (d, m) = (summary(&on_disk)?, summary(&on_mem)?);
        let mut row = Row::ratio(
            2,
            format!("diagnosis: `exec(\"true\")` p50 with the daemon's state dir on tmpfs (`/dev/shm`), n = {}", m.n),
            micros(m.p50),
            format!(
                "same daemon with its state dir on {} (the default place), alternated: {}",
                std::env::temp_dir().display(),
                micros(d.p50)
            ),
            m.p50 / d.p50,
            None,
        );
        row.target = "(tmpfs ÷ disk)".into();
        Ok::<_, BoxError>(vec![row])
    };
    match run.await {
        Ok(rows) => rows,
        Err(e) => vec![Row::not_measured(
            2,
            "`exec(\"true\")` with the state dir on tmpfs",
            e.to_string(),
        )],
    }
}

/// The shell of the floors.
const SH: &str = "/bin/sh";

async fn exec_true(client: &Client) -> Result<Duration, BoxError> {
    let t = Instant::now();
    let resp = client.exec("true").await?;
    let took = t.elapsed();
    if resp.exit_code != 0 {
        return Err(format!("exec(\"true\") exited with {}", resp.exit_code).into());
    }
    Ok(took)
}

/// Figure 3: 8 clients calling `exec("true")` at once vs 8 raw spawns in flight.
async fn exec_throughput(url: &str, sizes: Sizes) -> Result<Vec<Row>, BoxError> {
    const CONC: usize = 8;
    let per = sizes.conc_total / CONC;
    let mut clients = Vec::new();
    for _ in 0..CONC {
        let c = Client::connect(url.to_owned())?;
        exec_true(&c).await?;
        clients.push(c);
    }
    let sh = Path::new(SH);
    let raw_a = floors::spawn_rate(sh, sizes.conc_total / 2, CONC).await?;
    let t = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in clients {
        tasks.spawn(async move {
            for _ in 0..per {
                exec_true(&c).await?;
            }
            Ok::<_, BoxError>(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let ours = (per * CONC) as f64 / t.elapsed().as_secs_f64();
    let raw_b = floors::spawn_rate(sh, sizes.conc_total / 2, CONC).await?;
    let raw = f64::midpoint(raw_a, raw_b);
    let shell = process_daemon::proc::select_shell();
    let raw_shell = floors::spawn_rate(&shell, sizes.conc_total / 2, CONC).await?;
    Ok(vec![
        Row::ratio(
        3,
        format!("`exec(\"true\")`, 8 clients × {per} calls"),
        format!("{ours:.0} calls/s"),
        format!(
            "8 concurrent `sh -c true` spawns (tokio): {raw:.0} /s (before {raw_a:.0}, after {raw_b:.0})"
        ),
        ours / raw,
        Some((Better::Higher, 0.8)),
    ),
        Row::ratio(
            3,
            format!("same, vs the daemon's own shell (`{} -c true`), for scale", shell.display()),
            format!("{ours:.0} calls/s"),
            format!("8 concurrent `{} -c true` spawns (tokio): {raw_shell:.0} /s", shell.display()),
            ours / raw_shell,
            None,
        ),
    ])
}

/// Figure 4: `echo hi` in an existing session, sequential.
async fn session_rtt(client: &Client, sizes: Sizes) -> Result<Vec<Row>, BoxError> {
    let bare = BareServer::start()?;
    let sid = "bench-session-rtt";
    client.create_session(sid).await?;
    let run = async {
        let mut samples = Vec::with_capacity(sizes.session_n);
        for i in 0..sizes.session_n + 5 {
            let t = Instant::now();
            let r = client.execute_session_command(sid, "echo hi").await?;
            let took = t.elapsed();
            if r.stdout != "hi\n" || r.exit_code != Some(0) {
                return Err(format!(
                    "session `echo hi` gave stdout {:?}, exit code {:?}",
                    r.stdout, r.exit_code
                )
                .into());
            }
            if i >= 5 {
                samples.push(took);
            }
        }
        Ok::<_, BoxError>(samples)
    };
    let samples = run.await;
    let _ = client.delete_session(sid).await;
    let ours = summary(&samples?)?;
    let http = summary(&floors::http_rtt(bare.addr, 2000).await?)?;
    let target_us = 2000.0;
    Ok(vec![
        Row::ratio(
            4,
            format!("session `echo hi` round trip p50 (n = {})", ours.n),
            micros(ours.p50),
            format!("bare hyper RTT p50 {}", micros(http.p50)),
            ours.p50 / http.p50,
            None,
        )
        .with_target("p50 ≤ 2 ms", ours.p50 <= target_us),
        Row::ratio(
            4,
            format!("session `echo hi` round trip p99 (n = {})", ours.n),
            micros(ours.p99),
            format!("bare hyper RTT p99 {}", micros(http.p99)),
            ours.p99 / http.p99,
            None,
        ),
    ])
}

/// Figure 5: an async session command writing `follow_bytes`, followed over the WebSocket, vs
/// the same command's stdout read through a plain pipe; alternated, medians of the reps.
async fn log_follow(client: &Client, sizes: Sizes) -> Result<Vec<Row>, BoxError> {
    let bytes = sizes.follow_bytes;
    let (mut ours, mut pipe) = (Vec::new(), Vec::new());
    for rep in 0..sizes.follow_reps {
        pipe.push(pipe_rate(bytes).await?);
        ours.push(follow_once(client, &format!("bench-follow-{rep}"), bytes).await?);
    }
    let ours_s = Summary::of(&mut ours).ok_or("no samples")?;
    let pipe_s = Summary::of(&mut pipe).ok_or("no samples")?;
    Ok(vec![Row::ratio(
        5,
        format!(
            "follow {} MiB written by an async session command (WebSocket, client demux), median of {}",
            bytes >> 20,
            ours_s.n
        ),
        rate(ours_s.p50),
        format!("same command's stdout through a plain pipe (tokio) {}", rate(pipe_s.p50)),
        ours_s.p50 / pipe_s.p50,
        Some((Better::Higher, 0.6)),
    )])
}

/// Figure 5, diagnosis: one follow against a daemon whose state dir (where the log file lives)
/// is on tmpfs, beside the pipe floor.
async fn follow_on_tmpfs(opts: &Opts, max_log: u64, sizes: Sizes) -> Vec<Row> {
    let figure = "diagnosis: the same follow with the daemon's state dir (the log file) on tmpfs";
    let shm = Path::new("/dev/shm");
    if !shm.is_dir() {
        return vec![Row::not_measured(5, figure, "no /dev/shm")];
    }
    let run = async {
        let mem = Processd::start_in(&opts.processd, opts.python.as_deref(), max_log, shm)?;
        let client = Client::connect(mem.url.clone())?;
        let pipe = pipe_rate(sizes.follow_bytes).await?;
        let ours = follow_once(&client, "bench-follow-tmpfs", sizes.follow_bytes).await?;
        let mut row = Row::ratio(
            5,
            figure,
            rate(ours),
            format!("plain pipe {}", rate(pipe)),
            ours / pipe,
            None,
        );
        row.target = "(one run)".into();
        Ok::<_, BoxError>(vec![row])
    };
    match run.await {
        Ok(rows) => rows,
        Err(e) => vec![Row::not_measured(5, figure, e.to_string())],
    }
}

/// The producer's stdout read through a plain pipe, bytes per second.
async fn pipe_rate(bytes: u64) -> Result<f64, BoxError> {
    let (n, secs) = floors::pipe_throughput(bytes).await?;
    if n != bytes {
        return Err(format!("the pipe floor read {n} bytes, expected {bytes}").into());
    }
    Ok(n as f64 / secs)
}

/// Runs the producer as an async command of a new session `sid` and follows its log to the
/// end over the WebSocket; bytes per second from the request to the end of the stream.
async fn follow_once(client: &Client, sid: &str, bytes: u64) -> Result<f64, BoxError> {
    let script = floors::producer_script(bytes);
    client.create_session(sid).await?;
    let t = Instant::now();
    let follow = async {
        let started = client
            .execute_session_command(sid, CommandRequest::new(&script).run_async(true))
            .await?;
        let mut logs = client
            .stream_session_command_logs(sid, &started.cmd_id)
            .await?;
        let (mut out, mut err) = (0u64, 0u64);
        while let Some(chunk) = logs.next().await {
            let chunk = chunk?;
            match chunk.stream {
                process::OutputStream::Stdout => out += chunk.data.len() as u64,
                process::OutputStream::Stderr => err += chunk.data.len() as u64,
            }
        }
        Ok::<_, BoxError>((out, err))
    };
    let result = follow.await;
    let secs = t.elapsed().as_secs_f64();
    let _ = client.delete_session(sid).await;
    let (out, err) = result?;
    if out != bytes || err != 0 {
        return Err(
            format!("followed {out} stdout + {err} stderr bytes, expected {bytes} + 0").into(),
        );
    }
    Ok(bytes as f64 / secs)
}

/// Figure 6: `code_run` of `print(1)` and of the seeds' line chart vs `python -c`.
async fn code_run(
    client: &Client,
    python: Option<&Path>,
    sizes: Sizes,
) -> Result<Vec<Row>, BoxError> {
    let python = python.ok_or("no Python interpreter (compat venv) for the floor")?;
    let mut rows = Vec::new();
    // print(1)
    let (mut ours, mut floor) = (Vec::new(), Vec::new());
    client.code_run("print(1)").await?;
    for _ in 0..sizes.code_n {
        floor.push(floors::python_c(python, "print(1)").await?);
        let t = Instant::now();
        let r = client.code_run("print(1)").await?;
        ours.push(t.elapsed());
        if r.exit_code != 0 || r.result.trim() != "1" {
            return Err(format!("code_run(print(1)) gave {:?} ({})", r.result, r.exit_code).into());
        }
    }
    let (o, f) = (summary(&ours)?, summary(&floor)?);
    rows.push(Row::ratio(
        6,
        format!("`code_run(\"print(1)\")` p50 (n = {})", o.n),
        micros(o.p50),
        format!("`python -c 'print(1)'` (venv) {}", micros(f.p50)),
        o.p50 / f.p50,
        None,
    ));
    // The chart.
    let with_png = format!("{CHART_CODE}import io\nplt.savefig(io.BytesIO(), format='png')\n");
    let (mut ours, mut floor, mut floor_png) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..sizes.chart_n {
        floor.push(floors::python_c(python, CHART_CODE).await?);
        floor_png.push(floors::python_c(python, &with_png).await?);
        let t = Instant::now();
        let r = client.code_run(CHART_CODE).await?;
        ours.push(t.elapsed());
        if r.exit_code != 0 || r.artifacts.charts.is_empty() {
            return Err(format!(
                "code_run(line chart) exited {} with {} charts",
                r.exit_code,
                r.artifacts.charts.len()
            )
            .into());
        }
    }
    let (o, f, fp) = (summary(&ours)?, summary(&floor)?, summary(&floor_png)?);
    let mut row = Row::ratio(
        6,
        format!("`code_run` of the seeds' matplotlib line chart p50 (n = {})", o.n),
        micros(o.p50),
        format!(
            "`python -c` of the same code (Agg; `plt.show()` renders nothing) {}; with a PNG render added {}",
            micros(f.p50),
            micros(fp.p50)
        ),
        o.p50 / f.p50,
        None,
    );
    row.target = format!("({} of the PNG-render floor)", format_ratio(o.p50 / fp.p50));
    rows.push(row);
    Ok(rows)
}

/// Figure 7: a keystroke sent to a PTY until its echo comes back, through the WebSocket.
async fn pty_echo(client: &Client, sizes: Sizes) -> Result<Vec<Row>, BoxError> {
    let bare = BareServer::start()?;
    // An empty HOME, as in figure 8: no login profile of this machine's user.
    let home = tempfile::tempdir()?;
    let mut pty = client
        .create_pty_session("bench-pty")
        .env("HOME", home.path().to_string_lossy())
        .await?;
    let run = async {
        drain_quiet(&mut pty, Duration::from_millis(300), Duration::from_secs(5)).await?;
        let mut samples = Vec::with_capacity(sizes.pty_keys);
        for i in 0..sizes.pty_keys {
            if i > 0 && i % 50 == 0 {
                // Clear the line (Ctrl-U) so the prompt line stays short.
                pty.send_input(b"\x15").await?;
                drain_quiet(&mut pty, Duration::from_millis(50), Duration::from_secs(2)).await?;
            }
            let t = Instant::now();
            pty.send_input(b"x").await?;
            loop {
                let data = tokio::time::timeout(Duration::from_secs(5), pty.recv())
                    .await
                    .map_err(|_| "no echo within 5 s")?
                    .ok_or("the PTY ended")??;
                if data.contains(&b'x') {
                    break;
                }
            }
            samples.push(t.elapsed());
        }
        Ok::<_, BoxError>(samples)
    };
    let samples = run.await;
    let _ = pty.kill().await;
    let ours = summary(&samples?)?;
    let kernel = tokio::task::spawn_blocking(|| floors::pty_kernel_echo(2000)).await??;
    let kernel = summary(&kernel)?;
    let http = summary(&floors::http_rtt(bare.addr, 2000).await?)?;
    let floor50 = kernel.p50 + http.p50;
    let floor99 = kernel.p99 + http.p99;
    Ok(vec![
        Row::ratio(
            7,
            format!(
                "keystroke → echo through the PTY WebSocket (bash + readline), p50 (n = {})",
                ours.n
            ),
            micros(ours.p50),
            format!(
                "kernel PTY echo (no shell) {} + bare hyper RTT {} = {}",
                micros(kernel.p50),
                micros(http.p50),
                micros(floor50)
            ),
            ours.p50 / floor50,
            None,
        ),
        Row::ratio(
            7,
            format!("keystroke → echo, p99 (n = {})", ours.n),
            micros(ours.p99),
            format!(
                "kernel PTY echo p99 {} + bare hyper RTT p99 {} = {}",
                micros(kernel.p99),
                micros(http.p99),
                micros(floor99)
            ),
            ours.p99 / floor99,
            None,
        ),
    ])
}

/// Reads PTY output until none arrives for `quiet`, at most `limit` in all.
async fn drain_quiet(
    pty: &mut process::PtyHandle,
    quiet: Duration,
    limit: Duration,
) -> Result<(), BoxError> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        match tokio::time::timeout(quiet, pty.recv()).await {
            Err(_) => return Ok(()),
            Ok(None) => return Err("the PTY ended".into()),
            Ok(Some(r)) => {
                r?;
            }
        }
    }
    Ok(())
}

/// Figure 8: a fresh daemon's idle RSS, then with idle sessions; a second fresh daemon with
/// PTYs open. The daemon is a separate process, so `/proc/<pid>` figures are its own.
async fn scale(opts: &Opts, max_log: u64, sizes: Sizes) -> Result<Vec<Row>, BoxError> {
    let mut rows = Vec::new();
    let daemon = Processd::start(&opts.processd, opts.python.as_deref(), max_log)?;
    let client = Client::connect(daemon.url.clone())?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (idle_rss, idle_fds) = usage(&daemon)?;
    rows.push(Row::plain(
        8,
        "daemon idle (fresh `processd`, nothing open): RSS, fds",
        format!("{:.1} MiB, {idle_fds} fds", idle_rss as f64 / 1024.0),
        "–",
    ));

    let n = sizes.idle_sessions;
    let t = Instant::now();
    for i in 0..n {
        client.create_session(&format!("idle-{i}")).await?;
    }
    let create_secs = t.elapsed().as_secs_f64();
    eprintln!("bench: {n} sessions created in {create_secs:.1} s");
    tokio::time::sleep(Duration::from_millis(300)).await;
    rows.push(usage_row(
        &daemon,
        (idle_rss, idle_fds),
        n,
        "session",
        format!("{n} idle sessions just created (in {create_secs:.1} s): daemon RSS, fds"),
        "sessions'",
    )?);

    // Sessions may start their shell lazily: run one command in each, then measure again.
    let t = Instant::now();
    for i in 0..n {
        let r = client
            .execute_session_command(&format!("idle-{i}"), "true")
            .await?;
        if r.exit_code != Some(0) {
            return Err(format!("`true` in session idle-{i} exited {:?}", r.exit_code).into());
        }
    }
    let warm_secs = t.elapsed().as_secs_f64();
    eprintln!("bench: one command in each of {n} sessions in {warm_secs:.1} s");
    tokio::time::sleep(Duration::from_millis(300)).await;
    rows.push(usage_row(
        &daemon,
        (idle_rss, idle_fds),
        n,
        "session",
        format!("{n} idle sessions, each after one command (`true`, {warm_secs:.1} s in all): daemon RSS, fds"),
        "sessions'",
    )?);
    let t = Instant::now();
    let ids: Vec<String> = (0..n).map(|i| format!("idle-{i}")).collect();
    for group in ids.chunks(20) {
        futures_util::future::join_all(group.iter().map(|id| client.delete_session(id))).await;
    }
    eprintln!(
        "bench: {n} sessions deleted in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    drop(client);
    drop(daemon);

    let daemon = Processd::start(&opts.processd, opts.python.as_deref(), max_log)?;
    let client = Client::connect(daemon.url.clone())?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let base = usage(&daemon)?;
    let m = sizes.ptys;
    // An empty HOME: this machine's ~/.bashrc runs `pyenv init` (~0.4 s of CPU per login
    // shell), which would measure the environment, not the daemon.
    let home = tempfile::tempdir()?;
    let mut handles = Vec::with_capacity(m);
    let t = Instant::now();
    let opened = async {
        for i in 0..m {
            handles.push(
                client
                    .create_pty_session(&format!("pty-{i}"))
                    .env("HOME", home.path().to_string_lossy())
                    .await?,
            );
        }
        Ok::<_, BoxError>(())
    }
    .await;
    let create_secs = t.elapsed().as_secs_f64();
    eprintln!("bench: {m} PTYs opened in {create_secs:.1} s");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let row = usage_row(
        &daemon,
        base,
        m,
        "PTY",
        format!("{m} PTYs open, each with a connected WebSocket (opened in {create_secs:.1} s; fresh daemon; shells with an empty HOME): daemon RSS, fds"),
        "PTYs'",
    );
    let t = Instant::now();
    for h in &handles {
        let _ = h.kill().await;
    }
    eprintln!(
        "bench: {m} PTYs killed in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    opened?;
    rows.push(row?);
    Ok(rows)
}

/// Figure 8 (issue 13 item 1): the daemon's peak memory (VmHWM over its RSS before) during
/// whole-log GETs (modern JSON answer) of one command's `bytes`-long log: one GET, then four
/// at once. A fresh daemon; the client reads and discards the bodies.
async fn log_get_memory(opts: &Opts, bytes: u64) -> Result<Vec<Row>, BoxError> {
    let daemon = Processd::start(&opts.processd, opts.python.as_deref(), bytes.max(256 << 20))?;
    let client = Client::connect(daemon.url.clone())?;
    client.create_session("biglog").await?;
    // Three quarters stdout (quotes and backslashes to escape), then stderr: 2 markers.
    let out = bytes * 3 / 4 - 3;
    let err = bytes - out - 6;
    let script = format!(
        "yes 'a log line with \"quotes\" and \\ backslashes' | head -c {out}; yes err | head -c {err} >&2"
    );
    let started = client
        .execute_session_command("biglog", CommandRequest::new(&script).run_async(true))
        .await?;
    let t = Instant::now();
    loop {
        let cmd = client
            .get_session_command("biglog", &started.cmd_id)
            .await?;
        if let Some(code) = cmd.exit_code {
            if code != 0 {
                return Err(format!("the log producer exited {code}").into());
            }
            break;
        }
        if t.elapsed() > Duration::from_mins(2) {
            return Err("the log producer did not finish within 2 min".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let addr = daemon.url.trim_start_matches("http://").to_owned();
    let path = format!("/process/session/biglog/command/{}/logs", started.cmd_id);
    let mib = bytes >> 20;
    let mut rows = Vec::new();
    for (n, what) in [
        (
            1,
            format!("one whole-log GET (JSON) of a {mib} MiB session command log"),
        ),
        (
            4,
            format!("four concurrent whole-log GETs (JSON) of a {mib} MiB log"),
        ),
    ] {
        let before = daemon.rss_kib().ok_or("cannot read the daemon's RSS")?;
        daemon.reset_peak()?;
        let t = Instant::now();
        let got = futures_util::future::join_all((0..n).map(|_| raw_get(&addr, &path))).await;
        let secs = t.elapsed().as_secs_f64();
        for body in got {
            let body = body?;
            if body < bytes {
                return Err(
                    format!("a log GET returned {body} bytes for a {bytes}-byte log").into(),
                );
            }
        }
        let peak = daemon.peak_kib().ok_or("cannot read the daemon's VmHWM")?;
        let grown = peak.saturating_sub(before) as f64 / 1024.0;
        let mut row = Row::plain(
            8,
            format!("daemon peak memory (VmHWM) during {what} ({secs:.1} s)"),
            format!(
                "{:.1} MiB (+{grown:.1} MiB over its RSS before)",
                peak as f64 / 1024.0
            ),
            "before streaming (issue 13): +1.25 GiB for one GET of 256 MiB",
        );
        row.target = "growth ≤ 32 MiB".into();
        row.verdict = if grown <= 32.0 { "met" } else { "missed" }.into();
        rows.push(row);
    }
    let _ = client.delete_session("biglog").await;
    Ok(rows)
}

/// `GET path` on a fresh connection; the response's length in bytes (head included), read and
/// discarded. Fails unless the status is 200.
async fn raw_get(addr: &str, path: &str) -> Result<u64, BoxError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    let mut head = Vec::new();
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        if head.len() < 12 {
            head.extend_from_slice(&buf[..n.min(12)]);
        }
        total += n as u64;
    }
    if !head.starts_with(b"HTTP/1.1 200") {
        return Err(format!("log GET answered {:?}", String::from_utf8_lossy(&head)).into());
    }
    Ok(total)
}

/// The daemon's (RSS KiB, open fds).
fn usage(daemon: &Processd) -> Result<(u64, usize), BoxError> {
    match (daemon.rss_kib(), daemon.fd_count()) {
        (Some(rss), Some(fds)) => Ok((rss, fds)),
        _ => Err("cannot read the daemon's RSS and fds from /proc".into()),
    }
}

/// A row of the daemon's RSS and fds now, per `what` relative to `base`, with its children's
/// RSS for scale.
fn usage_row(
    daemon: &Processd,
    base: (u64, usize),
    n: usize,
    what: &str,
    figure: String,
    whose: &str,
) -> Result<Row, BoxError> {
    let (rss, fds) = usage(daemon)?;
    let children = daemon::descendants(daemon.pid());
    let children_rss = daemon::rss_sum_kib(&children);
    Ok(Row::plain(
        8,
        figure,
        format!(
            "{:.1} MiB (+{:.1} KiB/{what}), {fds} fds (+{:.1}/{what})",
            rss as f64 / 1024.0,
            rss.saturating_sub(base.0) as f64 / n as f64,
            fds.saturating_sub(base.1) as f64 / n as f64
        ),
        format!(
            "for scale, the {whose} {} processes themselves: {:.0} MiB RSS (summed; shared pages counted in each)",
            children.len(),
            children_rss as f64 / 1024.0
        ),
    ))
}
