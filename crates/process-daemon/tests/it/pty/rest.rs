//! The PTY REST routes: create, list, info, lazy start, kill, and every error path.

use super::*;

#[tokio::test]
async fn rest_create_list_info_lazy_start_and_kill() {
    let d = TestDaemon::start().await;
    let (status, body) = http(
        d.addr,
        "POST",
        "/process/pty",
        Some(json!({"id": "r1", "cols": 90, "rows": 20, "envs": {"K": "v", "HOME": test_home()}})),
    )
    .await;
    assert_eq!((status, body), (201, json!({"sessionId": "r1"})));
    let (status, body) = http(
        d.addr,
        "POST",
        "/process/pty",
        Some(json!({"id": "lazy", "lazyStart": true, "envs": {"HOME": test_home()}})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (_, list) = http(d.addr, "GET", "/process/pty", None).await;
    let ids: BTreeSet<_> = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, BTreeSet::from(["r1".to_owned(), "lazy".to_owned()]));
    let (_, info) = http(d.addr, "GET", "/process/pty/lazy", None).await;
    assert_eq!(
        (info["active"].as_bool(), info["lazyStart"].as_bool()),
        (Some(false), Some(true))
    );
    // Resizing a lazy session that has not started is an error, as in the original.
    let (status, _) = http(
        d.addr,
        "POST",
        "/process/pty/lazy/resize",
        Some(json!({"cols": 10, "rows": 10})),
    )
    .await;
    assert_eq!(status, 500);
    // Connecting starts it.
    let mut c = PtyClient::connect(d.addr, "lazy").await;
    c.send(b"echo LAZY_$((2*4))\n").await;
    c.read_until("LAZY_8").await;
    let (_, info) = http(d.addr, "GET", "/process/pty/lazy", None).await;
    assert_eq!(info["active"], true);
    // A REST-created session's output from before the first attach is replayed.
    let mut r = PtyClient::connect(d.addr, "r1").await;
    r.send(b"echo \"$K\" $((7*7)); stty size\n").await;
    r.read_until("v 49").await;
    r.read_until("20 90").await;
    for id in ["r1", "lazy"] {
        let (status, _) = http(d.addr, "DELETE", &format!("/process/pty/{id}"), None).await;
        assert_eq!(status, 200);
    }
    let (_, list) = http(d.addr, "GET", "/process/pty", None).await;
    assert_eq!(list, json!({"sessions": []}));
}

#[tokio::test]
async fn error_paths() {
    let d = TestDaemon::start().await;
    let a = d.addr;
    // Duplicate id: REST 409 envelope, create-connect 409 {"error"}.
    assert_eq!(
        http(
            a,
            "POST",
            "/process/pty",
            Some(json!({"id": "dup", "envs": {"HOME": test_home()}}))
        )
        .await
        .0,
        201
    );
    let (status, body) = http(a, "POST", "/process/pty", Some(json!({"id": "dup"}))).await;
    assert_eq!(status, 409);
    assert_eq!(
        body["message"],
        "conflict: PTY session with ID 'dup' already exists"
    );
    assert_eq!(body["code"], "CONFLICT");
    let err = ws_connect(a, "/process/pty/create-connect?id=dup", &[EXIT_CONTROL])
        .await
        .err()
        .unwrap();
    assert_eq!(
        err,
        (
            409,
            json!({"error": "PTY session with ID 'dup' already exists"})
        )
    );
    // Bad sizes.
    let (status, body) = http(
        a,
        "POST",
        "/process/pty",
        Some(json!({"id": "x", "cols": 1001})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["message"],
        "bad request: invalid value for cols - must be less than 1000"
    );
    let err = ws_connect(a, "/process/pty/create-connect?id=x&cols=1001", &[])
        .await
        .err()
        .unwrap();
    assert_eq!(
        err,
        (
            400,
            json!({"error": "cols and rows must be less than 1000"})
        )
    );
    let err = ws_connect(a, "/process/pty/create-connect?id=x&rows=abc", &[])
        .await
        .err()
        .unwrap();
    assert_eq!(
        err,
        (
            400,
            json!({"error": "rows must be an integer between 0 and 65535"})
        )
    );
    let err = ws_connect(a, "/process/pty/create-connect?cols=10", &[])
        .await
        .err()
        .unwrap();
    assert_eq!(
        err,
        (
            400,
            json!({"error": "session ID is required (query param 'id')"})
        )
    );
    let err = ws_connect(
        a,
        "/process/pty/create-connect?id=x",
        &["X-Daytona-Pty-Envs~!!!"],
    )
    .await
    .err()
    .unwrap();
    assert_eq!(err.0, 400);
    assert!(
        err.1["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid envs subprotocol: "),
        "{}",
        err.1
    );
    let long = format!("X-Daytona-Pty-Envs~{}", "A".repeat(65_537));
    let err = ws_connect(a, "/process/pty/create-connect?id=x", &[&long])
        .await
        .err()
        .unwrap();
    assert_eq!(err.0, 400, "{}", err.1);
    let (status, body) = http(a, "POST", "/process/pty", Some(json!({"id": ""}))).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("bad request: session ID is required"))
    );
    let (status, body) = http(a, "POST", "/process/pty", Some(json!({"cols": "wide"}))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("INVALID_REQUEST_BODY"))
    );
    // Unknown ids.
    let (status, body) = http(a, "GET", "/process/pty/nope", None).await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], "PROCESS_NOT_FOUND");
    assert_eq!(body["message"], "PTY session not found");
    assert_eq!(http(a, "DELETE", "/process/pty/nope", None).await.0, 404);
    let (status, body) = http(
        a,
        "POST",
        "/process/pty/nope/resize",
        Some(json!({"cols": 10, "rows": 10})),
    )
    .await;
    assert_eq!(status, 410);
    assert_eq!(body["code"], "SESSION_ENDED");
    let (status, _) = http(
        a,
        "POST",
        "/process/pty/dup/resize",
        Some(json!({"cols": 10, "rows": 1001})),
    )
    .await;
    assert_eq!(status, 400);
    // Connect to an unknown session: upgrade, then the error in-band, then 1011.
    let (mut c, _) = ws_connect(a, "/process/pty/no%20such/connect", &[EXIT_CONTROL])
        .await
        .unwrap();
    let Some(Msg::Text(msg)) = c.next(HANG).await else {
        panic!("no error message")
    };
    let expected = "Failed to connect to PTY session: PTY session no such not found";
    let msg: Value = serde_json::from_str(&msg).unwrap();
    assert_eq!(
        msg,
        json!({"type": "control", "status": "error", "error": expected})
    );
    assert_eq!(c.read_to_close().await, (1011, expected.to_owned()));
    // A start failure (cwd missing) is reported in-band and leaves no session behind.
    let (mut c, _) = ws_connect(
        a,
        "/process/pty/create-connect?id=nocwd&cwd=%2Fno%2Fsuch%2Fdir",
        &[],
    )
    .await
    .unwrap();
    let Some(Msg::Text(text)) = c.next(HANG).await else {
        panic!("no error message")
    };
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["status"], "error");
    assert!(v["error"].as_str().unwrap().contains("/no/such/dir"), "{v}");
    assert_eq!(c.read_to_close().await.0, 1011);
    assert_eq!(http(a, "GET", "/process/pty/nocwd", None).await.0, 404);
    let (status, body) = http(
        a,
        "POST",
        "/process/pty",
        Some(json!({"id": "nocwd2", "cwd": "/no/such/dir"})),
    )
    .await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(http(a, "GET", "/process/pty/nocwd2", None).await.0, 404);
    http(a, "DELETE", "/process/pty/dup", None).await;
}
