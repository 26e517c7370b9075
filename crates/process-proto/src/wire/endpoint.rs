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

pub mod control;

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

/// `id` percent-encoded as one path segment (RFC 3986 unreserved kept), for paths outside
/// this table (the control plane's `/sandbox/{id}/…`, a toolbox base URL).
///
/// ```
/// assert_eq!(process_proto::wire::endpoint::segment("my session/1"), "my%20session%2F1");
/// ```
pub fn segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    push_segment(&mut out, id);
    out
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

/// `GET`: liveness (`{"status":"ok"}`), the one route that needs no token (our addition).
pub const HEALTH: Endpoint = Endpoint("/health");
/// `GET`: the daemon's OpenAPI document (our addition).
pub const OPENAPI: Endpoint = Endpoint("/openapi.json");

/// `GET` a directory listing, `DELETE` a file or directory (`?path=`, `&recursive=`).
pub const FILES: Endpoint = Endpoint("/files");
/// `GET` one file's details.
pub const FILES_INFO: Endpoint = Endpoint("/files/info");
/// `POST`: create a directory (`?path=&mode=`).
pub const FILES_FOLDER: Endpoint = Endpoint("/files/folder");
/// `POST`: move or rename (`?source=&destination=`).
pub const FILES_MOVE: Endpoint = Endpoint("/files/move");
/// `POST`: set mode, owner and/or group.
pub const FILES_PERMISSIONS: Endpoint = Endpoint("/files/permissions");
/// `GET`: lines containing a literal pattern.
pub const FILES_FIND: Endpoint = Endpoint("/files/find");
/// `GET`: paths whose name matches a glob.
pub const FILES_SEARCH: Endpoint = Endpoint("/files/search");
/// `POST`: replace text in files.
pub const FILES_REPLACE: Endpoint = Endpoint("/files/replace");
/// `POST`: upload many files (multipart).
pub const FILES_BULK_UPLOAD: Endpoint = Endpoint("/files/bulk-upload");
/// `POST`: download many files (multipart answer).
pub const FILES_BULK_DOWNLOAD: Endpoint = Endpoint("/files/bulk-download");
/// `POST`: upload one file (raw body or multipart).
pub const FILES_UPLOAD_V2: Endpoint = Endpoint("/files/upload-v2");
/// `POST`: upload one file (the legacy multipart form).
pub const FILES_UPLOAD: Endpoint = Endpoint("/files/upload");
/// `GET`: download one file.
pub const FILES_DOWNLOAD: Endpoint = Endpoint("/files/download");

/// `POST`: clone a repository.
pub const GIT_CLONE: Endpoint = Endpoint("/git/clone");
/// `POST`: stage files.
pub const GIT_ADD: Endpoint = Endpoint("/git/add");
/// `POST`: commit.
pub const GIT_COMMIT: Endpoint = Endpoint("/git/commit");
/// `POST`: push.
pub const GIT_PUSH: Endpoint = Endpoint("/git/push");
/// `POST`: pull.
pub const GIT_PULL: Endpoint = Endpoint("/git/pull");
/// `GET` a repository's status.
pub const GIT_STATUS: Endpoint = Endpoint("/git/status");
/// `GET` the branches, `POST` a new one, `DELETE` one (JSON body on DELETE).
pub const GIT_BRANCHES: Endpoint = Endpoint("/git/branches");
/// `POST`: check out a branch or commit.
pub const GIT_CHECKOUT: Endpoint = Endpoint("/git/checkout");
/// `GET` the commit history.
pub const GIT_HISTORY: Endpoint = Endpoint("/git/history");
/// `POST`: create a repository.
pub const GIT_INIT: Endpoint = Endpoint("/git/init");
/// `POST`: reset.
pub const GIT_RESET: Endpoint = Endpoint("/git/reset");
/// `POST`: restore files.
pub const GIT_RESTORE: Endpoint = Endpoint("/git/restore");
/// `GET` the remotes, `POST` a new one.
pub const GIT_REMOTES: Endpoint = Endpoint("/git/remotes");
/// `GET` / `POST` a config key.
pub const GIT_CONFIG: Endpoint = Endpoint("/git/config");
/// `POST`: set `user.name` and `user.email`.
pub const GIT_CONFIG_USER: Endpoint = Endpoint("/git/config/user");
/// `POST`: store credentials for a host.
pub const GIT_CREDENTIALS: Endpoint = Endpoint("/git/credentials");

