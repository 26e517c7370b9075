//! Figure 10: sandboxes through `sandboxd` on real runc containers (issue 11's benchmarks).
//!
//! - create → first `exec("true")` result through our Rust client (`process::Sandboxes`), beside
//!   the floor: `runc run` of `/bin/true` in a ready bundle (a copy of a live sandbox's own
//!   `config.json`, same namespaces, user mapping, seccomp and limits, on its mounted root);
//! - the same through the official Python SDK (`benches/python/sdk_sandbox.py`);
//! - a warm pool (`sandboxd --warm N`): `create()` alone and create → first exec;
//! - delete of one sandbox;
//! - many sandboxes alive at once: memory per idle sandbox (its `processd` and its
//!   `slirp4netns`) and the time to delete them all.
//!
//! Each `sandboxd` runs as a separate process on 127.0.0.1 with a scratch state dir under
//! `/tmp`, is stopped with SIGTERM (which deletes its warm pool) after every sandbox it made is
//! deleted through the API, and its state dir is removed.

mod measure;
mod server;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use process::{CreateSandboxParams, Sandbox, Sandboxes};

use crate::floors::BoxError;
use crate::row::{micros, Better, Row};
use crate::stats::Summary;
#[allow(clippy::wildcard_imports)]
use measure::*;
use server::{pool_ready, Server};

/// The section of `BENCHMARKS.md` these rows go to.
pub const GROUP: u32 = 10;

/// The API key of the benchmark's `sandboxd`.
const KEY: &str = "bench-key";

/// What the sandbox figures need.
#[derive(Debug, Clone)]
pub struct Opts {
    /// The `sandboxd` binary.
    pub sandboxd: PathBuf,
    /// The image dir holding the default image (`target/sandbox-images`).
    pub image_dir: PathBuf,
    /// The compat venv's Python (with the official SDK), for the SDK figure.
    pub python: Option<PathBuf>,
    /// Short run: smaller counts.
    pub quick: bool,
    /// `sandboxd` is a debug build (the quick CI run): every figure says so.
    pub debug_sandboxd: bool,
    /// Why the figures cannot run, if they cannot.
    pub missing: Option<String>,
}

/// Counts of one run.
struct Sizes {
    /// create → exec samples (Rust client).
    create_exec: usize,
    /// `runc run` floor samples.
    floor: usize,
    /// create → exec samples (Python SDK).
    python: usize,
    /// Warm pool size and samples.
    warm: usize,
    warm_samples: usize,
    /// Sandboxes alive at once.
    alive: usize,
}

impl Sizes {
    fn new(quick: bool) -> Sizes {
        if quick {
            Sizes {
                create_exec: 5,
                floor: 10,
                python: 3,
                warm: 2,
                warm_samples: 5,
                alive: 5,
            }
        } else {
            Sizes {
                create_exec: 30,
                floor: 40,
                python: 15,
                warm: 3,
                warm_samples: 20,
                alive: 50,
            }
        }
    }
}

/// Runs figure 10 and returns its rows (a row says why when a part could not run).
pub async fn run(opts: &Opts) -> Vec<Row> {
    let figure = "sandboxes (sandboxd on runc)";
    if let Some(why) = &opts.missing {
        return vec![Row::not_measured(GROUP, figure, why)];
    }
    if !nix::unistd::geteuid().is_root() {
        return vec![Row::not_measured(
            GROUP,
            figure,
            "not root (runc sandboxes need it)",
        )];
    }
    let sizes = Sizes::new(opts.quick);
    let mut rows = Vec::new();
    match cold(opts, &sizes).await {
        Ok(mut r) => rows.append(&mut r),
        Err(e) => rows.push(Row::not_measured(
            GROUP,
            "create → first exec, floor, delete, many alive",
            e.to_string(),
        )),
    }
    match warm(opts, &sizes).await {
        Ok(mut r) => rows.append(&mut r),
        Err(e) => rows.push(Row::not_measured(GROUP, "warm pool create", e.to_string())),
    }
    if opts.debug_sandboxd {
        for row in &mut rows {
            row.figure
                .push_str(" [debug build of sandboxd: not a performance figure]");
        }
    }
    rows
}

