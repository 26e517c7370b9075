//! Signal dispositions a daemon hands on to the commands it starts.
//!
//! An ignored signal stays ignored across `exec`, and a non-interactive shell cannot undo
//! that: started as a script's `processd &` (SIGINT and SIGQUIT ignored) or under `nohup`
//! (SIGHUP ignored), the daemon would pass those on to every command, shell and interpreter
//! it runs, and Ctrl-C in a PTY would stop nothing. A caught signal is different: `exec`
//! resets it to the default. [`hand_on_default_dispositions`] therefore replaces each
//! inherited `SIG_IGN` by a handler that does nothing: the daemon goes on ignoring the signal
//! (a `nohup processd` still survives a hangup), its children start with the default.

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

/// Signals left as inherited:
/// - SIGKILL and SIGSTOP cannot be caught;
/// - SIGPIPE is ignored by the Rust runtime on purpose, and std resets it for children;
/// - a handler for SIGTTIN, SIGTTOU or SIGTSTP would turn a background daemon's terminal
///   write (with `stty tostop`) into an endless stop-and-restart loop: those stay ignored.
const LEFT_AS_INHERITED: [Signal; 6] = [
    Signal::SIGKILL,
    Signal::SIGSTOP,
    Signal::SIGPIPE,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
    Signal::SIGTSTP,
];

extern "C" fn ignore(_: libc::c_int) {}

/// Turns every inherited ignored signal (but those in [`LEFT_AS_INHERITED`]) into a caught
/// one that does nothing.
///
/// Process-wide: for a binary's `main`, before any thread or child is started (a library
/// constructor never calls it). Failures are logged and leave that signal as it was.
#[allow(unsafe_code)] // sigaction: installing a handler has no safe wrapper
pub fn hand_on_default_dispositions() {
    let ignored = match std::fs::read_to_string("/proc/self/status") {
        Ok(status) => ignored_mask(&status),
        Err(err) => {
            tracing::warn!(error = %err, "cannot read /proc/self/status: inherited ignored signals stay ignored in commands");
            return;
        }
    };
    let handler = SigAction::new(
        SigHandler::Handler(ignore),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for signal in Signal::iterator() {
        let bit = 1u64 << (signal as i32 - 1);
        if ignored & bit == 0 || LEFT_AS_INHERITED.contains(&signal) {
            continue;
        }
        // SAFETY: `ignore` is an empty function, trivially async-signal-safe, and it touches
        // no state; replacing an ignore with it changes nothing for the daemon but what `exec`
        // hands on.
        match unsafe { sigaction(signal, &handler) } {
            Ok(_) => {
                tracing::debug!(%signal, "inherited ignored signal: caught, default for commands");
            }
            Err(err) => {
                tracing::warn!(%signal, error = %err, "cannot catch an inherited ignored signal");
            }
        }
    }
}

/// The `SigIgn` mask of a `/proc/<pid>/status` text (bit `n - 1` is signal `n`); 0 if absent.
fn ignored_mask(status: &str) -> u64 {
    status
        .lines()
        .find_map(|line| line.strip_prefix("SigIgn:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::ignored_mask;

    #[test]
    fn the_ignored_mask_is_read_from_status() {
        let status =
            "Name:\tsh\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000001006\nSigCgt:\t0\n";
        assert_eq!(ignored_mask(status), 0x1006);
        assert_eq!(ignored_mask("Name:\tsh\n"), 0);
        assert_eq!(ignored_mask("SigIgn:\tzz\n"), 0);
    }
}
