//! The durable record store: sessions, their command records and the processes the daemon
//! started, kept in SQLite (`<state>/processd.db`, WAL, `synchronous=NORMAL`) so they survive a
//! daemon crash (SIGKILL), not necessarily a power loss.
//!
//! Writes never sit on a reply path: callers send a [`Op`] to one writer thread, which batches
//! whatever is queued into one transaction. A record reaches the disk a few milliseconds after
//! the state change it describes; a crash inside that window loses only that change (a command
//! that had just finished is then reported as lost, never as something it did not do).
//!
//! At startup [`Store::open`] reads what the previous incarnation left ([`Previous`]): its
//! sessions and commands (the daemon restores them) and its processes (the daemon kills them,
//! see [`crate::leftovers`]).

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Mutex;

use rusqlite::Connection;

mod sql;

#[cfg(test)]
use sql::has_session;
use sql::{apply, read_previous};

/// The store's failures (opening or reading the database).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum StoreError {
    /// SQLite refused an operation.
    #[error("the record store {path} failed: {source}; remove it to start afresh (sessions of the previous run are then forgotten)")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A damaged database could not be moved out of the way.
    #[error("the record store {path} is damaged and cannot be moved aside: {source}; remove it to start afresh")]
    SetAside {
        /// The file that could not be renamed.
        path: PathBuf,
        /// The rename's error.
        #[source]
        source: std::io::Error,
    },
    /// The writer thread could not start.
    #[error("cannot start the record store's writer thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// What a process the daemon started was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProcessKind {
    /// A session shell generation.
    Session,
    /// A PTY shell.
    Pty,
    /// An interpreter context's worker.
    Interpreter,
}

impl ProcessKind {
    fn as_str(self) -> &'static str {
        match self {
            ProcessKind::Session => "session",
            ProcessKind::Pty => "pty",
            ProcessKind::Interpreter => "interpreter",
        }
    }

    fn parse(s: &str) -> ProcessKind {
        match s {
            "pty" => ProcessKind::Pty,
            "interpreter" => ProcessKind::Interpreter,
            _ => ProcessKind::Session,
        }
    }
}

/// A process of a previous incarnation: identified by pid **and** start time (pids wrap), plus
/// the tag every process of its tree inherited and its cgroup, when it had one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProcessRow {
    /// What it was.
    pub kind: ProcessKind,
    /// The session, PTY or context id it belonged to.
    pub owner: String,
    /// Its pid (a process group leader).
    pub pid: i32,
    /// Its start time (`/proc/<pid>/stat` field 22, clock ticks since boot).
    pub start_time: u64,
    /// The `PROCESS_RUN_ID` value its tree inherited.
    pub tag: String,
    /// Its cgroup directory, if it ran in one.
    pub cgroup: Option<PathBuf>,
}

/// A command record of a previous incarnation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommandRow {
    /// Command id.
    pub id: String,
    /// Command text.
    pub command: String,
    /// Started with `runAsync`.
    pub is_async: bool,
    /// Input echo suppressed.
    pub suppress_echo: bool,
    /// RFC 3339 start time.
    pub started_at: String,
    /// RFC 3339 end time, once finished.
    pub finished_at: Option<String>,
    /// Exit code, once finished. `None`: it was running when a daemon died (lost); a restart
    /// records when it reported it lost in `finished_at` and leaves this `None`, so that every
    /// later restart reports it lost too.
    pub exit_code: Option<i32>,
    /// Output bytes dropped at the log cap.
    pub dropped: u64,
}

/// A session of a previous incarnation with its commands in submission order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionRow {
    /// Session id.
    pub id: String,
    /// Its directory under the state dir.
    pub dir: PathBuf,
    /// Its initial working directory.
    pub cwd: PathBuf,
    /// Its commands.
    pub commands: Vec<CommandRow>,
}

/// What the previous incarnation left in the store.
#[derive(Debug, Default)]
pub(crate) struct Previous {
    /// Its sessions.
    pub sessions: Vec<SessionRow>,
    /// Its processes (to kill).
    pub processes: Vec<ProcessRow>,
}

/// One change to persist.
#[derive(Debug)]
pub(crate) enum Op {
    /// A session was created.
    SessionCreated {
        id: String,
        dir: PathBuf,
        cwd: PathBuf,
    },
    /// A session was deleted (its commands and processes go with it).
    SessionDeleted { id: String },
    /// A command started.
    CommandStarted { session: String, row: CommandRow },
    /// A command finished.
    CommandFinished {
        session: String,
        id: String,
        exit_code: i32,
        finished_at: String,
        dropped: u64,
    },
    /// A restart found a command that was running when a daemon died: it keeps no exit code.
    CommandLost {
        session: String,
        id: String,
        finished_at: String,
        dropped: u64,
    },
    /// A process was started.
    ProcessStarted(ProcessRow),
    /// A process (and its tree) is gone.
    ProcessGone { pid: i32, start_time: u64 },
    /// Every process of the previous incarnation was dealt with.
    ForgetProcesses,
    /// Acknowledge once everything queued before is committed.
    Flush(mpsc::Sender<()>),
}