/// Cold creates, the floor, one delete at a time, the Python SDK, many alive.
async fn cold(opts: &Opts, sizes: &Sizes) -> Result<Vec<Row>, BoxError> {
    let server = Server::start(opts, &[])?;
    let client = server.client()?;
    let mut rows = Vec::new();

    // One sandbox first (its bundle is the floor's), not measured.
    eprintln!("bench sandbox: first create (not measured)");
    let (_, first) = create_exec(&client).await?;
    let floor_dir = server.state.path().join("floor");
    floor_bundle(&server, first.id(), &floor_dir)?;
    eprintln!("bench sandbox: runc run floor × {}", sizes.floor);
    let floor_before = runc_floor(&floor_dir, sizes.floor / 2)?;

    eprintln!(
        "bench sandbox: create → exec(\"true\") × {}",
        sizes.create_exec
    );
    let mut create_samples = Vec::new();
    let mut delete_samples = Vec::new();
    for _ in 0..sizes.create_exec {
        let (took, sb) = create_exec(&client).await?;
        create_samples.push(took);
        let t = Instant::now();
        client.delete(&sb).await?;
        delete_samples.push(t.elapsed());
    }
    let mut floor = floor_before;
    floor.extend(runc_floor(&floor_dir, sizes.floor - sizes.floor / 2)?);
    client.delete(&first).await?;

    let ours = summary(&create_samples)?;
    let fl = summary(&floor)?;
    rows.push(Row::ratio(
        GROUP,
        format!(
            "create → first `exec(\"true\")` result, Rust client, p50 (n = {})",
            ours.n
        ),
        micros(ours.p50),
        format!(
            "`runc run` of `/bin/true` in a ready bundle (same config) {} (n = {})",
            micros(fl.p50),
            fl.n
        ),
        ours.p50 / fl.p50,
        Some((Better::Lower, 1.3)),
    ));
    rows.push(Row::ratio(
        GROUP,
        format!(
            "create → first `exec(\"true\")` result, Rust client, p99 (n = {})",
            ours.n
        ),
        micros(ours.p99),
        format!("`runc run` p99 {}", micros(fl.p99)),
        ours.p99 / fl.p99,
        None,
    ));
    rows.push(
        Row::plain(
            GROUP,
            "create → first exec p50 vs Daytona's advertised figure",
            micros(ours.p50),
            "Daytona: under 90 ms from creation to execution",
        )
        .with_target("< 90 ms", ours.p50 < 90_000.0),
    );
    let del = summary(&delete_samples)?;
    rows.push(Row::plain(
        GROUP,
        format!(
            "delete of one started sandbox (`DELETE /sandbox/{{id}}` until answered), p50 (n = {})",
            del.n
        ),
        micros(del.p50),
        format!("p99 {}", micros(del.p99)),
    ));

    // The official Python SDK.
    match &opts.python {
        None => rows.push(Row::not_measured(
            GROUP,
            "create → first exec through the Python SDK",
            "no compat venv",
        )),
        Some(python) => match python_create_exec(python, &server.api, sizes.python) {
            Ok(samples) => {
                let py = summary(&samples)?;
                rows.push(Row::ratio(
                    GROUP,
                    format!(
                        "create → first `exec(\"true\")` result, official Python SDK (`daytona.create()`, `sandbox.process.exec`), p50 (n = {})",
                        py.n
                    ),
                    micros(py.p50),
                    format!("our Rust client, same run, {}", micros(ours.p50)),
                    py.p50 / ours.p50,
                    Some((Better::Lower, 1.5)),
                ));
            }
            Err(e) => rows.push(Row::not_measured(
                GROUP,
                "create → first exec through the Python SDK",
                e.to_string(),
            )),
        },
    }

    // Many alive at once.
    let n = sizes.alive;
    eprintln!("bench sandbox: {n} sandboxes alive at once");
    let t = Instant::now();
    let mut alive = Vec::with_capacity(n);
    for _ in 0..n {
        alive.push(client.create(CreateSandboxParams::new()).await?);
    }
    let created_in = t.elapsed();
    // Idle: let start-up work settle before reading memory.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut sums = [0u64; 4];
    for sb in &alive {
        let m = sandbox_memory(&server, sb.id())?;
        for (s, v) in sums.iter_mut().zip(m) {
            *s += v;
        }
    }
    let per = |i: usize| sums[i] as f64 / n as f64;
    rows.push(Row::plain(
        GROUP,
        format!("{n} idle sandboxes alive at once (created one after another in {:.1} s): RSS per sandbox", created_in.as_secs_f64()),
        format!("{} (processd {} + slirp4netns {})", mib(per(0) + per(1)), mib(per(0)), mib(per(1))),
        format!(
            "PSS (shared pages split between sharers) {} (processd {} + slirp4netns {}); runc leaves no shim",
            mib(per(2) + per(3)),
            mib(per(2)),
            mib(per(3))
        ),
    ));
    let t = Instant::now();
    let deletes = alive.iter().map(|sb| client.delete(sb));
    for result in futures_util::future::join_all(deletes).await {
        result?;
    }
    let deleted_in = t.elapsed();
    rows.push(Row::plain(
        GROUP,
        format!("delete all {n} (concurrent `DELETE`s, until the last answers)"),
        format!("{:.2} s", deleted_in.as_secs_f64()),
        format!(
            "{} per sandbox",
            micros(deleted_in.as_secs_f64() * 1e6 / n as f64)
        ),
    ));
    server.stop().await?;
    Ok(rows)
}

