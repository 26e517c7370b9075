//! sandboxd's OpenAPI 3.1 document (served at `GET /api/openapi.json`, committed as
//! `openapi/sandboxd.json`): schemas derived with utoipa from `process-proto`'s control-plane
//! types, operations from the table below, which a test checks against every route of
//! `api.rs`.

use process_proto::openapi::{op, path, query, Document, In, Op, Out, Param};
use process_proto::wire::control;
use serde_json::Value;
use utoipa::OpenApi;

/// The wire types the document names.
#[derive(OpenApi)]
#[openapi(components(schemas(
    control::SandboxDto,
    control::SandboxVolume,
    control::BuildInfo,
    control::ListSandboxesResponse,
    control::CreateSandbox,
    control::ResizeSandbox,
    control::SandboxLabels,
    control::Url,
    control::ControlError,
)))]
struct Schemas;

const ID: Param = path("id", "The sandbox id or name.");
const MIN: Param = path("minutes", "Minutes (0: never).");

/// A feature this control plane does not offer: every method answers 422 `NOT_SUPPORTED`.
const fn refused(path: &'static str, params: &'static [Param]) -> Op {
    op(
        "get",
        path,
        "not supported",
        "Not offered by sandboxd: any method answers 422 with code NOT_SUPPORTED.",
        params,
        In::Nothing,
        Out::Refused,
    )
}

const REST: Param = path("rest", "The rest of the path.");

/// Every operation sandboxd serves (paths as the client sees them).
pub(crate) const OPS: &[Op] = &[
    op("get", "/api/openapi.json", "meta", "This document.", &[], In::Nothing, Out::Json(200, "")),
    op("get", "/api/socket.io", "events", "The SDKs' state-event channel: Socket.IO v5 over the WebSocket transport only (`?EIO=4&transport=websocket`); the CONNECT packet carries the API key, not the header. Without `Upgrade: websocket`: 400.", &[query("EIO", "string", "Engine.IO protocol version (4)."), query("transport", "string", "Must be `websocket`.")], In::Nothing, Out::Upgrade("A WebSocket of Engine.IO packets; `42[\"sandbox.state.updated\",{sandbox,oldState,newState}]` for every state change.")).not_fuzzed("WebSocket only (Socket.IO): schemathesis speaks plain HTTP (without `Upgrade` the route answers 400; sandboxd's tests cover the channel)."),
    op("get", "/api/socket.io/", "events", "The state-event channel (trailing slash, what the SDKs request).", &[query("EIO", "string", "Engine.IO protocol version (4)."), query("transport", "string", "Must be `websocket`.")], In::Nothing, Out::Upgrade("A WebSocket of Engine.IO packets (see `/api/socket.io`).")).not_fuzzed("WebSocket only (Socket.IO): schemathesis speaks plain HTTP (without `Upgrade` the route answers 400; sandboxd's tests cover the channel)."),
    op("post", "/api/sandbox", "sandbox", "Create a sandbox (answers when it has started).", &[], In::Json("CreateSandbox"), Out::Json(200, "Sandbox")),
    op("get", "/api/sandbox", "sandbox", "List sandboxes (paginated; filters as the hosted API).", &[
        query("cursor", "string", "The `nextCursor` of the previous page."),
        query("limit", "integer", "Page size (1 to 200)."),
        query("id", "string", "Id prefix."),
        query("name", "string", "Name prefix."),
        query("labels", "string", "JSON object of labels every result has."),
        query("states", "string", "A state (repeatable)."),
        query("sort", "string", "name, cpu, memoryGib, diskGib, lastActivityAt or createdAt."),
        query("order", "string", "asc or desc."),
    ], In::Nothing, Out::Json(200, "ListSandboxesResponse")),
    op("get", "/api/sandbox/{id}", "sandbox", "A sandbox.", &[ID], In::Nothing, Out::Json(200, "Sandbox")),
    op("delete", "/api/sandbox/{id}", "sandbox", "Delete a sandbox (answers when it is gone).", &[ID], In::Nothing, Out::Json(200, "Sandbox")),
    op("post", "/api/sandbox/{id}/start", "sandbox", "Start a stopped sandbox.", &[ID], In::Nothing, Out::Json(200, "Sandbox")),
    op("post", "/api/sandbox/{id}/stop", "sandbox", "Stop a sandbox (`force=true` kills at once).", &[ID, query("force", "boolean", "Kill without a grace period.")], In::Nothing, Out::Json(200, "Sandbox")),
    op("post", "/api/sandbox/{id}/recover", "sandbox", "Recover a sandbox in the error state.", &[ID], In::Nothing, Out::Json(200, "Sandbox")),
    op("post", "/api/sandbox/{id}/archive", "sandbox", "Archive a stopped sandbox.", &[ID], In::Nothing, Out::Json(200, "Sandbox")),
    op("post", "/api/sandbox/{id}/resize", "sandbox", "Change cpu/memory/disk.", &[ID], In::Json("ResizeSandbox"), Out::Json(200, "Sandbox")),
    op("put", "/api/sandbox/{id}/labels", "sandbox", "Replace the labels.", &[ID], In::Json("SandboxLabels"), Out::Json(200, "SandboxLabels")),
    op("post", "/api/sandbox/{id}/autostop/{minutes}", "sandbox", "Set the auto-stop interval.", &[ID, MIN], In::Nothing, Out::Json(200, "Sandbox")),
    op("post", "/api/sandbox/{id}/autoarchive/{minutes}", "sandbox", "Set the auto-archive interval.", &[ID, MIN], In::Nothing, Out::Json(200, "Sandbox")),
    op("post", "/api/sandbox/{id}/autodelete/{minutes}", "sandbox", "Set the auto-delete interval (-1: never).", &[ID, MIN], In::Nothing, Out::Json(200, "Sandbox")),
    op("post", "/api/sandbox/{id}/last-activity", "sandbox", "Record activity (defers auto-stop).", &[ID], In::Nothing, Out::Empty(204)),
    op("get", "/api/sandbox/{id}/toolbox-proxy-url", "sandbox", "The base URL of the toolbox proxy.", &[ID], In::Nothing, Out::Json(200, "Url")),
    refused("/api/sandbox/{id}/pause", &[ID]),
    refused("/api/sandbox/{id}/fork", &[ID]),
    refused("/api/sandbox/{id}/snapshot", &[ID]),
    refused("/api/sandbox/{id}/autopause/{m}", &[ID, path("m", "Minutes.")]),
    refused("/api/sandbox/{id}/ttl/{m}", &[ID, path("m", "Minutes.")]),
    refused("/api/sandbox/{id}/public/{p}", &[ID, path("p", "true or false.")]),
    refused("/api/sandbox/{id}/network-settings", &[ID]),
    refused("/api/sandbox/{id}/secrets", &[ID]),
    refused("/api/sandbox/{id}/ports/{rest}", &[ID, REST]),
    refused("/api/sandbox/{id}/ssh-access", &[ID]),
    refused("/api/sandbox/ssh-access/validate", &[]),
    refused("/api/sandbox/{id}/signing-key", &[ID]),
    refused("/api/sandbox/{id}/signing-key/rotate", &[ID]),
    refused("/api/sandbox/{id}/build-logs-url", &[ID]),
    refused("/api/sandbox/{id}/telemetry/{rest}", &[ID, REST]),
    refused("/api/snapshots", &[]),
    refused("/api/snapshots/{rest}", &[REST]),
    refused("/api/volumes", &[]),
    refused("/api/volumes/{rest}", &[REST]),
    refused("/api/object-storage/{rest}", &[REST]),
    refused("/api/config", &[]),
    refused("/api/secret", &[]),
    refused("/api/secret/{rest}", &[REST]),
    refused("/api/warm-pools", &[]),
    refused("/api/warm-pools/{rest}", &[REST]),
    op("get", "/toolbox/{id}", "toolbox", "The sandbox's processd (any method): see processd's document.", &[ID], In::Nothing, Out::Proxied).not_fuzzed("Forwards to the sandbox's processd, which is fuzzed directly against its own document."),
    op("get", "/toolbox/{id}/{rest}", "toolbox", "The sandbox's processd at /{rest} (any method, WebSocket upgrades too): see processd's document.", &[ID, REST], In::Nothing, Out::Proxied).not_fuzzed("Forwards to the sandbox's processd, which is fuzzed directly against its own document."),
];

