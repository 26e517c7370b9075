//! The third transport: `tower_test::mock` at service level. Shows exactly what the client sends
//! and how it reads answers, including legacy shapes, without any daemon.

use std::time::Duration;

use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use process::transport::timeout::RequestTimeout;
use process::transport::{full, Body};
use process::Client;
use tower_test::mock;

type Handle = mock::Handle<Request<Body>, Response<Body>>;

fn client() -> (Client, Handle) {
    let (svc, handle) = mock::pair::<Request<Body>, Response<Body>>();
    (Client::new(svc), handle)
}

fn answer(status: u16, content_type: &str, body: &'static str) -> Response<Body> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap();
    resp.headers_mut()
        .insert("content-type", content_type.parse().unwrap());
    resp
}

async fn body_json(req: Request<Body>) -> serde_json::Value {
    let bytes = req.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn exec_sends_what_the_sdk_sends() {
    let (client, mut handle) = client();
    let call = tokio::spawn(async move {
        client
            .exec("echo hello")
            .cwd("/tmp")
            .env("FOO", "bar")
            .timeout(Duration::from_secs(5))
            .await
    });
    let (req, send) = handle.next_request().await.unwrap();
    assert_eq!(req.method(), "POST");
    assert_eq!(req.uri(), "/process/execute");
    assert_eq!(req.headers()["content-type"], "application/json");
    assert_eq!(
        req.extensions().get::<RequestTimeout>(),
        Some(&RequestTimeout(Some(Duration::from_secs(10)))),
        "the client waits the command's timeout plus 5 s"
    );
    assert_eq!(
        body_json(req).await,
        serde_json::json!({"command": "echo hello", "cwd": "/tmp", "envs": {"FOO": "bar"}, "timeout": 5})
    );
    send.send_response(answer(
        200,
        "application/json",
        r#"{"exitCode":0,"result":"hello\n"}"#,
    ));
    let r = call.await.unwrap().unwrap();
    assert_eq!((r.exit_code, r.result.as_str()), (0, "hello\n"));
}

#[tokio::test]
async fn sessions_and_pty_paths_are_encoded() {
    let (client, mut handle) = client();
    let c = client.clone();
    let call = tokio::spawn(async move { c.get_session("my session/1").await });
    let (req, send) = handle.next_request().await.unwrap();
    assert_eq!(req.uri(), "/process/session/my%20session%2F1");
    send.send_response(answer(
        200,
        "application/json",
        r#"{"sessionId":"my session/1","commands":[{"id":"c1","command":"ls","exitCode":0},{"id":"c2","command":"sleep 9"}]}"#,
    ));
    let s = call.await.unwrap().unwrap();
    assert_eq!(s.commands[0].exit_code, Some(0));
    assert_eq!(s.commands[1].exit_code, None);

    let c = client.clone();
    let call = tokio::spawn(async move {
        c.execute_session_command(
            "s1",
            process::CommandRequest::new("sleep 5")
                .run_async(true)
                .suppress_input_echo(true),
        )
        .await
    });
    let (req, send) = handle.next_request().await.unwrap();
    assert_eq!(req.uri(), "/process/session/s1/exec");
    assert_eq!(
        body_json(req).await,
        serde_json::json!({"command": "sleep 5", "runAsync": true, "suppressInputEcho": true})
    );
    send.send_response(answer(
        202,
        "application/json",
        r#"{"cmdId":"c9","output":null,"stdout":null,"stderr":null,"exitCode":null}"#,
    ));
    let r = call.await.unwrap().unwrap();
    assert_eq!(r.cmd_id, "c9");
    assert_eq!((r.stdout.as_str(), r.exit_code), ("", None));

    let c = client.clone();
    let call = tokio::spawn(async move {
        c.resize_pty_session("p 1", process::PtySize::new(40, 150))
            .await
    });
    let (req, send) = handle.next_request().await.unwrap();
    assert_eq!(req.uri(), "/process/pty/p%201/resize");
    assert_eq!(
        body_json(req).await,
        serde_json::json!({"cols": 150, "rows": 40})
    );
    send.send_response(answer(
        200,
        "application/json",
        r#"{"id":"p 1","cwd":"/w","envs":{"TERM":"xterm-256color"},"cols":150,"rows":40,"createdAt":"2026-01-01T00:00:00Z","active":true,"lazyStart":false}"#,
    ));
    assert_eq!(call.await.unwrap().unwrap().cols, 150);
}

#[tokio::test]
async fn legacy_answers_are_understood() {
    let (client, mut handle) = client();
    // A daemon answering old clients: logs as marked text, exec with `code`.
    let c = client.clone();
    let call = tokio::spawn(async move { c.get_session_command_logs("s", "c").await });
    let (_, send) = handle.next_request().await.unwrap();
    send.send_response(answer(
        200,
        "text/plain; charset=utf-8",
        "\u{1}\u{1}\u{1}out\n\u{2}\u{2}\u{2}err\n",
    ));
    let logs = call.await.unwrap().unwrap();
    assert_eq!(
        (logs.stdout.as_str(), logs.stderr.as_str()),
        ("out\n", "err\n")
    );

    let c = client.clone();
    let call = tokio::spawn(async move { c.exec("x").await });
    let (_, send) = handle.next_request().await.unwrap();
    send.send_response(answer(
        200,
        "application/json",
        r#"{"code":3,"result":"r"}"#,
    ));
    assert_eq!(call.await.unwrap().unwrap().exit_code, 3);

    // A sync session command from a daemon that does not split the streams.
    let c = client.clone();
    let call = tokio::spawn(async move { c.execute_session_command("s", "x").await });
    let (_, send) = handle.next_request().await.unwrap();
    send.send_response(answer(
        200,
        "application/json",
        r#"{"cmdId":"c","output":"\u0001\u0001\u0001a\n\u0002\u0002\u0002b\n","stdout":null,"stderr":null,"exitCode":0}"#,
    ));
    let r = call.await.unwrap().unwrap();
    assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("a\n", "b\n"));
}

