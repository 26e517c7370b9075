//! `cargo xtask machete`: fails on dependencies that a crate declares but never uses, with
//! cargo-machete (stable, source scan, a few seconds). Installs it with `cargo install --locked`
//! only when it is missing.

use std::process::Command;

use crate::util::{cargo, root, sh};

pub(crate) fn run(_args: &[String]) -> Result<(), String> {
    ensure_cargo_machete()?;
    // `--skip-target-dir`: build outputs (vendored sources, fuzz corpora) are not ours.
    sh(cargo()
        .args(["machete", "--skip-target-dir"])
        .current_dir(root()))
    .map_err(|e| {
        format!("{e}\nunused dependencies: remove them from the listed Cargo.toml (or, for one used only through a macro, list it under [package.metadata.cargo-machete] ignored)")
    })
}

fn ensure_cargo_machete() -> Result<(), String> {
    let present = cargo()
        .args(["machete", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if present {
        return Ok(());
    }
    sh(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())).args([
            "install",
            "--locked",
            "cargo-machete",
        ]),
    )
}
