//! processd's OpenAPI 3.1 document (served at `GET /openapi.json`, committed as
//! `openapi/processd.json`): schemas derived with utoipa from `process-proto`'s wire types,
//! operations from the table below, which a test checks against every route in `api/`.

use process_proto::openapi::{op, path, query, required, Document, In, Op, Out, Param};
use serde_json::Value;
use utoipa::OpenApi;

use process_proto::wire::{self, endpoint};

/// The wire types the document names (their schemas come from their `ToSchema` derives).
#[derive(OpenApi)]
#[openapi(components(schemas(
    wire::ErrorResponse,
    wire::ExecuteRequest,
    wire::ExecuteResponse,
    wire::CodeRunRequest,
    wire::CodeRunResponse,
    wire::CodeRunArtifacts,
    wire::CreateSessionRequest,
    wire::Session,
    wire::Command,
    wire::SessionExecuteRequest,
    wire::SessionExecuteResponse,
    wire::SessionCommandSignalRequest,
    wire::SessionSendInputRequest,
    wire::PtyCreateRequest,
    wire::PtyCreateResponse,
    wire::PtySessionInfo,
    wire::PtyListResponse,
    wire::PtyResizeRequest,
    wire::CreateContextRequest,
    wire::InterpreterContext,
    wire::ListContextsResponse,
    wire::InterpreterRequest,
    wire::InterpreterFrame,
    wire::FileInfo,
    wire::Match,
    wire::FindResponse,
    wire::SearchFilesResponse,
    wire::ReplaceRequest,
    wire::ReplaceResult,
    wire::FilesDownloadRequest,
    wire::UploadedFileEntry,
    wire::UploadFilesResponse,
    wire::GitCloneRequest,
    wire::GitAddRequest,
    wire::GitCommitRequest,
    wire::GitCommitResponse,
    wire::GitPushRequest,
    wire::GitPullRequest,
    wire::GitBranchRequest,
    wire::GitCheckoutRequest,
    wire::GitInitRequest,
    wire::GitResetRequest,
    wire::GitRestoreRequest,
    wire::GitAddRemoteRequest,
    wire::GitSetConfigRequest,
    wire::GitConfigureUserRequest,
    wire::GitAuthenticateRequest,
    wire::GitConfigResponse,
    wire::GitStatus,
    wire::FileStatus,
    wire::ListBranchResponse,
    wire::GitRemote,
    wire::ListRemotesResponse,
    wire::GitCommitInfo,
    wire::DirResponse,
    wire::VersionResponse,
    wire::InitRequest,
    wire::UpdateEnvRequest,
    wire::MessageResponse,
    wire::PortList,
    wire::IsPortInUseResponse,
    wire::SystemMetrics,
)))]
struct Schemas;

const SID: Param = path("sid", "The session id.");
const CID: Param = path("cid", "The command id.");
const PTY: Param = path("id", "The PTY session id.");
const PATH_Q: Param = required(
    "path",
    "string",
    "A path (relative paths are under the work dir).",
);
const REPO: Param = required("path", "string", "The repository directory.");

