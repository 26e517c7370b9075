//! sandboxd's OpenAPI 3.1 document (served at `GET /api/openapi.json`, committed as
//! `openapi/sandboxd.json`): schemas derived with utoipa from `process-proto`'s control-plane
//! types, operations from the table below, which a test checks against every route of
//! `api/` (paths from `process_proto::wire::endpoint::control`).

use process_proto::openapi::{op, path, query, Document, In, Op, Out, Param};
use process_proto::wire::control as dto;
use process_proto::wire::endpoint::control::{
    unsupported, API_PREFIX, OPENAPI, SANDBOX, SANDBOXES, SANDBOX_ARCHIVE, SANDBOX_AUTOARCHIVE,
    SANDBOX_AUTODELETE, SANDBOX_AUTOSTOP, SANDBOX_LABELS, SANDBOX_LAST_ACTIVITY, SANDBOX_RECOVER,
    SANDBOX_RESIZE, SANDBOX_START, SANDBOX_STOP, SANDBOX_TOOLBOX_PROXY_URL, SOCKET_IO,
    SOCKET_IO_SLASH, TOOLBOX, TOOLBOX_PATH,
};
use process_proto::wire::endpoint::Endpoint;
use serde_json::Value;
use utoipa::OpenApi;

/// The wire types the document names.
#[derive(OpenApi)]
#[openapi(components(schemas(
    dto::SandboxDto,
    dto::SandboxVolume,
    dto::BuildInfo,
    dto::ListSandboxesResponse,
    dto::CreateSandbox,
    dto::ResizeSandbox,
    dto::SandboxLabels,
    dto::Url,
    dto::ControlError,
)))]
struct Schemas;

const ID: Param = path("id", "The sandbox id or name.");
const MIN: Param = path("minutes", "Minutes (0: never).");

/// An operation of the API (under [`API_PREFIX`]).
const fn api(
    method: &'static str,
    endpoint: Endpoint,
    tag: &'static str,
    summary: &'static str,
    params: &'static [Param],
    body: In,
    out: Out,
) -> Op {
    op(method, endpoint.template(), tag, summary, params, body, out).under(API_PREFIX)
}

