//! `bench`: the benchmark driver `cargo xtask bench` runs. Each subcommand measures (or
//! collects) figures and prints one JSON [`Row`] per line on stdout; progress goes to stderr.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use process_benches::demux_report::{self, PythonResult};
use process_benches::{demux, Row};

#[derive(Parser)]
#[command(about = "Benchmarks of processd and its client, each beside its floor")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Writes the demux input files (the same bytes the criterion bench generates).
    DemuxInput {
        /// Input size in MiB.
        #[arg(long)]
        mib: usize,
        /// Directory to write `demux-<label>.bin` into.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Prints the rows of figure 1 from criterion's results and the Python SDK's.
    DemuxRows {
        /// criterion's output directory (`target/criterion`).
        #[arg(long)]
        criterion: PathBuf,
        /// Input size in MiB the criterion bench used.
        #[arg(long)]
        mib: usize,
        /// Directory holding the input files.
        #[arg(long)]
        dir: PathBuf,
        /// JSON lines printed by `benches/python/sdk_demux.py`.
        #[arg(long)]
        python_results: Option<PathBuf>,
        /// Why there are no Python results, if there are none.
        #[arg(long)]
        python_missing: Option<String>,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(rows) => {
            let mut out = std::io::stdout().lock();
            for row in rows {
                let _ = writeln!(out, "{}", row.to_json());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cmd: Cmd) -> Result<Vec<Row>, String> {
    match cmd {
        Cmd::DemuxInput { mib, dir } => {
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            for (label, period) in demux_report::INPUTS {
                let input = demux::muxed(
                    mib << 20,
                    period,
                    demux_report::P_STDOUT,
                    demux_report::SEED,
                );
                let path = demux_report::input_path(&dir, label);
                std::fs::write(&path, &input.bytes)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
            Ok(Vec::new())
        }
        Cmd::DemuxRows {
            criterion,
            mib,
            dir,
            python_results,
            python_missing,
        } => {
            let mut python = Vec::new();
            if let Some(path) = python_results {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                for line in text.lines().filter(|l| l.starts_with('{')) {
                    let r: PythonResult = serde_json::from_str(line)
                        .map_err(|e| format!("{}: {e}: {line}", path.display()))?;
                    python.push(r);
                }
            }
            Ok(demux_report::rows(
                &criterion,
                mib << 20,
                &dir,
                &python,
                python_missing.as_deref(),
            ))
        }
    }
}
