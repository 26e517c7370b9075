//! `processd`: the binary entry point. Parses flags, sets up logging, serves until a signal.

use clap::Parser;
use process_daemon::{Cli, Config};

fn main() -> std::process::ExitCode {
    // Descriptors inherited from our parent must not leak into the commands we run.
    process_daemon::proc::cloexec_inherited_fds();
    let cli = Cli::parse();
    // Settings (the token above all) now live in `cli`; no child may inherit them, whoever
    // spawns it. Still single-threaded here, so changing the environment is sound.
    let settings: Vec<std::ffi::OsString> = std::env::vars_os()
        .map(|(k, _)| k)
        .filter(|k| k.to_string_lossy().starts_with("PROCESSD_"))
        .collect();
    for key in settings {
        std::env::remove_var(key);
    }
    process_daemon::init_tracing(&cli.log_level);
    // Commands start with default signal dispositions, whatever this daemon inherited.
    process_daemon::signals::hand_on_default_dispositions();
    raise_fd_limit();
    let config = match Config::from_cli(cli) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("processd: {err}");
            return std::process::ExitCode::from(2);
        }
    };
    if config.token.is_some() {
        // Keep same-user commands from reading the token out of /proc/<daemon>/environ or
        // /proc/<daemon>/cmdline (non-dumpable processes' files there are root-only).
        let _ = nix::sys::prctl::set_dumpable(false);
    }
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

/// Raises the soft limit on open descriptors to the hard limit: every connection, session,
/// PTY and log follower holds descriptors, and a daemon that runs out refuses work it could do.
fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if let Err(err) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                tracing::warn!(soft, hard, error = %err, "cannot raise the open-file limit");
            }
        }
        Ok(_) => {}
        Err(err) => tracing::warn!(error = %err, "cannot read the open-file limit"),
    }
}
