//! `cargo xtask machete`: fails on dependencies that a crate declares but never uses, with
//! cargo-machete (stable, source scan, a few seconds). Installs it with `cargo install --locked`
//! only when it is missing.

use std::path::PathBuf;
use std::process::Command;

use crate::util::{cargo, root, sh};

pub(crate) fn run(_args: &[String]) -> Result<(), String> {
    let machete = ensure_cargo_machete()?;
    // Called as its own binary: run as `cargo machete` from a process that cargo started, it
    // takes its subcommand name for a path. `--skip-target-dir`: build outputs are not ours.
    sh(Command::new(machete)
        .args(["--skip-target-dir", "."])
        .current_dir(root()))
    .map_err(|e| {
        format!("{e}\nunused dependencies: remove them from the listed Cargo.toml (or, for one used only through a macro, list it under [package.metadata.cargo-machete] ignored)")
    })
}

/// The `cargo-machete` binary: on `PATH`, else in cargo's `bin` directory, else installed there.
fn ensure_cargo_machete() -> Result<PathBuf, String> {
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|home| home.join("bin").join("cargo-machete"));
    let candidates = [Some(PathBuf::from("cargo-machete")), cargo_bin.clone()];
    for candidate in candidates.into_iter().flatten() {
        let works = Command::new(&candidate)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if works {
            return Ok(candidate);
        }
    }
    sh(cargo().args(["install", "--locked", "cargo-machete"]))?;
    cargo_bin.ok_or_else(|| "cannot find cargo's bin directory: set CARGO_HOME".to_owned())
}
