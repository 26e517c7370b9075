//! One interpreter context: its FIFO job queue and the runner task that owns its Python worker,
//! runs jobs one at a time, turns pipe bytes and control messages into frames (through
//! `output`), and enforces timeouts (SIGINT, then SIGKILL after a grace period).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use process_proto::chart::Chart;
use process_proto::wire::{
    CloseCode, InterpreterContext, InterpreterFrame, CONTROL_COMPLETED, CONTROL_INTERRUPTED,
};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::worker::{DoneStatus, Worker, WorkerError, WorkerMessage};

use super::output::{Output, PipeState, Stream};

/// Jobs a context queues before refusing more (spec §8.8).
pub(crate) const QUEUE_CAPACITY: usize = 128;
/// Time between the timeout's SIGINT and the SIGKILL of a worker that did not stop.
pub(crate) const INTERRUPT_GRACE: Duration = Duration::from_secs(2);
/// Time between SIGTERM and SIGKILL when a context is deleted.
pub(crate) const TERMINATE_GRACE: Duration = Duration::from_secs(2);
/// Size of one pipe read.
const READ_CHUNK: usize = 32 * 1024;
/// Output bytes waiting for a slow client before the runner stops reading the pipes.
const BACKLOG_LIMIT: usize = 1024 * 1024;
/// How long output is still collected after the worker died or was killed.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(200);

/// What the execute WebSocket receives from the runner for its job.
#[derive(Debug)]
pub(crate) enum Event {
    /// A text frame.
    Frame(Box<InterpreterFrame>),
    /// Close the socket with this code and reason; nothing follows.
    Close(CloseCode, String),
}

/// One `run_code` request.
pub(crate) struct Job {
    pub(crate) code: String,
    pub(crate) envs: HashMap<String, String>,
    /// `None`: no timeout.
    pub(crate) timeout: Option<Duration>,
    /// Where the job's frames go (the WebSocket task).
    pub(crate) events: mpsc::Sender<Event>,
}

/// A registered context.
pub(crate) struct Context {
    pub(crate) id: String,
    pub(crate) cwd: PathBuf,
    pub(crate) created_at: String,
    jobs: mpsc::Sender<Job>,
    cancel: CancellationToken,
    runner: Mutex<Option<JoinHandle<()>>>,
}

/// Why a job could not be queued.
pub(crate) enum SubmitError {
    /// The queue holds [`QUEUE_CAPACITY`] jobs.
    Full,
    /// The context is shutting down.
    Closed,
}

impl Context {
    /// Registers a context and starts its runner. `worker` is an already started worker, or
    /// `None` to start one on the first job.
    pub(crate) fn start(
        id: String,
        cwd: PathBuf,
        python: PathBuf,
        worker: Option<Worker>,
        cgroups: Option<crate::cgroup::Cgroups>,
    ) -> Context {
        let (jobs, rx) = mpsc::channel(QUEUE_CAPACITY);
        let cancel = CancellationToken::new();
        let runner = Runner {
            id: id.clone(),
            cwd: cwd.clone(),
            python,
            worker: worker.map(Live::new),
            cgroups,
            jobs: rx,
            cancel: cancel.clone(),
        };
        let handle = tokio::spawn(runner.run());
        let created_at = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        Context {
            id,
            cwd,
            created_at,
            jobs,
            cancel,
            runner: Mutex::new(Some(handle)),
        }
    }

    /// The REST view of the context.
    pub(crate) fn describe(&self) -> InterpreterContext {
        InterpreterContext::new(
            self.id.clone(),
            self.cwd.to_string_lossy(),
            self.created_at.clone(),
            !self.cancel.is_cancelled(),
            "python",
        )
    }

