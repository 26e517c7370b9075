//! `cargo xtask ci`: everything CI checks, in the order a failure is cheapest to find.

use crate::util::{cargo, ensure_ts_runtime, ensure_venv, hermetic_home, path_with, root, sh};

/// Runs fmt, clippy, tidy, the unused-dependency check, the test suites (with the compat venv's
/// Python for chart capture), the official-SDK compatibility suite, schemathesis against both
/// servers, the examples, the fuzz targets (briefly) and the quick
/// benchmarks (figures written to `target/BENCHMARKS.quick.md`, not asserted).
fn run_ci_steps(python: &std::path::Path) -> Result<(), String> {
    // The daemon under test finds `tsx` on PATH for TypeScript code-run.
    let path = path_with(ensure_ts_runtime()?.as_deref());
    sh(cargo().args(["fmt", "--all", "--check"]))?;
    sh(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    crate::tidy::run()?;
    crate::machete::run(&[])?;
    // Sandbox tests: one default image per run in a shared dir (built by the first test that
    // needs it, the others wait on its lock), and the processd binary this run built.
    sh(hermetic_home(&mut cargo())?
        .args(["test", "--workspace", "--all-targets"])
        .env("PATH", &path)
        .env("PROCESSD_PYTHON", python)
        .env(
            "SANDBOXD_TEST_IMAGE_DIR",
            root().join("target").join("sandbox-images"),
        )
        .env(
            "SANDBOXD_TEST_PROCESSD",
            root().join("target").join("debug").join("processd"),
        ))?;
    sh(hermetic_home(&mut cargo())?
        .args(["test", "--workspace", "--doc"])
        .env("PATH", &path)
        .env("PROCESSD_PYTHON", python))?;
    crate::compat::run_with(python, &path)?;
    crate::sandboxd_compat::run_with(python, &path)?;
    // The API fuzzer against both servers (isolated: no network, read-only machine).
    crate::schemathesis::run(&[])?;
    run_examples(python, &path)?;
    crate::fuzz::run_for(crate::fuzz::SMOKE_SECONDS)?;
    // The short benchmark run: it must work end to end; its figures are not asserted.
    crate::bench::run(&["--quick".to_owned()])?;
    Ok(())
}

pub(crate) fn run(_args: &[String]) -> Result<(), String> {
    let python = ensure_venv()?;
    run_ci_steps(&python)?;
    eprintln!("xtask ci: all checks passed");
    Ok(())
}

/// Runs every example of the `process` crate (they use the embedded daemon).
fn run_examples(python: &std::path::Path, path: &std::ffi::OsStr) -> Result<(), String> {
    let dir = root().join("crates").join("process").join("examples");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(());
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".rs").map(str::to_owned)
        })
        .collect();
    names.sort();
    let out_dir = root().join("target").join("example-output");
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    for name in names {
        sh(hermetic_home(&mut cargo())?
            .args(["run", "--quiet", "-p", "process", "--example", &name])
            .env("PATH", path)
            .env("PROCESSD_PYTHON", python)
            .env("PROCESS_EXAMPLE_OUT", &out_dir))?;
    }
    Ok(())
}
