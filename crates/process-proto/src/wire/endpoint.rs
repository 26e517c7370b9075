//! The toolbox process API's endpoints and headers, defined once: the daemon's route table and
//! the client's request paths both come from here (kube-core's "the core builds the paths").
//!
//! Templates use axum's `{name}` syntax, so the daemon routes them as they are;
//! [`Endpoint::path`] fills them for a client, one percent-encoded segment per parameter.
//!
//! ```
//! use process_proto::wire::endpoint;
//! assert_eq!(endpoint::SESSION_COMMAND_LOGS.template(), "/process/session/{sid}/command/{cid}/logs");
//! assert_eq!(endpoint::SESSION_COMMAND_LOGS.path(&["my session", "c/1"]),
//!            "/process/session/my%20session/command/c%2F1/logs");
//! ```

/// The protocol version this crate speaks: the official Python SDK release whose wire format it
/// matches (spec §1.1). Any value ≥ 0.167.0 selects the modern response shapes.
pub const SDK_VERSION: &str = "0.226.1";

/// The `X-Daytona-SDK-Version` header (lower case, as HTTP/1.1 header names compare).
pub const SDK_VERSION_HEADER: &str = "x-daytona-sdk-version";

/// The `X-Daytona-Source` header.
pub const SOURCE_HEADER: &str = "x-daytona-source";

/// One endpoint's path template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoint(&'static str);

impl Endpoint {
    /// The template, e.g. `/process/session/{sid}/exec` (axum's syntax).
    pub const fn template(self) -> &'static str {
        self.0
    }

    /// How many `{…}` parameters the template has.
    pub fn params(self) -> usize {
        self.0.matches('{').count()
    }

    /// The path with the template's parameters replaced, in order, by `args`, each encoded as
    /// one path segment (RFC 3986 unreserved characters stay, every other byte is `%XX`).
    /// Missing arguments leave an empty segment; extra ones are ignored (the tests of this
    /// module check every endpoint's parameter count).
    pub fn path(self, args: &[&str]) -> String {
        let mut out =
            String::with_capacity(self.0.len() + args.iter().map(|a| a.len()).sum::<usize>());
        let mut args = args.iter();
        let mut rest = self.0;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let close = rest[open..].find('}').map_or(rest.len(), |c| open + c + 1);
            if let Some(arg) = args.next() {
                push_segment(&mut out, arg);
            }
            rest = &rest[close..];
        }
        out.push_str(rest);
        out
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Appends `segment` percent-encoded as one path segment (RFC 3986 unreserved kept).
pub fn push_segment(out: &mut String, segment: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in segment.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
}

/// `POST`: run a shell command (`ExecuteRequest` → `ExecuteResponse`).
pub const EXECUTE: Endpoint = Endpoint("/process/execute");
/// `POST`: run code (`CodeRunRequest` → `CodeRunResponse`).
pub const CODE_RUN: Endpoint = Endpoint("/process/code-run");
/// `GET` the sessions, `POST` a new one.
pub const SESSIONS: Endpoint = Endpoint("/process/session");
/// `GET` / `DELETE` one session.
pub const SESSION: Endpoint = Endpoint("/process/session/{sid}");
/// `POST`: run a command in a session.
pub const SESSION_EXEC: Endpoint = Endpoint("/process/session/{sid}/exec");
/// `GET` one command of a session.
pub const SESSION_COMMAND: Endpoint = Endpoint("/process/session/{sid}/command/{cid}");
/// `POST` input to a running command.
pub const SESSION_COMMAND_INPUT: Endpoint = Endpoint("/process/session/{sid}/command/{cid}/input");
/// `POST` a signal to a command (our addition).
pub const SESSION_COMMAND_SIGNAL: Endpoint =
    Endpoint("/process/session/{sid}/command/{cid}/signal");