    /// Queues a job (FIFO).
    pub(crate) fn submit(&self, job: Job) -> Result<(), SubmitError> {
        if self.cancel.is_cancelled() {
            return Err(SubmitError::Closed);
        }
        self.jobs.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SubmitError::Full,
            mpsc::error::TrySendError::Closed(_) => SubmitError::Closed,
        })
    }

    /// Stops the context: the running job's client is closed 1001 `context shutdown`, queued
    /// jobs are refused the same way, the worker gets SIGTERM and, 2 s later, SIGKILL.
    /// Returns when the worker is gone.
    pub(crate) async fn shutdown(&self) {
        self.cancel.cancel();
        let handle = self.runner.lock().ok().and_then(|mut h| h.take());
        if let Some(handle) = handle {
            let _ = handle.await;
        }
    }
}

/// A worker plus the per-worker pipe state.
struct Live {
    worker: Worker,
    out_eof: bool,
    err_eof: bool,
}

impl Live {
    fn new(worker: Worker) -> Live {
        Live {
            worker,
            out_eof: false,
            err_eof: false,
        }
    }
}

/// Owns a context's worker and runs its jobs.
struct Runner {
    id: String,
    cwd: PathBuf,
    python: PathBuf,
    worker: Option<Live>,
    /// A cgroup per worker generation, when the daemon has a cgroup root.
    cgroups: Option<crate::cgroup::Cgroups>,
    jobs: mpsc::Receiver<Job>,
    cancel: CancellationToken,
}

/// How a job's execution loop ended.
enum Outcome {
    /// The worker reported `done` and both pipes reached their markers.
    Done(DoneStatus, Option<WorkerError>),
    /// The worker died (control channel closed or process exited).
    Died(Option<std::process::ExitStatus>),
    /// The code ignored the timeout interrupt for the grace period.
    Killed,
    /// The context is being deleted.
    Shutdown,
}

impl Runner {
    async fn run(mut self) {
        loop {
            let job = tokio::select! {
                biased;
                () = self.cancel.cancelled() => break,
                job = self.jobs.recv() => match job {
                    Some(job) => job,
                    None => break,
                },
                () = idle(&mut self.worker) => continue,
            };
            if job.events.is_closed() {
                continue; // the client left while the job was queued
            }
            if self.worker.is_none() {
                match Worker::spawn(&self.python, &self.cwd, self.cgroups.as_ref()).await {
                    Ok(worker) => self.worker = Some(Live::new(worker)),
                    Err(err) => {
                        tracing::warn!(context = %self.id, error = %err, "cannot start interpreter worker");
                        let message = format!("failed to start the Python worker: {err}");
                        let events = job.events;
                        tokio::spawn(async move {
                            let _ = events
                                .send(Event::Frame(Box::new(InterpreterFrame::error(
                                    "WorkerStartError",
                                    message.clone(),
                                    "",
                                ))))
                                .await;
                            let _ = events
                                .send(Event::Close(CloseCode::INTERNAL, message))
                                .await;
                        });
                        continue;
                    }
                }
            }
            self.run_job(job).await;
        }
        self.stop().await;
    }

    /// Terminates the worker and refuses every queued job.
    async fn stop(&mut self) {
        self.jobs.close();
        while let Ok(job) = self.jobs.try_recv() {
            let _ = job.events.try_send(Event::Close(
                CloseCode::GOING_AWAY,
                "context shutdown".into(),
            ));
        }
        if let Some(mut live) = self.worker.take() {
            live.worker.terminate(TERMINATE_GRACE).await;
        }
    }

