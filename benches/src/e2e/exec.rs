//! Figures 2 and 3: `exec("true")` round trip and throughput, beside spawn and HTTP floors.

use std::path::Path;
use std::time::{Duration, Instant};

use process::Client;

use crate::daemon::Processd;
use crate::floors::{self, BareServer, BoxError};
use crate::row::{micros, Better, Row};

use super::{summary, Opts, Sizes};

/// Figure 2: sequential `exec("true")` through our client vs spawn + bare HTTP round trip,
/// interleaved in rounds so that drift hits both alike.
pub(super) async fn exec_rtt(client: &Client, sizes: Sizes) -> Result<Vec<Row>, BoxError> {
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
pub(super) async fn exec_on_tmpfs(opts: &Opts, max_log: u64, sizes: Sizes) -> Vec<Row> {
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

pub(super) async fn exec_true(client: &Client) -> Result<Duration, BoxError> {
    let t = Instant::now();
    let resp = client.exec("true").await?;
    let took = t.elapsed();
    if resp.exit_code != 0 {
        return Err(format!("exec(\"true\") exited with {}", resp.exit_code).into());
    }
    Ok(took)
}

/// Figure 3: 8 clients calling `exec("true")` at once vs 8 raw spawns in flight.
pub(super) async fn exec_throughput(url: &str, sizes: Sizes) -> Result<Vec<Row>, BoxError> {
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