/// `GET` a command's log; `?follow=true` upgrades to the log-follow WebSocket.
pub const SESSION_COMMAND_LOGS: Endpoint = Endpoint("/process/session/{sid}/command/{cid}/logs");
/// `GET` the entrypoint session.
pub const ENTRYPOINT_SESSION: Endpoint = Endpoint("/process/session/entrypoint");
/// `GET` the entrypoint command's log (`?follow=true` as above).
pub const ENTRYPOINT_LOGS: Endpoint = Endpoint("/process/session/entrypoint/logs");
/// `GET` the PTY sessions, `POST` a new one.
pub const PTYS: Endpoint = Endpoint("/process/pty");
/// `GET`: create a PTY and attach to it in one WebSocket upgrade (our addition).
pub const PTY_CREATE_CONNECT: Endpoint = Endpoint("/process/pty/create-connect");
/// `GET` / `DELETE` one PTY session.
pub const PTY: Endpoint = Endpoint("/process/pty/{id}");
/// `GET`: attach to a PTY (WebSocket).
pub const PTY_CONNECT: Endpoint = Endpoint("/process/pty/{id}/connect");
/// `POST`: resize a PTY.
pub const PTY_RESIZE: Endpoint = Endpoint("/process/pty/{id}/resize");
/// `GET` the interpreter contexts, `POST` a new one.
pub const INTERPRETER_CONTEXTS: Endpoint = Endpoint("/process/interpreter/context");
/// `DELETE` one interpreter context.
pub const INTERPRETER_CONTEXT: Endpoint = Endpoint("/process/interpreter/context/{id}");
/// `GET`: run code in a context (WebSocket).
pub const INTERPRETER_EXECUTE: Endpoint = Endpoint("/process/interpreter/execute");

/// Every endpoint above, for tables and tests.
pub const ALL: &[Endpoint] = &[
    EXECUTE,
    CODE_RUN,
    SESSIONS,
    SESSION,
    SESSION_EXEC,
    SESSION_COMMAND,
    SESSION_COMMAND_INPUT,
    SESSION_COMMAND_SIGNAL,
    SESSION_COMMAND_LOGS,
    ENTRYPOINT_SESSION,
    ENTRYPOINT_LOGS,
    PTYS,
    PTY_CREATE_CONNECT,
    PTY,
    PTY_CONNECT,
    PTY_RESIZE,
    INTERPRETER_CONTEXTS,
    INTERPRETER_CONTEXT,
    INTERPRETER_EXECUTE,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_fill_parameters_as_single_segments() {
        assert_eq!(EXECUTE.path(&[]), "/process/execute");
        assert_eq!(SESSION.path(&["a b/c"]), "/process/session/a%20b%2Fc");
        assert_eq!(
            SESSION_COMMAND_INPUT.path(&["s", "é"]),
            "/process/session/s/command/%C3%A9/input"
        );
        assert_eq!(
            PTY_RESIZE.path(&["p-1_x.y~z"]),
            "/process/pty/p-1_x.y~z/resize"
        );
    }

    #[test]
    fn every_template_is_well_formed() {
        for e in ALL {
            let t = e.template();
            assert!(t.starts_with("/process/"), "{t}");
            assert_eq!(t.matches('{').count(), t.matches('}').count(), "{t}");
            assert!(!t.ends_with('/'), "{t}");
            // Filling with plain ids leaves no braces.
            let args: Vec<&str> = (0..e.params()).map(|_| "x").collect();
            assert!(!e.path(&args).contains(['{', '}']), "{t}");
        }
    }

    proptest::proptest! {
        /// A segment holds only unreserved characters and escapes, and decodes back.
        #[test]
        fn segments_round_trip(id in ".{0,30}") {
            let mut seg = String::new();
            push_segment(&mut seg, &id);
            proptest::prop_assert!(seg.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b)));
            let mut bytes = Vec::new();
            let raw = seg.as_bytes();
            let mut i = 0;
            while i < raw.len() {
                if raw[i] == b'%' {
                    let hex = std::str::from_utf8(&raw[i + 1..i + 3]).unwrap();
                    bytes.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 3;
                } else {
                    bytes.push(raw[i]);
                    i += 1;
                }
            }
            proptest::prop_assert_eq!(String::from_utf8(bytes).unwrap(), id);
        }
    }
}