/// Every operation processd serves.
pub(crate) const OPS: &[Op] = &[
    op("get", endpoint::HEALTH.template(), "info", "Liveness: always `{\"status\":\"ok\"}`, no token needed.", &[], In::Nothing, Out::Json(200, "")),
    op("get", endpoint::OPENAPI.template(), "info", "This document.", &[], In::Nothing, Out::Json(200, "")),
    op("get", endpoint::VERSION.template(), "info", "The daemon's version.", &[], In::Nothing, Out::Json(200, "VersionResponse")),
    op("post", endpoint::INIT.template(), "info", "Accepts the SDK's telemetry token (not kept).", &[], In::Json("InitRequest"), Out::Json(200, "MessageResponse")),
    op("post", endpoint::ENV.template(), "info", "Change the environment of processes started afterwards (`unset`, then `unsetValuePrefix`, then `set`); running ones keep theirs.", &[], In::Json("UpdateEnvRequest"), Out::Json(200, "MessageResponse")),
    op("get", endpoint::USER_HOME_DIR.template(), "info", "The user's home directory.", &[], In::Nothing, Out::Json(200, "DirResponse")),
    op("get", endpoint::PROJECT_DIR.template(), "info", "The project directory (the home directory).", &[], In::Nothing, Out::Json(200, "DirResponse")),
    op("get", endpoint::WORK_DIR.template(), "info", "The daemon's working directory.", &[], In::Nothing, Out::Json(200, "DirResponse")),
    op("get", endpoint::PORTS.template(), "info", "Ports listened on in the sandbox.", &[], In::Nothing, Out::Json(200, "PortList")),
    op("get", endpoint::PORT_IN_USE.template(), "info", "Whether a port is listened on.", &[path("port", "A TCP port.")], In::Nothing, Out::Json(200, "IsPortInUseResponse")),
    op("get", endpoint::SYSTEM_METRICS.template(), "info", "CPU, memory and disk figures of the sandbox.", &[], In::Nothing, Out::Json(200, "SystemMetrics")),
    op("get", endpoint::PROXY.template(), "info", "HTTP proxy to 127.0.0.1:{port} in the sandbox (any method).", &[path("port", "A TCP port.")], In::Nothing, Out::Proxied).not_fuzzed("A proxy: it answers what the sandbox's own server on that port answers, which this document cannot describe."),
    op("get", endpoint::PROXY_SLASH.template(), "info", "HTTP proxy to 127.0.0.1:{port} in the sandbox (any method).", &[path("port", "A TCP port.")], In::Nothing, Out::Proxied).not_fuzzed("A proxy: it answers what the sandbox's own server on that port answers, which this document cannot describe."),
    op("get", "/proxy/{port}/{rest}", "info", "HTTP proxy to 127.0.0.1:{port}/{rest} in the sandbox (any method).", &[path("port", "A TCP port."), path("rest", "The upstream path.")], In::Nothing, Out::Proxied).not_fuzzed("A proxy: it answers what the sandbox's own server on that port answers, which this document cannot describe."),
    // process
    op("post", endpoint::EXECUTE.template(), "process", "Run a command to its end (`timeout` in seconds; `splitOutput` adds `stdout`/`stderr`).", &[], In::Json("ExecuteRequest"), Out::Json(200, "ExecuteResponse")),
    op("post", endpoint::CODE_RUN.template(), "process", "Run code (python, javascript, typescript) with chart capture.", &[], In::Json("CodeRunRequest"), Out::Json(200, "CodeRunResponse")),
    // sessions
    op("get", endpoint::SESSIONS.template(), "session", "List sessions.", &[], In::Nothing, Out::JsonList(200, "Session")),
    op("post", endpoint::SESSIONS.template(), "session", "Create a session.", &[], In::Json("CreateSessionRequest"), Out::Empty(201)),
    op("get", endpoint::SESSIONS_SLASH.template(), "session", "List sessions (trailing slash).", &[], In::Nothing, Out::JsonList(200, "Session")),
    op("post", endpoint::SESSIONS_SLASH.template(), "session", "Create a session (trailing slash).", &[], In::Json("CreateSessionRequest"), Out::Empty(201)),
    op("get", endpoint::ENTRYPOINT_SESSION.template(), "session", "The entrypoint session.", &[], In::Nothing, Out::Json(200, "Session")),
    op("delete", endpoint::ENTRYPOINT_SESSION.template(), "session", "Delete the entrypoint session.", &[], In::Nothing, Out::Empty(204)),
    op("get", endpoint::ENTRYPOINT_LOGS.template(), "session", "The entrypoint's logs (`follow=true` upgrades to a WebSocket).", &[query("follow", "boolean", "Stream live over a WebSocket.")], In::Nothing, Out::Upgrade("The logs as text, or a WebSocket of log frames with `follow=true`.")),
    op("get", endpoint::SESSION.template(), "session", "A session and its commands.", &[SID], In::Nothing, Out::Json(200, "Session")),
    op("delete", endpoint::SESSION.template(), "session", "Delete a session (ends its shell and commands).", &[SID], In::Nothing, Out::Empty(204)),
    op("post", endpoint::SESSION_EXEC.template(), "session", "Run a command in a session (`runAsync`/`async`: 202 at once).", &[SID], In::Json("SessionExecuteRequest"), Out::Json(200, "SessionExecuteResponse")),
    op("get", endpoint::SESSION_COMMAND.template(), "session", "A command of a session.", &[SID, CID], In::Nothing, Out::Json(200, "Command")),
    op("post", endpoint::SESSION_COMMAND_INPUT.template(), "session", "Write to a running command's stdin.", &[SID, CID], In::Json("SessionSendInputRequest"), Out::Empty(204)),
    op("post", endpoint::SESSION_COMMAND_SIGNAL.template(), "session", "Signal a running command (default SIGTERM).", &[SID, CID], In::JsonOrEmpty("SessionCommandSignalRequest"), Out::Empty(204)),
    op("get", endpoint::SESSION_COMMAND_LOGS.template(), "session", "A command's logs: text (labelled streams), or a WebSocket with `follow=true`.", &[SID, CID, query("follow", "boolean", "Stream live over a WebSocket.")], In::Nothing, Out::Upgrade("The logs as text, or a WebSocket of log frames with `follow=true`.")),
    // pty
    op("get", endpoint::PTYS.template(), "pty", "List PTY sessions.", &[], In::Nothing, Out::Json(200, "PtyListResponse")),
    op("post", endpoint::PTYS.template(), "pty", "Create a PTY session.", &[], In::Json("PtyCreateRequest"), Out::Json(201, "PtyCreateResponse")),
    op("get", endpoint::PTYS_SLASH.template(), "pty", "List PTY sessions (trailing slash).", &[], In::Nothing, Out::Json(200, "PtyListResponse")),
    op("post", endpoint::PTYS_SLASH.template(), "pty", "Create a PTY session (trailing slash).", &[], In::Json("PtyCreateRequest"), Out::Json(201, "PtyCreateResponse")),
    op("get", endpoint::PTY_CREATE_CONNECT.template(), "pty", "Create a PTY and connect to it in one WebSocket upgrade.", &[], In::Nothing, Out::Upgrade("A WebSocket carrying the terminal's bytes.")).not_fuzzed("WebSocket only: schemathesis speaks plain HTTP (without `Upgrade` the route answers 400; the daemon's tests cover the upgrade)."),
    op("get", endpoint::PTY.template(), "pty", "A PTY session.", &[PTY], In::Nothing, Out::Json(200, "PtySessionInfo")),
    op("delete", endpoint::PTY.template(), "pty", "Kill a PTY session.", &[PTY], In::Nothing, Out::Json(200, "")),
    op("get", endpoint::PTY_CONNECT.template(), "pty", "Connect to a PTY (WebSocket; the scrollback is replayed first).", &[PTY], In::Nothing, Out::Upgrade("A WebSocket carrying the terminal's bytes.")).not_fuzzed("WebSocket only: schemathesis speaks plain HTTP (without `Upgrade` the route answers 400; the daemon's tests cover the upgrade)."),
    op("post", endpoint::PTY_RESIZE.template(), "pty", "Resize a PTY.", &[PTY], In::Json("PtyResizeRequest"), Out::Json(200, "PtySessionInfo")),
    // interpreter
    op("get", endpoint::INTERPRETER_CONTEXTS.template(), "interpreter", "List interpreter contexts.", &[], In::Nothing, Out::Json(200, "ListContextsResponse")),
    op("post", endpoint::INTERPRETER_CONTEXTS.template(), "interpreter", "Create an interpreter context.", &[], In::JsonOrEmpty("CreateContextRequest"), Out::Json(200, "InterpreterContext")).also_error(500, "A `cwd` that is not an existing directory: 500 `failed to start context: failed to start Python worker: chdir …`, as the original answers (the SDKs see this message); also when the Python worker cannot start."),
    op("delete", endpoint::INTERPRETER_CONTEXT.template(), "interpreter", "Delete an interpreter context.", &[path("id", "The context id.")], In::Nothing, Out::Json(200, "")),
    op("get", endpoint::INTERPRETER_EXECUTE.template(), "interpreter", "Run code in a context: a WebSocket; the first message is an `InterpreterRequest`, then `InterpreterFrame`s.", &[], In::Nothing, Out::Upgrade("A WebSocket of InterpreterFrame JSON messages.")).not_fuzzed("WebSocket only: schemathesis speaks plain HTTP (without `Upgrade` the route answers 400; the daemon's tests cover the upgrade)."),
    // files
    op("get", endpoint::FILES.template(), "files", "List a directory (`depth` walks deeper).", &[PATH_Q, query("depth", "integer", "Levels to walk (>= 1).")], In::Nothing, Out::JsonList(200, "FileInfo")),
    op("delete", endpoint::FILES.template(), "files", "Delete a file, or a directory with `recursive=true`.", &[PATH_Q, query("recursive", "boolean", "Delete a directory and its contents.")], In::Nothing, Out::Empty(204)),
    op("get", endpoint::FILES_SLASH.template(), "files", "List a directory (trailing slash).", &[PATH_Q, query("depth", "integer", "Levels to walk (>= 1).")], In::Nothing, Out::JsonList(200, "FileInfo")),
    op("delete", endpoint::FILES_SLASH.template(), "files", "Delete (trailing slash).", &[PATH_Q, query("recursive", "boolean", "Delete a directory and its contents.")], In::Nothing, Out::Empty(204)),
    op("get", endpoint::FILES_INFO.template(), "files", "A file's details.", &[PATH_Q], In::Nothing, Out::Json(200, "FileInfo")),
    op("post", endpoint::FILES_FOLDER.template(), "files", "Create a directory and its parents.", &[PATH_Q, required("mode", "string", "Octal mode, e.g. 755.")], In::Nothing, Out::Empty(201)),
    op("post", endpoint::FILES_MOVE.template(), "files", "Move or rename.", &[required("source", "string", "From."), required("destination", "string", "To.")], In::Nothing, Out::Empty(200)),
    op("post", endpoint::FILES_PERMISSIONS.template(), "files", "Set mode, owner and/or group.", &[PATH_Q, query("mode", "string", "Octal mode."), query("owner", "string", "User name or uid."), query("group", "string", "Group name or gid.")], In::Nothing, Out::Empty(200)),
    op("get", endpoint::FILES_FIND.template(), "files", "Lines containing a literal, case-sensitive pattern. Extensions: `regex`, `caseInsensitive`, and `limit` (the answer is then a `FindResponse` object with `truncated`).", &[PATH_Q, required("pattern", "string", "The text."), query("regex", "boolean", "`pattern` is a regular expression."), query("caseInsensitive", "boolean", "Letters match in either case."), query("limit", "integer", "At most this many matches (>= 1); answers a FindResponse.")], In::Nothing, Out::JsonListOr(200, "Match", "FindResponse")),
    op("get", endpoint::FILES_SEARCH.template(), "files", "Paths whose name matches a glob.", &[PATH_Q, required("pattern", "string", "A glob.")], In::Nothing, Out::Json(200, "SearchFilesResponse")),
    op("post", endpoint::FILES_REPLACE.template(), "files", "Replace text in files.", &[], In::Json("ReplaceRequest"), Out::JsonList(200, "ReplaceResult")),
    op("post", endpoint::FILES_BULK_UPLOAD.template(), "files", "Upload files: parts `files[i].path` then `files[i].file`, each written atomically. A 400 carries `UploadFilesResponse`, not the envelope.", &[], In::Multipart("`files[i].path` (text) and `files[i].file` (bytes) pairs."), Out::Json(200, "UploadFilesResponse")),
    op("post", endpoint::FILES_BULK_DOWNLOAD.template(), "files", "Download files as multipart parts (`file` parts, or `error` parts with a JSON envelope).", &[], In::Json("FilesDownloadRequest"), Out::Multipart(200, "One part per requested path, in order.")).also_empty(400, "A body that is not JSON, or has no `paths`: a 400 without a body, as the original (gin's BindJSON) answers; an empty `paths` gets the envelope."),
    op("post", endpoint::FILES_UPLOAD_V2.template(), "files", "Upload one file (raw body or multipart `file`).", &[PATH_Q], In::Multipart("A `file` part (or a raw body)."), Out::Json(200, "")),
    op("post", endpoint::FILES_UPLOAD.template(), "files", "Upload one file (the legacy multipart form).", &[PATH_Q], In::Multipart("A `file` part."), Out::Empty(200)),
    op("get", endpoint::FILES_DOWNLOAD.template(), "files", "Download one file (Range supported).", &[PATH_Q], In::Nothing, Out::Binary(200, "The file's bytes.")),
    // git
    op("post", endpoint::GIT_CLONE.template(), "git", "Clone a repository.", &[], In::Json("GitCloneRequest"), Out::Empty(200)).also_error(502, "GIT_TRANSPORT_FAILED: the remote could not be reached (no network, an unknown host, a refused connection)."),
    op("post", endpoint::GIT_ADD.template(), "git", "Stage files.", &[], In::Json("GitAddRequest"), Out::Empty(200)),
    op("post", endpoint::GIT_COMMIT.template(), "git", "Commit.", &[], In::Json("GitCommitRequest"), Out::Json(200, "GitCommitResponse")),
    op("post", endpoint::GIT_PUSH.template(), "git", "Push.", &[], In::Json("GitPushRequest"), Out::Empty(200)).also_error(502, "GIT_TRANSPORT_FAILED: the remote could not be reached (no network, an unknown host, a refused connection)."),
    op("post", endpoint::GIT_PULL.template(), "git", "Pull.", &[], In::Json("GitPullRequest"), Out::Empty(200)).also_error(502, "GIT_TRANSPORT_FAILED: the remote could not be reached (no network, an unknown host, a refused connection)."),
    op("get", endpoint::GIT_STATUS.template(), "git", "Status of a repository.", &[REPO], In::Nothing, Out::Json(200, "GitStatus")),
    op("get", endpoint::GIT_BRANCHES.template(), "git", "Branches.", &[REPO], In::Nothing, Out::Json(200, "ListBranchResponse")),
    op("post", endpoint::GIT_BRANCHES.template(), "git", "Create a branch.", &[], In::Json("GitBranchRequest"), Out::Empty(201)),
    op("delete", endpoint::GIT_BRANCHES.template(), "git", "Delete a branch.", &[], In::Json("GitBranchRequest"), Out::Empty(204)),
    op("post", endpoint::GIT_CHECKOUT.template(), "git", "Check out a branch or commit.", &[], In::Json("GitCheckoutRequest"), Out::Empty(200)),
    op("get", endpoint::GIT_HISTORY.template(), "git", "Commit history.", &[REPO], In::Nothing, Out::JsonList(200, "GitCommitInfo")),
    op("post", endpoint::GIT_INIT.template(), "git", "Create a repository.", &[], In::Json("GitInitRequest"), Out::Empty(201)),
    op("post", endpoint::GIT_RESET.template(), "git", "Reset.", &[], In::Json("GitResetRequest"), Out::Empty(200)),
    op("post", endpoint::GIT_RESTORE.template(), "git", "Restore files.", &[], In::Json("GitRestoreRequest"), Out::Empty(200)),
    op("get", endpoint::GIT_REMOTES.template(), "git", "Remotes.", &[REPO], In::Nothing, Out::Json(200, "ListRemotesResponse")),
    op("post", endpoint::GIT_REMOTES.template(), "git", "Add a remote.", &[], In::Json("GitAddRemoteRequest"), Out::Empty(201)),
    op("get", endpoint::GIT_CONFIG.template(), "git", "Read a config key.", &[query("path", "string", "The repository (absent: global)."), required("key", "string", "The key."), query("scope", "string", "local or global.")], In::Nothing, Out::Json(200, "GitConfigResponse")),
    op("post", endpoint::GIT_CONFIG.template(), "git", "Set a config key.", &[], In::Json("GitSetConfigRequest"), Out::Empty(200)),
    op("post", endpoint::GIT_CONFIG_USER.template(), "git", "Set user.name and user.email.", &[], In::Json("GitConfigureUserRequest"), Out::Empty(200)),
    op("post", endpoint::GIT_CREDENTIALS.template(), "git", "Store credentials for a host.", &[], In::Json("GitAuthenticateRequest"), Out::Empty(200)),
];

