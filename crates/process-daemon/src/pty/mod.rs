//! Interactive PTY sessions (spec §5): the registry ([`PtyManager`]) and the sessions; the
//! endpoints are in `api::pty`.
//!
//! Code map: `session` runs one shell on a PTY (`session/spawn.rs` starts it, `session/pump.rs`
//! has its tasks; `sys` has the syscalls) and keeps its output in a bounded `log`; `ws` serves
//! one attached client.
//!
//! Beyond the original daemon:
//! - output is kept in a 1 MiB scrollback that every (re)attaching client replays (from a line
//!   start) before live output, with nothing lost or repeated at the seam; `connect?offset=N`
//!   (additive) resumes at byte N of the output instead, for a client that counts what it got;
//! - any number of clients may attach; output is broadcast, input funnelled in arrival order;
//! - flow control: the PTY is read as fast as the *fastest* attached client takes its output
//!   (as a terminal over ssh is), and freely into the scrollback when nobody is attached. A
//!   stalled client therefore never holds up another one; a client slower than another falls
//!   behind and is closed with 1008 `slow consumer` once it drops out of the scrollback; a lone
//!   stalled client pauses the PTY until the WebSocket write deadline (`Config::ws_write_deadline`,
//!   10 s by default) drops it;
//! - `connected` precedes any output, and `exited` and the close frame follow the last byte;
//! - a signal death reports `128 + n` (the original reported -1).

mod log;
mod session;
mod sys;
pub(crate) mod ws;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use process_proto::wire::{DEFAULT_COLS, DEFAULT_ROWS};

pub(crate) use self::session::{lock, PtySession, ResizeError, Spec};
use crate::Config;
/// `TERM` when the client sets none.
const DEFAULT_TERM: &str = "xterm-256color";

type Sessions = Arc<Mutex<HashMap<String, Arc<PtySession>>>>;

/// Registry of PTY sessions. A session is removed as soon as its shell exits (or it is killed).
pub struct PtyManager {
    pub(crate) sessions: Sessions,
    /// Most sessions at once.
    max: usize,
    /// A cgroup per PTY session, when the daemon has a cgroup root.
    pub(crate) cgroups: Option<crate::cgroup::Cgroups>,
}

/// Why a PTY session cannot be registered.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InsertError {
    /// The id names a session already.
    #[error("PTY session with ID '{0}' already exists")]
    Exists(String),
    /// As many sessions as allowed exist already.
    #[error("the daemon already runs {0} PTY sessions, its limit (--max-ptys): kill one first")]
    TooMany(usize),
}

impl PtyManager {
    /// An empty registry holding at most `config.max_ptys` sessions.
    pub fn new(config: &Config) -> PtyManager {
        PtyManager {
            sessions: Arc::default(),
            max: config.max_ptys.max(1),
            cgroups: None,
        }
    }

    /// Kills every PTY session (process trees included) and waits for them to end (bounded).
    pub async fn shutdown(&self) {
        let all: Vec<_> = lock(&self.sessions).drain().map(|(_, s)| s).collect();
        futures_util::future::join_all(all.iter().map(PtySession::kill)).await;
    }

    pub(crate) fn get(&self, id: &str) -> Option<Arc<PtySession>> {
        lock(&self.sessions).get(id).cloned()
    }

    /// Registers `session`, unless its id is taken or the registry is full.
    pub(crate) fn insert(&self, session: &Arc<PtySession>) -> Result<(), InsertError> {
        let mut sessions = lock(&self.sessions);
        if sessions.contains_key(&session.spec.id) {
            return Err(InsertError::Exists(session.spec.id.clone()));
        }
        if sessions.len() >= self.max {
            return Err(InsertError::TooMany(self.max));
        }
        sessions.insert(session.spec.id.clone(), session.clone());
        Ok(())
    }

    /// Starts `session`; it leaves the registry when its shell exits.
    pub(crate) fn start(&self, session: &Arc<PtySession>) -> Result<(), session::SessionError> {
        let sessions = self.sessions.clone();
        let cgroup = self.cgroups.as_ref().and_then(crate::cgroup::Cgroups::take);
        session.start(cgroup, move |s| remove_if_same(&sessions, s))
    }
}

/// Removes `session` from the registry unless its id now names another session.
pub(crate) fn remove_if_same(sessions: &Sessions, session: &Arc<PtySession>) {
    let mut sessions = lock(sessions);
    if sessions
        .get(&session.spec.id)
        .is_some_and(|s| Arc::ptr_eq(s, session))
    {
        sessions.remove(&session.spec.id);
    }
}

/// Checks the environment of a session: keys non-empty without `=` or NUL, values without NUL.
pub(crate) fn check_envs(envs: &BTreeMap<String, String>) -> Result<(), String> {
    for (k, v) in envs {
        if k.is_empty() || k.contains(['=', '\0']) {
            return Err(format!(
                "invalid environment variable name: '{k}' (it must be non-empty, without '=' or NUL)"
            ));
        }
        if v.contains('\0') {
            return Err(format!("environment variable '{k}' contains a NUL byte"));
        }
    }
    Ok(())
}

/// The spec of a new session: defaults applied, cwd resolved against the daemon's work dir.
pub(crate) fn spec(
    config: &Config,
    id: String,
    cwd: Option<&str>,
    mut envs: BTreeMap<String, String>,
    cols: Option<u16>,
    rows: Option<u16>,
    lazy_start: bool,
) -> Spec {
    let cwd = match cwd.filter(|c| !c.is_empty()) {
        Some(c) => config.workdir.join(Path::new(c)),
        None => config.workdir.clone(),
    };
    if envs.get("TERM").is_none_or(String::is_empty) {
        envs.insert("TERM".to_owned(), DEFAULT_TERM.to_owned());
    }
    Spec {
        id,
        cwd,
        envs,
        cols: cols.filter(|&c| c > 0).unwrap_or(DEFAULT_COLS),
        rows: rows.filter(|&r| r > 0).unwrap_or(DEFAULT_ROWS),
        lazy_start,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_keys_are_checked() {
        let ok = BTreeMap::from([("A".to_owned(), "x y=z".to_owned())]);
        assert!(check_envs(&ok).is_ok());
        for bad in ["", "A=B", "A\0"] {
            let envs = BTreeMap::from([(bad.to_owned(), "v".to_owned())]);
            assert!(check_envs(&envs).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn spec_applies_defaults() {
        let config = Config::new("/work", "/state");
        let s = spec(
            &config,
            "x".into(),
            None,
            BTreeMap::new(),
            None,
            Some(0),
            false,
        );
        assert_eq!((s.cols, s.rows), (80, 24));
        assert_eq!(s.cwd, Path::new("/work"));
        assert_eq!(s.envs.get("TERM").map(String::as_str), Some(DEFAULT_TERM));
        let s = spec(
            &config,
            "x".into(),
            Some("sub"),
            BTreeMap::new(),
            Some(100),
            Some(30),
            true,
        );
        assert_eq!(s.cwd, Path::new("/work/sub"));
        assert_eq!((s.cols, s.rows), (100, 30));
    }
}
