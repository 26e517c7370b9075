//! Building OpenAPI 3.1 path items from a table of operations (feature `openapi`): the
//! servers list what they route as [`Op`]s, the wire types give the schemas (their utoipa
//! `ToSchema` derives), and [`routes_in`] reads a router's source so a test can check that the
//! table covers every route.

use serde_json::{json, Map, Value};

/// A parameter of an operation.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    name: &'static str,
    path: bool,
    required: bool,
    ty: &'static str,
    about: &'static str,
}

/// An optional query parameter.
pub const fn query(name: &'static str, ty: &'static str, about: &'static str) -> Param {
    Param {
        name,
        path: false,
        required: false,
        ty,
        about,
    }
}

/// A required query parameter.
pub const fn required(name: &'static str, ty: &'static str, about: &'static str) -> Param {
    Param {
        name,
        path: false,
        required: true,
        ty,
        about,
    }
}

/// A path parameter.
pub const fn path(name: &'static str, about: &'static str) -> Param {
    Param {
        name,
        path: true,
        required: true,
        ty: "string",
        about,
    }
}

/// A request body.
#[derive(Debug, Clone, Copy)]
pub enum In {
    /// None.
    Nothing,
    /// JSON of this schema (required).
    Json(&'static str),
    /// JSON of this schema, or no body at all (its defaults).
    JsonOrEmpty(&'static str),
    /// `multipart/form-data`, described in words.
    Multipart(&'static str),
}

/// A success response.
#[derive(Debug, Clone, Copy)]
pub enum Out {
    /// JSON of this schema.
    Json(u16, &'static str),
    /// A JSON array of this schema.
    JsonList(u16, &'static str),
    /// No body.
    Empty(u16),
    /// Bytes (`application/octet-stream`).
    Binary(u16, &'static str),
    /// `multipart/form-data`.
    Multipart(u16, &'static str),
    /// A WebSocket upgrade (`101`), or the same data as JSON/text without `Upgrade`.
    Upgrade(&'static str),
    /// Proxied: whatever the upstream answers.
    Proxied,
    /// Only ever an error (a feature this server does not offer): just the error response.
    Refused,
}

/// One operation of the table.
#[derive(Debug, Clone, Copy)]
pub struct Op {
    /// The HTTP method, lower case.
    pub method: &'static str,
    /// The path template (`{name}` parameters).
    pub path: &'static str,
    tag: &'static str,
    summary: &'static str,
    params: &'static [Param],
    body: In,
    out: Out,
    not_fuzzed: Option<&'static str>,
    also: Option<Also>,
}

/// One more documented answer of an operation, beside its success and the envelope default.
#[derive(Debug, Clone, Copy)]
pub struct Also {
    status: u16,
    about: &'static str,
    envelope: bool,
}

impl Op {
    /// Marks the operation as left out of the schemathesis run (`cargo xtask schemathesis`),
    /// for `reason`: the document says so (`x-not-fuzzed`), and the run reads it from there.
    #[must_use]
    pub const fn not_fuzzed(mut self, reason: &'static str) -> Op {
        self.not_fuzzed = Some(reason);
        self
    }

    /// Documents one more answer: `status` with the error envelope, for `about` (e.g. a 502
    /// from a remote the sandbox cannot reach). The schemathesis run accepts a documented 5xx
    /// answer of an operation as that operation's expected behaviour.
    #[must_use]
    pub const fn also_error(mut self, status: u16, about: &'static str) -> Op {
        self.also = Some(Also {
            status,
            about,
            envelope: true,
        });
        self
    }

    /// Documents one more answer: `status` with no body (a quirk of the original the SDKs
    /// see, e.g. a bare 400).
    #[must_use]
    pub const fn also_empty(mut self, status: u16, about: &'static str) -> Op {
        self.also = Some(Also {
            status,
            about,
            envelope: false,
        });
        self
    }
}

/// An operation.
#[allow(clippy::too_many_arguments)]
pub const fn op(
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    params: &'static [Param],
    body: In,
    out: Out,
) -> Op {
    Op {
        method,
        path,
        tag,
        summary,
        params,
        body,
        out,
        not_fuzzed: None,
        also: None,
    }
}

/// `{"$ref": "#/components/schemas/NAME"}`.
pub fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// An `application/json` content map.
pub fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

/// The operation object of `o` (every error answer is the envelope schema `error`).
pub fn operation(o: &Op, error: &str, error_about: &str) -> Value {
    let mut op = Map::new();
    op.insert("tags".into(), json!([o.tag]));
    op.insert("summary".into(), json!(o.summary));
    if let Some(reason) = o.not_fuzzed {
        op.insert("x-not-fuzzed".into(), json!(reason));
    }
    op.insert(
        "operationId".into(),
        json!(format!(
            "{}{}",
            o.method,
            o.path.replace(['/', '{', '}', '-', '.'], "_")
        )),
    );
    if !o.params.is_empty() {
        let params: Vec<Value> = o
            .params
            .iter()
            .map(|p| {
                json!({
                    "name": p.name,
                    "in": if p.path { "path" } else { "query" },
                    "required": p.required,
                    "description": p.about,
                    "schema": { "type": p.ty },
                })
            })
            .collect();
        op.insert("parameters".into(), Value::Array(params));
    }
    match o.body {
        In::Nothing => {}
        In::Json(name) => {
            op.insert(
                "requestBody".into(),
                json!({ "required": true, "content": json_content(schema_ref(name)) }),
            );
        }
        In::JsonOrEmpty(name) => {
            op.insert(
                "requestBody".into(),
                json!({
                    "required": false,
                    "description": "May be absent: every field has a default.",
                    "content": json_content(schema_ref(name)),
                }),
            );
        }
        In::Multipart(about) => {
            op.insert(
                "requestBody".into(),
                json!({
                    "required": true,
                    "description": about,
                    "content": { "multipart/form-data": { "schema": { "type": "object" } } },
                }),
            );
        }
    }
    let mut responses = Map::new();
    let (code, ok) = match o.out {
        Out::Json(code, "") => (
            code,
            json!({ "description": "OK", "content": json_content(json!({})) }),
        ),
        Out::Json(code, name) => (
            code,
            json!({ "description": "OK", "content": json_content(schema_ref(name)) }),
        ),
        Out::JsonList(code, name) => (
            code,
            json!({ "description": "OK", "content": json_content(json!({"type": "array", "items": schema_ref(name)})) }),
        ),
        Out::Empty(code) => (code, json!({ "description": "Done (no body)." })),
        Out::Binary(code, about) => (
            code,
            json!({ "description": about, "content": { "application/octet-stream": { "schema": { "type": "string", "contentMediaType": "application/octet-stream" } } } }),
        ),
        Out::Multipart(code, about) => (
            code,
            json!({ "description": about, "content": { "multipart/form-data": {} } }),
        ),
        Out::Upgrade(about) => {
            responses.insert(
                "101".into(),
                json!({ "description": format!("Switching Protocols (WebSocket upgrade): {about}") }),
            );
            (200, json!({ "description": about }))
        }
        Out::Proxied => (
            200,
            json!({ "description": "The upstream's answer, as it is." }),
        ),
        Out::Refused => (0, Value::Null),
    };
    if code != 0 {
        responses.insert(code.to_string(), ok);
    }
    if let Some(also) = o.also {
        let answer = if also.envelope {
            json!({ "description": also.about, "content": json_content(schema_ref(error)) })
        } else {
            json!({ "description": also.about })
        };
        responses.insert(also.status.to_string(), answer);
    }
    responses.insert(
        "default".into(),
        json!({
            "description": error_about,
            "content": json_content(schema_ref(error)),
        }),
    );
    op.insert("responses".into(), Value::Object(responses));
    Value::Object(op)
}

/// The `paths` object of `ops` (`error`: the envelope's schema name; `error_about`: its words).
pub fn paths(ops: &[Op], error: &str, error_about: &str) -> Value {
    let mut paths = Map::new();
    for o in ops {
        let item = paths
            .entry(o.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(item) = item {
            item.insert(o.method.to_owned(), operation(o, error, error_about));
        }
    }
    Value::Object(paths)
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn the_route_scanner_reads_chained_methods() {
        let src = r#"
            .route("/a/{id}", get(x).post(y))
            .route(
                "/b/{*rest}",
                any(|| z()),
            )
            .route("/c", delete(|d: State<Daemon>| async move { w(&d).await }).put(v))
        "#;
        let got: Vec<_> = routes_in(src).into_iter().collect();
        let want: Vec<(String, String)> = [
            ("get", "/a/{id}"),
            ("post", "/a/{id}"),
            ("get", "/b/{rest}"),
            ("delete", "/c"),
            ("put", "/c"),
        ]
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
        assert_eq!(
            got.into_iter().collect::<BTreeSet<_>>(),
            want.into_iter().collect::<BTreeSet<_>>()
        );
    }
}