/// processd's document, all but the schemas.
pub const DOCUMENT: Document = Document {
    title: "processd",
    version: env!("CARGO_PKG_VERSION"),
    description: "The Daytona toolbox API as processd serves it. Every route but /health needs `Authorization: Bearer TOKEN` when the daemon has a token. Quirk the SDKs depend on: an unknown path or a wrong method answers the original's (gin's) plain-text `404 page not found` (Content-Type text/plain), not the JSON envelope. WebSocket routes are GET requests with `Upgrade: websocket` and answer 101. Operations marked `x-not-fuzzed` are left out of the schemathesis run in CI (`cargo xtask schemathesis`), for the reason given there.",
    ops: OPS,
    error: "ErrorResponse",
    error_about: "An error: the envelope `{statusCode, message, source, code, timestamp, path, method}` (Daytona's shape; `code` and the exec fields are additive).",
    security_scheme: "bearer",
    // Without a token the daemon serves loopback requests without credentials.
    security_optional: true,
};

/// The document, as JSON.
pub fn document() -> Value {
    DOCUMENT.build::<Schemas>()
}

/// `GET /openapi.json`.
pub(crate) fn routes() -> crate::router::AppRouter {
    crate::router::AppRouter::new().route(
        endpoint::OPENAPI.template(),
        axum::routing::get(|| async {
            crate::error::json_response(http::StatusCode::OK, &document())
        }),
    )
}

