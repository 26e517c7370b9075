//! How a PTY session ended ([`Finish`], as clients are told) and what its clients wait on
//! ([`Progress`]): plain data, no IO.

/// How a session ended, as clients are told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finish {
    /// Exit code (`128 + n` for a shell killed by signal `n`).
    pub(crate) code: i32,
    /// Daytona's `exitReason` (absent for 0).
    pub(crate) reason: Option<String>,
    /// Ended by `DELETE`: clients get no `exited` message, only the close frame.
    pub(crate) killed: bool,
}

impl Finish {
    /// The finish of an exit status code, with the spec's reason text.
    pub(crate) fn exited(code: i32) -> Finish {
        Finish {
            code,
            reason: process_proto::wire::exit_reason(code),
            killed: false,
        }
    }

    pub(super) fn process_error() -> Finish {
        Finish {
            code: 1,
            reason: Some("process error".to_owned()),
            killed: false,
        }
    }

    pub(super) fn killed() -> Finish {
        Finish {
            code: 137,
            reason: Some("SIGKILL".to_owned()),
            killed: true,
        }
    }
}

/// What clients wait on: how far the output got, and whether the session is over (set only
/// after the last output byte is in the log).
#[derive(Debug, Clone, Default)]
pub(crate) struct Progress {
    pub(crate) end: u64,
    pub(crate) finished: Option<Finish>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_reasons_follow_the_spec() {
        assert_eq!(Finish::exited(0).reason, None);
        assert_eq!(Finish::exited(3).reason.as_deref(), Some("non-zero exit"));
        assert_eq!(Finish::exited(130).reason.as_deref(), Some("Ctrl+C"));
        assert_eq!(Finish::exited(137).reason.as_deref(), Some("SIGKILL"));
        assert_eq!(Finish::exited(143).reason.as_deref(), Some("SIGTERM"));
        assert_eq!(Finish::exited(129).reason.as_deref(), Some("signal 1"));
    }
}