    async fn run_job(&mut self, job: Job) {
        let Some(live) = self.worker.as_mut() else {
            return;
        };
        let mut out = Output::new(job.events);
        if let Err(err) = live.worker.ctl.send_run(&job.code, &job.envs).await {
            tracing::debug!(context = %self.id, error = %err, "cannot send a job to the worker");
            live.worker.kill().await;
            let status = live.worker.child.wait().await.ok();
            self.worker = None;
            out.push(worker_ended_frame(status));
            out.close(CloseCode::GOING_AWAY, "worker process ended");
            out.finish();
            return;
        }
        let markers = live.worker.markers();
        let mut stdout = PipeState::new(
            Stream::Stdout,
            vec![
                markers.sync.clone(),
                markers.start.clone(),
                markers.chart.clone(),
            ],
        );
        let mut stderr = PipeState::new(
            Stream::Stderr,
            vec![markers.sync.clone(), markers.start.clone()],
        );
        let deadline = job.timeout.map(|t| Instant::now() + t);
        let mut kill_at: Option<Instant> = None;
        let mut done: Option<(DoneStatus, Option<WorkerError>)> = None;
        let mut out_buf = vec![0u8; READ_CHUNK];
        let mut err_buf = vec![0u8; READ_CHUNK];

        let outcome = loop {
            if stdout.synced && stderr.synced {
                if let Some((status, error)) = done.take() {
                    stdout.flush_charts(&mut out);
                    break Outcome::Done(status, error);
                }
            }
            let room = out.backlog() < BACKLOG_LIMIT;
            let hold = out.hold_deadline();
            let sendable = out.sendable(Instant::now());
            let w = &mut live.worker;
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => break Outcome::Shutdown,
                () = sleep_until_opt(kill_at), if kill_at.is_some() && done.is_none() => {
                    break Outcome::Killed;
                }
                () = sleep_until_opt(deadline), if deadline.is_some() && kill_at.is_none() && done.is_none() => {
                    tracing::debug!(context = %self.id, "job timed out: interrupting");
                    w.interrupt();
                    kill_at = Some(Instant::now() + INTERRUPT_GRACE);
                }
                r = w.stdout.read(&mut out_buf), if room && !live.out_eof && stdout.wants_data() => match r {
                    Ok(n) if n > 0 => stdout.feed(&out_buf[..n], &mut out),
                    _ => {
                        live.out_eof = true;
                        stdout.end(&mut out);
                    }
                },
                r = w.stderr.read(&mut err_buf), if room && !live.err_eof && stderr.wants_data() => match r {
                    Ok(n) if n > 0 => stderr.feed(&err_buf[..n], &mut out),
                    _ => {
                        live.err_eof = true;
                        stderr.end(&mut out);
                    }
                },
                msg = w.ctl.next_message(), if done.is_none() => match msg {
                    Ok(Some(WorkerMessage::Chart { chart })) => {
                        let chart = Chart::from_value(chart)
                            .map_err(|err| tracing::warn!(context = %self.id, error = %err, "worker sent an unreadable chart"))
                            .ok();
                        stdout.chart(chart, &mut out);
                    }
                    Ok(Some(WorkerMessage::Log { message })) => {
                        tracing::warn!(context = %self.id, "interpreter worker: {message}");
                    }
                    Ok(Some(WorkerMessage::Done { status, error })) => {
                        // Every chart was sent before `done`: a marker still waiting has none.
                        if stdout.awaiting_chart {
                            stdout.chart(None, &mut out);
                        }
                        done = Some((status, error));
                    }
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break Outcome::Died(None),
                },
                status = w.child.wait() => break Outcome::Died(status.ok()),
                r = out.send_one(), if sendable => {
                    if r.is_err() {
                        out.client_gone();
                    }
                }
                () = sleep_until_opt(hold), if hold.is_some() => {}
            }
        };

