//! `cargo xtask`: the project's automation, one module per subcommand (matklad's cargo-xtask).

mod bench;
mod bench_sandbox;
mod ci;
mod compat;
mod fuzz;
mod machete;
mod openapi;
mod sandboxd_compat;
mod schemathesis;
mod tidy;
mod util;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  bench    benchmarks beside their floors; writes BENCHMARKS.md (`--quick [--debug]`: target/BENCHMARKS.quick.md)
  ci       fmt, clippy -D warnings, tidy, machete, all tests, SDK compat suite, examples, fuzz, bench --quick
  compat   the official Python SDK (daytona==0.226.1) against a real processd
  openapi  rewrite openapi/processd.json and openapi/sandboxd.json from the code (cargo test fails when they are stale)
  sandboxd-compat  the official Python SDK (sync + async) against a real sandboxd (api_url + api_key only)
  machete  unused dependencies (cargo-machete, installed if missing)
  schemathesis  the API fuzzer against processd and sandboxd (isolated: unshare, read-only mounts, no network); `[EXAMPLES]` per operation
  fuzz     build the cargo-fuzz targets and run each (`--smoke`: 10 s each, as CI; or SECONDS)
  venv     create/refresh the Python venv the tests use (target/compat-venv)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("bench") => bench::run(&args[1..]),
        Some("ci") => ci::run(&args[1..]),
        Some("compat") => compat::run(&args[1..]),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("openapi") => openapi::run(&args[1..]),
        Some("machete") => machete::run(&args[1..]),
        Some("sandboxd-compat") => sandboxd_compat::run(&args[1..]),
        Some("venv") => util::ensure_venv().map(|_| ()),
        Some("schemathesis") => schemathesis::run(&args[1..]),
        Some("tidy") => tidy::run(),
        _ => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err}");
            ExitCode::FAILURE
        }
    }
}
