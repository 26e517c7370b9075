//! Tidy checks (rust-analyzer style): architecture rules that `cargo test` enforces.
//!
//! - `process-proto` must stay usable alone: no runtime or network crate may appear among its
//!   normal (non-dev, non-build) dependencies, directly or transitively.
//! - Only processd's HTTP edge knows HTTP: `http`, `hyper`, `axum`, `fastwebsockets` (and their
//!   helper crates) are named only in the edge modules listed in [`DAEMON_EDGE`] (and in
//!   ARCHITECTURE.md).
//! - Every toolbox path is spelled once, in `process_proto::wire::endpoint`: no string literal
//!   in the facade (`crates/process/src`), in processd (`crates/process-daemon/src`) or in
//!   sandboxd (`crates/sandbox-daemon/src`, which calls its sandboxes' processd) names one of
//!   its templates (tests at the end of a file aside: they pin the paths built).
//! - The facade (`crates/process/src`) defines no public type under a name that
//!   `process-proto` also defines: a user who reads `Sandbox` or `Chart` in one crate must not
//!   meet a different type of that name behind `process::proto` (re-exports are the same type
//!   and do not count).
//! - No Rust file (sources, tests, benches, xtask, fuzz targets) is over [`MAX_FILE_LINES`]
//!   lines: a long file is split by concern, pure parts first.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use crate::util::{cargo, root};

/// Crates `process-proto` must never depend on (normal dependencies, transitively).
const FORBIDDEN_IN_PROTO: &[&str] = &["tokio", "hyper", "mio", "fastwebsockets", "socket2"];

/// processd's HTTP edge, relative to `crates/process-daemon/src` (a trailing `/` = a directory).
/// Keep in step with ARCHITECTURE.md's "HTTP edge" list.
const DAEMON_EDGE: &[&str] = &[
    "api/",
    "router.rs",
    "http.rs",
    "error.rs",
    "ws.rs",
    "server.rs",
    "lib.rs",
    "openapi.rs",
];

/// The crates that mean HTTP or WebSocket.
const HTTP_CRATES: &[&str] = &[
    "http",
    "http_body",
    "http_body_util",
    "hyper",
    "hyper_util",
    "axum",
    "axum_core",
    "tower_http",
    "fastwebsockets",
];

pub(crate) fn run() -> Result<(), String> {
    proto_is_runtime_free()?;
    daemon_domain_is_http_free()?;
    endpoints_are_spelled_once()?;
    facade_and_proto_share_no_type_name()?;
    files_stay_short()
}

/// Where toolbox and control-plane paths must not be spelled (relative to the workspace root).
const ENDPOINT_USERS: &[&str] = &[
    "crates/process/src",
    "crates/process-daemon/src",
    "crates/sandbox-daemon/src",
];

/// The endpoint tables of `process_proto::wire::endpoint`: the toolbox's and the control
/// plane's (relative to the workspace root), each with the fewest templates it must hold.
const ENDPOINT_TABLES: &[(&str, usize)] = &[
    ("crates/process-proto/src/wire/endpoint.rs", 40),
    ("crates/process-proto/src/wire/endpoint/control.rs", 30),
];

/// The control plane's mount point (`process_proto::wire::endpoint::control::API_PREFIX`):
/// a control-plane template spelled behind it (`"/api/sandbox/{id}"`) is caught too.
const API_PREFIX: &str = "/api";

/// The endpoint templates defined in `process_proto::wire::endpoint` and its `control`
/// module (read from their source), each control-plane one also behind [`API_PREFIX`].
fn endpoint_templates() -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for &(path, at_least) in ENDPOINT_TABLES {
        let file = root().join(path);
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let control = path.ends_with("control.rs");
        if control && !text.contains(&format!("API_PREFIX: &str = \"{API_PREFIX}\"")) {
            return Err(format!(
                "{} no longer mounts the API at {API_PREFIX}",
                file.display()
            ));
        }
        let mut found = 0;
        for chunk in text.split("Endpoint(\"").skip(1) {
            if let Some(end) = chunk.find('"') {
                found += 1;
                out.push(chunk[..end].to_owned());
                if control {
                    out.push(format!("{API_PREFIX}{}", &chunk[..end]));
                    // The OpenAPI spelling of a catch-all (`{*rest}` documented `{rest}`).
                    out.push(format!("{API_PREFIX}{}", chunk[..end].replace("{*", "{")));
                }
            }
        }
        if found < at_least {
            return Err(format!(
                "found only {found} endpoint templates in {}",
                file.display()
            ));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Whether the string literal `lit` spells an endpoint path: a template itself, or a template
/// without parameters followed by a query (`?`) or a further segment (`/`).
fn spells_endpoint(lit: &str, templates: &[String]) -> bool {
    templates.iter().any(|t| {
        lit == t
            || (!t.contains('{')
                && lit
                    .strip_prefix(t.as_str())
                    .is_some_and(|rest| rest.starts_with('?') || rest.starts_with('/')))
    })
}

/// The string literals of one line of code (comments left out; escapes are not decoded,
/// which cannot hide a path since paths contain none).
fn literals(line: &str) -> Vec<&str> {
    let code = match line.find("//") {
        // `//` inside a literal (a URL) is rare in these crates; a comment is far more likely.
        Some(i) if line[..i].matches('"').count().is_multiple_of(2) => &line[..i],
        _ => line,
    };
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(open) = rest.find('"') {
        let after = &rest[open + 1..];
        let mut end = None;
        let mut escaped = false;
        for (i, c) in after.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    end = Some(i);
                    break;
                }
                _ => escaped = false,
            }
        }
        let Some(end) = end else { break };
        out.push(&after[..end]);
        rest = &after[end + 1..];
    }
    out
}