        match outcome {
            Outcome::Done(status, error) => {
                let timed_out = kill_at.is_some();
                if status == DoneStatus::Interrupted && timed_out {
                    out.push(InterpreterFrame::control(CONTROL_INTERRUPTED));
                    out.close(CloseCode::INTERPRETER_TIMEOUT, "");
                } else {
                    if let Some(e) = error {
                        out.push(InterpreterFrame::error(e.name, e.value, e.traceback));
                    }
                    out.push(InterpreterFrame::control(CONTROL_COMPLETED));
                    out.close(CloseCode::NORMAL, "");
                }
            }
            Outcome::Died(mut status) => {
                if let Some(mut live) = self.worker.take() {
                    drain(&mut live, &mut stdout, &mut stderr, &mut out).await;
                    live.worker.kill().await;
                    if status.is_none() {
                        status = live.worker.child.wait().await.ok();
                    }
                }
                tracing::info!(context = %self.id, ?status, "interpreter worker ended during a job");
                out.push(worker_ended_frame(status));
                out.close(CloseCode::GOING_AWAY, "worker process ended");
            }
            Outcome::Killed => {
                tracing::info!(context = %self.id, "job ignored the interrupt: killing the worker");
                if let Some(mut live) = self.worker.take() {
                    live.worker.kill().await;
                    drain(&mut live, &mut stdout, &mut stderr, &mut out).await;
                }
                out.push(InterpreterFrame::error(
                    process_proto::wire::CONTEXT_RESTARTED,
                    format!(
                        "the code did not stop within {} s of the timeout interrupt, so the context's \
                         Python worker was killed; its variables and imports are lost and a fresh \
                         worker starts on the next run",
                        INTERRUPT_GRACE.as_secs()
                    ),
                    "",
                ));
                out.push(InterpreterFrame::control(CONTROL_INTERRUPTED));
                out.close(CloseCode::INTERPRETER_TIMEOUT, "");
            }
            Outcome::Shutdown => {
                out.close(CloseCode::GOING_AWAY, "context shutdown");
            }
        }
        out.finish();
    }
}

/// The error frame sent when the worker died during a job.
fn worker_ended_frame(status: Option<std::process::ExitStatus>) -> InterpreterFrame {
    let how = status.map_or_else(|| "unknown status".to_owned(), |s| s.to_string());
    InterpreterFrame::error(
        "WorkerExited",
        format!(
            "the context's Python worker ended while running this code ({how}); its state is \
             lost and a fresh worker starts on the next run"
        ),
        "",
    )
}

/// Collects what is still in the pipes of a dead or killed worker (bounded in time).
async fn drain(live: &mut Live, stdout: &mut PipeState, stderr: &mut PipeState, out: &mut Output) {
    let until = Instant::now() + DRAIN_AFTER_EXIT;
    let mut out_buf = vec![0u8; READ_CHUNK];
    let mut err_buf = vec![0u8; READ_CHUNK];
    while !(stdout.synced && stderr.synced) {
        let w = &mut live.worker;
        tokio::select! {
            () = tokio::time::sleep_until(until) => break,
            r = w.stdout.read(&mut out_buf), if !stdout.synced => match r {
                Ok(n) if n > 0 => {
                    stdout.scanner.push(&out_buf[..n]);
                    stdout.process(out, true);
                }
                _ => stdout.end(out),
            },
            r = w.stderr.read(&mut err_buf), if !stderr.synced => match r {
                Ok(n) if n > 0 => stderr.feed(&err_buf[..n], out),
                _ => stderr.end(out),
            },
        }
    }
    stdout.end(out);
    stderr.end(out);
}

/// Between jobs: reads and discards output of background writers, notices a worker's death.
/// Never completes while no worker runs. Cancel-safe.
async fn idle(slot: &mut Option<Live>) {
    let Some(live) = slot.as_mut() else {
        return std::future::pending().await;
    };
    let mut buf = vec![0u8; READ_CHUNK];
    let mut buf2 = vec![0u8; READ_CHUNK];
    let w = &mut live.worker;
    tokio::select! {
        r = w.stdout.read(&mut buf), if !live.out_eof => {
            match r {
                Ok(n) if n > 0 => tracing::debug!(bytes = n, "discarding stdout written between jobs"),
                _ => live.out_eof = true,
            }
        }
        r = w.stderr.read(&mut buf2), if !live.err_eof => {
            match r {
                Ok(n) if n > 0 => tracing::debug!(bytes = n, "discarding stderr written between jobs"),
                _ => live.err_eof = true,
            }
        }
        msg = w.ctl.next_message() => {
            if !matches!(msg, Ok(Some(_))) {
                live.worker.kill().await;
                tracing::info!(pid = live.worker.pid().as_raw(), "idle interpreter worker ended");
                *slot = None;
            }
        }
        status = w.child.wait() => {
            tracing::info!(?status, "idle interpreter worker exited");
            live.worker.kill().await;
            *slot = None;
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