/// The store handle (cheap to share): a queue to the writer thread.
pub(crate) struct Store {
    tx: Mutex<mpsc::Sender<Op>>,
    path: PathBuf,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    dir TEXT NOT NULL,
    cwd TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS commands (
    session_id TEXT NOT NULL,
    id TEXT NOT NULL,
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    command TEXT NOT NULL,
    is_async INTEGER NOT NULL,
    suppress_echo INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    exit_code INTEGER,
    dropped INTEGER NOT NULL DEFAULT 0,
    UNIQUE (session_id, id)
);
CREATE TABLE IF NOT EXISTS processes (
    pid INTEGER NOT NULL,
    start_time INTEGER NOT NULL,
    kind TEXT NOT NULL,
    owner TEXT NOT NULL,
    tag TEXT NOT NULL,
    cgroup TEXT,
    PRIMARY KEY (pid, start_time)
);
";

impl Store {
    /// Opens (or creates) `<state_dir>/processd.db`, reads what a previous incarnation left, and
    /// starts the writer thread.
    pub(crate) fn open(state_dir: &Path) -> Result<(Store, Previous), StoreError> {
        let path = state_dir.join("processd.db");
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let (conn, previous) = match open_database(&path) {
            Ok(opened) => opened,
            Err(source) if is_damaged(&source) => {
                // A damaged store (a power loss mid-write; the bar is SIGKILL, see the module
                // docs) must not keep the daemon from starting: keep it for inspection and
                // start afresh, forgetting the previous run's records.
                let aside = set_aside(&path)?;
                tracing::warn!(
                    error = %source,
                    kept = %aside.display(),
                    "the record store is damaged: starting afresh (the previous run's sessions are forgotten)"
                );
                open_database(&path).map_err(err)?
            }
            Err(source) => return Err(err(source)),
        };
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("processd-store".into())
            .spawn(move || writer(conn, &rx))
            .map_err(StoreError::Thread)?;
        Ok((
            Store {
                tx: Mutex::new(tx),
                path,
            },
            previous,
        ))
    }

    /// Queues `op` (never blocks; a stopped writer only logs).
    pub(crate) fn send(&self, op: Op) {
        let tx = self
            .tx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if tx.send(op).is_err() {
            tracing::warn!(path = %self.path.display(), "the record store's writer has stopped; a record was not saved");
        }
    }

    /// Waits until everything queued so far is committed (shutdown, tests).
    pub(crate) async fn flush(&self) {
        let (tx, rx) = mpsc::channel();
        self.send(Op::Flush(tx));
        let _ = tokio::task::spawn_blocking(move || rx.recv()).await;
    }
}

/// Opens the database, creates the schema if it is new, and reads the previous run's records.
///
/// A new database is created with `synchronous=OFF` (its first transactions, the switch to WAL
/// and the schema, then cost no `fsync`: tens of milliseconds of every sandbox's start on a
/// busy disk) and then kept at `synchronous=NORMAL`, which WAL makes safe against a crash of
/// the daemon.
fn open_database(path: &Path) -> rusqlite::Result<(Connection, Previous)> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(SCHEMA)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let previous = read_previous(&conn)?;
    Ok((conn, previous))
}

/// Whether SQLite found the file damaged or not a database at all.
fn is_damaged(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
    )
}

/// Renames a damaged database (and its WAL and shared-memory files) to
/// `processd.db.damaged-<unix seconds>[-wal|-shm]`; returns the database's new path.
fn set_aside(path: &Path) -> Result<PathBuf, StoreError> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let aside = path.with_extension(format!("db.damaged-{stamp}"));
    for suffix in ["", "-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", path.display()));
        let to = PathBuf::from(format!("{}{suffix}", aside.display()));
        match std::fs::rename(&from, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !suffix.is_empty() => {}
            Err(source) => return Err(StoreError::SetAside { path: from, source }),
        }
    }
    Ok(aside)
}