/// Fails if a file of [`ENDPOINT_USERS`] spells a toolbox or control-plane path instead of
/// naming its `process_proto::wire::endpoint` (or `endpoint::control`) constant.
fn endpoints_are_spelled_once() -> Result<(), String> {
    let templates = endpoint_templates()?;
    let mut bad = Vec::new();
    let mut checked = 0;
    for dir in ENDPOINT_USERS {
        let mut files = Vec::new();
        rust_files(&root().join(dir), &mut files).map_err(|e| format!("cannot list {dir}: {e}"))?;
        for file in &files {
            checked += 1;
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            for (n, line) in text.lines().enumerate() {
                if line.starts_with("#[cfg(test)]") {
                    break;
                }
                if line.trim_start().starts_with("//") {
                    continue;
                }
                let rel = file.strip_prefix(root()).unwrap_or(file);
                for lit in literals(line) {
                    if spells_endpoint(lit, &templates) {
                        bad.push(format!("{}:{}: \"{lit}\"", rel.display(), n + 1));
                    }
                }
            }
        }
    }
    if bad.is_empty() {
        eprintln!(
            "tidy: {checked} files of the facade, processd and sandboxd spell none of the {} \
             toolbox and control-plane paths",
            templates.len()
        );
        Ok(())
    } else {
        Err(format!(
            "toolbox and control-plane paths are spelled once, in process_proto::wire::endpoint \
             (and its `control` module); use its constant \
             (`endpoint::X.template()` in a route table, `endpoint::X.path(&[..])` or \
             `format!(\"{{}}?q=..\", endpoint::X)` in a client):\n  {}",
            bad.join("\n  ")
        ))
    }
}

/// The public types (`pub struct|enum|trait|type|union NAME`) defined in the `.rs` files under
/// `dir` (relative to the workspace root), with where each is defined; unit tests at the end
/// of a file are left out.
fn public_types(dir: &str) -> Result<HashMap<String, String>, String> {
    let mut files = Vec::new();
    rust_files(&root().join(dir), &mut files).map_err(|e| format!("cannot list {dir}: {e}"))?;
    let mut out = HashMap::new();
    for file in &files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let rel = file
            .strip_prefix(root())
            .unwrap_or(file)
            .display()
            .to_string();
        for (n, line) in text.lines().enumerate() {
            if line.starts_with("#[cfg(test)]") {
                break;
            }
            if let Some(name) = defined_public_type(line) {
                out.entry(name.to_owned())
                    .or_insert_with(|| format!("{rel}:{}", n + 1));
            }
        }
    }
    Ok(out)
}

