//! Figures 2 and 3: `exec("true")` round trip and throughput, beside spawn and HTTP floors.

use std::path::Path;
use std::time::{Duration, Instant};

use process::Client;

use crate::daemon::Processd;
use crate::floors::{self, BareServer, BoxError};
use crate::row::{micros, Better, Row};

use super::{summary, Opts, Sizes};

/// The pause between two warm calls of the spaced series: long enough for the pool to have
/// refilled (a shell starts in ~1–2 ms here), as calls from an agent or a user are.
const WARM_SPACING: Duration = Duration::from_millis(5);

/// Figure 2: sequential `exec("true")` through our client, cold (a daemon with
/// `--warm-shells 0`) and warm (a daemon with `--warm-shells 2`, calls spaced so its pool has refilled, and
/// back to back), vs spawning the daemon's own shell + a bare HTTP round trip, interleaved in
/// rounds so that drift hits all alike; plus the memory of one warm shell.
pub(super) async fn exec_rtt(
    opts: &Opts,
    max_log: u64,
    warm: &Processd,
    client: &Client,
    sizes: Sizes,
) -> Result<Vec<Row>, BoxError> {
    let bare = BareServer::start()?;
    let cold_daemon = Processd::start_with_args(
        &opts.processd,
        opts.python.as_deref(),
        max_log,
        &std::env::temp_dir(),
        &["--warm-shells", "0"],
    )?;
    let cold_client = Client::connect(cold_daemon.url.clone())?;
    for _ in 0..5 {
        exec_true(client).await?;
        exec_true(&cold_client).await?;
    }
    let shell = process_daemon::proc::select_shell();
    let (mut cold, mut spaced, mut b2b) = (Vec::new(), Vec::new(), Vec::new());
    let (mut spawn_shell, mut spawn_sh, mut http) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..sizes.exec_rounds {
        spawn_shell.extend(floors::spawn_sequential(&shell, sizes.exec_per_round).await?);
        spawn_sh.extend(floors::spawn_sequential(Path::new(SH), sizes.exec_per_round).await?);
        http.extend(floors::http_rtt(bare.addr, sizes.exec_per_round * 4).await?);
        for _ in 0..sizes.exec_per_round {
            cold.push(exec_true(&cold_client).await?);
        }
        for _ in 0..sizes.exec_per_round {
            tokio::time::sleep(WARM_SPACING).await;
            spaced.push(exec_true(client).await?);
        }
        tokio::time::sleep(WARM_SPACING).await;
        for _ in 0..sizes.exec_per_round {
            b2b.push(exec_true(client).await?);
        }
    }
    let (cold, spaced, b2b) = (summary(&cold)?, summary(&spaced)?, summary(&b2b)?);
    let (spawn_shell, spawn_sh, http) =
        (summary(&spawn_shell)?, summary(&spawn_sh)?, summary(&http)?);
    let floor50 = spawn_shell.p50 + http.p50;
    let floor99 = spawn_shell.p99 + http.p99;
    let shell_name = shell.display();
    let floor_text = format!(
        "spawn `{shell_name} -c true` (tokio) {} + bare hyper RTT {} = {}",
        micros(spawn_shell.p50),
        micros(http.p50),
        micros(floor50)
    );
    let mut rows = vec![
        Row::ratio(
            2,
            format!("`exec(\"true\")` cold (`--warm-shells 0`) round trip p50 (n = {})", cold.n),
            micros(cold.p50),
            floor_text.clone(),
            cold.p50 / floor50,
            Some((Better::Lower, 1.1)),
        ),
        Row::ratio(
            2,
            format!("`exec(\"true\")` cold round trip p99 (n = {})", cold.n),
            micros(cold.p99),
            format!(
                "spawn p99 {} + bare hyper RTT p99 {} = {}",
                micros(spawn_shell.p99),
                micros(http.p99),
                micros(floor99)
            ),
            cold.p99 / floor99,
            None,
        ),
        Row::ratio(
            2,
            format!(
                "`exec(\"true\")` warm (`--warm-shells 2`; calls {} ms apart) round trip p50 (n = {})",
                WARM_SPACING.as_millis(),
                spaced.n
            ),
            micros(spaced.p50),
            floor_text.clone(),
            spaced.p50 / floor50,
            Some((Better::Lower, 0.3)),
        ),
        Row::ratio(
            2,
            format!("`exec(\"true\")` warm round trip p99 (n = {})", spaced.n),
            micros(spaced.p99),
            format!("the cold floor's p99 {}", micros(floor99)),
            spaced.p99 / floor99,
            None,
        ),
        Row::ratio(
            2,
            format!(
                "`exec(\"true\")` warm pool, calls back to back (the pool refills while they run) p50 (n = {})",
                b2b.n
            ),
            micros(b2b.p50),
            floor_text,
            b2b.p50 / floor50,
            None,
        ),
        Row::ratio(
            2,
            "`exec(\"true\")` cold p50 vs `sh -c true`, for scale".to_owned(),
            micros(cold.p50),
            format!(
                "spawn `sh -c true` (tokio) {} + bare hyper RTT {}",
                micros(spawn_sh.p50),
                micros(http.p50)
            ),
            cold.p50 / (spawn_sh.p50 + http.p50),
            None,
        ),
    ];
    rows.push(warm_shell_memory(warm).await);
    Ok(rows)
}

/// The memory of the warm daemon's waiting warm shells (children whose command line is the
/// pool's boot script), per shell.
async fn warm_shell_memory(daemon: &Processd) -> Row {
    const FIGURE: &str =
        "memory per warm shell (RSS of a waiting `bash`, shared pages counted in each)";
    tokio::time::sleep(Duration::from_millis(200)).await;
    let waiting: Vec<u32> = crate::daemon::descendants(daemon.pid())
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("read -r -N 8"))
        })
        .collect();
    if waiting.is_empty() {
        return Row::not_measured(2, FIGURE, "no warm shell was waiting");
    }
    let total = crate::daemon::rss_sum_kib(&waiting);
    let daemon_rss = daemon.rss_kib().unwrap_or_default();
    Row::plain(
        2,
        FIGURE,
        format!("{:.1} MiB", total as f64 / 1024.0 / waiting.len() as f64),
        format!(
            "{} shells waiting; the daemon itself with its pool filled: {:.1} MiB RSS",
            waiting.len(),
            daemon_rss as f64 / 1024.0
        ),
    )
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
    let shell = process_daemon::proc::select_shell();
    let raw_a = floors::spawn_rate(&shell, sizes.conc_total / 2, CONC).await?;
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
    let raw_b = floors::spawn_rate(&shell, sizes.conc_total / 2, CONC).await?;
    let raw = f64::midpoint(raw_a, raw_b);
    let raw_sh = floors::spawn_rate(Path::new(SH), sizes.conc_total / 2, CONC).await?;
    Ok(vec![
        Row::ratio(
            3,
            format!("`exec(\"true\")`, 8 clients × {per} calls (`--warm-shells 2`)"),
            format!("{ours:.0} calls/s"),
            format!(
                "8 concurrent `{} -c true` spawns (tokio): {raw:.0} /s (before {raw_a:.0}, after {raw_b:.0})",
                shell.display()
            ),
            ours / raw,
            Some((Better::Higher, 0.9)),
        ),
        Row::ratio(
            3,
            "same, vs `sh -c true`, for scale".to_owned(),
            format!("{ours:.0} calls/s"),
            format!("8 concurrent `sh -c true` spawns (tokio): {raw_sh:.0} /s"),
            ours / raw_sh,
            None,
        ),
    ])
}
