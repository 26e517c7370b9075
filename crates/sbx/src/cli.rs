//! The command line: global connection flags and every subcommand (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Exit codes, as `docker exec` uses them, for `--help`.
const EXIT_CODES: &str = "\
Exit codes:
  N     exec/run/session exec/shell: the remote command's own exit code
  124   the remote command hit --timeout (its output so far is printed)
  125   sbx's own errors: bad usage, cannot connect, refused, server errors
  126   the command could not be run (e.g. its --cwd does not exist)
  127   not found: the sandbox, session, command or file does not exist";

/// The command line for sandboxes: run commands and code, open shells, follow sessions.
#[derive(Debug, Parser)]
#[command(name = "sbx", version, after_help = EXIT_CODES, propagate_version = true)]
pub(crate) struct Cli {
    /// How to reach the sandbox.
    #[command(flatten)]
    pub conn: Connection,
    /// Print results as JSON (listing and result commands).
    #[arg(long, global = true)]
    pub json: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Where the sandboxes are: a control plane (sandboxd or Daytona) or one processd.
#[derive(Debug, Args)]
pub(crate) struct Connection {
    /// Talk straight to one processd at URL (no control plane); the sandbox ID argument is
    /// then `local`.
    #[arg(long, env = "SBX_DAEMON", global = true, value_name = "URL")]
    pub daemon: Option<String>,
    /// Bearer token of the processd given with --daemon.
    #[arg(
        long,
        env = "SBX_DAEMON_TOKEN",
        global = true,
        hide_env_values = true,
        value_name = "T"
    )]
    pub token: Option<String>,
    /// Control-plane API URL (sandboxd or Daytona), e.g. http://127.0.0.1:3000/api.
    #[arg(long, env = "DAYTONA_API_URL", global = true, value_name = "URL")]
    pub api_url: Option<String>,
    /// Control-plane API key.
    #[arg(long, env = "DAYTONA_API_KEY", global = true, hide_env_values = true)]
    pub api_key: Option<String>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create a sandbox (prints its id).
    Create(CreateArgs),
    /// List sandboxes.
    Ls,
    /// Start a stopped sandbox (waits until it runs).
    Start {
        /// The sandbox (id or name).
        id: String,
    },
    /// Stop a sandbox (waits until it stopped).
    Stop {
        /// The sandbox (id or name).
        id: String,
    },
    /// Remove a sandbox.
    Rm {
        /// The sandbox (id or name).
        id: String,
    },
    /// Run a command in a sandbox; its stdout/stderr and exit code become sbx's.
    #[command(after_help = "\
One argument after `--` is shell text (`sbx exec ID -- 'cd /tmp && ls'`); several are quoted
as a program and its arguments (`sbx exec ID -- ls -l 'my dir'`).")]
    Exec(ExecArgs),
    /// Run a code file (or `-` for stdin) with code_run; charts are saved as PNG files.
    Run(RunArgs),
    /// Open an interactive shell (a PTY) in a sandbox.
    Shell(ShellArgs),
    /// Copy files or directories between this machine and a sandbox.
    #[command(after_help = "\
One side is `ID:PATH` in a sandbox, the other a local path, or `-` for stdin (as the source) or
stdout (as the destination, one file). When the destination is an existing directory (or ends
with `/`), the source is copied into it. Contents stream; a progress bar is drawn on a terminal.
A local name with a colon is written `./a:b`.")]
    Cp(CpArgs),
    /// Stateful shell sessions: create, exec, logs, ls, rm.
    #[command(subcommand)]
    Session(SessionCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `sbx create`.
#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// Image to create it from (e.g. `debian:12.9`; default: the server's).
    #[arg(long)]
    pub image: Option<String>,
    /// Name of the sandbox.
    #[arg(long)]
    pub name: Option<String>,
    /// Environment variable of the sandbox (repeatable).
    #[arg(long = "env", short = 'e', value_name = "K=V", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    /// vCPUs.
    #[arg(long)]
    pub cpu: Option<u32>,
    /// Memory in GiB.
    #[arg(long, value_name = "GIB")]
    pub memory: Option<u32>,
    /// Stop it after this many idle minutes (0: never).
    #[arg(long, value_name = "MIN")]
    pub auto_stop: Option<u32>,
}

/// `sbx exec`.
#[derive(Debug, Args)]
pub(crate) struct ExecArgs {
    /// The sandbox.
    pub id: String,
    /// Working directory of the command.
    #[arg(long)]
    pub cwd: Option<String>,
    /// Environment variable for the command (repeatable).
    #[arg(long = "env", short = 'e', value_name = "K=V", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    /// Kill the command after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// The command (after `--`).
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// `sbx run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The sandbox.
    pub id: String,
    /// The code file, or `-` for stdin.
    pub file: PathBuf,
    /// Language: python, javascript or typescript (default: from the file's extension).
    #[arg(long)]
    pub lang: Option<String>,
    /// Directory the chart PNGs are written to.
    #[arg(long, default_value = "charts")]
    pub charts_dir: PathBuf,
    /// Environment variable for the code (repeatable).
    #[arg(long = "env", short = 'e', value_name = "K=V", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    /// Kill the run after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Arguments for the program (after `--`).
    #[arg(last = true, value_name = "ARGS")]
    pub argv: Vec<String>,
}

