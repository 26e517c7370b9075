//! Stateful Python interpreter contexts (spec §7): the registry, the REST handlers and the
//! execute WebSocket.
//!
//! # Behaviour
//!
//! - **Contexts.** `POST /process/interpreter/context` (`{"cwd"?, "language"?}`, only `python`)
//!   starts a Python worker in `cwd` (default: the daemon's work dir; a relative `cwd` is taken
//!   from there) and answers 200 with the context. `GET …/context` lists contexts except
//!   `default`; `DELETE …/context/{id}` stops one (SIGTERM to the worker and everything it
//!   started, SIGKILL 2 s later; a connected client is closed 1001 `context shutdown`). The
//!   `default` context is addressable from the start; its worker starts on its first run.
//!   Deleting it is refused (400), an unknown id is 404 `PROCESS_NOT_FOUND`.
//! - **Workers.** One long-lived Python process per context keeps one `__main__` namespace, so
//!   variables, imports and functions persist across runs. The worker's fd 1 and fd 2 are pipes
//!   the daemon reads directly: output of `print`, `os.system`, subprocesses and C extensions
//!   all arrives, in the order it was written to each fd, with no line-length limit (a 10 MiB
//!   write without a newline arrives whole). Output waiting for a slow client is merged into
//!   frames of up to 960 KiB of JSON (always under 1 MiB, so aiohttp's 4 MiB limit is never
//!   reached); a trailing partial line waits up to 10 ms for its newline. The worker's control
//!   channel is a separate Unix socket, so user output can never corrupt it.
//!   stdin is `/dev/null`.
//! - **Runs.** `GET /process/interpreter/execute` upgrades to a WebSocket (echoing the first
//!   offered subprotocol); the client's first message is `{"code", "contextId"?, "envs"?,
//!   "timeout"?}`. Runs of one context are queued FIFO (128 at most) and run one at a time.
//!   `envs` are set in `os.environ` for the run and restored afterwards. Frames are text JSON
//!   objects with the keys `type`, `text`, `name`, `value`, `traceback`: `stdout`/`stderr` output
//!   (UTF-8 decoded without splitting characters), one `error` for an uncaught exception (class
//!   name, `str()` value, traceback of the user's frames only, cells named `<cell-N>`), `chart`
//!   frames (an extension the official SDK ignores) for matplotlib figures shown with
//!   `plt.show()`, and a final `control` frame `completed` or `interrupted`. All output a run
//!   wrote reaches the client before its `control` frame: the worker writes a start marker to
//!   both pipes when the run begins and a sync marker before reporting its end, and the daemon
//!   forwards pipe bytes between the markers. Output written between runs (background threads
//!   or processes) is discarded. A chart frame is placed where a chart marker in the stdout
//!   pipe says, between the output written before and after `plt.show()`.
//! - **Close codes.** 1000 after a run completed (also after an error); 4008 on timeout; 1002
//!   `invalid JSON payload` / `failed to read first message`; 1008 `code is required`,
//!   `timeout must be greater than or equal to 0`, `context not found: <id>`; 1011 when the
//!   worker cannot start (preceded by a `WorkerStartError` error frame); 1001 `worker process ended` (the worker died during the run, preceded
//!   by a `WorkerExited` error frame) or `context shutdown`; 1013 when the queue is full.
//! - **Timeouts.** Default 600 s, `0` = none. At the deadline the worker gets SIGINT: the code
//!   sees `KeyboardInterrupt`, the context keeps its state, the client gets `control`
//!   `interrupted` and close 4008. If the code is still running 2 s later (it ignores SIGINT, or
//!   is stuck in C code), the worker and everything it started are SIGKILLed; the client gets a
//!   `ContextRestarted` error frame, `interrupted` and 4008, and the next run starts a fresh
//!   worker. A `KeyboardInterrupt` the code raises itself is an ordinary error (close 1000),
//!   unlike the original daemon, which reports it as a timeout.
//! - **Python.** `Config::python` if set, else the real executable behind `python3` on `PATH`,
//!   resolved once. Workers run with the daemon's environment (minus its secrets) plus
//!   `MPLBACKEND=Agg` when unset, in their own process group.

mod context;
mod error;
mod output;
mod stream;
mod worker;
pub(crate) mod ws;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use process_proto::wire::{
    CreateContextRequest, InterpreterContext, ListContextsResponse, DEFAULT_CONTEXT_ID,
};

use self::context::Context;
pub(crate) use self::error::InterpreterError;
use crate::Config;

/// Registry of interpreter contexts (the `default` one included, once used).
pub struct InterpreterManager {
    workdir: PathBuf,
    python: crate::runtimes::Python,
    contexts: Mutex<HashMap<String, Arc<Context>>>,
    /// Most contexts at once (`default` not counted).
    max: usize,
    /// A cgroup per worker, when the daemon has a cgroup root.
    pub(crate) cgroups: Option<crate::cgroup::Cgroups>,
}

