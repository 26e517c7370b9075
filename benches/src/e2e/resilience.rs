//! Figure 11 (reported in section 8): what survives a crash and a flaky network.
//!
//! - **SIGKILL + restart cycles:** each cycle runs a finished and a still-running session
//!   command, SIGKILLs the daemon alone (its children live on, as after a crash), restarts it on
//!   the same state directory and checks every record of every cycle so far: exit codes and
//!   logs kept, running commands reported lost, no process of a killed daemon still alive
//!   (identified by pid **and** start time).
//! - **Dropped follows:** a log follow through a proxy that cuts the TCP connection again and
//!   again; the facade resumes at the offset it has received. Bytes lost and duplicated are
//!   counted against the exact expected output.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use process::{Client, CommandRequest, OutputStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::daemon::{self, Processd};
use crate::floors::BoxError;
use crate::row::Row;
use crate::stats::Summary;

use super::Opts;

/// The section these rows are reported in (scale and memory).
const SECTION: u32 = 8;

/// One finished command to find again after every restart.
struct Finished {
    session: String,
    id: String,
    code: i32,
    stdout: String,
    stderr: String,
}

/// A process of a killed daemon: its pid and its start time (clock ticks since boot).
type ProcessId = (u32, u64);

/// `cycles` SIGKILL + restart cycles on one state directory.
pub(super) async fn restart_cycles(opts: &Opts, cycles: usize) -> Result<Vec<Row>, BoxError> {
    let python = opts.python.as_deref();
    let mut daemon = Processd::start(&opts.processd, python, 64 << 20)?;
    let mut finished: Vec<Finished> = Vec::new();
    let mut running: Vec<(String, String)> = Vec::new();
    let mut orphans: Vec<ProcessId> = Vec::new();
    let mut restart = Vec::with_capacity(cycles);
    let (mut kept, mut reported_lost, mut alive) = (0usize, 0usize, 0usize);
    for cycle in 0..cycles {
        let client = Client::connect(daemon.url.clone())?;
        let session = format!("crash-{cycle}");
        client.create_session(&session).await?;
        let code = i32::try_from(cycle % 7)?;
        let done = client
            .execute_session_command(
                &session,
                format!("echo out-{cycle}; echo err-{cycle} >&2; (exit {code})"),
            )
            .await?;
        finished.push(Finished {
            session: session.clone(),
            id: done.cmd_id.clone(),
            code,
            stdout: format!("out-{cycle}\n"),
            stderr: format!("err-{cycle}\n"),
        });
        let marker = format!("crash-sleep-{}-{cycle}", daemon.pid());
        let started = client
            .execute_session_command(
                &session,
                CommandRequest::new(format!("echo started; exec -a {marker} sleep 600"))
                    .run_async(true),
            )
            .await?;
        running.push((session.clone(), started.cmd_id.clone()));
        let deadline = Instant::now() + Duration::from_secs(20);
        let pids = loop {
            let pids = processes_named(&marker);
            if !pids.is_empty() || Instant::now() > deadline {
                break pids;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        if pids.is_empty() {
            return Err(format!("cycle {cycle}: the running command never started").into());
        }
        orphans.extend(pids);
        drop(client);

        let dirs = daemon.kill_hard()?;
        let t = Instant::now();
        daemon = Processd::restart(&opts.processd, python, 64 << 20, dirs)?;
        let client = Client::connect(daemon.url.clone())?;
        client.list_sessions().await?;
        restart.push(t.elapsed().as_secs_f64() * 1e6);

        // Every record of every cycle so far, after every restart.
        (kept, reported_lost) = (0, 0);
        for f in &finished {
            let info = client.get_session_command(&f.session, &f.id).await?;
            let logs = client.get_session_command_logs(&f.session, &f.id).await?;
            if info.exit_code == Some(f.code) && logs.stdout == f.stdout && logs.stderr == f.stderr
            {
                kept += 1;
            }
        }
        for (session, id) in &running {
            let info = client.get_session_command(session, id).await?;
            if info.status.as_deref() == Some("lost") {
                reported_lost += 1;
            }
        }
        alive = orphans.iter().filter(|p| still_running(**p)).count();
    }
    let total = finished.len();
    let all_kept = kept == total && reported_lost == running.len() && alive == 0;
    let restart = Summary::of(&mut restart).ok_or("no restart was measured")?;
    Ok(vec![
        Row::plain(
            SECTION,
            format!(
                "records kept across {cycles} SIGKILL + restart cycles on one state dir (per cycle: a \
                 finished command and a running one, in a new session; all checked after every restart)"
            ),
            format!(
                "{kept}/{total} finished commands with exit code and logs; {reported_lost}/{} running \
                 ones reported lost; {alive} of the killed daemons' {} processes alive",
                running.len(),
                orphans.len()
            ),
            format!("restart → first answer p50 {}", crate::row::micros(restart.p50)),
        )
        .with_target("all kept, all lost ones reported, 0 alive", all_kept),
    ])
}

/// A follow across `drops` dropped connections.
pub(super) async fn dropped_follows(opts: &Opts, drops: usize) -> Result<Vec<Row>, BoxError> {
    let daemon = Processd::start(&opts.processd, opts.python.as_deref(), 256 << 20)?;
    let upstream: SocketAddr = daemon.url.trim_start_matches("http://").parse()?;
    let client = Client::connect(daemon.url.clone())?;
    let (proxy, cuts) = cutting_proxy(upstream, drops).await?;
    let lines = 40_000 + drops * 12_000;
    client.create_session("resume").await?;
    let cmd = client
        .execute_session_command(
            "resume",
            CommandRequest::new(format!(
                "seq 1 {half}; seq 1 1000 >&2; sleep 0.3; seq {next} {lines}",
                half = lines / 2,
                next = lines / 2 + 1
            ))
            .run_async(true),
        )
        .await?;
    let through = Client::connect(proxy)?;
    let mut stream = through
        .stream_session_command_logs("resume", &cmd.cmd_id)
        .await?;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        match chunk.stream {
            OutputStream::Stdout => out.extend_from_slice(&chunk.data),
            OutputStream::Stderr => err.extend_from_slice(&chunk.data),
        }
    }
    let (lost_out, dup_out) = difference(&out, &numbers(lines));
    let (lost_err, dup_err) = difference(&err, &numbers(1000));
    let (lost, duplicated) = (lost_out + lost_err, dup_out + dup_err);
    let dropped = cuts.load(Ordering::Relaxed);
    Ok(vec![Row::plain(
        SECTION,
        format!(
            "one log follow through a proxy that cut its TCP connection {dropped} times (the \
             facade resumes at the offset received)"
        ),
        format!(
            "{} bytes received: {lost} lost, {duplicated} duplicated",
            out.len() + err.len()
        ),
        "–",
    )
    .with_target(
        format!("{drops} cuts, 0 lost, 0 duplicated"),
        dropped == drops && lost == 0 && duplicated == 0,
    )])
}

/// `seq 1 n`'s output.
fn numbers(n: usize) -> Vec<u8> {
    (1..=n).fold(Vec::new(), |mut s, i| {
        s.extend_from_slice(i.to_string().as_bytes());
        s.push(b'\n');
        s
    })
}

/// Bytes of `expected` missing from `got`, and bytes of `got` beyond `expected`, line by line
/// (each line of `seq` is unique, so a line received twice is a duplicate).
fn difference(got: &[u8], expected: &[u8]) -> (usize, usize) {
    use std::collections::HashMap;
    let mut counts: HashMap<&[u8], isize> = HashMap::new();
    for line in expected.split_inclusive(|b| *b == b'\n') {
        *counts.entry(line).or_default() += 1;
    }
    let mut duplicated = 0usize;
    for line in got.split_inclusive(|b| *b == b'\n') {
        let c = counts.entry(line).or_default();
        *c -= 1;
        if *c < 0 {
            duplicated += line.len();
        }
    }
    let lost = counts
        .iter()
        .filter(|(_, c)| **c > 0)
        .map(|(line, c)| line.len() * c.unsigned_abs())
        .sum();
    (lost, duplicated)
}

/// A TCP proxy to `upstream` that rewrites the request's Host to the upstream's and cuts each of
/// its first `cuts` connections after a varying number of bytes towards the client (inside
/// frame headers, payloads, anywhere). Returns its URL and how many connections it has cut.
async fn cutting_proxy(
    upstream: SocketAddr,
    cuts: usize,
) -> Result<(String, Arc<AtomicUsize>), BoxError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let done = Arc::new(AtomicUsize::new(0));
    let counter = done.clone();
    tokio::spawn(async move {
        let mut n = 0usize;
        while let Ok((client, _)) = listener.accept().await {
            n += 1;
            let budget = (n <= cuts).then_some(40_000 + (n * 7919) % 50_000);
            tokio::spawn(relay(client, upstream, budget, counter.clone()));
        }
    });
    Ok((format!("http://{addr}"), done))
}

