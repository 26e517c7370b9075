//! WebSocket close codes used by the process API ([`CloseCode`]) and the close-reason length rule.

use std::fmt;

/// A WebSocket close code. Open newtype: any `u16` a peer sends is representable; the
/// constants name the ones this protocol uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: normal end (log stream done, PTY exit 0, interpreter job complete).
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: going away (interpreter worker ended, context deleted, server shutdown).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: protocol error (interpreter: unreadable or non-JSON first message).
    pub const PROTOCOL: CloseCode = CloseCode(1002);
    /// 1008: policy violation (invalid interpreter request, slow consumer).
    pub const POLICY: CloseCode = CloseCode(1008);
    /// 1009: message too big (PTY input over 64 KiB).
    pub const TOO_BIG: CloseCode = CloseCode(1009);
    /// 1011: internal error (log read failure, PTY error or non-zero exit).
    pub const INTERNAL: CloseCode = CloseCode(1011);
    /// 4008: interpreter job timed out (application code; the SDK raises a timeout error).
    pub const INTERPRETER_TIMEOUT: CloseCode = CloseCode(4008);

    /// Whether the official SDKs treat this code as a clean end (only 1000).
    pub fn is_normal(self) -> bool {
        self == CloseCode::NORMAL
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        CloseCode(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> Self {
        code.0
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The longest close-frame reason RFC 6455 allows (125-byte control payload minus the code).
pub const MAX_REASON_LEN: usize = 123;

/// Truncates a close reason to at most [`MAX_REASON_LEN`] bytes, on a character boundary.
///
/// ```
/// use process_proto::wire::close::truncate_reason;
/// assert_eq!(truncate_reason("short"), "short");
/// assert_eq!(truncate_reason(&"é".repeat(100)).len(), 122);
/// ```
pub fn truncate_reason(reason: &str) -> &str {
    if reason.len() <= MAX_REASON_LEN {
        return reason;
    }
    let mut end = MAX_REASON_LEN;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}
