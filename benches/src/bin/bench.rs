//! `bench`: the benchmark driver `cargo xtask bench` runs. Each subcommand measures (or
//! collects) figures and prints one JSON [`Row`] per line on stdout; progress goes to stderr.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use process_benches::demux_report::{self, PythonResult};
use process_benches::{demux, e2e, sandbox, Row};

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
    /// Runs one demux kernel in a loop (for a profiler: `perf record -g bench demux-loop ...`)
    /// and prints its throughput on stderr.
    DemuxLoop {
        /// `demux`, `text`, `memchr` or `copy`.
        #[arg(long, default_value = "demux")]
        kernel: String,
        /// Record length in bytes.
        #[arg(long, default_value_t = 64)]
        period: usize,
        /// Chunk length in bytes.
        #[arg(long, default_value_t = 4096)]
        chunk: usize,
        /// Input size in MiB.
        #[arg(long, default_value_t = 64)]
        mib: usize,
        /// Passes over the input.
        #[arg(long, default_value_t = 10)]
        reps: usize,
    },
    /// Runs figures 2-9 against a `processd` started here, each beside its floor.
    E2e {
        /// The `processd` binary.
        #[arg(long)]
        processd: PathBuf,
        /// Python interpreter for code_run and its floor (the compat venv's).
        #[arg(long)]
        python: Option<PathBuf>,
        /// Short run: smaller counts and sizes.
        #[arg(long)]
        quick: bool,
        /// Why `processd` is not available (every figure then says so).
        #[arg(long)]
        processd_missing: Option<String>,
        /// Run only these figures (2-10; 10 is figure 8's whole-log GET memory), e.g. `--only 2,4`.
        #[arg(long, value_delimiter = ',')]
        only: Vec<u32>,
    },
    /// Runs figure 10 (sandboxes) against a `sandboxd` started here on runc (needs root).
    Sandbox(SandboxArgs),
}

#[derive(clap::Args)]
struct SandboxArgs {
    /// The `sandboxd` binary.
    #[arg(long)]
    sandboxd: PathBuf,
    /// The image dir holding the default image.
    #[arg(long)]
    image_dir: PathBuf,
    /// Python with the official SDK (the compat venv's).
    #[arg(long)]
    python: Option<PathBuf>,
    /// Short run: smaller counts.
    #[arg(long)]
    quick: bool,
    /// `sandboxd` is a debug build (figures are labelled so).
    #[arg(long)]
    debug_sandboxd: bool,
    /// Why the figures cannot run (every row then says so).
    #[arg(long)]
    missing: Option<String>,
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
        Cmd::DemuxLoop {
            kernel,
            period,
            chunk,
            mib,
            reps,
        } => {
            let input = demux::muxed(
                mib << 20,
                period,
                demux_report::P_STDOUT,
                demux_report::SEED,
            );
            let mut dst = Vec::with_capacity(input.bytes.len());
            let t = std::time::Instant::now();
            let mut check = 0usize;
            for _ in 0..reps {
                check += match kernel.as_str() {
                    "demux" => demux::demux_bytes(&input.bytes, chunk).0,
                    "text" => demux::demux_text(&input.bytes, chunk).0,
                    "borrowed" => demux::demux_borrowed(&input.bytes, chunk).0,
                    "memchr" => demux::memchr_count(&input.bytes, chunk),
                    "copy" => demux::copy(&input.bytes, chunk, &mut dst),
                    other => return Err(format!("unknown kernel {other:?}")),
                };
            }
            let secs = t.elapsed().as_secs_f64();
            eprintln!(
                "{kernel}: {:.3} GB/s ({reps} × {mib} MiB, records {period} B, chunks {chunk} B; check {check})",
                (reps * input.bytes.len()) as f64 / secs / 1e9
            );
            Ok(Vec::new())
        }
        Cmd::E2e {
            processd,
            python,
            quick,
            processd_missing,
            only,
        } => {
            // The daemon runs in another directory: hand it absolute paths.
            // (absolute, not canonical: a venv's `bin/python` is a symlink that must stay one).
            let python = python.map(|p| std::path::absolute(&p).unwrap_or(p));
            let opts = e2e::Opts {
                processd,
                python,
                quick,
                processd_missing,
                only,
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the runtime: {e}"))?;
            Ok(runtime.block_on(e2e::run(&opts)))
        }
        Cmd::Sandbox(args) => {
            let opts = sandbox::Opts {
                sandboxd: std::path::absolute(&args.sandboxd).unwrap_or(args.sandboxd),
                image_dir: std::path::absolute(&args.image_dir).unwrap_or(args.image_dir),
                python: args.python.map(|p| std::path::absolute(&p).unwrap_or(p)),
                quick: args.quick,
                debug_sandboxd: args.debug_sandboxd,
                missing: args.missing,
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the runtime: {e}"))?;
            Ok(runtime.block_on(sandbox::run(&opts)))
        }
    }
}