/// `sbx cp`.
#[derive(Debug, Args)]
pub(crate) struct CpArgs {
    /// The source: `ID:PATH`, a local path, or `-` (stdin).
    pub src: String,
    /// The destination: `ID:PATH`, a local path, or `-` (stdout).
    pub dst: String,
    /// No progress bar, even on a terminal.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// `sbx shell`.
#[derive(Debug, Args)]
pub(crate) struct ShellArgs {
    /// The sandbox.
    pub id: String,
    /// Attach to this existing PTY session (its scrollback is replayed) instead of a new one.
    #[arg(long, value_name = "PTY")]
    pub attach: Option<String>,
    /// Name of the new PTY session (default: generated).
    #[arg(long, conflicts_with = "attach")]
    pub name: Option<String>,
    /// Working directory of the new shell.
    #[arg(long, conflicts_with = "attach")]
    pub cwd: Option<String>,
    /// Environment variable of the new shell (repeatable).
    #[arg(long = "env", short = 'e', value_name = "K=V", value_parser = parse_env, conflicts_with = "attach")]
    pub env: Vec<(String, String)>,
    /// The detach key: `ctrl-X` for a letter or one of `[ \ ] ^ _` (the shell keeps running).
    #[arg(long, default_value = "ctrl-]", value_parser = parse_detach_key)]
    pub detach_key: u8,
}

/// `sbx session …`.
#[derive(Debug, Subcommand)]
pub(crate) enum SessionCommand {
    /// Create a session (prints its id).
    Create {
        /// The sandbox.
        id: String,
        /// The session id (default: generated).
        session: Option<String>,
    },
    /// Run a command in a session (state such as `cd` and `export` persists).
    Exec {
        /// The sandbox.
        id: String,
        /// The session.
        session: String,
        /// Start it in the background and print its command id (see `sbx session logs`).
        #[arg(long = "async", short = 'd')]
        run_async: bool,
        /// Give up waiting after this many seconds (the command keeps running).
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<u64>,
        /// The command (after `--`).
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<String>,
    },
    /// Print a command's logs (stdout to stdout, stderr to stderr).
    Logs {
        /// The sandbox.
        id: String,
        /// The session.
        session: String,
        /// The command id.
        command_id: String,
        /// Follow the output live until the command ends (reconnects if the connection drops).
        #[arg(long, short = 'f')]
        follow: bool,
    },
    /// List sessions and their commands.
    Ls {
        /// The sandbox.
        id: String,
    },
    /// Delete a session (ends its shell and commands).
    Rm {
        /// The sandbox.
        id: String,
        /// The session.
        session: String,
    },
}

/// `K=V` → `(K, V)`.
fn parse_env(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected K=V, got '{s}'")),
    }
}

/// `ctrl-]` → 0x1d; letters and `[ \ ] ^ _` (the control characters a keyboard can type).
pub(crate) fn parse_detach_key(s: &str) -> Result<u8, String> {
    let key = s
        .strip_prefix("ctrl-")
        .or_else(|| s.strip_prefix("ctrl+"))
        .or_else(|| s.strip_prefix('^'))
        .ok_or_else(|| format!("expected ctrl-X, got '{s}'"))?;
    let mut chars = key.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii_alphabetic() => Ok(c.to_ascii_uppercase() as u8 - b'@'),
        (Some(c @ ('[' | '\\' | ']' | '^' | '_')), None) => Ok(c as u8 - b'@'),
        _ => Err(format!(
            "unsupported detach key '{s}': use ctrl-<letter> or one of ctrl-[ ctrl-\\ ctrl-] ctrl-^ ctrl-_"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn detach_keys() {
        assert_eq!(parse_detach_key("ctrl-]"), Ok(0x1d));
        assert_eq!(parse_detach_key("ctrl-p"), Ok(0x10));
        assert_eq!(parse_detach_key("^Q"), Ok(0x11));
        assert!(parse_detach_key("ctrl-1").is_err());
        assert!(parse_detach_key("x").is_err());
    }

    #[test]
    fn env_pairs() {
        assert_eq!(parse_env("A=b=c"), Ok(("A".into(), "b=c".into())));
        assert_eq!(parse_env("A="), Ok(("A".into(), String::new())));
        assert!(parse_env("=x").is_err());
        assert!(parse_env("A").is_err());
    }

    #[test]
    fn exec_takes_the_command_after_dashes() {
        let cli =
            Cli::try_parse_from(["sbx", "exec", "box", "--cwd", "/tmp", "--", "ls", "-l"]).unwrap();
        let Command::Exec(args) = cli.command else {
            panic!("not exec")
        };
        assert_eq!(args.id, "box");
        assert_eq!(args.command, ["ls", "-l"]);
        assert_eq!(args.cwd.as_deref(), Some("/tmp"));
    }
}