/// The document as the committed file holds it (pretty, with a final newline).
pub fn document_text() -> String {
    process_proto::openapi::text(&document())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    use super::*;

    fn committed() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../openapi/processd.json")
    }

    /// `openapi/processd.json` is what the code generates; `cargo xtask openapi` rewrites it
    /// (it runs this test with `UPDATE_OPENAPI=1`).
    #[test]
    fn the_committed_document_is_current() {
        let now = document_text();
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            std::fs::create_dir_all(committed().parent().unwrap()).unwrap();
            std::fs::write(committed(), &now).unwrap();
        }
        let file = std::fs::read_to_string(committed()).unwrap_or_default();
        assert!(
            file == now,
            "openapi/processd.json is stale: run `cargo xtask openapi` and commit it"
        );
    }

    /// Every `.route("PATH", METHOD(..)…)` under `src/api/` is in the document with each of its
    /// methods (`any` routes as GET), and the document names no route the router lacks.
    #[test]
    fn every_route_is_documented() {
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        // The route table names most paths by their `process_proto::wire::endpoint` constant:
        // read the constants' templates so the scan sees the paths themselves.
        let endpoints =
            std::fs::read_to_string(manifest.join("../process-proto/src/wire/endpoint.rs"))
                .unwrap();
        assert!(
            endpoints.matches("Endpoint(\"").count() > 15,
            "no endpoint constants found"
        );
        let mut routed = BTreeSet::new();
        let mut files = vec![];
        let mut dirs = vec![manifest.join("src/api")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    files.push(path);
                }
            }
        }
        for file in files {
            let src = std::fs::read_to_string(file).unwrap();
            let src = process_proto::openapi::resolve_templates(&src, &endpoints, "endpoint::");
            routed.extend(process_proto::openapi::routes_in(&src));
        }
        routed.insert(("get".to_owned(), endpoint::HEALTH.template().to_owned()));
        routed.insert(("get".to_owned(), endpoint::OPENAPI.template().to_owned()));
        process_proto::openapi::coverage(&routed, &DOCUMENT.documented(), 61).unwrap();
    }

    /// `GET /openapi.json` through the whole router (its layers included) serves the document.
    #[tokio::test]
    async fn the_document_is_served() {
        use tower::ServiceExt;
        let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let daemon = crate::Daemon::new(crate::Config::new(dirs.0.path(), dirs.1.path())).unwrap();
        let req = http::Request::get("/openapi.json")
            .body(crate::Body::empty())
            .unwrap();
        let resp = crate::router::router(daemon).oneshot(req).await.unwrap();
        assert_eq!(resp.status(), http::StatusCode::OK);
        let body = axum::body::to_bytes(resp.into_body(), 16 << 20)
            .await
            .unwrap();
        let served: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(served, document());
    }

    /// Every schema an operation names exists in the components.
    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let unresolved = process_proto::openapi::unresolved_refs(&doc);
        assert!(unresolved.is_empty(), "unresolved schemas: {unresolved:?}");
        assert_eq!(doc["openapi"], "3.1.0");
    }
}
