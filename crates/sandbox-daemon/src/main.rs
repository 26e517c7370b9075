//! `sandboxd`: the binary entry point. Serves the control plane (default), runs the in-sandbox
//! daemon (`sandboxd processd …`, the same flags as `processd`), or builds images
//! (`sandboxd image build`). Process-wide setup (descriptor hygiene, environment scrubbing,
//! logging, non-dumpable) happens here and nowhere else.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use sandbox_daemon::provider::local::image::build_default_image;
use sandbox_daemon::provider::local::{LocalConfig, LocalProvider};
use sandbox_daemon::provider::Provider;
use sandbox_daemon::{ServeArgs, ServeConfig};

/// A Daytona-compatible control plane for isolated local sandboxes.
#[derive(Debug, Parser)]
#[command(name = "sandboxd", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the in-sandbox process daemon (`processd`, same flags).
    Processd(Box<process_daemon::Cli>),
    /// Manage base images.
    Image {
        #[command(subcommand)]
        action: ImageCommand,
    },
    /// Test only: processd on a Unix socket, for the unisolated test provider.
    #[command(hide = true)]
    UnisolatedProcessd(UnisolatedArgs),
}

#[derive(Debug, Subcommand)]
enum ImageCommand {
    /// Build the default image (a Debian root filesystem) into the image dir.
    Build {
        /// Where images are cached.
        #[arg(
            long,
            env = "SANDBOXD_IMAGE_DIR",
            default_value = "/var/lib/sandboxd-images"
        )]
        image_dir: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
struct UnisolatedArgs {
    /// The Unix socket to listen on.
    #[arg(long)]
    socket: PathBuf,
    #[arg(long)]
    workdir: PathBuf,
    #[arg(long)]
    state_dir: PathBuf,
    #[arg(long)]
    python: Option<PathBuf>,
    #[arg(long, default_value = "warn")]
    log_level: String,
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| {
            eprintln!("sandboxd: cannot start the async runtime: {err}");
            ExitCode::FAILURE
        })
}

/// Removes settings from the environment once parsed, so no child inherits them (the API key
/// above all). Called while still single-threaded.
fn scrub_env(prefix: &str) {
    let keys: Vec<std::ffi::OsString> = std::env::vars_os()
        .map(|(k, _)| k)
        .filter(|k| k.to_string_lossy().starts_with(prefix))
        .collect();
    for key in keys {
        std::env::remove_var(key);
    }
}

fn main() -> ExitCode {
    // Descriptors inherited from our parent must not leak into what we start.
    process_daemon::proc::cloexec_inherited_fds();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Processd(args)) => processd(*args),
        Some(Command::UnisolatedProcessd(args)) => unisolated_processd(args),
        Some(Command::Image {
            action: ImageCommand::Build { image_dir },
        }) => build_image(&image_dir),
        None => serve(cli.serve),
    }
}

/// `sandboxd processd …`: what the `processd` binary's `main` does.
fn processd(cli: process_daemon::Cli) -> ExitCode {
    scrub_env("PROCESSD_");
    process_daemon::init_tracing(&cli.log_level);
    process_daemon::signals::hand_on_default_dispositions();
    let config = match process_daemon::Config::from_cli(cli) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("processd: {err}");
            return ExitCode::from(2);
        }
    };
    if config.token.is_some() {
        let _ = nix::sys::prctl::set_dumpable(false);
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match rt.block_on(process_daemon::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("processd: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The test provider's child: processd's service on a Unix socket (no isolation at all).
fn unisolated_processd(args: UnisolatedArgs) -> ExitCode {
    process_daemon::init_tracing(&args.log_level);
    process_daemon::signals::hand_on_default_dispositions();
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result: Result<(), String> = rt.block_on(async move {
        let mut config = process_daemon::Config::new(&args.workdir, &args.state_dir);
        config.python = args.python;
        // A binary's main: reap orphans like processd does.
        config.reap_orphans = true;
        let _ = std::fs::remove_file(&args.socket);
        let listener = tokio::net::UnixListener::bind(&args.socket)
            .map_err(|e| format!("cannot listen on {}: {e}", args.socket.display()))?;
        let daemon = process_daemon::Daemon::new(config).map_err(|e| e.to_string())?;
        let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| format!("cannot install the SIGTERM handler: {e}"))?;
        let accept = async {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        let daemon = daemon.clone();
                        tokio::spawn(async move {
                            let _ = daemon.serve_connection(stream).await;
                        });
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                }
            }
        };
        tokio::select! {
            () = accept => {}
            _ = sigterm.recv() => {}
        }
        daemon.shutdown().await;
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("sandboxd unisolated-processd: {err}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    scrub_env("SANDBOXD_");
    process_daemon::init_tracing(&args.log_level);
    // Sandboxes, runc and image builds start with default signal dispositions.
    process_daemon::signals::hand_on_default_dispositions();
    let config = match ServeConfig::from_args(args) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("sandboxd: {err}");
            return ExitCode::from(2);
        }
    };
    if config.api_key.is_some() {
        // Same-user processes must not read the key from /proc/<pid>/{environ,cmdline}.
        let _ = nix::sys::prctl::set_dumpable(false);
    }
    // Each sandbox's init (processd) is orphaned when `runc create` exits: as a subreaper we
    // inherit it, so a stop or delete kills and reaps it at once instead of waiting for the
    // host's init to collect the zombie (seconds on some hosts). Only the provider's teardown
    // waits for those pids; nothing else here reaps blindly.
    if let Err(err) = nix::sys::prctl::set_child_subreaper(true) {
        eprintln!("sandboxd: cannot become a child subreaper ({err}); deletes will be slower");
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result = rt.block_on(async move {
        let provider = make_provider(&config)?;
        sandbox_daemon::serve(config, provider).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("sandboxd: {err}");
            ExitCode::FAILURE
        }
    }
}

fn make_provider(config: &ServeConfig) -> Result<Arc<dyn Provider>, sandbox_daemon::Error> {
    if config.test_unisolated_provider {
        eprintln!(
            "sandboxd: WARNING: the unisolated TEST provider is selected: sandboxes are plain host processes with NO isolation"
        );
        let exe = std::env::current_exe().map_err(|source| sandbox_daemon::Error::Io {
            what: "cannot find this executable".into(),
            source,
        })?;
        let provider = sandbox_daemon::provider::unisolated::UnisolatedProvider::new(
            config.state_dir.join("unisolated"),
            exe,
        )?;
        return Ok(Arc::new(provider));
    }
    let mut local = LocalConfig::new(&config.state_dir, &config.image_dir);
    local.runtime.clone_from(&config.runtime);
    local.disk_spares = config.disk_spares;
    if let Some(processd) = &config.processd {
        // A plain `processd` binary takes its flags directly (no `processd` subcommand).
        local.processd.clone_from(processd);
        local.processd_args = Vec::new();
    }
    Ok(Arc::new(LocalProvider::new(local)?))
}

/// `sandboxd image build`: builds the default image ahead of time, with progress on stderr.
fn build_image(image_dir: &std::path::Path) -> ExitCode {
    let mut progress = |line: &str| eprintln!("sandboxd image: {line}");
    match build_default_image(image_dir, &mut progress) {
        Ok(info) => {
            eprintln!(
                "sandboxd image: {} ready in {} ({} MB)",
                info.name,
                image_dir.display(),
                info.size_bytes / 1_000_000
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("sandboxd image build: {err}");
            ExitCode::FAILURE
        }
    }
}
