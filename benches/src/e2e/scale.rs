//! Figures 8 and 10: idle sessions and PTYs (RSS, fds), and whole-log GET memory.

use std::time::{Duration, Instant};

use process::{Client, CommandRequest};

use crate::daemon::{self, Processd};
use crate::floors::BoxError;
use crate::row::Row;

use super::{Opts, Sizes};

/// Figure 8: a fresh daemon's idle RSS, then with idle sessions; a second fresh daemon with
/// PTYs open. The daemon is a separate process, so `/proc/<pid>` figures are its own.
pub(super) async fn scale(opts: &Opts, max_log: u64, sizes: Sizes) -> Result<Vec<Row>, BoxError> {
    let mut rows = Vec::new();
    let daemon = Processd::start(&opts.processd, opts.python.as_deref(), max_log)?;
    let client = Client::connect(daemon.url.clone())?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (idle_rss, idle_fds) = usage(&daemon)?;
    rows.push(Row::plain(
        8,
        "daemon idle (fresh `processd`, nothing open): RSS, fds",
        format!("{:.1} MiB, {idle_fds} fds", idle_rss as f64 / 1024.0),
        "–",
    ));

    let n = sizes.idle_sessions;
    let t = Instant::now();
    for i in 0..n {
        client.create_session(&format!("idle-{i}")).await?;
    }
    let create_secs = t.elapsed().as_secs_f64();
    eprintln!("bench: {n} sessions created in {create_secs:.1} s");
    tokio::time::sleep(Duration::from_millis(300)).await;
    rows.push(usage_row(
        &daemon,
        (idle_rss, idle_fds),
        n,
        "session",
        format!("{n} idle sessions just created (in {create_secs:.1} s): daemon RSS, fds"),
        "sessions'",
    )?);

    // Sessions may start their shell lazily: run one command in each, then measure again.
    let t = Instant::now();
    for i in 0..n {
        let r = client
            .execute_session_command(&format!("idle-{i}"), "true")
            .await?;
        if r.exit_code != Some(0) {
            return Err(format!("`true` in session idle-{i} exited {:?}", r.exit_code).into());
        }
    }
    let warm_secs = t.elapsed().as_secs_f64();
    eprintln!("bench: one command in each of {n} sessions in {warm_secs:.1} s");
    tokio::time::sleep(Duration::from_millis(300)).await;
    rows.push(usage_row(
        &daemon,
        (idle_rss, idle_fds),
        n,
        "session",
        format!("{n} idle sessions, each after one command (`true`, {warm_secs:.1} s in all): daemon RSS, fds"),
        "sessions'",
    )?);
    let t = Instant::now();
    let ids: Vec<String> = (0..n).map(|i| format!("idle-{i}")).collect();
    for group in ids.chunks(20) {
        futures_util::future::join_all(group.iter().map(|id| client.delete_session(id))).await;
    }
    eprintln!(
        "bench: {n} sessions deleted in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    drop(client);
    drop(daemon);

    let daemon = Processd::start(&opts.processd, opts.python.as_deref(), max_log)?;
    let client = Client::connect(daemon.url.clone())?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let base = usage(&daemon)?;
    let m = sizes.ptys;
    // An empty HOME: this machine's ~/.bashrc runs `pyenv init` (~0.4 s of CPU per login
    // shell), which would measure the environment, not the daemon.
    let home = tempfile::tempdir()?;
    let mut handles = Vec::with_capacity(m);
    let t = Instant::now();
    let opened = async {
        for i in 0..m {
            handles.push(
                client
                    .create_pty_session(&format!("pty-{i}"))
                    .env("HOME", home.path().to_string_lossy())
                    .await?,
            );
        }
        Ok::<_, BoxError>(())
    }
    .await;
    let create_secs = t.elapsed().as_secs_f64();
    eprintln!("bench: {m} PTYs opened in {create_secs:.1} s");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let row = usage_row(
        &daemon,
        base,
        m,
        "PTY",
        format!("{m} PTYs open, each with a connected WebSocket (opened in {create_secs:.1} s; fresh daemon; shells with an empty HOME): daemon RSS, fds"),
        "PTYs'",
    );
    let t = Instant::now();
    for h in &handles {
        let _ = h.kill().await;
    }
    eprintln!(
        "bench: {m} PTYs killed in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    opened?;
    rows.push(row?);
    Ok(rows)
}

/// Figure 8 (issue 13 item 1): the daemon's peak memory (VmHWM over its RSS before) during
/// whole-log GETs (modern JSON answer) of one command's `bytes`-long log: one GET, then four
/// at once. A fresh daemon; the client reads and discards the bodies.
pub(super) async fn log_get_memory(opts: &Opts, bytes: u64) -> Result<Vec<Row>, BoxError> {
    let daemon = Processd::start(&opts.processd, opts.python.as_deref(), bytes.max(256 << 20))?;
    let client = Client::connect(daemon.url.clone())?;
    client.create_session("biglog").await?;
    // Three quarters stdout (quotes and backslashes to escape), then stderr: 2 markers.
    let out = bytes * 3 / 4 - 3;
    let err = bytes - out - 6;
    let script = format!(
        "yes 'a log line with \"quotes\" and \\ backslashes' | head -c {out}; yes err | head -c {err} >&2"
    );
    let started = client
        .execute_session_command("biglog", CommandRequest::new(&script).run_async(true))
        .await?;
    let t = Instant::now();
    loop {
        let cmd = client
            .get_session_command("biglog", &started.cmd_id)
            .await?;
        if let Some(code) = cmd.exit_code {
            if code != 0 {
                return Err(format!("the log producer exited {code}").into());
            }
            break;
        }
        if t.elapsed() > Duration::from_mins(2) {
            return Err("the log producer did not finish within 2 min".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let addr = daemon.url.trim_start_matches("http://").to_owned();
    let path = format!("/process/session/biglog/command/{}/logs", started.cmd_id);
    let mib = bytes >> 20;
    let mut rows = Vec::new();
    for (n, what) in [
        (
            1,
            format!("one whole-log GET (JSON) of a {mib} MiB session command log"),
        ),
        (
            4,
            format!("four concurrent whole-log GETs (JSON) of a {mib} MiB log"),
        ),
    ] {
        let before = daemon.rss_kib().ok_or("cannot read the daemon's RSS")?;
        daemon.reset_peak()?;
        let t = Instant::now();
        let got = futures_util::future::join_all((0..n).map(|_| raw_get(&addr, &path))).await;
        let secs = t.elapsed().as_secs_f64();
        for body in got {
            let body = body?;
            if body < bytes {
                return Err(
                    format!("a log GET returned {body} bytes for a {bytes}-byte log").into(),
                );
            }
        }
        let peak = daemon.peak_kib().ok_or("cannot read the daemon's VmHWM")?;
        let grown = peak.saturating_sub(before) as f64 / 1024.0;
        let mut row = Row::plain(
            8,
            format!("daemon peak memory (VmHWM) during {what} ({secs:.1} s)"),
            format!(
                "{:.1} MiB (+{grown:.1} MiB over its RSS before)",
                peak as f64 / 1024.0
            ),
            "before streaming (issue 13): +1.25 GiB for one GET of 256 MiB",
        );
        row.target = "growth ≤ 32 MiB".into();
        row.verdict = if grown <= 32.0 { "met" } else { "missed" }.into();
        rows.push(row);
    }
    let _ = client.delete_session("biglog").await;
    Ok(rows)
}

/// `GET path` on a fresh connection; the response's length in bytes (head included), read and
/// discarded. Fails unless the status is 200.
pub(super) async fn raw_get(addr: &str, path: &str) -> Result<u64, BoxError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    let mut head = Vec::new();
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        if head.len() < 12 {
            head.extend_from_slice(&buf[..n.min(12)]);
        }
        total += n as u64;
    }
    if !head.starts_with(b"HTTP/1.1 200") {
        return Err(format!("log GET answered {:?}", String::from_utf8_lossy(&head)).into());
    }
    Ok(total)
}

/// The daemon's (RSS KiB, open fds).
pub(super) fn usage(daemon: &Processd) -> Result<(u64, usize), BoxError> {
    match (daemon.rss_kib(), daemon.fd_count()) {
        (Some(rss), Some(fds)) => Ok((rss, fds)),
        _ => Err("cannot read the daemon's RSS and fds from /proc".into()),
    }
}

/// A row of the daemon's RSS and fds now, per `what` relative to `base`, with its children's
/// RSS for scale.
pub(super) fn usage_row(
    daemon: &Processd,
    base: (u64, usize),
    n: usize,
    what: &str,
    figure: String,
    whose: &str,
) -> Result<Row, BoxError> {
    let (rss, fds) = usage(daemon)?;
    let children = daemon::descendants(daemon.pid());
    let children_rss = daemon::rss_sum_kib(&children);
    Ok(Row::plain(
        8,
        figure,
        format!(
            "{:.1} MiB (+{:.1} KiB/{what}), {fds} fds (+{:.1}/{what})",
            rss as f64 / 1024.0,
            rss.saturating_sub(base.0) as f64 / n as f64,
            fds.saturating_sub(base.1) as f64 / n as f64
        ),
        format!(
            "for scale, the {whose} {} processes themselves: {:.0} MiB RSS (summed; shared pages counted in each)",
            children.len(),
            children_rss as f64 / 1024.0
        ),
    ))
}