/// The writer thread: applies queued ops, one transaction per batch, until every sender is gone.
fn writer(mut conn: Connection, rx: &mpsc::Receiver<Op>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        let mut acks = Vec::new();
        let result = (|| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            for op in batch {
                match op {
                    Op::Flush(ack) => acks.push(ack),
                    op => apply(&tx, op)?,
                }
            }
            tx.commit()
        })();
        if let Err(err) = result {
            tracing::warn!(error = %err, "the record store could not save a batch of records");
        }
        for ack in acks {
            let _ = ack.send(());
        }
    }
}

/// The current time as RFC 3339 (UTC).
pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_store_is_kept_in_wal_with_synchronous_normal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("processd.db");
        for _ in 0..2 {
            let (conn, _) = open_database(&path).unwrap();
            let mode: String = conn
                .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                .unwrap();
            assert_eq!(mode, "wal");
            // 1 = NORMAL: the creation's OFF must not stay on.
            let sync: i64 = conn
                .query_row("PRAGMA synchronous", [], |r| r.get(0))
                .unwrap();
            assert_eq!(sync, 1);
        }
    }

    #[tokio::test]
    async fn a_damaged_store_is_set_aside_and_a_fresh_one_serves() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("processd.db");
        let garbage = b"not a database, just what a torn write left behind\n".repeat(200);
        std::fs::write(&path, &garbage).unwrap();
        let (store, prev) = Store::open(dir.path()).unwrap();
        assert!(prev.sessions.is_empty() && prev.processes.is_empty());
        let aside: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("processd.db.damaged-"))
            .collect();
        assert_eq!(aside.len(), 1, "{aside:?}");
        assert_eq!(std::fs::read(dir.path().join(&aside[0])).unwrap(), garbage);
        // The fresh store keeps records.
        store.send(Op::SessionCreated {
            id: "s".into(),
            dir: dir.path().join("d"),
            cwd: "/tmp".into(),
        });
        store.flush().await;
        drop(store);
        let (_, prev) = Store::open(dir.path()).unwrap();
        assert_eq!(prev.sessions.len(), 1);
    }

    #[tokio::test]
    async fn records_survive_reopening_and_deletions_cascade() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (store, prev) = Store::open(dir.path()).unwrap();
            assert!(prev.sessions.is_empty());
            store.send(Op::SessionCreated {
                id: "s".into(),
                dir: dir.path().join("d"),
                cwd: "/tmp".into(),
            });
            for (i, id) in ["a", "b"].iter().enumerate() {
                store.send(Op::CommandStarted {
                    session: "s".into(),
                    row: CommandRow {
                        id: (*id).into(),
                        command: format!("echo {i}"),
                        is_async: i == 1,
                        suppress_echo: false,
                        started_at: now_rfc3339(),
                        finished_at: None,
                        exit_code: None,
                        dropped: 0,
                    },
                });
            }
            store.send(Op::CommandFinished {
                session: "s".into(),
                id: "a".into(),
                exit_code: 3,
                finished_at: now_rfc3339(),
                dropped: 7,
            });
            store.send(Op::ProcessStarted(ProcessRow {
                kind: ProcessKind::Pty,
                owner: "p".into(),
                pid: 42,
                start_time: 99,
                tag: "t".into(),
                cgroup: None,
            }));
            store.flush().await;
        }
        let (mut store, prev) = Store::open(dir.path()).unwrap();
        assert_eq!(prev.sessions.len(), 1);
        let cmds = &prev.sessions[0].commands;
        assert_eq!(cmds.len(), 2);
        assert_eq!((cmds[0].exit_code, cmds[0].dropped), (Some(3), 7));
        assert_eq!(cmds[1].exit_code, None);
        assert!(cmds[1].is_async);
        // A lost command gets its end time and keeps no exit code, so it reads lost again.
        store.send(Op::CommandLost {
            session: "s".into(),
            id: "b".into(),
            finished_at: "2026-12-02T00:00:00Z".into(),
            dropped: 2,
        });
        store.flush().await;
        drop(store);
        let prev;
        (store, prev) = Store::open(dir.path()).unwrap();
        let cmds = &prev.sessions[0].commands;
        assert_eq!(
            (
                cmds[1].exit_code,
                cmds[1].finished_at.as_deref(),
                cmds[1].dropped
            ),
            (None, Some("2026-12-02T00:00:00Z"), 2)
        );
        assert_eq!(prev.processes.len(), 1);
        assert_eq!(prev.processes[0].kind, ProcessKind::Pty);
        store.send(Op::SessionDeleted { id: "s".into() });
        store.send(Op::ForgetProcesses);
        store.flush().await;
        let conn = Connection::open(dir.path().join("processd.db")).unwrap();
        assert!(!has_session(&conn, "s"));
        drop(store);
        let (_store, prev) = Store::open(dir.path()).unwrap();
        assert!(prev.sessions.is_empty() && prev.processes.is_empty());
    }
}