/// One proxied connection; with a `budget`, cut after that many bytes towards the client.
async fn relay(
    mut client: tokio::net::TcpStream,
    upstream: SocketAddr,
    budget: Option<usize>,
    cuts: Arc<AtomicUsize>,
) {
    let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else {
        return;
    };
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte).await.unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
    let head: Vec<String> = String::from_utf8_lossy(&head)
        .split("\r\n")
        .map(|line| {
            if line.to_ascii_lowercase().starts_with("host:") {
                format!("host: {upstream}")
            } else {
                line.to_owned()
            }
        })
        .collect();
    if server
        .write_all(head.join("\r\n").as_bytes())
        .await
        .is_err()
    {
        return;
    }
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut cr, &mut sw).await;
    });
    let mut sent = 0usize;
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(k) = sr.read(&mut buf).await {
        if k == 0 {
            break;
        }
        if let Some(budget) = budget.filter(|b| sent + k >= *b) {
            let _ = cw.write_all(&buf[..budget - sent]).await;
            cuts.fetch_add(1, Ordering::Relaxed);
            break;
        }
        if cw.write_all(&buf[..k]).await.is_err() {
            break;
        }
        sent += k;
    }
    up.abort();
}

/// Processes whose command line starts with `name` (`exec -a` sets it), as (pid, start time).
fn processes_named(name: &str) -> Vec<ProcessId> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        if cmdline.starts_with(name.as_bytes()) {
            if let Some(start) = daemon::start_time(pid) {
                found.push((pid, start));
            }
        }
    }
    found
}

/// Whether the process `(pid, start)` is still running (the same pid with another start time
/// is another process).
fn still_running((pid, start): ProcessId) -> bool {
    daemon::start_time(pid) == Some(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_and_duplicated_bytes_are_counted_line_by_line() {
        let expected = numbers(5);
        assert_eq!(difference(&expected, &expected), (0, 0));
        assert_eq!(difference(b"1\n2\n4\n5\n", &expected), (2, 0));
        assert_eq!(difference(b"1\n2\n3\n3\n4\n5\n", &expected), (0, 2));
        assert_eq!(difference(b"1\n2\n", &expected), (6, 0));
    }
}