/// The name a line defines as a public type, if it does (`pub struct Foo<T> {` → `Foo`).
fn defined_public_type(line: &str) -> Option<&str> {
    let rest = line.trim_start().strip_prefix("pub ")?;
    let rest = ["struct ", "enum ", "trait ", "type ", "union "]
        .iter()
        .find_map(|kw| rest.strip_prefix(kw))?;
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// Fails if the facade defines a public type whose name `process-proto` also defines.
fn facade_and_proto_share_no_type_name() -> Result<(), String> {
    let facade = public_types("crates/process/src")?;
    let proto = public_types("crates/process-proto/src")?;
    if facade.len() < 20 || proto.len() < 50 {
        return Err(format!(
            "found only {} facade and {} proto public types: the scan is broken",
            facade.len(),
            proto.len()
        ));
    }
    let mut bad: Vec<String> = facade
        .iter()
        .filter_map(|(name, at)| {
            proto
                .get(name)
                .map(|proto_at| format!("`{name}`: {at} and {proto_at}"))
        })
        .collect();
    bad.sort();
    if bad.is_empty() {
        eprintln!(
            "tidy: the facade's {} public types share no name with the proto's {}",
            facade.len(),
            proto.len()
        );
        Ok(())
    } else {
        Err(format!(
            "a facade type shares its name with a different process-proto type; rename one \
             (the wire DTO as `…Dto`, or the facade's as what it means to users), or re-export \
             the proto's:\n  {}",
            bad.join("\n  ")
        ))
    }
}

/// Fails if a processd module outside [`DAEMON_EDGE`] names an HTTP crate.
fn daemon_domain_is_http_free() -> Result<(), String> {
    let src = root().join("crates/process-daemon/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files).map_err(|e| format!("cannot list {}: {e}", src.display()))?;
    let mut bad = Vec::new();
    let mut checked = 0;
    for file in &files {
        let rel = file
            .strip_prefix(&src)
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .replace('\\', "/");
        if is_edge(&rel) {
            continue;
        }
        checked += 1;
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        for (n, line) in text.lines().enumerate() {
            if let Some(krate) = names_http_crate(line) {
                bad.push(format!(
                    "crates/process-daemon/src/{rel}:{}: `{krate}`",
                    n + 1
                ));
            }
        }
    }
    if bad.is_empty() {
        eprintln!("tidy: {checked} processd domain modules name no HTTP crate");
        Ok(())
    } else {
        Err(format!(
            "only processd's HTTP edge ({DAEMON_EDGE:?}) may use HTTP crates; return a domain \
             error and map it in api/ instead:\n  {}",
            bad.join("\n  ")
        ))
    }
}

fn is_edge(rel: &str) -> bool {
    DAEMON_EDGE.iter().any(|e| {
        if e.ends_with('/') {
            rel.starts_with(e)
        } else {
            rel == *e
        }
    })
}

/// The longest a Rust file may grow before it is split by concern (issue 10, R6).
const MAX_FILE_LINES: usize = 600;

/// Where the file-length rule applies (relative to the workspace root; build output skipped).
const SHORT_FILE_ROOTS: &[&str] = &[
    "crates",
    "xtask",
    "benches",
    "fuzz/fuzz_targets",
    "fuzz/src",
];

/// Every Rust file of the workspace, tests included, is at most [`MAX_FILE_LINES`] long.
fn files_stay_short() -> Result<(), String> {
    let root = root();
    let mut files = Vec::new();
    for dir in SHORT_FILE_ROOTS {
        let dir = root.join(dir);
        if dir.is_dir() {
            rust_files(&dir, &mut files)
                .map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        }
    }
    files.retain(|f| !f.components().any(|c| c.as_os_str() == "target"));
    let mut long = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let lines = text.lines().count();
        if lines > MAX_FILE_LINES {
            let rel = file.strip_prefix(&root).unwrap_or(file);
            long.push(format!("{}: {lines} lines", rel.display()));
        }
    }
    if long.is_empty() {
        eprintln!(
            "tidy: {} Rust files, none over {MAX_FILE_LINES} lines",
            files.len()
        );
        Ok(())
    } else {
        long.sort();
        Err(format!(
            "split these files by concern (pure parts first) to at most {MAX_FILE_LINES} lines:\n  {}",
            long.join("\n  ")
        ))
    }
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// The HTTP crate `line` names as a path root (`http::…`, `use hyper::{…}`), ignoring comments
/// and our own modules reached through `crate::`/`super::` (e.g. `crate::http::Json`).
fn names_http_crate(line: &str) -> Option<&'static str> {
    let code = line.split("//").next().unwrap_or_default();
    HTTP_CRATES.iter().copied().find(|krate| {
        let pat = format!("{krate}::");
        code.match_indices(&pat).any(|(i, _)| {
            let before = code[..i].chars().next_back();
            !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
        })
    })
}

fn proto_is_runtime_free() -> Result<(), String> {
    let deps = proto_normal_deps()?;
    let bad: Vec<&str> = FORBIDDEN_IN_PROTO
        .iter()
        .copied()
        .filter(|c| deps.contains(*c))
        .collect();
    if bad.is_empty() {
        eprintln!(
            "tidy: process-proto's normal dependencies are runtime-free ({} crates)",
            deps.len()
        );
        Ok(())
    } else {
        Err(format!(
            "process-proto must not depend on {bad:?} (it does, through its normal dependencies)"
        ))
    }
}

/// Names of every crate reachable from `process-proto` through normal dependency edges.
fn proto_normal_deps() -> Result<HashSet<String>, String> {
    let out = cargo()
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(root())
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata output: {e}"))?;
    reachable_normal(&meta, "process-proto")
}

fn reachable_normal(meta: &serde_json::Value, start: &str) -> Result<HashSet<String>, String> {
    let names: HashMap<&str, &str> = meta["packages"]
        .as_array()
        .ok_or("metadata has no packages")?
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?)))
        .collect();
    let nodes = meta["resolve"]["nodes"]
        .as_array()
        .ok_or("metadata has no resolve graph")?;
    let mut edges: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut start_id = None;
    for node in nodes {
        let Some(id) = node["id"].as_str() else {
            continue;
        };
        if names.get(id) == Some(&start) {
            start_id = Some(id);
        }
        let normal = node["deps"].as_array().into_iter().flatten().filter(|d| {
            d["dep_kinds"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k["kind"].is_null()))
        });
        edges.insert(id, normal.filter_map(|d| d["pkg"].as_str()).collect());
    }
    let start_id = start_id.ok_or_else(|| format!("{start} is not in the workspace"))?;
    let mut seen = HashSet::new();
    let mut stack = vec![start_id];
    while let Some(id) = stack.pop() {
        for &dep in edges.get(id).map_or(&[][..], Vec::as_slice) {
            if seen.insert(dep) {
                stack.push(dep);
            }
        }
    }
    Ok(seen
        .into_iter()
        .filter_map(|id| names.get(id).map(|n| (*n).to_owned()))
        .collect())
}

#[cfg(test)]
mod tests;
