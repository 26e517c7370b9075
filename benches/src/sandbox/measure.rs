//! One measurement each: create → first exec (Rust and Python SDK), the `runc run` floor, the
//! memory of an idle sandbox.

#[allow(clippy::wildcard_imports)]
use super::*;

/// One create → first `exec("true")` through the Rust client.
pub(super) async fn create_exec(client: &Sandboxes) -> Result<(Duration, Sandbox), BoxError> {
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
pub(super) fn floor_bundle(server: &Server, id: &str, dir: &Path) -> Result<(), BoxError> {
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
pub(super) fn runc_floor(dir: &Path, n: usize) -> Result<Vec<Duration>, BoxError> {
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

pub(super) fn summary(samples: &[Duration]) -> Result<Summary, BoxError> {
    Summary::of_micros(samples).ok_or_else(|| "no samples".into())
}

/// KiB of `field` (`VmRSS`) in `/proc/PID/status`, or `Pss` in `smaps_rollup`.
pub(super) fn kib(pid: i32, file: &str, field: &str) -> u64 {
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
pub(super) fn sandbox_memory(server: &Server, id: &str) -> Result<[u64; 4], BoxError> {
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

pub(super) fn mib(kib: f64) -> String {
    format!("{:.1} MiB", kib / 1024.0)
}

/// Runs `benches/python/sdk_sandbox.py`: create → first exec through the official SDK.
pub(super) fn python_create_exec(
    python: &Path,
    api: &str,
    n: usize,
) -> Result<Vec<Duration>, BoxError> {
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
