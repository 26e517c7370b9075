//! Tidy checks (rust-analyzer style): architecture rules that `cargo test` enforces.
//!
//! `process-proto` must stay usable alone: no runtime or network crate may appear among its
//! normal (non-dev, non-build) dependencies, directly or transitively.

use std::collections::{HashMap, HashSet};

use crate::util::{cargo, root};

/// Crates `process-proto` must never depend on (normal dependencies, transitively).
const FORBIDDEN_IN_PROTO: &[&str] = &["tokio", "hyper", "mio", "fastwebsockets", "socket2"];

pub(crate) fn run() -> Result<(), String> {
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
mod tests {
    #[test]
    fn process_proto_has_no_runtime_dependencies() {
        super::run().unwrap();
    }

    #[test]
    fn the_check_sees_forbidden_crates_where_they_are() {
        // process-daemon depends on tokio: the same walk must find it there, or the check
        // above proves nothing.
        let meta = super::cargo()
            .args(["metadata", "--format-version", "1", "--locked"])
            .current_dir(super::root())
            .output()
            .unwrap();
        let meta: serde_json::Value = serde_json::from_slice(&meta.stdout).unwrap();
        let deps = super::reachable_normal(&meta, "process-daemon").unwrap();
        assert!(deps.contains("tokio") && deps.contains("hyper"));
    }
}
