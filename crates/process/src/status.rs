//! [`ExitStatus`]: how a command, session command or PTY ended, as an open newtype over the
//! daemon's exit code.

use std::fmt;

/// How a process ended: the daemon's exit code, read with the shell's conventions.
///
/// An open newtype (h2's `Reason(u32)` style): every `i32` is representable, including codes a
/// newer daemon may send. `0` is success; `128 + n` is "killed by signal `n`" (the shell's
/// convention, which the daemon follows); `-1` means the process never started (e.g. a missing
/// `cwd`) or left no status.
///
/// ```
/// use process::ExitStatus;
/// assert!(ExitStatus::from_code(0).success());
/// assert_eq!(ExitStatus::from_code(137).signal(), Some(9)); // SIGKILL
/// assert_eq!(ExitStatus::from_code(2).code(), 2);
/// assert_eq!(ExitStatus::from_code(2).signal(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExitStatus(i32);

/// The highest signal number the `128 + n` convention is read for (Linux real-time signals
/// end at 64).
const MAX_SIGNAL: i32 = 64;

impl ExitStatus {
    /// The status for exit code `code`.
    pub const fn from_code(code: i32) -> ExitStatus {
        ExitStatus(code)
    }

    /// `true` for exit code 0.
    pub const fn success(self) -> bool {
        self.0 == 0
    }

    /// The exit code as the daemon reported it.
    pub const fn code(self) -> i32 {
        self.0
    }

    /// The signal that killed the process, read from the shell's `128 + n` convention
    /// (129 ..= 192); `None` for any other code.
    pub const fn signal(self) -> Option<i32> {
        if self.0 > 128 && self.0 <= 128 + MAX_SIGNAL {
            Some(self.0 - 128)
        } else {
            None
        }
    }

    /// `true` when the process never started or left no status (exit code -1).
    pub const fn is_unknown(self) -> bool {
        self.0 == -1
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.signal() {
            Some(sig) => write!(f, "killed by signal {sig} (exit code {})", self.0),
            None if self.is_unknown() => f.write_str("no exit status (exit code -1)"),
            None => write!(f, "exit code {}", self.0),
        }
    }
}

impl From<i32> for ExitStatus {
    fn from(code: i32) -> ExitStatus {
        ExitStatus(code)
    }
}

#[cfg(test)]
mod tests {
    use super::ExitStatus;

    #[test]
    fn shell_conventions() {
        assert!(ExitStatus::from_code(0).success());
        assert!(!ExitStatus::from_code(1).success());
        assert_eq!(ExitStatus::from_code(128).signal(), None);
        assert_eq!(ExitStatus::from_code(129).signal(), Some(1));
        assert_eq!(ExitStatus::from_code(143).signal(), Some(15));
        assert_eq!(ExitStatus::from_code(192).signal(), Some(64));
        assert_eq!(ExitStatus::from_code(193).signal(), None);
        assert_eq!(ExitStatus::from_code(-1).signal(), None);
        assert!(ExitStatus::from_code(-1).is_unknown());
        assert_eq!(
            ExitStatus::from_code(137).to_string(),
            "killed by signal 9 (exit code 137)"
        );
        assert_eq!(ExitStatus::from_code(3).to_string(), "exit code 3");
    }
}
