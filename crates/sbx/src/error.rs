//! sbx's own errors and the exit codes they map to (as `docker exec`: 125 for sbx's own
//! errors, 126 when the command cannot be run, 127 when something does not exist).

use std::process::ExitCode;

/// Exit code of sbx's own errors (usage, connection, server).
pub(crate) const EXIT_SBX: u8 = 125;
/// Exit code when the command could not be run.
pub(crate) const EXIT_CANNOT_RUN: u8 = 126;
/// Exit code when the sandbox, session, command or file does not exist.
pub(crate) const EXIT_NOT_FOUND: u8 = 127;
/// Exit code when the remote command hit `--timeout` (as coreutils `timeout`).
pub(crate) const EXIT_TIMEOUT: u8 = 124;

/// What went wrong; each variant says what to do about it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SbxError {
    /// Bad usage that clap cannot check.
    #[error("{0}")]
    Usage(String),
    /// A call to the daemon or control plane failed.
    #[error("{what}: {source}{}", hint(source))]
    Remote {
        /// What sbx was doing.
        what: String,
        /// The client's error.
        source: process::Error,
    },
    /// The command could not be started.
    #[error("{0}")]
    CannotRun(String),
    /// The connection was lost and could not be re-established.
    #[error("{0}")]
    Lost(String),
    /// A local file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What sbx was doing.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A suggestion for errors a user can fix.
fn hint(e: &process::Error) -> &'static str {
    if e.is_connect() {
        " (is the daemon running, and is the URL right?)"
    } else if e.is_unauthorized() {
        " (check --token / SBX_DAEMON_TOKEN or DAYTONA_API_KEY)"
    } else {
        ""
    }
}

impl SbxError {
    /// A failed call while doing `what`.
    pub(crate) fn remote(what: impl Into<String>, source: process::Error) -> SbxError {
        SbxError::Remote {
            what: what.into(),
            source,
        }
    }

    /// A failed local IO operation while doing `what`.
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> SbxError {
        SbxError::Io {
            what: what.into(),
            source,
        }
    }

    /// The exit code for this error.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            SbxError::Remote { source, .. } if source.is_not_found() => EXIT_NOT_FOUND,
            SbxError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                EXIT_NOT_FOUND
            }
            SbxError::CannotRun(_) => EXIT_CANNOT_RUN,
            SbxError::Usage(_)
            | SbxError::Lost(_)
            | SbxError::Remote { .. }
            | SbxError::Io { .. } => EXIT_SBX,
        }
    }
}

/// A remote command's exit status as sbx's: 0–255 as they are; anything else (a daemon's -1
/// for "killed without a status") is 125.
pub(crate) fn exit_status(code: i32) -> ExitCode {
    u8::try_from(code).map_or(ExitCode::from(EXIT_SBX), ExitCode::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_docker_exec() {
        assert_eq!(SbxError::Usage("x".into()).exit_code(), 125);
        assert_eq!(SbxError::CannotRun("x".into()).exit_code(), 126);
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert_eq!(SbxError::io("reading", missing).exit_code(), 127);
        assert_eq!(exit_status(3), ExitCode::from(3));
        assert_eq!(exit_status(-1), ExitCode::from(125));
        assert_eq!(exit_status(300), ExitCode::from(125));
    }
}
