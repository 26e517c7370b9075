//! The registry of sessions: create (with the cap), look up, delete, the entrypoint session,
//! bringing back what a previous incarnation recorded, and shutdown.

use std::collections::HashMap;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use process_proto::log::OutputStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::log::CommandLog;
use super::{
    shell, CommandRec, Session, SessionCore, SessionError, ENTRYPOINT_COMMAND_ID,
    ENTRYPOINT_SESSION_ID, LOST,
};
use crate::store::{Op, SessionRow, Store};

/// The registry of sessions.
pub(crate) struct Sessions {
    root: PathBuf,
    workdir: PathBuf,
    max_log: u64,
    /// Most sessions at once (the entrypoint's not counted).
    cap: usize,
    store: Arc<Store>,
    map: Mutex<HashMap<String, Arc<Session>>>,
    /// A cgroup per session, when the daemon has a cgroup root.
    cgroups: Option<crate::cgroup::Cgroups>,
    /// The shell every session runs.
    shell: PathBuf,
}

impl Sessions {
    /// A registry keeping session state under `<state_dir>/sessions`, its records in `store`.
    /// Call [`Sessions::restore`] to bring back what a previous incarnation recorded.
    pub(crate) fn new(
        state_dir: &Path,
        workdir: &Path,
        max_log: u64,
        max_sessions: usize,
        store: Arc<Store>,
        cgroups: Option<crate::cgroup::Cgroups>,
        shell: PathBuf,
    ) -> std::io::Result<Sessions> {
        let root = state_dir.join("sessions");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&root)?;
        Ok(Sessions {
            root,
            workdir: workdir.to_owned(),
            max_log,
            cap: max_sessions,
            store,
            map: Mutex::new(HashMap::new()),
            cgroups,
            shell,
        })
    }

    /// Brings back the sessions a previous incarnation recorded: their command records and
    /// finished logs are served as before; a command that was running when it died is finished
    /// as [`LOST`] (exit code -1, the reason appended to its log). The sessions' shells start
    /// afresh with the next command (restoring the saved cwd and exported variables). Session
    /// directories no record names are removed.
    pub(crate) fn restore(&self, rows: Vec<SessionRow>) {
        let mut kept = std::collections::HashSet::new();
        for row in rows {
            if row.id == ENTRYPOINT_SESSION_ID
                || !row.dir.starts_with(&self.root)
                || !row.dir.is_dir()
            {
                self.store.send(Op::SessionDeleted { id: row.id });
                continue;
            }
            kept.insert(row.dir.clone());
            let session = self.spawn_session(&row.id, row.dir.clone(), row.cwd.clone(), true);
            let mut commands = Vec::new();
            for c in row.commands {
                let dir = session.core.dir.join(&c.id);
                let lost = c.exit_code.is_none();
                let code = c.exit_code.unwrap_or(-1);
                let log = match CommandLog::restore(
                    &dir.join("output.log"),
                    self.max_log,
                    c.dropped,
                ) {
                    Ok(log) => log,
                    Err(err) => {
                        tracing::warn!(session = %row.id, command = %c.id, error = %err, "a command's log is gone; its record is kept with an empty log");
                        match CommandLog::create(&dir.join("output.log"), self.max_log) {
                            Ok(log) => log,
                            Err(_) => continue,
                        }
                    }
                };
                // First found lost (no end time yet): say so in its log and record when; a
                // later restart finds it as it was left.
                let newly_lost = lost && c.finished_at.is_none();
                if newly_lost {
                    for name in ["stdout", "stderr", "stdin"] {
                        let _ = std::fs::remove_file(dir.join(name));
                    }
                    let _ = log.append(
                        OutputStream::Stderr,
                        format!("\nprocessd: {LOST}\n").as_bytes(),
                    );
                }
                let finished_at = c
                    .finished_at
                    .clone()
                    .or_else(|| lost.then(crate::store::now_rfc3339));
                log.finish(code);
                if newly_lost {
                    self.store.send(Op::CommandLost {
                        session: row.id.clone(),
                        id: c.id.clone(),
                        finished_at: finished_at.clone().unwrap_or_default(),
                        dropped: log.dropped(),
                    });
                }
                commands.push(Arc::new(CommandRec {
                    id: c.id,
                    command: c.command,
                    is_async: c.is_async,
                    suppress_echo: c.suppress_echo,
                    log,
                    dir,
                    stdin: tokio::sync::Mutex::new(None),
                    started_at: c.started_at,
                    finished_at: Mutex::new(finished_at),
                    lost,
                    timeout: None,
                    timed_out: std::sync::atomic::AtomicBool::new(false),
                    abort_code: std::sync::atomic::AtomicI32::new(0),
                    cgroup: Mutex::new(None),
                }));
            }
            *session
                .commands
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = commands;
            self.map
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(row.id.clone(), session);
        }
        if let Ok(entries) = std::fs::read_dir(&self.root) {
            for entry in entries.flatten() {
                if !kept.contains(&entry.path()) {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
    }

    /// A session (dispatcher started, shell not yet) on `dir`.
    fn spawn_session(&self, id: &str, dir: PathBuf, cwd: PathBuf, persist: bool) -> Arc<Session> {
        let tag = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let shell = self.shell.clone();
        let core = Arc::new(SessionCore {
            id: id.to_owned(),
            dir,
            cwd,
            abort_trap: shell
                .file_name()
                .is_some_and(|n| n.to_string_lossy().contains("bash")),
            shell,
            cancel: CancellationToken::new(),
            pgids: Mutex::new(Vec::new()),
            pending: Mutex::new(HashMap::new()),
            store: self.store.clone(),
            pids: Mutex::new(HashMap::new()),
            shell_pid: Mutex::new(None),
            persist,
            tag,
            snapshot: tokio::sync::watch::Sender::new(shell::Snapshot::default()),
            slot: Mutex::new(None),
            cgroup: self.cgroups.as_ref().and_then(crate::cgroup::Cgroups::take),
        });
        let (jobs_tx, jobs_rx) = mpsc::unbounded_channel();
        let handle = tokio::spawn(shell::dispatch(core.clone(), jobs_rx));
        Arc::new(Session {
            core,
            jobs: jobs_tx,
            commands: Mutex::new(Vec::new()),
            dispatcher: tokio::sync::Mutex::new(Some(handle)),
            max_log: self.max_log,
        })
    }

    /// Creates a session whose shell starts in `cwd` (default: the daemon's work dir).
    pub(crate) fn create(
        &self,
        id: &str,
        cwd: Option<PathBuf>,
    ) -> Result<Arc<Session>, SessionError> {
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.contains_key(id) {
            return Err(SessionError::Exists);
        }
        let counted = map.keys().filter(|k| *k != ENTRYPOINT_SESSION_ID).count();
        if id != ENTRYPOINT_SESSION_ID && counted >= self.cap {
            return Err(SessionError::TooMany(self.cap));
        }
        let dir = self.root.join(uuid::Uuid::new_v4().to_string());
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(SessionError::Create)?;
        let cwd = cwd.unwrap_or_else(|| self.workdir.clone());
        let persist = id != ENTRYPOINT_SESSION_ID;
        if persist {
            self.store.send(Op::SessionCreated {
                id: id.to_owned(),
                dir: dir.clone(),
                cwd: cwd.clone(),
            });
        }
        let session = self.spawn_session(id, dir, cwd, persist);
        map.insert(id.to_owned(), session.clone());
        // The first command's files and cgroup, made off the reply path.
        session.prepare_next();
        Ok(session)
    }

    /// A session by id.
    pub(crate) fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// Every session except the entrypoint.
    pub(crate) fn list(&self) -> Vec<Arc<Session>> {
        let mut v: Vec<_> = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .filter(|s| s.id() != ENTRYPOINT_SESSION_ID)
            .cloned()
            .collect();
        v.sort_by(|a, b| a.id().cmp(b.id()));
        v
    }

    /// Removes and deletes a session.
    pub(crate) async fn delete(&self, id: &str) -> Option<()> {
        let session = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(id)?;
        if session.core.persist {
            self.store.send(Op::SessionDeleted { id: id.to_owned() });
        }
        session.delete().await;
        Some(())
    }

    /// Starts the entrypoint session running `argv` (spec §8.9).
    pub(crate) fn start_entrypoint(&self, argv: &[String]) -> Result<(), SessionError> {
        let session = self.create(ENTRYPOINT_SESSION_ID, None)?;
        let command = argv
            .iter()
            .map(|a| shell::quote(Path::new(a)))
            .collect::<Vec<_>>()
            .join(" ");
        session.submit(
            Some(ENTRYPOINT_COMMAND_ID.to_owned()),
            command,
            true,
            true,
            None,
        )?;
        Ok(())
    }

    /// Stops every session (daemon shutdown); their records stay for the next start.
    pub(crate) async fn shutdown(&self) {
        let all: Vec<Arc<Session>> = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain()
            .map(|(_, s)| s)
            .collect();
        let stops = all.iter().map(|s| s.stop());
        futures_util::future::join_all(stops).await;
        self.store.flush().await;
    }
}
