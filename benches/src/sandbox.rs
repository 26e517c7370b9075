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

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use process::{CreateSandboxParams, Sandbox, Sandboxes};

use crate::floors::BoxError;
use crate::row::{micros, Better, Row};
use crate::stats::Summary;

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

/// A `sandboxd` started here, on its own scratch state dir.
struct Server {
    child: Child,
    api: String,
    state: tempfile::TempDir,
}

impl Server {
    fn start(opts: &Opts, extra: &[&str]) -> Result<Server, BoxError> {
        // In /tmp: traversable by the sandboxes' mapped uid, and short (socket paths).
        let state = tempfile::Builder::new()
            .prefix("sbx-bench-")
            .tempdir_in("/tmp")?;
        // `BENCH_SANDBOXD_LOG=sandbox_daemon=debug` shows each start's step timings.
        let log = std::env::var("BENCH_SANDBOXD_LOG").unwrap_or_else(|_| "warn".to_owned());
        let mut child = Command::new(&opts.sandboxd)
            .args(["--listen", "127.0.0.1:0", "--log-level", &log])
            .args(["--api-key", KEY, "--max-sandboxes", "100"])
            .arg("--state-dir")
            .arg(state.path())
            .arg("--image-dir")
            .arg(&opts.image_dir)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", opts.sandboxd.display()))?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            BufReader::new(out).read_line(&mut line)?;
        }
        let api = line
            .trim()
            .rsplit('=')
            .next()
            .unwrap_or_default()
            .to_owned();
        if !api.starts_with("http://127.0.0.1:") {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("sandboxd did not print its api_url (printed {line:?})").into());
        }
        Ok(Server { child, api, state })
    }

    fn client(&self) -> Result<Sandboxes, BoxError> {
        Ok(Sandboxes::connect(self.api.clone(), KEY)?)
    }

    fn sandbox_dir(&self, id: &str) -> PathBuf {
        self.state.path().join("sandboxes").join(id)
    }

    /// Started sandboxes (records and warm pool members alike): their sockets.
    fn sandboxes_on_disk(&self) -> usize {
        count(&self.state.path().join("sockets"))
    }

    /// Deletes what is left through the API, then stops sandboxd with SIGTERM (its warm pool
    /// goes with it) and waits for it.
    async fn stop(mut self) -> Result<(), BoxError> {
        let client = self.client()?;
        for sb in client.list().await.unwrap_or_default() {
            let _ = client.delete(&sb).await;
        }
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id())?);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_mins(1);
        loop {
            if self.child.try_wait()?.is_some() {
                break;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err("sandboxd did not exit within 60 s of SIGTERM".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left = self.sandboxes_on_disk() + count(&self.state.path().join("sandboxes"));
        if left > 0 {
            return Err(format!(
                "{left} sandbox(es) left in {} after sandboxd exited",
                self.state.path().display()
            )
            .into());
        }
        Ok(())
    }
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.flatten().count())
}

impl Drop for Server {
    fn drop(&mut self) {
        // After an error: SIGTERM, so sandboxd still removes its warm pool and spare disk
        // layers; SIGKILL if it hangs.
        if matches!(self.child.try_wait(), Ok(None)) {
            if let Ok(pid) = i32::try_from(self.child.id()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
            let deadline = Instant::now() + Duration::from_secs(30);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One create → first `exec("true")` through the Rust client.
async fn create_exec(client: &Sandboxes) -> Result<(Duration, Sandbox), BoxError> {
    let t = Instant::now();
    let sb = client.create(CreateSandboxParams::new()).await?;
    let out = sb.process().exec("true").await?;
    let took = t.elapsed();
    if out.exit_code != 0 {
        return Err(format!("exec(\"true\") exited {}", out.exit_code).into());
    }
    Ok((took, sb))
}

/// Turns a live sandbox's bundle into one that runs `/bin/true` (same config, its own cgroup
/// path), in `dir`.
fn floor_bundle(server: &Server, id: &str, dir: &Path) -> Result<(), BoxError> {
    let bundle = server.sandbox_dir(id);
    let text = std::fs::read_to_string(bundle.join("config.json"))?;
    let mut config: serde_json::Value = serde_json::from_str(&text)?;
    config["process"]["args"] = serde_json::json!(["/bin/true"]);
    config["root"]["path"] = serde_json::json!(bundle.join("rootfs"));
    config["linux"]["cgroupsPath"] = serde_json::json!("sandboxd-bench-floor");
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("config.json"), serde_json::to_vec(&config)?)?;
    Ok(())
}

/// `runc run` of the floor bundle, `n` times.
fn runc_floor(dir: &Path, n: usize) -> Result<Vec<Duration>, BoxError> {
    let root = dir.join("runc-root");
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        let out = Command::new("runc")
            .arg("--root")
            .arg(&root)
            .args(["run", "--bundle"])
            .arg(dir)
            .arg(format!("bench-floor-{i}"))
            .stdin(Stdio::null())
            .output()?;
        let took = t.elapsed();
        if !out.status.success() {
            return Err(format!(
                "runc run of /bin/true failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )
            .into());
        }
        samples.push(took);
    }
    Ok(samples)
}

fn summary(samples: &[Duration]) -> Result<Summary, BoxError> {
    Summary::of_micros(samples).ok_or_else(|| "no samples".into())
}

/// KiB of `field` (`VmRSS`) in `/proc/PID/status`, or `Pss` in `smaps_rollup`.
fn kib(pid: i32, file: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// (processd RSS, slirp4netns RSS, processd PSS, slirp4netns PSS) of one sandbox, in KiB.
fn sandbox_memory(server: &Server, id: &str) -> Result<[u64; 4], BoxError> {
    let dir = server.sandbox_dir(id);
    let init: i32 = std::fs::read_to_string(dir.join("init.pid"))?
        .trim()
        .parse()?;
    let slirp: i32 = std::fs::read_to_string(dir.join("slirp.pid"))?
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .parse()?;
    Ok([
        kib(init, "status", "VmRSS:"),
        kib(slirp, "status", "VmRSS:"),
        kib(init, "smaps_rollup", "Pss:"),
        kib(slirp, "smaps_rollup", "Pss:"),
    ])
}

fn mib(kib: f64) -> String {
    format!("{:.1} MiB", kib / 1024.0)
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

/// Runs `benches/python/sdk_sandbox.py`: create → first exec through the official SDK.
fn python_create_exec(python: &Path, api: &str, n: usize) -> Result<Vec<Duration>, BoxError> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join("sdk_sandbox.py");
    let out = Command::new(python)
        .arg(&script)
        .args(["--api-url", api, "--api-key", KEY, "--n", &n.to_string()])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!("sdk_sandbox.py failed ({})", out.status).into());
    }
    let mut samples = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        if let Some(us) = v["create_exec_us"].as_f64() {
            samples.push(Duration::from_secs_f64(us / 1e6));
        }
    }
    Ok(samples)
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

/// Whether every sandbox on disk answers `GET /health` (no member is still starting). A bound
/// socket accepts connections before its `processd` runs, so only an answer counts.
fn pool_ready(server: &Server) -> bool {
    let Ok(entries) = std::fs::read_dir(server.state.path().join("sockets")) else {
        return false;
    };
    entries.flatten().all(|e| healthy(&e.path()))
}

fn healthy(sock: &Path) -> bool {
    use std::io::{Read, Write};
    let Ok(mut conn) = std::os::unix::net::UnixStream::connect(sock) else {
        return false;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
    if conn
        .write_all(b"GET /health HTTP/1.0\r\nHost: sandbox\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    conn.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") && &head[9..12] == b"200"
}