/// A feature this control plane does not offer: every method answers 422 `NOT_SUPPORTED`.
const fn refused(endpoint: Endpoint, params: &'static [Param]) -> Op {
    api(
        "get",
        endpoint,
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
    api("get", OPENAPI, "meta", "This document.", &[], In::Nothing, Out::Json(200, "")),
    api("get", SOCKET_IO, "events", "The SDKs' state-event channel: Socket.IO v5 over the WebSocket transport only (`?EIO=4&transport=websocket`); the CONNECT packet carries the API key, not the header. Without `Upgrade: websocket`: 400.", &[query("EIO", "string", "Engine.IO protocol version (4)."), query("transport", "string", "Must be `websocket`.")], In::Nothing, Out::Upgrade("A WebSocket of Engine.IO packets; `42[\"sandbox.state.updated\",{sandbox,oldState,newState}]` for every state change.")).not_fuzzed("WebSocket only (Socket.IO): schemathesis speaks plain HTTP (without `Upgrade` the route answers 400; sandboxd's tests cover the channel)."),
    api("get", SOCKET_IO_SLASH, "events", "The state-event channel (trailing slash, what the SDKs request).", &[query("EIO", "string", "Engine.IO protocol version (4)."), query("transport", "string", "Must be `websocket`.")], In::Nothing, Out::Upgrade("A WebSocket of Engine.IO packets (see `/api/socket.io`).")).not_fuzzed("WebSocket only (Socket.IO): schemathesis speaks plain HTTP (without `Upgrade` the route answers 400; sandboxd's tests cover the channel)."),
    api("post", SANDBOXES, "sandbox", "Create a sandbox (answers when it has started).", &[], In::Json("CreateSandbox"), Out::Json(200, "Sandbox")),
    api("get", SANDBOXES, "sandbox", "List sandboxes (paginated; filters as the hosted API).", &[
        query("cursor", "string", "The `nextCursor` of the previous page."),
        query("limit", "integer", "Page size (1 to 200)."),
        query("id", "string", "Id prefix."),
        query("name", "string", "Name prefix."),
        query("labels", "string", "JSON object of labels every result has."),
        query("states", "string", "A state (repeatable)."),
        query("sort", "string", "name, cpu, memoryGib, diskGib, lastActivityAt or createdAt."),
        query("order", "string", "asc or desc."),
    ], In::Nothing, Out::Json(200, "ListSandboxesResponse")),
    api("get", SANDBOX, "sandbox", "A sandbox.", &[ID], In::Nothing, Out::Json(200, "Sandbox")),
    api("delete", SANDBOX, "sandbox", "Delete a sandbox (answers when it is gone).", &[ID], In::Nothing, Out::Json(200, "Sandbox")),
    api("post", SANDBOX_START, "sandbox", "Start a stopped sandbox.", &[ID], In::Nothing, Out::Json(200, "Sandbox")),
    api("post", SANDBOX_STOP, "sandbox", "Stop a sandbox (`force=true` kills at once).", &[ID, query("force", "boolean", "Kill without a grace period.")], In::Nothing, Out::Json(200, "Sandbox")),
    api("post", SANDBOX_RECOVER, "sandbox", "Recover a sandbox in the error state.", &[ID], In::Nothing, Out::Json(200, "Sandbox")),
    api("post", SANDBOX_ARCHIVE, "sandbox", "Archive a stopped sandbox.", &[ID], In::Nothing, Out::Json(200, "Sandbox")),
    api("post", SANDBOX_RESIZE, "sandbox", "Change cpu/memory/disk.", &[ID], In::Json("ResizeSandbox"), Out::Json(200, "Sandbox")),
    api("put", SANDBOX_LABELS, "sandbox", "Replace the labels.", &[ID], In::Json("SandboxLabels"), Out::Json(200, "SandboxLabels")),
    api("post", SANDBOX_AUTOSTOP, "sandbox", "Set the auto-stop interval.", &[ID, MIN], In::Nothing, Out::Json(200, "Sandbox")),
    api("post", SANDBOX_AUTOARCHIVE, "sandbox", "Set the auto-archive interval.", &[ID, MIN], In::Nothing, Out::Json(200, "Sandbox")),
    api("post", SANDBOX_AUTODELETE, "sandbox", "Set the auto-delete interval (-1: never).", &[ID, MIN], In::Nothing, Out::Json(200, "Sandbox")),
    api("post", SANDBOX_LAST_ACTIVITY, "sandbox", "Record activity (defers auto-stop).", &[ID], In::Nothing, Out::Empty(204)),
    api("get", SANDBOX_TOOLBOX_PROXY_URL, "sandbox", "The base URL of the toolbox proxy.", &[ID], In::Nothing, Out::Json(200, "Url")),
    refused(unsupported::SANDBOX_PAUSE, &[ID]),
    refused(unsupported::SANDBOX_FORK, &[ID]),
    refused(unsupported::SANDBOX_SNAPSHOT, &[ID]),
    refused(unsupported::SANDBOX_AUTOPAUSE, &[ID, path("m", "Minutes.")]),
    refused(unsupported::SANDBOX_TTL, &[ID, path("m", "Minutes.")]),
    refused(unsupported::SANDBOX_PUBLIC, &[ID, path("p", "true or false.")]),
    refused(unsupported::SANDBOX_NETWORK_SETTINGS, &[ID]),
    refused(unsupported::SANDBOX_SECRETS, &[ID]),
    refused(unsupported::SANDBOX_PORTS_REST, &[ID, REST]),
    refused(unsupported::SANDBOX_SSH_ACCESS, &[ID]),
    refused(unsupported::SANDBOX_SSH_ACCESS_VALIDATE, &[]),
    refused(unsupported::SANDBOX_SIGNING_KEY, &[ID]),
    refused(unsupported::SANDBOX_SIGNING_KEY_ROTATE, &[ID]),
    refused(unsupported::SANDBOX_BUILD_LOGS_URL, &[ID]),
    refused(unsupported::SANDBOX_TELEMETRY_REST, &[ID, REST]),
    refused(unsupported::SNAPSHOTS, &[]),
    refused(unsupported::SNAPSHOTS_REST, &[REST]),
    refused(unsupported::VOLUMES, &[]),
    refused(unsupported::VOLUMES_REST, &[REST]),
    refused(unsupported::OBJECT_STORAGE_REST, &[REST]),
    refused(unsupported::CONFIG, &[]),
    refused(unsupported::SECRET, &[]),
    refused(unsupported::SECRET_REST, &[REST]),
    refused(unsupported::WARM_POOLS, &[]),
    refused(unsupported::WARM_POOLS_REST, &[REST]),
    op("get", TOOLBOX.template(), "toolbox", "The sandbox's processd (any method): see processd's document.", &[ID], In::Nothing, Out::Proxied).not_fuzzed("Forwards to the sandbox's processd, which is fuzzed directly against its own document."),
    op("get", TOOLBOX_PATH.template(), "toolbox", "The sandbox's processd at /{rest} (any method, WebSocket upgrades too): see processd's document.", &[ID, REST], In::Nothing, Out::Proxied).not_fuzzed("Forwards to the sandbox's processd, which is fuzzed directly against its own document."),
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
    use process_proto::wire::endpoint::control;

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

    /// Every `.route(..)` of `api/mod.rs` (under `/api` unless it is a toolbox route) and every
    /// route of the unsupported table is in the document with its methods, and the document
    /// names nothing the router lacks.
    #[test]
    fn every_route_is_documented() {
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let src = std::fs::read_to_string(manifest.join("src/api/mod.rs")).unwrap();
        let table =
            std::fs::read_to_string(manifest.join("../process-proto/src/wire/endpoint/control.rs"))
                .unwrap();
        let src = process_proto::openapi::resolve_templates(&src, &table, "paths::");
        let mut routed: BTreeSet<(String, String)> = process_proto::openapi::routes_in(&src)
            .into_iter()
            .map(|(m, p)| {
                let p = if p.starts_with(control::TOOLBOX_BASE) {
                    p
                } else {
                    format!("{API_PREFIX}{p}")
                };
                (m, p)
            })
            .collect();
        for (e, _) in control::UNSUPPORTED {
            let p = e.template().replace("{*", "{");
            routed.insert(("get".to_owned(), format!("{API_PREFIX}{p}")));
        }
        process_proto::openapi::coverage(&routed, &DOCUMENT.documented(), 41).unwrap();
    }

    /// Every schema an operation names exists in the components.
    #[test]
    fn every_reference_resolves() {
        let unresolved = process_proto::openapi::unresolved_refs(&document());
        assert!(unresolved.is_empty(), "unresolved schemas: {unresolved:?}");
    }
}