/// `GET` the user's home directory.
pub const USER_HOME_DIR: Endpoint = Endpoint("/user-home-dir");
/// `GET` the project directory.
pub const PROJECT_DIR: Endpoint = Endpoint("/project-dir");
/// `GET` the daemon's working directory.
pub const WORK_DIR: Endpoint = Endpoint("/work-dir");
/// `GET` the daemon's version.
pub const VERSION: Endpoint = Endpoint("/version");
/// `POST` the SDK's telemetry token.
pub const INIT: Endpoint = Endpoint("/init");
/// `POST`: change the environment of later processes.
pub const ENV: Endpoint = Endpoint("/env");
/// `GET` the ports listened on.
pub const PORTS: Endpoint = Endpoint("/port");
/// `GET` whether a port is listened on.
pub const PORT_IN_USE: Endpoint = Endpoint("/port/{port}/in-use");
/// `GET` CPU, memory and disk figures.
pub const SYSTEM_METRICS: Endpoint = Endpoint("/system/metrics");
/// Any method: HTTP proxy to `127.0.0.1:{port}` in the sandbox.
pub const PROXY: Endpoint = Endpoint("/proxy/{port}");
/// Any method: HTTP proxy to `127.0.0.1:{port}/{rest}` (`rest` is axum's catch-all, any
/// number of segments).
pub const PROXY_PATH: Endpoint = Endpoint("/proxy/{port}/{*rest}");

/// [`SESSIONS`] with a trailing slash (the original routes both).
pub const SESSIONS_SLASH: Endpoint = Endpoint("/process/session/");
/// [`PTYS`] with a trailing slash (the original routes both).
pub const PTYS_SLASH: Endpoint = Endpoint("/process/pty/");
/// [`FILES`] with a trailing slash (the original routes both).
pub const FILES_SLASH: Endpoint = Endpoint("/files/");
/// [`PROXY`] with a trailing slash (the original routes both).
pub const PROXY_SLASH: Endpoint = Endpoint("/proxy/{port}/");

/// The routes answered with and without a trailing slash: `(endpoint, endpoint + "/")`.
pub const TRAILING_SLASH: &[(Endpoint, Endpoint)] = &[
    (SESSIONS, SESSIONS_SLASH),
    (PTYS, PTYS_SLASH),
    (FILES, FILES_SLASH),
    (PROXY, PROXY_SLASH),
];

/// Every endpoint above (trailing-slash twins aside), for tables and tests.
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
    HEALTH,
    OPENAPI,
    FILES,
    FILES_INFO,
    FILES_FOLDER,
    FILES_MOVE,
    FILES_PERMISSIONS,
    FILES_FIND,
    FILES_SEARCH,
    FILES_REPLACE,
    FILES_BULK_UPLOAD,
    FILES_BULK_DOWNLOAD,
    FILES_UPLOAD_V2,
    FILES_UPLOAD,
    FILES_DOWNLOAD,
    GIT_CLONE,
    GIT_ADD,
    GIT_COMMIT,
    GIT_PUSH,
    GIT_PULL,
    GIT_STATUS,
    GIT_BRANCHES,
    GIT_CHECKOUT,
    GIT_HISTORY,
    GIT_INIT,
    GIT_RESET,
    GIT_RESTORE,
    GIT_REMOTES,
    GIT_CONFIG,
    GIT_CONFIG_USER,
    GIT_CREDENTIALS,
    USER_HOME_DIR,
    PROJECT_DIR,
    WORK_DIR,
    VERSION,
    INIT,
    ENV,
    PORTS,
    PORT_IN_USE,
    SYSTEM_METRICS,
    PROXY,
    PROXY_PATH,
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
        let mut seen = std::collections::HashSet::new();
        for e in ALL {
            let t = e.template();
            assert!(seen.insert(t), "{t} is listed twice");
            assert!(t.starts_with('/') && !t.contains("//"), "{t}");
            assert_eq!(t.matches('{').count(), t.matches('}').count(), "{t}");
            assert!(!t.ends_with('/'), "{t}");
            // Filling with plain ids leaves no braces.
            let args: Vec<&str> = (0..e.params()).map(|_| "x").collect();
            assert!(!e.path(&args).contains(['{', '}']), "{t}");
        }
    }

    #[test]
    fn trailing_slash_twins_are_their_endpoint_plus_a_slash() {
        for (e, slashed) in TRAILING_SLASH {
            assert!(ALL.contains(e), "{e}");
            assert_eq!(slashed.template(), format!("{e}/"));
        }
        assert_eq!(FILES_SLASH.template(), "/files/");
        assert_eq!(PROXY_PATH.path(&["8080", "a b"]), "/proxy/8080/a%20b");
    }

    #[test]
    fn ids_are_encoded_as_one_segment() {
        assert_eq!(segment("my session/1"), "my%20session%2F1");
        assert_eq!(segment("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(segment("é"), "%C3%A9");
        assert_eq!(segment(""), "");
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
