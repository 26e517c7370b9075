//! `cargo xtask fuzz [SECONDS]`: builds every cargo-fuzz target in `fuzz/` and runs each briefly.
//!
//! Stable toolchain, no sanitizer (`-s none`); installs `cargo-fuzz` with `cargo install --locked`
//! when it is missing. Longer runs: `cd fuzz && cargo fuzz run -s none <target>`.

use std::process::Command;

use crate::util::{cargo, root, sh};

/// The targets in `fuzz/fuzz_targets/`, each run for the given time.
const TARGETS: &[&str] = &["demux", "text_demux", "json_wire", "artifact"];

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let seconds: u32 = match args.first() {
        Some(s) => s
            .parse()
            .map_err(|_| format!("fuzz: SECONDS must be a number, got {s:?}"))?,
        None => 15,
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
