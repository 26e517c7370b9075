//! `cargo xtask fuzz [--smoke | SECONDS]`: builds every cargo-fuzz target in `fuzz/` and runs each
//! for SECONDS (default 60; `--smoke`: 10, what CI runs).
//!
//! Stable toolchain, no sanitizer (`-s none`); installs `cargo-fuzz` with `cargo install --locked`
//! when it is missing. Longer runs: `cd fuzz && cargo fuzz run -s none <target>`.

use std::process::Command;

use crate::util::{cargo, root, sh};

/// Seconds per target for `--smoke` (and `cargo xtask ci`).
pub(crate) const SMOKE_SECONDS: u32 = 10;

/// The targets in `fuzz/fuzz_targets/`.
const TARGETS: &[&str] = &[
    "demux",
    "text_demux",
    "json_wire",
    "artifact",
    "multipart",
    "text",
];

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let seconds: u32 = match args.first().map(String::as_str) {
        // What CI runs: each target briefly.
        Some("--smoke") => SMOKE_SECONDS,
        Some(s) => s
            .parse()
            .map_err(|_| format!("fuzz: expected --smoke or SECONDS, got {s:?}"))?,
        None => 60,
    };
    run_for(seconds)
}

pub(crate) fn run_for(seconds: u32) -> Result<(), String> {
    ensure_cargo_fuzz()?;
    let dir = root().join("fuzz");
    sh(cargo()
        .args(["fuzz", "build", "-s", "none"])
        .current_dir(&dir))?;
    for target in TARGETS {
        let time = format!("-max_total_time={seconds}");
        sh(cargo()
            .args([
                "fuzz",
                "run",
                "-s",
                "none",
                target,
                "--",
                &time,
                "-rss_limit_mb=1024",
            ])
            .current_dir(&dir))?;
    }
    Ok(())
}

fn ensure_cargo_fuzz() -> Result<(), String> {
    let present = cargo()
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if present {
        return Ok(());
    }
    sh(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())).args([
            "install",
            "--locked",
            "cargo-fuzz",
        ]),
    )
}