/// sandboxd's document, all but the schemas.
pub const DOCUMENT: Document = Document {
    title: "sandboxd",
    version: env!("CARGO_PKG_VERSION"),
    description: "The Daytona control-plane API as sandboxd serves it (the part the SDKs' lifecycle calls use). Every route needs `Authorization: Bearer API_KEY` (without a configured key: any Bearer, loopback only). Errors are the envelope `{path, timestamp, statusCode, error, message, code?}`, unknown routes included (`Cannot GET /x`, 404). `/toolbox/{id}/...` forwards to that sandbox's processd, whose own document (`/toolbox/{id}/openapi.json`) describes it. Operations marked `x-not-fuzzed` are left out of the schemathesis run in CI (`cargo xtask schemathesis`), for the reason given there.",
    ops: OPS,
    error: "ControlError",
    error_about: "An error: the control plane's envelope (`code` is an additive machine-readable field).",
    security_scheme: "apiKey",
    security_optional: false,
};

/// The document, as JSON.
pub fn document() -> Value {
    DOCUMENT.build::<Schemas>()
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
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../openapi/sandboxd.json")
    }

    /// `openapi/sandboxd.json` is what the code generates; `cargo xtask openapi` rewrites it.
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
            "openapi/sandboxd.json is stale: run `cargo xtask openapi` and commit it"
        );
    }

    /// Every `.route(..)` of `api.rs` (under `/api` unless it is a toolbox route) is in the
    /// document with its methods, and the document names nothing the router lacks.
    #[test]
    fn every_route_is_documented() {
        let src =
            std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/api.rs"))
                .unwrap();
        let routed: BTreeSet<(String, String)> = process_proto::openapi::routes_in(&src)
            .into_iter()
            .map(|(m, p)| {
                let p = if p.starts_with("/toolbox") {
                    p
                } else {
                    format!("/api{p}")
                };
                (m, p)
            })
            .collect();
        process_proto::openapi::coverage(&routed, &DOCUMENT.documented(), 41).unwrap();
    }

    /// Every schema an operation names exists in the components.
    #[test]
    fn every_reference_resolves() {
        let unresolved = process_proto::openapi::unresolved_refs(&document());
        assert!(unresolved.is_empty(), "unresolved schemas: {unresolved:?}");
    }
}
