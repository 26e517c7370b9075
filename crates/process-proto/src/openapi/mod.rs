//! Building OpenAPI 3.1 path items from a table of operations (feature `openapi`): the
//! servers list what they route as [`Op`]s, the wire types give the schemas (their utoipa
//! `ToSchema` derives), [`Document`] assembles the whole document the same way for both servers,
//! and [`routes_in`] with [`coverage`] let a test check that the table covers every route.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

mod coverage;

pub use coverage::{coverage, resolve_templates, routes_in, unresolved_refs};

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
    /// A JSON array of the first schema, or (with an opt-in parameter) the second schema.
    JsonListOr(u16, &'static str, &'static str),
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
    /// The path template (`{name}` parameters; axum's catch-all `{*name}` is documented as
    /// `{name}`), below [`Op::under`]'s prefix.
    pub path: &'static str,
    prefix: &'static str,
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
    /// The operation's path below `prefix` (a server that nests a route table, e.g. `/api`).
    #[must_use]
    pub const fn under(mut self, prefix: &'static str) -> Op {
        self.prefix = prefix;
        self
    }

    /// The path as documented: the prefix, then the template with `{*name}` written `{name}`.
    pub fn full_path(&self) -> String {
        format!("{}{}", self.prefix, self.path.replace("{*", "{"))
    }

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
        prefix: "",
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
            o.full_path().replace(['/', '{', '}', '-', '.'], "_")
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
        Out::JsonListOr(code, item, alt) => (
            code,
            json!({ "description": "OK", "content": json_content(json!({"oneOf": [{"type": "array", "items": schema_ref(item)}, schema_ref(alt)]})) }),
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
            .entry(o.full_path())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(item) = item {
            item.insert(o.method.to_owned(), operation(o, error, error_about));
        }
    }
    Value::Object(paths)
}

/// Everything of a server's OpenAPI 3.1 document but its schemas: both servers describe
/// themselves with one of these and get the same document structure (info, paths,
/// bearer security, the error envelope as every operation's default answer).
#[derive(Debug, Clone, Copy)]
pub struct Document {
    /// `info.title`.
    pub title: &'static str,
    /// `info.version` (the server's crate version).
    pub version: &'static str,
    /// `info.description`.
    pub description: &'static str,
    /// The operation table.
    pub ops: &'static [Op],
    /// The error envelope's schema name, every operation's `default` answer.
    pub error: &'static str,
    /// The words of that default answer.
    pub error_about: &'static str,
    /// The name of the bearer security scheme (`bearer`, `apiKey`).
    pub security_scheme: &'static str,
    /// Whether requests without credentials are served too (a daemon without a token):
    /// adds the empty security requirement.
    pub security_optional: bool,
}

impl Document {
    /// The document as JSON, with the component schemas of `S` (its utoipa derive).
    pub fn build<S: utoipa::OpenApi>(&self) -> Value {
        self.build_with(serde_json::to_value(S::openapi()).unwrap_or_else(|_| json!({})))
    }

    /// The document as JSON, over `base` (a document holding `components.schemas`).
    pub fn build_with(&self, base: Value) -> Value {
        let mut doc = if base.is_object() { base } else { json!({}) };
        doc["openapi"] = json!("3.1.0");
        doc["info"] = json!({
            "title": self.title,
            "version": self.version,
            "description": self.description,
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" },
        });
        doc["paths"] = paths(self.ops, self.error, self.error_about);
        doc["components"]["securitySchemes"] = json!({
            self.security_scheme: { "type": "http", "scheme": "bearer" }
        });
        let mut security = vec![json!({ self.security_scheme: [] })];
        if self.security_optional {
            security.push(json!({}));
        }
        doc["security"] = Value::Array(security);
        doc
    }

    /// The `(method, path)` pairs the table documents.
    pub fn documented(&self) -> BTreeSet<(String, String)> {
        self.ops
            .iter()
            .map(|o| (o.method.to_owned(), o.full_path()))
            .collect()
    }
}

/// `doc` as a committed file holds it: pretty JSON with a final newline.
pub fn text(doc: &Value) -> String {
    let mut s = serde_json::to_string_pretty(doc).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPS: &[Op] = &[
        op(
            "get",
            "/a/{id}",
            "t",
            "A.",
            &[path("id", "Id.")],
            In::Nothing,
            Out::Json(200, "A"),
        ),
        op(
            "post",
            "/a/{id}",
            "t",
            "B.",
            &[],
            In::Json("B"),
            Out::Empty(204),
        ),
    ];

    fn doc(optional: bool) -> Document {
        Document {
            title: "t",
            version: "1",
            description: "d",
            ops: OPS,
            error: "Err",
            error_about: "An error.",
            security_scheme: "bearer",
            security_optional: optional,
        }
    }

    #[test]
    fn the_document_has_paths_security_and_info() {
        let base = json!({"components": {"schemas": {"A": {}, "B": {}}}});
        let d = doc(true).build_with(base.clone());
        assert_eq!(d["openapi"], "3.1.0");
        assert_eq!(d["info"]["title"], "t");
        assert_eq!(d["security"], json!([{"bearer": []}, {}]));
        assert_eq!(
            d["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        assert!(d["paths"]["/a/{id}"]["get"].is_object());
        assert!(d["paths"]["/a/{id}"]["post"].is_object());
        assert_eq!(unresolved_refs(&d), BTreeSet::from(["Err".to_owned()]));
        let strict = doc(false).build_with(base);
        assert_eq!(strict["security"], json!([{"bearer": []}]));
        assert!(text(&strict).ends_with("}\n"));
    }

    #[test]
    fn coverage_names_what_differs() {
        let documented = doc(false).documented();
        assert!(coverage(&documented, &documented, 2).is_ok());
        assert!(coverage(&documented, &documented, 3).is_err());
        let mut routed = documented.clone();
        routed.insert(("delete".into(), "/a/{id}".into()));
        let err = coverage(&routed, &documented, 0).unwrap_err();
        assert!(err.contains("missing") && err.contains("delete"), "{err}");
        routed.clear();
        let err = coverage(&routed, &documented, 0).unwrap_err();
        assert!(err.contains("not routed"), "{err}");
    }

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
