//! Checks on a document and the routes it should cover: [`coverage`], [`unresolved_refs`],
//! and the route scanners [`routes_in`] and [`resolve_templates`] that tests feed with a
//! router's source.

use std::collections::BTreeSet;

use serde_json::Value;

/// Compares the routes a router serves with those a document names: an error listing the
/// routes missing from the document and those documented but not routed, or one when fewer
/// than `at_least` routes were found (a route scan that found nothing proves nothing).
pub fn coverage(
    routed: &BTreeSet<(String, String)>,
    documented: &BTreeSet<(String, String)>,
    at_least: usize,
) -> Result<(), String> {
    let missing: Vec<_> = routed.difference(documented).collect();
    let extra: Vec<_> = documented.difference(routed).collect();
    if !missing.is_empty() {
        return Err(format!("routes missing from the document: {missing:?}"));
    }
    if !extra.is_empty() {
        return Err(format!("documented but not routed: {extra:?}"));
    }
    if routed.len() < at_least {
        return Err(format!(
            "the route scan found {} routes, fewer than {at_least}: {routed:?}",
            routed.len()
        ));
    }
    Ok(())
}

/// The schema names `doc` refers to (`#/components/schemas/NAME`) that its components lack.
pub fn unresolved_refs(doc: &Value) -> BTreeSet<String> {
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object();
    text.split("#/components/schemas/")
        .skip(1)
        .map(|part| part.chars().take_while(|c| *c != '"').collect::<String>())
        .filter(|name| !schemas.is_some_and(|s| s.contains_key(name)))
        .collect()
}

/// `src` with every `{qualifier}NAME.template()` replaced by the quoted template of the
/// `pub const NAME: Endpoint = Endpoint("…")` that `constants` (an endpoint table's source)
/// defines, so that [`routes_in`] sees the paths of a route table that names its constants.
///
/// ```
/// let table = r#"pub const PING: Endpoint = Endpoint("/ping");"#;
/// let src = r#".route(paths::PING.template(), get(ping))"#;
/// assert_eq!(process_proto::openapi::resolve_templates(src, table, "paths::"),
///            r#".route("/ping", get(ping))"#);
/// ```
pub fn resolve_templates(src: &str, constants: &str, qualifier: &str) -> String {
    let mut out = src.to_owned();
    for chunk in constants.split("pub const ").skip(1) {
        let Some((name, rest)) = chunk.split_once(':') else {
            continue;
        };
        let Some(template) = rest
            .split_once("Endpoint(\"")
            .filter(|(ty, _)| ty.trim_start().starts_with("Endpoint ="))
            .and_then(|(_, t)| t.split_once('"'))
            .map(|(t, _)| t)
        else {
            continue;
        };
        out = out.replace(
            &format!("{qualifier}{name}.template()"),
            &format!("\"{template}\""),
        );
    }
    out
}

/// The `(method, path)` pairs of the `.route(..)` calls in `src` (axum's `{*rest}` written
/// `{rest}`; `any` as `get`). Only the method calls at the top level of the route's second
/// argument count, so closures inside them are skipped.
pub fn routes_in(src: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for chunk in src.split(".route(").skip(1) {
        let Some(start) = chunk.find('"') else {
            continue;
        };
        let rest = &chunk[start + 1..];
        let Some(end) = rest.find('"') else { continue };
        let path = rest[..end].replace("{*", "{");
        // The method chain: text after the path up to the `)` closing `.route(`.
        let mut depth = 0i32;
        let mut top = String::new();
        for c in rest[end + 1..].chars() {
            match c {
                '(' | '{' | '[' => depth += 1,
                ')' | '}' | ']' => {
                    if depth == 0 {
                        break;
                    }
                    depth -= 1;
                }
                _ => {}
            }
            if depth == 0 && c != ')' && c != '}' && c != ']' {
                top.push(c);
            } else if depth == 1 && c == '(' {
                top.push('(');
            }
        }
        for m in ["get", "post", "put", "delete", "patch", "any"] {
            let needle = format!("{m}(");
            let hits = top
                .split(|c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '(')
                .any(|w| w == needle);
            if hits {
                let method = if m == "any" { "get" } else { m };
                out.push((method.to_owned(), path.clone()));
            }
        }
    }
    out
}
