//! The context REST routes and the execute socket's validation and subprotocol.

use super::*;

#[tokio::test]
async fn rest_create_list_delete_and_their_errors() {
    let d = TestDaemon::start().await;
    let path = "/process/interpreter/context";
    // Use the default context so it exists; it must still be hidden from the list.
    assert_completed(&run_code(&d, "pass").await);

    let sub = d.workdir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let (status, ctx) = call(&d, Method::POST, path, Some(json!({"cwd": "sub"}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ctx["language"], "python");
    assert_eq!(ctx["active"], true);
    assert_eq!(ctx["cwd"], sub.to_string_lossy().as_ref());
    assert!(ctx["createdAt"].as_str().unwrap().contains('T'));
    let id = ctx["id"].as_str().unwrap().to_owned();
    assert_eq!(uuid_version(&id), Some(4));
    let cwd_run = run_in(&d, &id, "import os\nprint(os.getcwd())").await;
    assert_eq!(
        cwd_run.stdout().trim(),
        std::fs::canonicalize(&sub).unwrap().to_string_lossy()
    );

    let (status, list) = call(&d, Method::GET, path, None).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = list["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str()]);

    let (status, err) = call(
        &d,
        Method::POST,
        path,
        Some(json!({"language": "javascript"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        err["message"],
        "bad request: unsupported language: javascript (only 'python' is supported currently)"
    );

    let (status, err) = call(&d, Method::POST, path, Some(json!({"cwd": "/no/such/dir"}))).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(err["message"].as_str().unwrap().starts_with(
        "internal server error: failed to start context: failed to start Python worker: chdir /no/such/dir"
    ), "{err}");

    let (status, err) = call(&d, Method::DELETE, &format!("{path}/default"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["message"], "bad request: cannot delete default context");

    let (status, err) = call(&d, Method::DELETE, &format!("{path}/nope"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err["code"], "PROCESS_NOT_FOUND");
    assert_eq!(
        err["message"],
        "not found: context with ID 'nope' not found"
    );

    let (status, ok) = call(&d, Method::DELETE, &format!("{path}/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ok["message"], "Context deleted successfully");
    let (_, list) = call(&d, Method::GET, path, None).await;
    assert_eq!(list["contexts"], json!([]));
    let gone = run_in(&d, &id, "pass").await;
    assert_eq!(gone.close, Some((1008, format!("context not found: {id}"))));
    d.daemon.shutdown().await;
}

fn uuid_version(id: &str) -> Option<u32> {
    let parts: Vec<&str> = id.split('-').collect();
    (parts.len() == 5).then(|| parts[2].chars().next()?.to_digit(16))?
}

#[tokio::test]
async fn validation_failures_close_with_the_documented_codes() {
    let d = TestDaemon::start().await;
    let (mut ws, _) = connect(&d, None).await;
    ws.write_frame(Frame::text(Payload::Owned(b"not json".to_vec())))
        .await
        .unwrap();
    let run = collect(&mut ws, |_| {}).await;
    assert_eq!(run.close, Some((1002, "invalid JSON payload".into())));
    assert!(run.frames.is_empty());

    let run = run_json(&d, json!({"code": ""})).await;
    assert_eq!(run.close, Some((1008, "code is required".into())));
    let run = run_json(&d, json!({"code": "pass", "timeout": -1})).await;
    assert_eq!(
        run.close,
        Some((1008, "timeout must be greater than or equal to 0".into()))
    );
    let run = run_json(&d, json!({"code": "pass", "contextId": "nope"})).await;
    assert_eq!(run.close, Some((1008, "context not found: nope".into())));

    // A plain GET (no upgrade) is a 400.
    let (status, _) = call(&d, Method::GET, "/process/interpreter/execute", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    d.daemon.shutdown().await;
}

#[tokio::test]
async fn the_first_offered_subprotocol_is_echoed() {
    let d = TestDaemon::start().await;
    let (mut ws, resp) = connect(&d, Some("first, second")).await;
    assert_eq!(resp.headers()["sec-websocket-protocol"], "first");
    ws.write_frame(Frame::text(Payload::Owned(
        br#"{"code": "print(1)", "timeout": 0}"#.to_vec(),
    )))
    .await
    .unwrap();
    let run = collect(&mut ws, |_| {}).await;
    assert_completed(&run);
    assert_eq!(run.stdout(), "1\n");
    d.daemon.shutdown().await;
}
