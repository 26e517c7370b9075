//! `cargo xtask bench [--quick]`: runs every benchmark beside its floor and writes the table.
//!
//! The measuring lives in the `process-benches` crate (a criterion bench for the demux kernels,
//! the `bench` binary for everything else, `benches/python/sdk_demux.py` for the official SDK's
//! demux); this module builds them, runs them in order, collects the JSON rows they print and
//! writes `BENCHMARKS.md` (full run) or `target/BENCHMARKS.quick.md` (`--quick`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::util::{cargo, ensure_venv, root, sh};

/// What a run measures: sizes, counts and time budgets.
struct Plan {
    quick: bool,
    /// Build with the dev profile (a smoke run for CI, where debug artifacts already exist).
    debug: bool,
    /// Demux input size in MiB.
    demux_mib: usize,
    /// criterion's warm-up and measurement time per benchmark, seconds.
    criterion_warm_up: &'static str,
    criterion_measure: &'static str,
    /// Time budget of each Python SDK demux run, seconds.
    python_budget: &'static str,
}

impl Plan {
    fn new(quick: bool, debug: bool) -> Plan {
        if quick {
            Plan {
                quick,
                debug,
                demux_mib: if debug { 1 } else { 8 },
                criterion_warm_up: "0.3",
                criterion_measure: "0.7",
                python_budget: "1",
            }
        } else {
            Plan {
                quick,
                debug,
                demux_mib: 64,
                criterion_warm_up: "2",
                criterion_measure: "5",
                python_budget: "5",
            }
        }
    }
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let debug = args.iter().any(|a| a == "--debug");
    if let Some(other) = args.iter().find(|a| *a != "--quick" && *a != "--debug") {
        return Err(format!(
            "unknown argument {other:?} (usage: cargo xtask bench [--quick] [--debug])"
        ));
    }
    if debug && !quick {
        return Err("--debug is for smoke runs: use it with --quick".into());
    }
    let plan = Plan::new(quick, debug);
    // Release for figures; `--debug` reuses the dev artifacts CI has already built.
    let (profile, profile_dir) = if debug {
        ("dev", "debug")
    } else {
        ("release", "release")
    };
    let started = Instant::now();
    let date = utc_now();
    let machine = machine();
    let target = target_dir();
    let data_dir = target.join("bench-data");
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;

    let (python, python_missing) = match ensure_venv() {
        Ok(p) => (Some(p), None),
        Err(e) => {
            eprintln!("xtask bench: no compat venv ({e}); Python figures will be missing");
            (None, Some(format!("no Python venv: {e}")))
        }
    };

    let build_started = Instant::now();
    sh(cargo().args([
        "build",
        "--profile",
        profile,
        "-p",
        "process-benches",
        "--bin",
        "bench",
    ]))?;
    // The daemon is built on its own: if it does not build, the figures that need it say so.
    let processd_missing = sh(cargo().args([
        "build",
        "--profile",
        profile,
        "-p",
        "process-daemon",
        "--bin",
        "processd",
    ]))
    .err()
    .map(|e| format!("processd did not build ({e})"));
    let build_secs = build_started.elapsed().as_secs_f64();
    let release = target.join(profile_dir);
    let bench_bin = release.join("bench");

    let mut rows = Vec::new();

