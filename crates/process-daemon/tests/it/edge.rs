//! The HTTP edge's 4xx answers, pinned row by row: unknown routes, wrong methods, trailing
//! slashes, body limits, empty and broken bodies, and undecodable path segments.

use bytes::Bytes;
use http::{Method, StatusCode};

use crate::support::TestDaemon;

/// What a row sends as its body.
#[derive(Clone, Copy)]
enum Send {
    Nothing,
    Text(&'static str),
    /// `{"command": "xxx…"}` of about this many bytes.
    Big(usize),
}

/// What a row expects back.
struct Row {
    method: Method,
    path: &'static str,
    body: Send,
    status: StatusCode,
    /// `Some(code)`: a Daytona JSON envelope with this `code` (and `path`, `method`, `source`).
    /// `None`: the body is the plain text `text`.
    code: Option<&'static str>,
    /// The envelope's `message` or the plain-text body; `None` = not checked.
    text: Option<&'static str>,
}

const NOT_FOUND_TEXT: &str = "404 page not found";

fn row(
    method: Method,
    path: &'static str,
    body: Send,
    status: StatusCode,
    code: Option<&'static str>,
    text: Option<&'static str>,
) -> Row {
    Row {
        method,
        path,
        body,
        status,
        code,
        text,
    }
}

/// Every route the daemon does not know, and every wrong method: the original's (gin's)
/// plain-text 404.
fn not_found(method: Method, path: &'static str) -> Row {
    row(
        method,
        path,
        Send::Nothing,
        StatusCode::NOT_FOUND,
        None,
        Some(NOT_FOUND_TEXT),
    )
}

fn rows() -> Vec<Row> {
    use Method as M;
    use StatusCode as S;
    vec![
        // Unknown routes.
        not_found(M::GET, "/nope"),
        not_found(M::GET, "/process"),
        not_found(M::GET, "/process/executex"),
        not_found(M::GET, "/process/session/abc/command"),
        not_found(M::GET, "/process/session/abc/command/cid/logs/more"),
        not_found(M::GET, "/process/interpreter"),
        // Wrong methods on known routes answer the same 404 (as gin: no 405).
        not_found(M::GET, "/process/execute"),
        not_found(M::PUT, "/process/execute"),
        not_found(M::GET, "/process/code-run"),
        not_found(M::DELETE, "/process/session"),
        not_found(M::POST, "/process/session/abc"),
        not_found(M::GET, "/process/session/abc/exec"),
        not_found(M::POST, "/process/pty/abc"),
        not_found(M::GET, "/process/pty/abc/resize"),
        not_found(M::POST, "/process/interpreter/execute"),
        not_found(M::PUT, "/process/interpreter/context"),
        not_found(M::GET, "/process/interpreter/context/abc"),
        not_found(M::POST, "/version"),
        // Trailing slashes: the collection routes accept one, the others do not.
        row(M::GET, "/process/session/", Send::Nothing, S::OK, None, None),
        row(M::GET, "/process/pty/", Send::Nothing, S::OK, None, None),
        not_found(M::POST, "/process/execute/"),
        not_found(M::GET, "/process/session/abc/command/cid/"),
        not_found(M::GET, "/process/interpreter/context/"),
        not_found(M::DELETE, "/process/interpreter/context/"),
        // Body limits: one limit (8 MiB), answered 413 on every route.
        row(
            M::POST,
            "/process/execute",
            Send::Big(9 << 20),
            S::PAYLOAD_TOO_LARGE,
            Some("PAYLOAD_TOO_LARGE"),
            Some("request body larger than 8388608 bytes"),
        ),
        row(
            M::POST,
            "/process/pty",
            Send::Big(9 << 20),
            S::PAYLOAD_TOO_LARGE,
            Some("PAYLOAD_TOO_LARGE"),
            None,
        ),
        row(
            M::POST,
            "/process/interpreter/context",
            Send::Big(9 << 20),
            S::PAYLOAD_TOO_LARGE,
            Some("PAYLOAD_TOO_LARGE"),
            None,
        ),
        // Under the limit, a body that is not the request type is 400 INVALID_REQUEST_BODY.
        row(
            M::POST,
            "/process/pty",
            Send::Text(r#"{"id": 5}"#),
            S::BAD_REQUEST,
            Some("INVALID_REQUEST_BODY"),
            None,
        ),
        // Under the limit, a large body is read whole (here: a PTY create without an id).
        row(
            M::POST,
            "/process/pty",
            Send::Big(2 << 20),
            S::BAD_REQUEST,
            Some("BAD_REQUEST"),
            Some("bad request: session ID is required"),
        ),
        row(
            M::POST,
            "/process/execute",
            Send::Nothing,
            S::BAD_REQUEST,
            Some("INVALID_REQUEST_BODY"),
            Some("invalid body request: invalid request body: EOF while parsing a value at line 1 column 0"),
        ),
        row(
            M::POST,
            "/process/execute",
            Send::Text("{"),
            S::BAD_REQUEST,
            Some("INVALID_REQUEST_BODY"),
            Some("invalid body request: invalid request body: EOF while parsing an object at line 1 column 1"),
        ),
        row(
            M::POST,
            "/process/session/abc/exec",
            Send::Text("[1]"),
            S::BAD_REQUEST,
            Some("INVALID_REQUEST_BODY"),
            None,
        ),
        row(
            M::POST,
            "/process/pty/abc/resize",
            Send::Text("nope"),
            S::BAD_REQUEST,
            Some("INVALID_REQUEST_BODY"),
            None,
        ),
        // An empty (or blank) body on interpreter context creation means every default: the
        // body is accepted and the (missing) Python is what fails.
        row(
            M::POST,
            "/process/interpreter/context",
            Send::Nothing,
            S::INTERNAL_SERVER_ERROR,
            Some("INTERNAL_SERVER_ERROR"),
            None,
        ),
        row(
            M::POST,
            "/process/interpreter/context",
            Send::Text(" \n"),
            S::INTERNAL_SERVER_ERROR,
            Some("INTERNAL_SERVER_ERROR"),
            None,
        ),
        row(
            M::POST,
            "/process/interpreter/context",
            Send::Text(r#"{"language": "javascript"}"#),
            S::BAD_REQUEST,
            Some("BAD_REQUEST"),
            Some("bad request: unsupported language: javascript (only 'python' is supported currently)"),
        ),
        row(
            M::POST,
            "/process/interpreter/context",
            Send::Text("{"),
            S::BAD_REQUEST,
            Some("INVALID_REQUEST_BODY"),
            None,
        ),
        // Path segments: percent-decoded, and one rule for bytes that are not UTF-8 (400), checked
        // before any lookup.
        row(
            M::GET,
            "/process/session/%FF",
            Send::Nothing,
            S::BAD_REQUEST,
            Some("BAD_REQUEST"),
            Some("bad request: path parameter is not valid UTF-8"),
        ),
        row(
            M::GET,
            "/process/session/abc/command/%C3%28",
            Send::Nothing,
            S::BAD_REQUEST,
            Some("BAD_REQUEST"),
            Some("bad request: path parameter is not valid UTF-8"),
        ),
        row(
            M::GET,
            "/process/pty/%FF",
            Send::Nothing,
            S::BAD_REQUEST,
            Some("BAD_REQUEST"),
            Some("bad request: path parameter is not valid UTF-8"),
        ),
        row(
            M::DELETE,
            "/process/interpreter/context/%FF",
            Send::Nothing,
            S::BAD_REQUEST,
            Some("BAD_REQUEST"),
            Some("bad request: path parameter is not valid UTF-8"),
        ),
        row(
            M::GET,
            "/process/session/no%20such",
            Send::Nothing,
            S::NOT_FOUND,
            Some("PROCESS_NOT_FOUND"),
            Some("session not found"),
        ),
        row(
            M::GET,
            "/process/pty/no%2Fsuch",
            Send::Nothing,
            S::NOT_FOUND,
            Some("PROCESS_NOT_FOUND"),
            Some("PTY session not found"),
        ),
        row(
            M::DELETE,
            "/process/interpreter/context/no%20such",
            Send::Nothing,
            S::NOT_FOUND,
            Some("PROCESS_NOT_FOUND"),
            Some("not found: context with ID 'no such' not found"),
        ),
        // `entrypoint` is a literal segment, but the session routes under it still answer.
        row(
            M::DELETE,
            "/process/session/entrypoint",
            Send::Nothing,
            S::BAD_REQUEST,
            Some("BAD_REQUEST"),
            Some("bad request: can't delete entrypoint session"),
        ),
        row(
            M::POST,
            "/process/session/entrypoint/exec",
            Send::Text(r#"{"command": "true"}"#),
            S::BAD_REQUEST,
            Some("BAD_REQUEST"),
            Some("bad request: can't execute command in entrypoint session"),
        ),
        row(
            M::GET,
            "/process/session/entrypoint/command/x",
            Send::Nothing,
            S::NOT_FOUND,
            Some("PROCESS_NOT_FOUND"),
            Some("session not found"),
        ),
        // A WebSocket-only route asked without an upgrade.
        row(
            M::GET,
            "/process/interpreter/execute",
            Send::Nothing,
            S::BAD_REQUEST,
            Some("BAD_REQUEST"),
            None,
        ),
    ]
}

fn body_of(send: Send) -> Bytes {
    match send {
        Send::Nothing => Bytes::new(),
        Send::Text(t) => Bytes::from_static(t.as_bytes()),
        Send::Big(n) => Bytes::from(format!("{{\"command\": \"{}\"}}", "x".repeat(n))),
    }
}

#[tokio::test]
async fn four_hundreds_are_pinned_route_by_route() {
    let d = TestDaemon::start_with(|c| c.python = Some("/nonexistent/python3".into())).await;
    let mut failures = Vec::new();
    for r in rows() {
        let what = format!("{} {}", r.method, r.path);
        let resp = d
            .call_raw(r.method.clone(), r.path, body_of(r.body), &[])
            .await;
        if resp.status != r.status {
            failures.push(format!(
                "{what}: status {} (want {}), body {:?}",
                resp.status,
                r.status,
                resp.text()
            ));
            continue;
        }
        let ctype = resp
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        match r.code {
            Some(code) => {
                if !ctype.starts_with("application/json") {
                    failures.push(format!("{what}: content-type {ctype:?}, want JSON"));
                    continue;
                }
                let body = resp.json();
                let path = r.path.split('?').next().unwrap_or_default();
                let checks = [
                    ("code", serde_json::json!(code)),
                    ("statusCode", serde_json::json!(r.status.as_u16())),
                    ("source", serde_json::json!("DAYTONA_DAEMON")),
                    ("path", serde_json::json!(path)),
                    ("method", serde_json::json!(r.method.as_str())),
                ];
                for (key, want) in checks {
                    if body[key] != want {
                        failures.push(format!("{what}: {key} = {}, want {want}", body[key]));
                    }
                }
                if body["timestamp"].as_str().is_none_or(str::is_empty) {
                    failures.push(format!("{what}: no timestamp"));
                }
                if let Some(text) = r.text {
                    if body["message"] != text {
                        failures.push(format!(
                            "{what}: message {}, want {text:?}",
                            body["message"]
                        ));
                    }
                }
            }
            None => {
                if let Some(text) = r.text {
                    if !ctype.starts_with("text/plain") || resp.text() != text {
                        failures.push(format!(
                            "{what}: {ctype:?} {:?}, want text/plain {text:?}",
                            resp.text()
                        ));
                    }
                }
            }
        }
    }
    d.stop().await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
