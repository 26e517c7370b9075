//! `sbx shell`: an interactive PTY. The local terminal is in raw mode while attached and is
//! restored on every way out (the shell exits, the detach key, a signal, an error, a panic);
//! SIGWINCH resizes the remote terminal; detaching leaves the shell running, and
//! `--attach ID` reconnects with the scrollback replayed by the daemon.

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;

use process::PtySize;
use tokio::signal::unix::{signal, SignalKind};

use crate::cli::ShellArgs;
use crate::connect::process_client;
use crate::error::{exit_status, SbxError};
use crate::Ctx;

/// Raw mode for as long as it lives (restored on drop, which also runs while unwinding).
struct RawMode {
    on: bool,
}

impl RawMode {
    fn enable() -> Result<RawMode, SbxError> {
        if !std::io::stdin().is_terminal() {
            return Ok(RawMode { on: false });
        }
        crossterm::terminal::enable_raw_mode()
            .map_err(|e| SbxError::io("switching the terminal to raw mode", e))?;
        Ok(RawMode { on: true })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if self.on {
            let _ = crossterm::terminal::disable_raw_mode();
        }
    }
}

/// The local terminal's size (80×24 when stdout is not a terminal).
fn term_size() -> PtySize {
    match crossterm::terminal::size() {
        Ok((cols, rows)) if cols > 0 && rows > 0 => PtySize::new(rows, cols),
        _ => PtySize::new(24, 80),
    }
}

/// How the attachment ended.
enum End {
    /// The shell exited with this code.
    Exited(Option<i32>),
    /// The user pressed the detach key (or a signal asked sbx to leave).
    Detached,
    /// The connection failed.
    Lost(String),
}

/// `sbx shell ID`.
pub(crate) async fn run(ctx: &Ctx, args: ShellArgs) -> Result<ExitCode, SbxError> {
    let client = process_client(&ctx.conn, &args.id).await?;
    let mut pty = if let Some(existing) = &args.attach {
        let pty = client
            .connect_pty_session(existing)
            .await
            .map_err(|e| SbxError::remote(format!("attaching to PTY session '{existing}'"), e))?;
        // The daemon keeps the size of the last resize: make it ours.
        let _ = pty.resize(term_size()).await;
        pty
    } else {
        let name = args
            .name
            .clone()
            .unwrap_or_else(|| format!("sbx-shell-{}", crate::session::short_id()));
        let mut create = client.create_pty_session(&name).size(term_size());
        if let Some(cwd) = &args.cwd {
            create = create.cwd(cwd.clone());
        }
        create = create.envs(args.env.clone());
        create
            .await
            .map_err(|e| SbxError::remote(format!("creating PTY session '{name}'"), e))?
    };
    let session_id = pty.session_id().to_owned();
    let input = pty.input();

    // Keystrokes come from a thread (stdin reads block); it ends with the process.
    let (keys_tx, mut keys) = tokio::sync::mpsc::channel::<Vec<u8>>(64);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 4096];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if keys_tx.blocking_send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let mut winch = signal(SignalKind::window_change())
        .map_err(|e| SbxError::io("watching for terminal resizes", e))?;
    let mut term =
        signal(SignalKind::terminate()).map_err(|e| SbxError::io("watching for SIGTERM", e))?;
    let mut hup =
        signal(SignalKind::hangup()).map_err(|e| SbxError::io("watching for SIGHUP", e))?;

    let end = {
        let _raw = RawMode::enable()?;
        let mut stdout = std::io::stdout();
        let mut stdin_open = true;
        loop {
            tokio::select! {
                out = pty.recv() => match out {
                    Some(Ok(data)) => {
                        let _ = stdout.write_all(&data);
                        let _ = stdout.flush();
                    }
                    Some(Err(e)) => break End::Lost(e.to_string()),
                    None => match pty.exit_code() {
                        Some(code) => break End::Exited(Some(code)),
                        None => break End::Lost(pty.error().unwrap_or("connection lost").to_owned()),
                    },
                },
                key = keys.recv(), if stdin_open => match key {
                    Some(bytes) => {
                        if let Some(at) = bytes.iter().position(|b| *b == args.detach_key) {
                            if at > 0 {
                                let _ = input.send_input(&bytes[..at]).await;
                            }
                            break End::Detached;
                        }
                        if input.send_input(&bytes).await.is_err() {
                            break End::Lost("the PTY connection closed".to_owned());
                        }
                    }
                    // stdin closed (piped input ended): keep showing output until the shell exits.
                    None => stdin_open = false,
                },
                _ = winch.recv() => {
                    let _ = input.resize(term_size()).await;
                }
                _ = term.recv() => break End::Detached,
                _ = hup.recv() => break End::Detached,
            }
        }
        // `_raw` drops here: the terminal is restored before anything else is printed.
    };
    match end {
        End::Exited(code) => Ok(code.map_or(ExitCode::SUCCESS, exit_status)),
        End::Detached => {
            pty.disconnect().await;
            eprintln!(
                "\r\nsbx: detached from PTY session '{session_id}' (it keeps running); \
                 reattach with: sbx shell {} --attach {session_id}",
                args.id
            );
            Ok(ExitCode::SUCCESS)
        }
        End::Lost(why) => Err(SbxError::Lost(format!(
            "lost the PTY session '{session_id}': {why}; reattach with: sbx shell {} --attach {session_id}",
            args.id
        ))),
    }
}
