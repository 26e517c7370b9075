//! Figure 7: PTY keystroke echo beside the kernel PTY echo plus an HTTP round trip.

use std::time::{Duration, Instant};

use process::Client;

use crate::floors::{self, BareServer, BoxError};
use crate::row::{micros, Row};

use super::{summary, Sizes};

/// Figure 7: a keystroke sent to a PTY until its echo comes back, through the WebSocket.
pub(super) async fn pty_echo(client: &Client, sizes: Sizes) -> Result<Vec<Row>, BoxError> {
    let bare = BareServer::start()?;
    // An empty HOME, as in figure 8: no login profile of this machine's user.
    let home = tempfile::tempdir()?;
    let mut pty = client
        .create_pty_session("bench-pty")
        .env("HOME", home.path().to_string_lossy())
        .await?;
    let run = async {
        drain_quiet(&mut pty, Duration::from_millis(300), Duration::from_secs(5)).await?;
        let mut samples = Vec::with_capacity(sizes.pty_keys);
        for i in 0..sizes.pty_keys {
            if i > 0 && i % 50 == 0 {
                // Clear the line (Ctrl-U) so the prompt line stays short.
                pty.send_input(b"\x15").await?;
                drain_quiet(&mut pty, Duration::from_millis(50), Duration::from_secs(2)).await?;
            }
            let t = Instant::now();
            pty.send_input(b"x").await?;
            loop {
                let data = tokio::time::timeout(Duration::from_secs(5), pty.recv())
                    .await
                    .map_err(|_| "no echo within 5 s")?
                    .ok_or("the PTY ended")??;
                if data.contains(&b'x') {
                    break;
                }
            }
            samples.push(t.elapsed());
        }
        Ok::<_, BoxError>(samples)
    };
    let samples = run.await;
    let _ = pty.kill().await;
    let ours = summary(&samples?)?;
    let kernel = tokio::task::spawn_blocking(|| floors::pty_kernel_echo(2000)).await??;
    let kernel = summary(&kernel)?;
    let http = summary(&floors::http_rtt(bare.addr, 2000).await?)?;
    let floor50 = kernel.p50 + http.p50;
    let floor99 = kernel.p99 + http.p99;
    Ok(vec![
        Row::ratio(
            7,
            format!(
                "keystroke → echo through the PTY WebSocket (bash + readline), p50 (n = {})",
                ours.n
            ),
            micros(ours.p50),
            format!(
                "kernel PTY echo (no shell) {} + bare hyper RTT {} = {}",
                micros(kernel.p50),
                micros(http.p50),
                micros(floor50)
            ),
            ours.p50 / floor50,
            None,
        )
        // Issue 14, target 8.
        .with_target("p50 ≤ 1.3×", ours.p50 / floor50 <= 1.3),
        Row::ratio(
            7,
            format!("keystroke → echo, p99 (n = {})", ours.n),
            micros(ours.p99),
            format!(
                "kernel PTY echo p99 {} + bare hyper RTT p99 {} = {}",
                micros(kernel.p99),
                micros(http.p99),
                micros(floor99)
            ),
            ours.p99 / floor99,
            None,
        ),
    ])
}

/// Reads PTY output until none arrives for `quiet`, at most `limit` in all.
pub(super) async fn drain_quiet(
    pty: &mut process::PtyHandle,
    quiet: Duration,
    limit: Duration,
) -> Result<(), BoxError> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        match tokio::time::timeout(quiet, pty.recv()).await {
            Err(_) => return Ok(()),
            Ok(None) => return Err("the PTY ended".into()),
            Ok(Some(r)) => {
                r?;
            }
        }
    }
    Ok(())
}