#[tokio::test]
async fn error_envelopes_become_typed_errors() {
    let (client, mut handle) = client();
    let c = client.clone();
    let call = tokio::spawn(async move { c.send_session_command_input("s", "c", "yes").await });
    let (_, send) = handle.next_request().await.unwrap();
    send.send_response(answer(
        410,
        "application/json",
        r#"{"statusCode":410,"message":"session process has exited","source":"DAYTONA_DAEMON","code":"SESSION_ENDED","timestamp":"t","path":"/p","method":"POST"}"#,
    ));
    let err = call.await.unwrap().unwrap_err();
    assert!(err.is_gone());
    assert_eq!(
        err.code().map(process::proto::wire::ErrorCode::as_str),
        Some("SESSION_ENDED")
    );
    assert!(
        err.to_string().starts_with("session 's' has ended"),
        "{err}"
    );

    // An answer that is not the API's.
    let c = client.clone();
    let call = tokio::spawn(async move { c.list_sessions().await });
    let (_, send) = handle.next_request().await.unwrap();
    send.send_response(answer(200, "text/html", "<html>proxy login</html>"));
    let err = call.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), process::ErrorKind::Protocol, "{err:?}");
}

#[tokio::test]
async fn websockets_need_an_upgrading_transport() {
    let (client, mut handle) = client();
    let call = tokio::spawn(async move { client.stream_session_command_logs("s", "c").await });
    let (req, send) = handle.next_request().await.unwrap();
    assert_eq!(req.uri(), "/process/session/s/command/c/logs?follow=true");
    assert_eq!(req.headers()["upgrade"], "websocket");
    // The follow offers only the resumable-offset subprotocol.
    assert_eq!(
        req.headers()["sec-websocket-protocol"],
        process_proto::wire::LOG_OFFSET_PROTOCOL
    );
    let mut resp = answer(101, "text/plain", "");
    resp.headers_mut()
        .insert("upgrade", "websocket".parse().unwrap());
    send.send_response(resp);
    let err = call.await.unwrap().unwrap_err();
    assert!(err.to_string().contains("needs a WebSocket"), "{err}");
}