/// A warm pool: `create()` alone, and create → first exec, each with the pool full.
async fn warm(opts: &Opts, sizes: &Sizes) -> Result<Vec<Row>, BoxError> {
    let n = sizes.warm.to_string();
    let server = Server::start(opts, &["--warm", &n])?;
    let client = server.client()?;
    let full = |server: &Server, live: usize| server.sandboxes_on_disk() >= live + sizes.warm;
    let wait_full = |live: usize| {
        let server = &server;
        async move {
            let deadline = Instant::now() + Duration::from_mins(2);
            while !full(server, live) || !pool_ready(server) {
                if Instant::now() > deadline {
                    return Err::<(), BoxError>("the warm pool did not fill within 120 s".into());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok(())
        }
    };
    eprintln!(
        "bench sandbox: warm pool of {n}, create × {}",
        sizes.warm_samples
    );
    let mut create_only = Vec::new();
    let mut create_exec_samples = Vec::new();
    for i in 0..sizes.warm_samples {
        wait_full(0).await?;
        if i % 2 == 0 {
            let t = Instant::now();
            let sb = client.create(CreateSandboxParams::new()).await?;
            create_only.push(t.elapsed());
            client.delete(&sb).await?;
        } else {
            let (took, sb) = create_exec(&client).await?;
            create_exec_samples.push(took);
            client.delete(&sb).await?;
        }
    }
    let mut rows = Vec::new();
    let c = summary(&create_only)?;
    rows.push(
        Row::plain(
            GROUP,
            format!(
                "warm pool (`sandboxd --warm {n}`): default `create()` answered, p50 (n = {})",
                c.n
            ),
            micros(c.p50),
            format!("p99 {}", micros(c.p99)),
        )
        .with_target("p50 ≤ 10 ms", c.p50 <= 10_000.0),
    );
    let ce = summary(&create_exec_samples)?;
    rows.push(Row::plain(
        GROUP,
        format!(
            "warm pool: create → first `exec(\"true\")` result, p50 (n = {})",
            ce.n
        ),
        micros(ce.p50),
        format!("p99 {}", micros(ce.p99)),
    ));
    server.stop().await?;
    Ok(rows)
}