impl InterpreterManager {
    /// An empty registry. Starts no process: the `default` context's worker starts on its
    /// first run.
    pub(crate) fn new(config: &Config, python: crate::runtimes::Python) -> InterpreterManager {
        InterpreterManager {
            workdir: config.workdir.clone(),
            python,
            contexts: Mutex::new(HashMap::new()),
            max: config.max_contexts.max(1),
            cgroups: None,
        }
    }

    /// Stops every worker (SIGTERM, SIGKILL after 2 s) and forgets every context.
    pub async fn shutdown(&self) {
        let all: Vec<Arc<Context>> = self.lock().drain().map(|(_, c)| c).collect();
        futures_util::future::join_all(all.iter().map(|c| c.shutdown())).await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Context>>> {
        self.contexts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The interpreter workers run (the daemon's one resolution, shared with code-run).
    pub(crate) async fn python(&self) -> PathBuf {
        self.python.get().await
    }

    /// `POST /process/interpreter/context`.
    pub(crate) async fn create(
        &self,
        req: CreateContextRequest,
    ) -> Result<InterpreterContext, InterpreterError> {
        if let Some(lang) = req.language.as_deref().filter(|l| !l.is_empty()) {
            if lang != "python" {
                return Err(InterpreterError::UnsupportedLanguage(lang.to_owned()));
            }
        }
        let cwd = match req.cwd.as_deref().filter(|c| !c.is_empty()) {
            Some(c) => self.workdir.join(c),
            None => self.workdir.clone(),
        };
        if self.counted() >= self.max {
            return Err(InterpreterError::TooMany(self.max));
        }
        let python = self.python().await;
        let worker = worker::Worker::spawn(&python, &cwd, self.cgroups.as_ref())
            .await
            .map_err(InterpreterError::WorkerStart)?;
        let id = uuid::Uuid::new_v4().to_string();
        let context = Arc::new(Context::start(
            id.clone(),
            cwd,
            python,
            Some(worker),
            self.cgroups.clone(),
        ));
        let described = context.describe();
        // Concurrent creates may have filled the registry while this worker started.
        let refused = {
            let mut contexts = self.lock();
            if contexts.keys().filter(|k| *k != DEFAULT_CONTEXT_ID).count() >= self.max {
                Some(context)
            } else {
                contexts.insert(id, context);
                None
            }
        };
        if let Some(context) = refused {
            context.shutdown().await;
            return Err(InterpreterError::TooMany(self.max));
        }
        Ok(described)
    }

    /// How many contexts count against the limit (all but `default`).
    fn counted(&self) -> usize {
        self.lock()
            .keys()
            .filter(|k| *k != DEFAULT_CONTEXT_ID)
            .count()
    }

    /// `GET /process/interpreter/context`: every context but `default`, oldest first.
    pub(crate) fn list(&self) -> ListContextsResponse {
        let mut contexts: Vec<InterpreterContext> = self
            .lock()
            .values()
            .filter(|c| c.id != DEFAULT_CONTEXT_ID)
            .map(|c| c.describe())
            .collect();
        contexts.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        ListContextsResponse::new(contexts)
    }

    /// `DELETE /process/interpreter/context/{id}`; returns once the worker is gone.
    pub(crate) async fn delete(&self, id: &str) -> Result<(), InterpreterError> {
        if id == DEFAULT_CONTEXT_ID {
            return Err(InterpreterError::DeleteDefault);
        }
        let removed = self.lock().remove(id);
        let Some(context) = removed else {
            return Err(InterpreterError::NotFound(id.to_owned()));
        };
        context.shutdown().await;
        Ok(())
    }

    /// The context a run goes to: `id`, or `default` (registered on first use).
    fn context_for_run(&self, id: Option<&str>) -> Result<Arc<Context>, InterpreterError> {
        let id = id.filter(|i| !i.is_empty()).unwrap_or(DEFAULT_CONTEXT_ID);
        let mut contexts = self.lock();
        if let Some(c) = contexts.get(id) {
            return Ok(c.clone());
        }
        if id != DEFAULT_CONTEXT_ID {
            return Err(InterpreterError::RunContextNotFound(id.to_owned()));
        }
        let Some(python) = self.python.resolved() else {
            return Err(InterpreterError::PythonUnresolved);
        };
        let context = Arc::new(Context::start(
            DEFAULT_CONTEXT_ID.to_owned(),
            self.workdir.clone(),
            python,
            None,
            self.cgroups.clone(),
        ));
        contexts.insert(DEFAULT_CONTEXT_ID.to_owned(), context.clone());
        Ok(context)
    }
}

#[cfg(test)]
mod tests {
    /// Code-run and interpreter contexts share the daemon's one Python resolution.
    #[tokio::test]
    async fn the_interpreter_uses_the_code_run_resolution() {
        let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut config = crate::Config::new(dirs.0.path(), dirs.1.path());
        config.python = Some("/opt/py/bin/python3".into());
        let daemon = crate::Daemon::new(config).unwrap();
        assert!(daemon.inner.interpreter.python.resolved().is_none());
        daemon.runtimes().python().await;
        assert_eq!(
            daemon.inner.interpreter.python.resolved(),
            Some("/opt/py/bin/python3".into())
        );
    }
}
