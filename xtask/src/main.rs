//! `cargo xtask`: the project's automation, one module per subcommand (matklad's cargo-xtask).

mod ci;
mod compat;
mod tidy;
mod util;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  ci       fmt check, clippy -D warnings, tidy, all tests, SDK compatibility suite, examples
  compat   the official Python SDK (daytona==0.226.1) against a real processd
  venv     create/refresh the Python venv the tests use (target/compat-venv)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::run(&args[1..]),
        Some("compat") => compat::run(&args[1..]),
        Some("venv") => util::ensure_venv().map(|_| ()),
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
