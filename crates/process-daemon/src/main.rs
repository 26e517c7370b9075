//! `processd`: the binary entry point. Parses flags, sets up logging, serves until a signal.

use clap::Parser;
use process_daemon::{Cli, Config};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    process_daemon::init_tracing(&cli.log_level);
    let config = match Config::from_cli(cli) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("processd: {err}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("processd: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(process_daemon::run(config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("processd: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
