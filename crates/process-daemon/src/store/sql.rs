//! The store's SQL: reading what a previous incarnation recorded, and applying one [`Op`] in
//! the writer's transaction.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection};

use super::{CommandRow, Op, Previous, ProcessKind, ProcessRow, SessionRow};

pub(super) fn read_previous(conn: &Connection) -> rusqlite::Result<Previous> {
    let mut sessions = Vec::new();
    let mut stmt = conn.prepare("SELECT id, dir, cwd FROM sessions ORDER BY rowid")?;
    let rows = stmt.query_map([], |r| {
        Ok(SessionRow {
            id: r.get(0)?,
            dir: PathBuf::from(r.get::<_, String>(1)?),
            cwd: PathBuf::from(r.get::<_, String>(2)?),
            commands: Vec::new(),
        })
    })?;
    for row in rows {
        sessions.push(row?);
    }
    let mut stmt = conn.prepare(
        "SELECT id, command, is_async, suppress_echo, started_at, finished_at, exit_code, dropped \
         FROM commands WHERE session_id = ?1 ORDER BY seq",
    )?;
    for session in &mut sessions {
        let rows = stmt.query_map([&session.id], |r| {
            Ok(CommandRow {
                id: r.get(0)?,
                command: r.get(1)?,
                is_async: r.get(2)?,
                suppress_echo: r.get(3)?,
                started_at: r.get(4)?,
                finished_at: r.get(5)?,
                exit_code: r.get(6)?,
                dropped: r.get::<_, i64>(7)?.try_into().unwrap_or(0),
            })
        })?;
        for row in rows {
            session.commands.push(row?);
        }
    }
    let mut processes = Vec::new();
    let mut stmt =
        conn.prepare("SELECT pid, start_time, kind, owner, tag, cgroup FROM processes")?;
    let rows = stmt.query_map([], |r| {
        Ok(ProcessRow {
            pid: r.get(0)?,
            start_time: r.get::<_, i64>(1)?.try_into().unwrap_or(0),
            kind: ProcessKind::parse(&r.get::<_, String>(2)?),
            owner: r.get(3)?,
            tag: r.get(4)?,
            cgroup: r.get::<_, Option<String>>(5)?.map(PathBuf::from),
        })
    })?;
    for row in rows {
        processes.push(row?);
    }
    Ok(Previous {
        sessions,
        processes,
    })
}

fn lossy(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

pub(super) fn apply(tx: &rusqlite::Transaction<'_>, op: Op) -> rusqlite::Result<()> {
    match op {
        Op::SessionCreated { id, dir, cwd } => {
            tx.execute(
                "INSERT OR REPLACE INTO sessions (id, dir, cwd) VALUES (?1, ?2, ?3)",
                params![id, lossy(&dir), lossy(&cwd)],
            )?;
        }
        Op::SessionDeleted { id } => {
            tx.execute("DELETE FROM sessions WHERE id = ?1", [&id])?;
            tx.execute("DELETE FROM commands WHERE session_id = ?1", [&id])?;
            tx.execute(
                "DELETE FROM processes WHERE kind = 'session' AND owner = ?1",
                [&id],
            )?;
        }
        Op::CommandStarted { session, row } => {
            tx.execute(
                "INSERT OR REPLACE INTO commands (session_id, id, command, is_async, suppress_echo, started_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![session, row.id, row.command, row.is_async, row.suppress_echo, row.started_at],
            )?;
        }
        Op::CommandFinished {
            session,
            id,
            exit_code,
            finished_at,
            dropped,
        } => {
            tx.execute(
                "UPDATE commands SET exit_code = ?3, finished_at = ?4, dropped = ?5 \
                 WHERE session_id = ?1 AND id = ?2",
                params![
                    session,
                    id,
                    exit_code,
                    finished_at,
                    i64::try_from(dropped).unwrap_or(i64::MAX)
                ],
            )?;
        }
        Op::CommandLost {
            session,
            id,
            finished_at,
            dropped,
        } => {
            tx.execute(
                "UPDATE commands SET finished_at = ?3, dropped = ?4 \
                 WHERE session_id = ?1 AND id = ?2",
                params![
                    session,
                    id,
                    finished_at,
                    i64::try_from(dropped).unwrap_or(i64::MAX)
                ],
            )?;
        }
        Op::ProcessStarted(p) => {
            tx.execute(
                "INSERT OR REPLACE INTO processes (pid, start_time, kind, owner, tag, cgroup) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    p.pid,
                    i64::try_from(p.start_time).unwrap_or(i64::MAX),
                    p.kind.as_str(),
                    p.owner,
                    p.tag,
                    p.cgroup.as_deref().map(lossy)
                ],
            )?;
        }
        Op::ProcessGone { pid, start_time } => {
            tx.execute(
                "DELETE FROM processes WHERE pid = ?1 AND start_time = ?2",
                params![pid, i64::try_from(start_time).unwrap_or(i64::MAX)],
            )?;
        }
        Op::ForgetProcesses => {
            tx.execute("DELETE FROM processes", [])?;
        }
        Op::Flush(_) => {}
    }
    Ok(())
}

/// Whether the store holds a session `id` (tests).
#[cfg(test)]
pub(super) fn has_session(conn: &Connection, id: &str) -> bool {
    use rusqlite::OptionalExtension;
    conn.query_row("SELECT 1 FROM sessions WHERE id = ?1", [id], |_| Ok(()))
        .optional()
        .ok()
        .flatten()
        .is_some()
}
