//! The durable record of every sandbox: one SQLite database (`sandboxd.db`, WAL) in the state
//! directory. A record is written before the runtime is touched and after every state change,
//! so a `sandboxd` killed at any point restarts knowing every sandbox it ever created.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::provider::Resources;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite failed.
    #[error("state database: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A record did not decode (the database was written by an incompatible version).
    #[error("state database: record of sandbox '{id}' is unreadable: {message}")]
    Corrupt {
        /// The sandbox.
        id: String,
        /// serde's message.
        message: String,
    },
}

/// One sandbox as the control plane remembers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Id (UUID v4).
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Image or snapshot name as resolved.
    pub image: String,
    /// Whether the create named a snapshot (reported as `snapshot`).
    pub snapshot: Option<String>,
    /// OS user.
    pub user: String,
    /// Environment.
    pub env: BTreeMap<String, String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Loopback-only network.
    pub network_block_all: bool,
    /// vCPUs.
    pub cpu: u32,
    /// GiB.
    pub memory_gib: u32,
    /// GiB.
    pub disk_gib: u32,
    /// Wire state (`started`, `stopped`, `error`, …).
    pub state: String,
    /// Why it is in `error`.
    pub error_reason: Option<String>,
    /// Minutes of inactivity before auto-stop (0 = never).
    pub auto_stop_minutes: i64,
    /// Minutes stopped before auto-archive (stored and reported).
    pub auto_archive_minutes: i64,
    /// Minutes stopped before auto-delete (negative = never, 0 = delete on stop).
    pub auto_delete_minutes: i64,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
    /// Last change, ms since the epoch.
    pub updated_ms: i64,
    /// Last toolbox activity, ms since the epoch.
    pub activity_ms: i64,
    /// When it last entered `stopped`, ms since the epoch.
    pub stopped_ms: Option<i64>,
}

impl Record {
    /// The resources as the provider takes them.
    pub fn resources(&self) -> Resources {
        Resources {
            cpu: self.cpu,
            memory_gib: self.memory_gib,
            disk_gib: self.disk_gib,
        }
    }
}

/// The database handle (one connection; every statement is short).
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
}

impl Store {
    /// Opens (creating if needed) `sandboxd.db` in `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(dir.join("sandboxd.db"))?;
        Self::init(conn)
    }

    /// An in-memory store (unit tests).
    pub fn in_memory() -> Result<Store, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Store, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS sandboxes (
                 id TEXT PRIMARY KEY,
                 name TEXT NOT NULL UNIQUE,
                 record TEXT NOT NULL
             );",
        )?;
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (statements are
        // atomic), so a poisoned lock is still usable.
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Inserts or replaces a record.
    pub fn put(&self, record: &Record) -> Result<(), StoreError> {
        let json = serde_json::to_string(record).map_err(|e| StoreError::Corrupt {
            id: record.id.clone(),
            message: e.to_string(),
        })?;
        self.conn().execute(
            "INSERT INTO sandboxes (id, name, record) VALUES (?1, ?2, ?3)
             ON CONFLICT(id) DO UPDATE SET name = excluded.name, record = excluded.record",
            params![record.id, record.name, json],
        )?;
        Ok(())
    }

    /// Removes a record (no error when it is absent).
    pub fn remove(&self, id: &str) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM sandboxes WHERE id = ?1", params![id])?;
        Ok(())
    }

    /// One record.
    pub fn get(&self, id: &str) -> Result<Option<Record>, StoreError> {
        let json: Option<String> = self
            .conn()
            .query_row(
                "SELECT record FROM sandboxes WHERE id = ?1",
                params![id],
                |row| row.get(0),
            )
            .optional()?;
        json.map(|j| decode(id, &j)).transpose()
    }

    /// Every record.
    pub fn all(&self) -> Result<Vec<Record>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT id, record FROM sandboxes ORDER BY rowid")?;
        let rows = stmt.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, json) = row?;
            out.push(decode(&id, &json)?);
        }
        Ok(out)
    }
}

fn decode(id: &str, json: &str) -> Result<Record, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
        id: id.to_owned(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, name: &str) -> Record {
        Record {
            id: id.into(),
            name: name.into(),
            image: "host".into(),
            snapshot: None,
            user: "daytona".into(),
            env: BTreeMap::new(),
            labels: BTreeMap::new(),
            network_block_all: false,
            cpu: 1,
            memory_gib: 1,
            disk_gib: 3,
            state: "started".into(),
            error_reason: None,
            auto_stop_minutes: 15,
            auto_archive_minutes: 10080,
            auto_delete_minutes: -1,
            created_ms: 1,
            updated_ms: 1,
            activity_ms: 1,
            stopped_ms: None,
        }
    }

    #[test]
    fn put_get_update_remove() {
        let store = Store::in_memory().unwrap();
        let mut r = record("a", "n");
        store.put(&r).unwrap();
        r.state = "stopped".into();
        store.put(&r).unwrap();
        assert_eq!(store.get("a").unwrap().unwrap().state, "stopped");
        assert_eq!(store.all().unwrap().len(), 1);
        store.remove("a").unwrap();
        assert!(store.get("a").unwrap().is_none());
    }

    #[test]
    fn names_are_unique() {
        let store = Store::in_memory().unwrap();
        store.put(&record("a", "n")).unwrap();
        assert!(store.put(&record("b", "n")).is_err());
    }

    #[test]
    fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        Store::open(dir.path())
            .unwrap()
            .put(&record("a", "n"))
            .unwrap();
        let again = Store::open(dir.path()).unwrap();
        assert_eq!(again.all().unwrap()[0].name, "n");
    }
}
