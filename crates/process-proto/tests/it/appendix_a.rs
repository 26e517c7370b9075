//! Spec Appendix A: every request body SDK 0.226.1 sends parses into our types and re-serialises
//! to the same JSON; the response shapes the SDK was shown to accept parse too.

use process_proto::wire::{self, *};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{json, Value};

/// Parses `body` as `T`, re-serialises, and checks the JSON value is unchanged.
fn round_trip<T: DeserializeOwned + Serialize>(body: &str) -> T {
    let parsed: T = wire::decode(body.as_bytes()).unwrap();
    let again: Value = serde_json::from_slice(&wire::encode(&parsed)).unwrap();
    let original: Value = serde_json::from_str(body).unwrap();
    assert_eq!(again, original, "round trip of {body}");
    parsed
}

#[test]
fn exec_requests() {
    let r: ExecuteRequest = round_trip(
        r#"{"command": "echo hello", "cwd": "/tmp", "envs": {"FOO": "bar"}, "timeout": 5}"#,
    );
    assert_eq!(
        r,
        ExecuteRequest::new("echo hello")
            .with_cwd("/tmp")
            .with_env("FOO", "bar")
            .with_timeout(5)
    );
    let r: ExecuteRequest = round_trip(r#"{"command": "echo hello"}"#);
    assert_eq!(r, ExecuteRequest::new("echo hello"));
}

#[test]
fn code_run_request() {
    let r: CodeRunRequest = round_trip(
        r#"{"argv": ["a", "b"], "code": "print(1)", "envs": {"X": "1"}, "language": "python", "timeout": 7}"#,
    );
    assert_eq!(r.language, Language::Python);
    assert_eq!(
        r,
        CodeRunRequest::new("print(1)", Language::Python)
            .with_argv(["a", "b"])
            .with_env("X", "1")
            .with_timeout(7)
    );
    let r: CodeRunRequest = round_trip(r#"{"code": "x", "language": "ruby"}"#);
    assert_eq!(r.language, Language::Unknown("ruby".into()));
}

#[test]
fn session_requests() {
    let r: CreateSessionRequest = round_trip(r#"{"sessionId": "s1"}"#);
    assert_eq!(r.session_id, "s1");
    let r: SessionExecuteRequest = round_trip(r#"{"command": "echo hi", "runAsync": false}"#);
    assert!(!r.is_async());
    let r: SessionExecuteRequest =
        round_trip(r#"{"command": "sleep 5", "runAsync": true, "suppressInputEcho": true}"#);
    assert!(r.is_async() && r.suppresses_input_echo());
    let r: SessionExecuteRequest = round_trip(r#"{"command": "x", "runAsync": true}"#);
    assert!(r.is_async());
    // The deprecated alias (older SDKs send it) is OR-ed in.
    let r: SessionExecuteRequest = round_trip(r#"{"command": "x", "async": true}"#);
    assert_eq!(
        (r.async_, r.run_async, r.is_async()),
        (Some(true), None, true)
    );
    let r: SessionExecuteRequest =
        round_trip(r#"{"command": "x", "async": false, "runAsync": false}"#);
    assert!(!r.is_async());
    let r: SessionSendInputRequest = round_trip(r#"{"data": "yes"}"#);
    assert_eq!(r.data, "yes");
}

#[test]
fn pty_requests() {
    let r: PtyResizeRequest = round_trip(r#"{"cols": 150, "rows": 40}"#);
    assert_eq!(r, PtyResizeRequest::new(150, 40));
    // Older SDKs use REST create (never 0.226.1, but the daemon serves it).
    let r: PtyCreateRequest = round_trip(
        r#"{"id": "p", "cwd": "/w", "envs": {"A": "1"}, "cols": 100, "rows": 30, "lazyStart": true}"#,
    );
    assert_eq!(r.lazy_start, Some(true));
    let r: PtyCreateRequest = round_trip(r#"{"id": "p"}"#);
    assert_eq!(r, PtyCreateRequest::new("p"));
    let r: PtyCreateRequest = wire::decode(br#"{"id": "p", "cols": null, "rows": null}"#).unwrap();
    assert_eq!((r.cols, r.rows), (None, None));
}

#[test]
fn pty_subprotocols() {
    // create_pty_session("pty1", envs={"A":"1","B":"x y"}): Python's json.dumps spacing.
    let header = "X-Daytona-Pty-Exit-Control, X-Daytona-Pty-Envs~eyJBIjogIjEiLCAiQiI6ICJ4IHkifQ";
    let envs = envs_from_subprotocols([header]).unwrap();
    assert_eq!(envs.get("A").map(String::as_str), Some("1"));
    assert_eq!(envs.get("B").map(String::as_str), Some("x y"));
    assert!(offers_exit_control([header]));
    // Raw-wire capture with a non-ASCII value escaped as \u00fc by Python.
    let envs = envs_from_subprotocols([
        "X-Daytona-Pty-Exit-Control, X-Daytona-Pty-Envs~eyJLIjogInY9MSBcdTAwZmMifQ",
    ])
    .unwrap();
    assert_eq!(envs.get("K").map(String::as_str), Some("v=1 ü"));
    // Our encoding round-trips and is accepted by our decoder.
    let token = encode_envs_token(&envs).unwrap();
    assert_eq!(decode_envs_token(&token).unwrap(), envs);
    // pty2: no envs token → empty map.
    assert!(envs_from_subprotocols(["X-Daytona-Pty-Exit-Control"])
        .unwrap()
        .is_empty());
    assert!(!offers_exit_control(["X-Daytona-SDK-Version~0.226.1"]));
    assert_eq!(
        sdk_version_from_subprotocols(["a, X-Daytona-SDK-Version~0.226.1"]),
        Some("0.226.1")
    );
}

#[test]
fn envs_token_errors() {
    use std::collections::BTreeMap;
    let bad = |k: &str| BTreeMap::from([(k.to_string(), "v".to_string())]);
    for k in ["", "A=B", "A\0", "A\r", "A\n"] {
        assert_eq!(
            encode_envs_token(&bad(k)),
            Err(EnvsTokenError::InvalidKey(k.into()))
        );
    }
    assert_eq!(
        decode_envs_token("eyJ9"),
        Err(EnvsTokenError::MissingPrefix)
    );
    assert!(matches!(
        decode_envs_token("X-Daytona-Pty-Envs~eyJBIjogIjEiLCAiQiI6ICJ4IHkifQ=="),
        Err(EnvsTokenError::Base64(_))
    ));
    assert!(matches!(
        decode_envs_token("X-Daytona-Pty-Envs~W10"),
        Err(EnvsTokenError::Json(_))
    )); // []
    assert!(matches!(
        decode_envs_token("X-Daytona-Pty-Envs~eyJBIjogMX0"),
        Err(EnvsTokenError::Json(_))
    )); // {"A": 1}
    assert!(matches!(
        decode_envs_token("X-Daytona-Pty-Envs~eyI9IjogIjEifQ"),
        Err(EnvsTokenError::InvalidKey(_))
    )); // {"=": "1"}
    let long = format!("X-Daytona-Pty-Envs~{}", "A".repeat(65_537));
    assert_eq!(
        decode_envs_token(&long),
        Err(EnvsTokenError::TooLong { len: 65_537 })
    );
    let big = BTreeMap::from([("K".to_string(), "v".repeat(50_000))]);
    assert!(matches!(
        encode_envs_token(&big),
        Err(EnvsTokenError::TooLong { .. })
    ));
}

#[test]
fn interpreter_requests() {
    let r: CreateContextRequest = round_trip(r#"{"cwd": "/tmp"}"#);
    assert_eq!(r, CreateContextRequest::new().with_cwd("/tmp"));
    let r: CreateContextRequest = round_trip("{}");
    assert_eq!(r, CreateContextRequest::new());
    let r: InterpreterRequest = round_trip(
        r#"{"code": "print(1)", "contextId": "ctx-1", "envs": {"E": "1"}, "timeout": 12}"#,
    );
    assert_eq!(r.context_id.as_deref(), Some("ctx-1"));
    assert_eq!(r.timeout, Some(12));
    let r: InterpreterRequest = round_trip(r#"{"code": "print(1)"}"#);
    assert_eq!(r, InterpreterRequest::new("print(1)"));
}

#[test]
fn execute_response_shapes() {
    let r: ExecuteResponse = wire::decode(br#"{"exitCode": 0, "result": "hello\n"}"#).unwrap();
    assert_eq!(r, ExecuteResponse::new(0, "hello\n"));
    // Legacy field, and null result.
    let r: ExecuteResponse = wire::decode(br#"{"code": 3, "result": "r"}"#).unwrap();
    assert_eq!((r.exit_code, r.result.as_str()), (3, "r"));
    let r: ExecuteResponse = wire::decode(br#"{"exitCode": 0, "result": null}"#).unwrap();
    assert_eq!(r.result, "");
    let err = wire::decode::<ExecuteResponse>(br#"{"result": "r"}"#).unwrap_err();
    assert!(err.to_string().contains("exitCode"), "{err}");
    // Our additive fields serialise under their camelCase names and only when set.
    let r = ExecuteResponse::new(-1, "part")
        .with_split("p", "")
        .with_timed_out(true)
        .with_truncation(true, 9);
    assert_eq!(
        serde_json::to_value(&r).unwrap(),
        json!({"exitCode": -1, "result": "part", "stdout": "p", "stderr": "", "timedOut": true, "truncated": true, "totalBytes": 9})
    );
    assert_eq!(
        wire::decode::<ExecuteResponse>(&wire::encode(&r)).unwrap(),
        r
    );
    assert_eq!(
        serde_json::to_value(ExecuteResponse::new(0, "")).unwrap(),
        json!({"exitCode": 0, "result": ""})
    );
}

#[test]
fn session_response_shapes() {
    // Async: all five keys present, nulls.
    let v = serde_json::to_value(SessionExecuteResponse::started("c1")).unwrap();
    assert_eq!(
        v,
        json!({"cmdId": "c1", "output": null, "stdout": null, "stderr": null, "exitCode": null})
    );
    let v = serde_json::to_value(SessionExecuteResponse::completed(
        "c1",
        "\u{1}\u{1}\u{1}hi\n",
        "hi\n",
        "",
        0,
    ))
    .unwrap();
    assert_eq!(
        v,
        json!({"cmdId": "c1", "output": "\u{1}\u{1}\u{1}hi\n", "stdout": "hi\n", "stderr": "", "exitCode": 0})
    );
    let s: Session = wire::decode(br#"{"sessionId": "s", "commands": null}"#).unwrap();
    assert!(s.commands.is_empty());
    let s: Session = round_trip(
        r#"{"sessionId": "entrypoint", "commands": [{"id": "entrypoint_command", "command": "'a' 'b'", "exitCode": 0}, {"id": "c2", "command": "sleep 1"}]}"#,
    );
    assert_eq!(s.commands[1].exit_code, None);
    let l: SessionCommandLogsResponse =
        round_trip(r#"{"output": "\u0001\u0001\u0001x", "stdout": "x", "stderr": ""}"#);
    assert_eq!(l.stdout, "x");
}

#[test]
fn pty_response_shapes() {
    let info: PtySessionInfo = round_trip(
        r#"{"id": "pty1", "cwd": "/work", "envs": {"TERM": "xterm-256color"}, "cols": 100, "rows": 30, "createdAt": "2026-08-21T10:00:00.123456789Z", "active": true, "lazyStart": false}"#,
    );
    assert_eq!(info.cols, 100);
    let json = String::from_utf8(wire::encode(&info)).unwrap();
    let list: PtyListResponse = round_trip(&format!(r#"{{"sessions": [{json}]}}"#));
    assert_eq!(list.sessions, vec![info]);
    let c: PtyCreateResponse = round_trip(r#"{"sessionId": "p"}"#);
    assert_eq!(c.session_id, "p");
}

#[test]
fn pty_control_messages() {
    assert_eq!(
        PtyControl::Connected.to_json(),
        r#"{"type":"control","status":"connected"}"#
    );
    assert_eq!(
        PtyControl::Error {
            error: "boom".into()
        }
        .to_json(),
        r#"{"type":"control","status":"error","error":"boom"}"#
    );
    assert_eq!(
        PtyControl::exited(0).to_json(),
        r#"{"type":"control","status":"exited","exitCode":0}"#
    );
    assert_eq!(
        PtyControl::parse(r#"{"type": "control", "status": "connected"}"#),
        Some(PtyControl::Connected)
    );
    assert_eq!(
        PtyControl::parse(r#"{"type":"control","status":"later"}"#),
        Some(PtyControl::Unknown {
            status: "later".into()
        })
    );
    assert_eq!(PtyControl::parse(r#"{"type":"data"}"#), None);
    assert_eq!(PtyControl::parse("[1]"), None);
    for (code, reason) in [
        (130, "Ctrl+C"),
        (137, "SIGKILL"),
        (143, "SIGTERM"),
        (129, "signal 1"),
        (2, "non-zero exit"),
        (-1, "non-zero exit"),
        (128, "non-zero exit"),
    ] {
        assert_eq!(exit_reason(code).as_deref(), Some(reason), "{code}");
        let r = PtyCloseReason::for_exit(code);
        assert_eq!(r.close_code(), CloseCode::INTERNAL);
        assert_eq!(PtyCloseReason::parse(&r.to_json()), Some(r.clone()));
        assert!(r.to_json().len() <= close::MAX_REASON_LEN);
    }
    assert_eq!(PtyCloseReason::for_exit(0).close_code(), CloseCode::NORMAL);
    assert_eq!(PtyCloseReason::parse("slow consumer"), None);
}

#[test]
fn interpreter_frames() {
    let all = [
        InterpreterFrame::stdout("1\n"),
        InterpreterFrame::stderr("e"),
        InterpreterFrame::error("ValueError", "bad", "Traceback ...\n"),
        InterpreterFrame::control(CONTROL_COMPLETED),
    ];
    for f in &all {
        let v: Value = serde_json::from_str(&f.to_json()).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 5, "{v}");
        for k in ["type", "text", "name", "value", "traceback"] {
            assert!(v.get(k).is_some_and(Value::is_string), "{k} in {v}");
        }
        assert_eq!(
            &wire::decode::<InterpreterFrame>(f.to_json().as_bytes()).unwrap(),
            f
        );
    }
    let chart = process_proto::Chart::new(process_proto::chart::ChartType::Line);
    let f = InterpreterFrame::chart(chart.clone());
    let v: Value = serde_json::from_str(&f.to_json()).unwrap();
    assert_eq!(v["type"], "chart");
    assert_eq!(v["chart"]["type"], "line");
    assert_eq!(
        wire::decode::<InterpreterFrame>(f.to_json().as_bytes())
            .unwrap()
            .chart,
        Some(chart)
    );
    let f: InterpreterFrame = wire::decode(br#"{"type":"progress"}"#).unwrap();
    assert_eq!(f.kind, InterpreterFrameType::Unknown("progress".into()));
    let ctx: InterpreterContext = round_trip(
        r#"{"id": "default", "cwd": "/w", "createdAt": "2026-01-01T00:00:00Z", "active": true, "language": "python"}"#,
    );
    let list: ListContextsResponse = wire::decode(br#"{"contexts": null}"#).unwrap();
    assert!(list.contexts.is_empty());
    assert_eq!(
        ListContextsResponse::new(vec![ctx.clone()]).contexts,
        vec![ctx]
    );
}

#[test]
fn error_envelopes() {
    let body = r#"{"statusCode":404,"message":"session not found","source":"DAYTONA_DAEMON","code":"PROCESS_NOT_FOUND","timestamp":"2026-08-21T10:00:00.123456789Z","path":"/process/session/nope","method":"GET"}"#;
    let e: ErrorResponse = round_trip(body);
    assert_eq!(e.code, Some(ErrorCode::ProcessNotFound));
    assert_eq!(e.code.as_ref().and_then(ErrorCode::http_status), Some(404));
    let built = ErrorResponse::new(
        404,
        "session not found",
        "2026-08-21T10:00:00.123456789Z",
        "/process/session/nope",
        "GET",
    )
    .with_code(ErrorCode::ProcessNotFound);
    assert_eq!(built, e);
    assert_eq!(ErrorResponse::parse_lenient(500, body.as_bytes()), e);
    // Legacy and odd bodies.
    let e = ErrorResponse::parse_lenient(
        409,
        br#"{"error": "PTY session with ID 'p' already exists"}"#,
    );
    assert_eq!(
        (e.status_code, e.message.as_str()),
        (409, "PTY session with ID 'p' already exists")
    );
    assert_eq!(
        ErrorResponse::parse_lenient(404, b"404 page not found\n").message,
        "404 page not found"
    );
    assert_eq!(ErrorResponse::parse_lenient(400, b"").message, "");
    assert_eq!(
        ErrorResponse::parse_lenient(400, br#"{"message": 5, "error": "x"}"#).message,
        "x"
    );
    let e = ErrorResponse::parse_lenient(410, br#"{"message": "gone", "error_code": "GONE"}"#);
    assert_eq!(
        (e.message.as_str(), e.code),
        ("gone", Some(ErrorCode::Gone))
    );
    // Every code spelled as on the wire, unknown ones kept.
    for c in [
        "PROCESS_EXECUTION_TIMEOUT",
        "PROCESS_NOT_FOUND",
        "SESSION_ENDED",
        "COMMAND_ALREADY_COMPLETED",
        "BAD_REQUEST",
        "INVALID_REQUEST_BODY",
        "NOT_FOUND",
        "CONFLICT",
        "FORBIDDEN",
        "GONE",
        "REQUEST_TIMEOUT",
        "INTERNAL_SERVER_ERROR",
        "UNAUTHORIZED",
        "A_CODE_FROM_A_NEWER_DAEMON",
    ] {
        let code = ErrorCode::parse(c);
        assert_eq!(serde_json::to_value(&code).unwrap(), json!(c));
        assert_eq!(
            code.http_status().is_none(),
            c == "A_CODE_FROM_A_NEWER_DAEMON"
        );
    }
    // Additive fields.
    let e = ErrorResponse::new(
        408,
        "command execution timeout",
        "t",
        "/process/execute",
        "POST",
    )
    .with_code(ErrorCode::ProcessExecutionTimeout);
    let mut e2 = e.clone();
    e2.result = Some("partial".into());
    e2.timed_out = Some(true);
    let v = serde_json::to_value(&e2).unwrap();
    assert_eq!(v["timedOut"], true);
    assert_eq!(v["code"], "PROCESS_EXECUTION_TIMEOUT");
    assert!(serde_json::to_value(&e).unwrap().get("timedOut").is_none());
}

/// The file-system and git codes of the toolbox spec (§1.3) round-trip with their statuses
/// (the SDK raises `DaytonaFileNotFoundError`, `DaytonaGitAuthFailedError`, … from them).
#[test]
fn file_and_git_error_codes() {
    for (c, status) in [
        ("FILE_NOT_FOUND", 404),
        ("FILE_ACCESS_DENIED", 403),
        ("INVALID_FILE_PATH", 400),
        ("FILE_READ_FAILED", 500),
        ("GIT_AUTH_FAILED", 401),
        ("GIT_REPO_NOT_FOUND", 404),
        ("GIT_BRANCH_NOT_FOUND", 404),
        ("GIT_BRANCH_EXISTS", 409),
        ("GIT_PUSH_REJECTED", 409),
        ("GIT_DIRTY_WORKTREE", 409),
        ("GIT_MERGE_CONFLICT", 409),
        ("GIT_TRANSPORT_FAILED", 502),
        ("GIT_REMOTE_REJECTED", 422),
    ] {
        let code = ErrorCode::parse(c);
        assert!(!matches!(code, ErrorCode::Unknown(_)), "{c} is not known");
        assert_eq!(code.as_str(), c);
        assert_eq!(code.http_status(), Some(status), "{c}");
        let back: ErrorCode = serde_json::from_value(json!(c)).unwrap();
        assert_eq!(back, code);
    }
}

#[test]
fn close_codes() {
    assert_eq!(u16::from(CloseCode::INTERPRETER_TIMEOUT), 4008);
    assert_eq!(CloseCode::from(1011), CloseCode::INTERNAL);
    assert!(CloseCode::NORMAL.is_normal() && !CloseCode::GOING_AWAY.is_normal());
    assert_eq!(CloseCode(4321).to_string(), "4321");
    let long = "é".repeat(100);
    let t = close::truncate_reason(&long);
    assert!(t.len() <= 123 && long.starts_with(t));
}