    // 1. Demux: criterion for our kernels and the floors, then the Python SDK on the same bytes.
    let criterion_dir = target.join("criterion");
    for entry in std::fs::read_dir(&criterion_dir)
        .into_iter()
        .flatten()
        .flatten()
    {
        if entry.file_name().to_string_lossy().starts_with("demux_") {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    let criterion = sh(cargo()
        // The profile built above (not `bench`), so the artifacts are shared.
        .args([
            "bench",
            "--profile",
            profile,
            "-p",
            "process-benches",
            "--bench",
            "demux",
            "--",
        ])
        .args(["--warm-up-time", plan.criterion_warm_up])
        .args(["--measurement-time", plan.criterion_measure])
        .env("PROCESS_BENCH_DEMUX_MIB", plan.demux_mib.to_string()));
    if let Err(e) = &criterion {
        eprintln!("xtask bench: the demux bench failed: {e}");
    }
    sh(Command::new(&bench_bin)
        .args(["demux-input", "--mib", &plan.demux_mib.to_string(), "--dir"])
        .arg(&data_dir))?;
    let python_results = data_dir.join("python-demux.jsonl");
    let python_missing = match &python {
        Some(py) => run_python_demux(py, &data_dir, &python_results, plan.python_budget).err(),
        None => python_missing,
    };
    let mut cmd = Command::new(&bench_bin);
    cmd.args(["demux-rows", "--mib", &plan.demux_mib.to_string()])
        .arg("--criterion")
        .arg(&criterion_dir)
        .arg("--dir")
        .arg(&data_dir);
    match &python_missing {
        None => cmd.arg("--python-results").arg(&python_results),
        Some(why) => cmd.args(["--python-missing", why]),
    };
    rows.extend(collect_rows(&mut cmd)?);

    // 2-9. End to end, against processd as a separate process, each beside its floor.
    let mut cmd = Command::new(&bench_bin);
    cmd.arg("e2e")
        .arg("--processd")
        .arg(release.join("processd"));
    if let Some(py) = &python {
        cmd.arg("--python").arg(py);
    }
    if plan.quick {
        cmd.arg("--quick");
    }
    if let Some(why) = &processd_missing {
        cmd.args(["--processd-missing", why]);
    }
    rows.extend(collect_rows(&mut cmd)?);

    // 10. Sandboxes: sandboxd on real runc containers (`benches/src/sandbox.rs`).
    rows.extend(crate::bench_sandbox::rows(
        &bench_bin,
        &target,
        python.as_deref(),
        plan.quick,
    )?);

    let table = render(&plan, &rows, &date, &machine, started, build_secs);
    let out = if plan.quick {
        target.join("BENCHMARKS.quick.md")
    } else {
        root().join("BENCHMARKS.md")
    };
    std::fs::write(&out, table).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    eprintln!(
        "xtask bench: wrote {} in {:.0} s",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn target_dir() -> PathBuf {
    std::env::var("CARGO_TARGET_DIR").map_or_else(|_| root().join("target"), Into::into)
}

/// Runs the SDK's demux on every input and chunking, one JSON line each, into `out`.
fn run_python_demux(
    python: &Path,
    data_dir: &Path,
    out: &Path,
    budget: &str,
) -> Result<(), String> {
    let script = root().join("benches").join("python").join("sdk_demux.py");
    let mut lines = String::new();
    for label in ["m64", "m1k"] {
        for chunk in ["4096", "65536"] {
            let file = data_dir.join(format!("demux-{label}.bin"));
            let mut cmd = Command::new(python);
            cmd.arg(&script).arg(&file).args([
                "--chunk",
                chunk,
                "--budget-s",
                budget,
                "--label",
                label,
            ]);
            eprintln!(
                "$ {} {} {label} {chunk}",
                python.display(),
                script.display()
            );
            let output = cmd
                .stderr(Stdio::inherit())
                .output()
                .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
            if !output.status.success() {
                return Err(format!("sdk_demux.py failed with {}", output.status));
            }
            lines.push_str(&String::from_utf8_lossy(&output.stdout));
        }
    }
    std::fs::write(out, lines).map_err(|e| format!("cannot write {}: {e}", out.display()))
}

/// Runs a `bench` subcommand and parses the JSON rows it prints (other lines are echoed).
pub(crate) fn collect_rows(cmd: &mut Command) -> Result<Vec<serde_json::Value>, String> {
    cmd.current_dir(root()).stderr(Stdio::inherit());
    let output = cmd
        .output()
        .map_err(|e| format!("cannot run {}: {e}", cmd.get_program().display()))?;
    let mut rows = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        match serde_json::from_str::<serde_json::Value>(line) {
            Ok(v) if v.is_object() => rows.push(v),
            _ => eprintln!("{line}"),
        }
    }
    if !output.status.success() {
        return Err(format!(
            "{} failed with {}",
            cmd.get_program().display(),
            output.status
        ));
    }
    Ok(rows)
}

const SECTIONS: [&str; 10] = [
    "1. Demux throughput (client side of the log codec)",
    "2. `exec` round trip of `true`",
    "3. `exec` throughput, 8 concurrent clients",
    "4. Session command round trip",
    "5. Log follow throughput",
    "6. `code_run`",
    "7. PTY keystroke echo",
    "8. Scale and memory",
    "9. File transfers and listing",
    "10. Sandboxes (`sandboxd` on runc)",
];

fn render(
    plan: &Plan,
    rows: &[serde_json::Value],
    date: &str,
    machine: &str,
    started: Instant,
    build_secs: f64,
) -> String {
    let mut s = String::new();
    let mode = if plan.debug {
        "`cargo xtask bench --quick --debug` (smoke run of a **debug build**: smaller inputs and counts; \
         the figures say nothing about performance)"
    } else if plan.quick {
        "`cargo xtask bench --quick` (short run: smaller inputs and counts; figures are indicative only)"
    } else {
        "`cargo xtask bench`"
    };
    let _ = writeln!(s, "# Benchmarks\n");
    let _ = writeln!(
        s,
        "Generated by {mode} on {date}; the run took {:.0} s in all, {build_secs:.0} s of it in `cargo build`. \
         Do not edit by hand.\n",
        started.elapsed().as_secs_f64()
    );
    let _ = writeln!(s, "**Machine**: {machine}; at the end {}\n", load_average());
    let _ = writeln!(s, "**Code**: {}\n", code_version());
    let _ = writeln!(
        s,
        "**How to reproduce**: `cargo xtask bench` (writes this file; `--quick` writes \
         `target/BENCHMARKS.quick.md` instead). It builds `processd` and the `process-benches` crate \
         in release mode, runs the criterion demux bench (`benches/benches/demux.rs`), the official \
         Python SDK's demux in the compat venv (`benches/python/sdk_demux.py`) and the `bench` \
         binary (`benches/src/bin/bench.rs`), which starts `processd` on 127.0.0.1 as a separate process.\n"
    );
    let _ = writeln!(
        s,
        "**How to read it**: wall-clock figures on this machine move 20–40 % between runs, so every \
         goal is a *ratio to a floor or peer measured in the same run*, seconds apart, on the same \
         input. \"ours\" and \"limit\" are medians unless a percentile is named; the ratio is \
         ours ÷ limit (for latency lower is better, for throughput higher is better).\n"
    );
    // The targets at a glance.
    let _ = writeln!(s, "## Targets at a glance\n");
    let _ = writeln!(s, "| figure | ours | ratio | target | verdict |");
    let _ = writeln!(s, "|---|---|---|---|---|");
    for row in rows {
        let verdict = row["verdict"].as_str().unwrap_or("");
        if verdict.is_empty() {
            continue;
        }
        let cell = |k: &str| row[k].as_str().unwrap_or("").replace('|', "\\|");
        let shown = if verdict == "met" || verdict == "missed" {
            format!("**{verdict}**")
        } else {
            verdict.replace('|', "\\|")
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {shown} |",
            cell("figure"),
            cell("ours"),
            cell("ratio"),
            cell("target")
        );
    }
    s.push('\n');
    for (i, title) in SECTIONS.iter().enumerate() {
        let group = i as u64 + 1;
        let _ = writeln!(s, "## {title}\n");
        let _ = writeln!(
            s,
            "| figure | ours | limit or peer (same run) | ratio | target | verdict |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|");
        let mut any = false;
        for row in rows.iter().filter(|r| r["group"].as_u64() == Some(group)) {
            any = true;
            let cell = |k: &str| row[k].as_str().unwrap_or("").replace('|', "\\|");
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                cell("figure"),
                cell("ours"),
                cell("limit"),
                cell("ratio"),
                cell("target"),
                cell("verdict")
            );
        }
        if !any {
            let _ = writeln!(
                s,
                "| (this run produced no row) | – | – | | | not measured: the benchmark did not run |"
            );
        }
        s.push('\n');
    }
    s
}

/// `date -u` in ISO form (xtask keeps its dependencies few: no date crate).
fn utc_now() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "(unknown date)".into())
}

/// nproc, CPU model, memory, kernel, rustc version, load average at the start.
fn machine() -> String {
    let nproc = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, v)| v.trim())
        .to_owned();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or_else(|| "?".into(), |kb| format!("{:.1}", kb / 1024.0 / 1024.0));
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let load = load_average();
    format!(
        "{nproc} CPUs ({cpu}), {mem_gib} GiB RAM, Linux {kernel}, {rustc}; load average at start {load}"
    )
}

/// The 1, 5 and 15 minute load averages (the machine is shared: say how busy it was).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The commit measured, and whether the crates had uncommitted changes.
fn code_version() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(root())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let Some(commit) = git(&["rev-parse", "--short", "HEAD"]) else {
        return "(not a git checkout)".into();
    };
    match git(&["status", "--porcelain", "--", "crates", "benches"]) {
        Some(s) if s.is_empty() => format!("commit {commit}"),
        Some(_) => format!("commit {commit} plus uncommitted changes in `crates/` or `benches/`"),
        None => format!("commit {commit}"),
    }
}
