//! [`SessionError`]: what a session operation can refuse, with messages that say what to do.
//! The edge (`api/session.rs`) maps each variant to its status and Daytona code.

/// A session, command or input operation that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum SessionError {
    /// The session id is unusable (the message says why).
    #[error("invalid session ID: {0}")]
    InvalidId(&'static str),
    /// As many sessions as allowed exist already.
    #[error("the daemon already runs {0} sessions, its limit (--max-sessions): delete one first")]
    TooMany(usize),
    /// A session with this id exists already.
    #[error("session already exists")]
    Exists,
    /// The session's directory could not be made.
    #[error("failed to create the session: {0}")]
    Create(#[source] std::io::Error),
    /// The session was deleted (or its dispatcher stopped): create a new one.
    #[error("session process has exited")]
    Ended,
    /// A command's files could not be prepared.
    #[error("failed to prepare the command ({what}): {source}")]
    Prepare {
        /// Which file.
        what: &'static str,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The command has finished: it takes no more input or signals.
    #[error("command has already completed with exit code {0}")]
    Completed(i32),
    /// A sync command reads `/dev/null`.
    #[error("the command does not take input: sync commands read /dev/null; start it with runAsync to send input")]
    NoInput,
    /// The command's input pipe is full.
    #[error("the command is not reading its standard input: its input pipe is full, so the rest of this input was not written; send more once it reads")]
    InputFull,
    /// Writing the input failed.
    #[error("failed to write input: {0}")]
    InputWrite(#[source] std::io::Error),
    /// A signal name or number outside the allowed list.
    #[error("unsupported signal {0:?}: use one of KILL, TERM, INT, HUP, QUIT, USR1, USR2, WINCH, STOP, CONT")]
    Signal(String),
}
