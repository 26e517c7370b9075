//! `cargo xtask openapi`: rewrites `openapi/processd.json` and `openapi/sandboxd.json` from the
//! code (each server's `the_committed_document_is_current` test writes its document when
//! `UPDATE_OPENAPI` is set, then checks it; without it, `cargo test` fails on a stale file).

use crate::util::{cargo, sh};

pub(crate) fn run(_args: &[String]) -> Result<(), String> {
    for krate in ["process-daemon", "sandbox-daemon"] {
        sh(cargo()
            .args([
                "test",
                "-p",
                krate,
                "--lib",
                "--",
                "openapi::tests::the_committed_document_is_current",
                "--exact",
            ])
            .env("UPDATE_OPENAPI", "1"))?;
    }
    println!("xtask: openapi/processd.json and openapi/sandboxd.json written");
    Ok(())
}
