//! `sbx`: the command line for sandboxes, built on the `process` client only.
//!
//! `sbx --daemon URL exec local -- CMD…` talks straight to one processd; exit codes follow
//! `docker exec` (the remote command's own code; 125 sbx's errors, 126 cannot run, 127 not
//! found; 124 a `--timeout`). `sbx --help` lists every command.

mod cli;
mod connect;
mod cp;
mod error;
mod exec;
mod sandbox;
mod session;
mod shell;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command, Connection};
use crate::error::{SbxError, EXIT_SBX};

/// What every command needs: how to connect, and the output format.
pub(crate) struct Ctx {
    /// The connection flags.
    pub conn: Connection,
    /// `--json`.
    pub json: bool,
}

/// Prints one JSON value on stdout.
pub(crate) fn print_json(value: &serde_json::Value) {
    println!("{value}");
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // --help and --version are not errors; usage errors are sbx's own (125).
            return if e.use_stderr() {
                ExitCode::from(EXIT_SBX)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sbx: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_SBX);
        }
    };
    let result = runtime.block_on(run(cli));
    // Do not wait for the stdin reader thread of `sbx shell`.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sbx: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, SbxError> {
    let ctx = Ctx {
        conn: cli.conn,
        json: cli.json,
    };
    match cli.command {
        Command::Create(args) => sandbox::create(&ctx, args).await,
        Command::Ls => sandbox::list(&ctx).await,
        Command::Start { id } => sandbox::lifecycle(&ctx, &id, sandbox::Lifecycle::Start).await,
        Command::Stop { id } => sandbox::lifecycle(&ctx, &id, sandbox::Lifecycle::Stop).await,
        Command::Rm { id } => sandbox::lifecycle(&ctx, &id, sandbox::Lifecycle::Remove).await,
        Command::Exec(args) => exec::exec(&ctx, args).await,
        Command::Run(args) => exec::run(&ctx, args).await,
        Command::Shell(args) => shell::run(&ctx, args).await,
        Command::Cp(args) => cp::cp(&ctx, args).await,
        Command::Session(cmd) => session::run(&ctx, cmd).await,
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "sbx", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    }
}
