//! The PTY client's protocol state, sans-IO (quinn-proto style): feed it the WebSocket's text
//! frames and its close, read back what they mean and how the PTY ended. The facade's
//! `PtyHandle` drives it from a socket; tests drive it from strings.

use super::pty::{PtyCloseReason, PtyControl};

/// What one text frame from the daemon was.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PtyTextEvent {
    /// A control message, consumed (state updated).
    Control,
    /// Not a control message: terminal output sent as text.
    Output,
    /// The daemon reported an error in band (`{"type":"control","status":"error",…}`); during setup that fails
    /// the attachment.
    Error(String),
}

/// The client side of one PTY connection: attached or not, ended or not, and the result
/// (exit code, error) as the control messages and the close frame tell it.
///
/// Inputs: [`handle_text`](Self::handle_text), [`handle_close`](Self::handle_close),
/// [`handle_lost`](Self::handle_lost). Getters: [`is_connected`](Self::is_connected),
/// [`is_ended`](Self::is_ended), [`exit_code`](Self::exit_code), [`error`](Self::error).
///
/// ```
/// use process_proto::wire::{PtyClientState, PtyTextEvent};
/// let mut pty = PtyClientState::new();
/// assert_eq!(pty.handle_text(r#"{"type":"control","status":"connected"}"#), PtyTextEvent::Control);
/// assert!(pty.is_connected());
/// pty.handle_close(Some(1000), r#"{"exitCode":3,"exitReason":"exit status 3"}"#);
/// assert_eq!((pty.is_ended(), pty.exit_code()), (true, Some(3)));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PtyClientState {
    connected: bool,
    ended: bool,
    exit_code: Option<i32>,
    error: Option<String>,
}

impl PtyClientState {
    /// A connection that has not been confirmed yet.
    pub fn new() -> PtyClientState {
        PtyClientState::default()
    }

    /// Reads one text frame.
    pub fn handle_text(&mut self, text: &str) -> PtyTextEvent {
        match PtyControl::parse(text) {
            Some(PtyControl::Error { error }) => {
                self.error = Some(error.clone());
                PtyTextEvent::Error(error)
            }
            Some(PtyControl::Connected) => {
                self.connected = true;
                PtyTextEvent::Control
            }
            Some(PtyControl::Exited {
                exit_code,
                exit_reason,
            }) => {
                self.connected = true;
                self.exit_code = Some(exit_code);
                if exit_reason.is_some() {
                    self.error = exit_reason;
                }
                PtyTextEvent::Control
            }
            Some(_) => PtyTextEvent::Control,
            None => PtyTextEvent::Output,
        }
    }

    /// Reads the close frame (`None` when the peer closed without one). A reason carrying
    /// `{"exitCode",…}` gives the exit code; `{"error":…}` or any other text of an abnormal
    /// close gives the error; a normal close without an exit code means exit 0.
    pub fn handle_close(&mut self, code: Option<u16>, reason: &str) {
        self.ended = true;
        if let Some(exit) = PtyCloseReason::parse(reason) {
            self.exit_code = Some(exit.exit_code);
            if exit.exit_reason.is_some() {
                self.error = exit.exit_reason;
            }
        } else if let Ok(serde_json::Value::Object(map)) =
            serde_json::from_str::<serde_json::Value>(reason)
        {
            if let Some(serde_json::Value::String(e)) = map.get("error") {
                self.error = Some(e.clone());
            }
        } else if !reason.is_empty() && code != Some(1000) && self.error.is_none() {
            self.error = Some(reason.to_owned());
        }
        if self.exit_code.is_none() {
            match code {
                Some(1000) | None => self.exit_code = Some(0),
                Some(other) if self.error.is_none() => {
                    self.error = Some(format!("connection closed with code {other}"));
                }
                Some(_) => {}
            }
        }
    }

    /// The connection ended without a close frame: by `error`, or lost (`None`).
    pub fn handle_lost(&mut self, error: Option<String>) {
        self.ended = true;
        if self.error.is_some() {
            return;
        }
        match error {
            Some(e) => self.error = Some(e),
            None if self.exit_code.is_none() => self.error = Some("connection lost".to_owned()),
            None => {}
        }
    }

    /// The daemon confirmed the attachment (or already reported the exit).
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// The connection has ended.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// The shell's exit code, once known.
    pub fn exit_code(&self) -> Option<i32> {
        self.exit_code
    }

    /// Why the PTY ended abnormally, if it did.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_control_then_normal_close() {
        let mut s = PtyClientState::new();
        assert_eq!(s.handle_text("hello"), PtyTextEvent::Output);
        assert!(!s.is_connected());
        assert_eq!(
            s.handle_text(&PtyControl::Connected.to_json()),
            PtyTextEvent::Control
        );
        assert!(s.is_connected() && !s.is_ended());
        s.handle_close(Some(1000), "");
        assert_eq!((s.exit_code(), s.error()), (Some(0), None));
    }

    #[test]
    fn close_reason_carries_exit_code_and_reason() {
        let mut s = PtyClientState::new();
        s.handle_close(Some(1000), r#"{"exitCode":137,"exitReason":"killed"}"#);
        assert_eq!((s.exit_code(), s.error()), (Some(137), Some("killed")));
    }

    #[test]
    fn abnormal_closes_are_errors_without_exit_code() {
        let mut s = PtyClientState::new();
        s.handle_close(Some(1011), r#"{"error":"boom"}"#);
        assert_eq!((s.exit_code(), s.error()), (None, Some("boom")));
        let mut s = PtyClientState::new();
        s.handle_close(Some(1001), "going away");
        assert_eq!((s.exit_code(), s.error()), (None, Some("going away")));
        let mut s = PtyClientState::new();
        s.handle_close(Some(1011), "");
        assert_eq!(s.error(), Some("connection closed with code 1011"));
    }

    #[test]
    fn in_band_error_and_lost_connection() {
        let mut s = PtyClientState::new();
        assert_eq!(
            s.handle_text(
                &PtyControl::Error {
                    error: "no such pty".into()
                }
                .to_json()
            ),
            PtyTextEvent::Error("no such pty".into())
        );
        s.handle_lost(None);
        assert!(s.is_ended());
        assert_eq!((s.exit_code(), s.error()), (None, Some("no such pty")));
        let mut s = PtyClientState::new();
        s.handle_lost(None);
        assert_eq!(s.error(), Some("connection lost"));
        let mut s = PtyClientState::new();
        s.handle_lost(Some("reset".into()));
        assert_eq!(s.error(), Some("reset"));
    }

    proptest::proptest! {
        /// Any sequence of frames and a close ends the connection with an exit code or an
        /// error (a caller always learns how it ended), and never panics.
        #[test]
        fn every_close_tells_how_it_ended(texts in proptest::collection::vec(".{0,40}", 0..6),
                                          code in proptest::option::of(1000u16..1015),
                                          reason in ".{0,40}") {
            let mut s = PtyClientState::new();
            for t in &texts { let _ = s.handle_text(t); }
            s.handle_close(code, &reason);
            proptest::prop_assert!(s.is_ended());
            proptest::prop_assert!(s.exit_code().is_some() || s.error().is_some());
        }
    }
}
