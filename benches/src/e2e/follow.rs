//! Figure 5: log follow throughput beside a pipe, on disk and on tmpfs.

use std::path::Path;
use std::time::Instant;

use futures_util::StreamExt;
use process::{Client, CommandRequest};

use crate::daemon::Processd;
use crate::floors::{self, BoxError};
use crate::row::{rate, Better, Row};
use crate::stats::Summary;

use super::{Opts, Sizes};

/// Figure 5: an async session command writing `follow_bytes`, followed over the WebSocket, vs
/// the same command's stdout read through a plain pipe; alternated, medians of the reps.
pub(super) async fn log_follow(client: &Client, sizes: Sizes) -> Result<Vec<Row>, BoxError> {
    let bytes = sizes.follow_bytes;
    let (mut ours, mut pipe) = (Vec::new(), Vec::new());
    for rep in 0..sizes.follow_reps {
        pipe.push(pipe_rate(bytes).await?);
        ours.push(follow_once(client, &format!("bench-follow-{rep}"), bytes).await?);
    }
    let ours_s = Summary::of(&mut ours).ok_or("no samples")?;
    let pipe_s = Summary::of(&mut pipe).ok_or("no samples")?;
    Ok(vec![Row::ratio(
        5,
        format!(
            "follow {} MiB written by an async session command (WebSocket, client demux), median of {}",
            bytes >> 20,
            ours_s.n
        ),
        rate(ours_s.p50),
        format!("same command's stdout through a plain pipe (tokio) {}", rate(pipe_s.p50)),
        ours_s.p50 / pipe_s.p50,
        Some((Better::Higher, 0.6)),
    )])
}

/// Figure 5, diagnosis: one follow against a daemon whose state dir (where the log file lives)
/// is on tmpfs, beside the pipe floor.
pub(super) async fn follow_on_tmpfs(opts: &Opts, max_log: u64, sizes: Sizes) -> Vec<Row> {
    let figure = "diagnosis: the same follow with the daemon's state dir (the log file) on tmpfs";
    let shm = Path::new("/dev/shm");
    if !shm.is_dir() {
        return vec![Row::not_measured(5, figure, "no /dev/shm")];
    }
    let run = async {
        let mem = Processd::start_in(&opts.processd, opts.python.as_deref(), max_log, shm)?;
        let client = Client::connect(mem.url.clone())?;
        let pipe = pipe_rate(sizes.follow_bytes).await?;
        let ours = follow_once(&client, "bench-follow-tmpfs", sizes.follow_bytes).await?;
        let mut row = Row::ratio(
            5,
            figure,
            rate(ours),
            format!("plain pipe {}", rate(pipe)),
            ours / pipe,
            None,
        );
        row.target = "(one run)".into();
        Ok::<_, BoxError>(vec![row])
    };
    match run.await {
        Ok(rows) => rows,
        Err(e) => vec![Row::not_measured(5, figure, e.to_string())],
    }
}

/// The producer's stdout read through a plain pipe, bytes per second.
pub(super) async fn pipe_rate(bytes: u64) -> Result<f64, BoxError> {
    let (n, secs) = floors::pipe_throughput(bytes).await?;
    if n != bytes {
        return Err(format!("the pipe floor read {n} bytes, expected {bytes}").into());
    }
    Ok(n as f64 / secs)
}

/// Runs the producer as an async command of a new session `sid` and follows its log to the
/// end over the WebSocket; bytes per second from the request to the end of the stream.
pub(super) async fn follow_once(client: &Client, sid: &str, bytes: u64) -> Result<f64, BoxError> {
    let script = floors::producer_script(bytes);
    client.create_session(sid).await?;
    let t = Instant::now();
    let follow = async {
        let started = client
            .execute_session_command(sid, CommandRequest::new(&script).run_async(true))
            .await?;
        let mut logs = client
            .stream_session_command_logs(sid, &started.cmd_id)
            .await?;
        let (mut out, mut err) = (0u64, 0u64);
        while let Some(chunk) = logs.next().await {
            let chunk = chunk?;
            match chunk.stream {
                process::OutputStream::Stdout => out += chunk.data.len() as u64,
                process::OutputStream::Stderr => err += chunk.data.len() as u64,
            }
        }
        Ok::<_, BoxError>((out, err))
    };
    let result = follow.await;
    let secs = t.elapsed().as_secs_f64();
    let _ = client.delete_session(sid).await;
    let (out, err) = result?;
    if out != bytes || err != 0 {
        return Err(
            format!("followed {out} stdout + {err} stderr bytes, expected {bytes} + 0").into(),
        );
    }
    Ok(bytes as f64 / secs)
}
