//! The toolbox proxy through the Rust client (`process::Sandboxes`): exec, sessions with log
//! following (WebSocket), PTYs (WebSocket), streamed request bodies, auth headers.

use std::collections::BTreeMap;

use process::{CreateSandboxParams, Resources, Sandboxes};

use crate::require_sandboxes;
use crate::support::{Server, KEY};

#[tokio::test]
async fn rust_client_lifecycle_and_process_through_the_proxy() {
    require_sandboxes!();
    let s = Server::runc().await;
    let sandboxes = Sandboxes::connect(&s.api, KEY).unwrap();
    let sb = sandboxes
        .create(
            CreateSandboxParams::image("debian:12.9")
                .env("DEBUG", "true")
                .resources(Resources {
                    cpu: Some(1),
                    memory: Some(1),
                    disk: None,
                })
                .auto_stop_interval(15)
                .label("team", "x"),
        )
        .await
        .unwrap();
    assert_eq!(sb.state().as_str(), "started");
    assert_eq!(sb.info().env["DEBUG"], "true");
    let out = sb.process().exec("echo $DEBUG").await.unwrap();
    assert_eq!(out.result, "true\n");
    // Sessions and a followed log (a WebSocket through the proxy).
    let p = sb.process();
    p.create_session("s").await.unwrap();
    let cmd = p
        .execute_session_command(
            "s",
            process::CommandRequest::new("echo out; sleep 0.2; echo err >&2").run_async(true),
        )
        .await
        .unwrap();
    let (mut out, mut err) = (String::new(), String::new());
    p.follow_session_command_logs("s", &cmd.cmd_id, |t| out.push_str(t), |t| err.push_str(t))
        .await
        .unwrap();
    assert_eq!((out.as_str(), err.as_str()), ("out\n", "err\n"));
    // A PTY (WebSocket both ways).
    let mut pty = p.create_pty_session("term").await.unwrap();
    pty.send_input("echo pty-$((40+2)); exit 3\n")
        .await
        .unwrap();
    let mut screen = Vec::new();
    let result = pty
        .wait_with(|d| screen.extend_from_slice(d))
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&screen).contains("pty-42"));
    assert_eq!(result.exit_code, Some(3));
    // get / list / labels / stop / start / delete
    let got = sandboxes.get(sb.id()).await.unwrap();
    assert_eq!(got.id(), sb.id());
    let mut team = BTreeMap::new();
    team.insert("team".to_owned(), "x".to_owned());
    let listed = sandboxes.list_labelled(&team).await.unwrap();
    assert_eq!(listed.len(), 1);
    let stopped = sandboxes.stop(&sb).await.unwrap();
    assert_eq!(stopped.state().as_str(), "stopped");
    assert!(stopped.process().exec("true").await.is_err());
    let started = sandboxes.start(&sb).await.unwrap();
    assert_eq!(
        started.process().exec("echo again").await.unwrap().result,
        "again\n"
    );
    sandboxes.delete(&sb).await.unwrap();
    let gone = sandboxes.get(sb.id()).await.unwrap_err();
    assert!(gone.is_not_found(), "{gone}");
    // The wrong key is refused by the proxy too.
    let bad = Sandboxes::connect(&s.api, "wrong").unwrap();
    assert!(bad.list().await.unwrap_err().is_unauthorized());
}

#[tokio::test]
async fn large_bodies_stream_through_the_proxy() {
    require_sandboxes!();
    let s = Server::runc().await;
    let sandboxes = Sandboxes::connect(&s.api, KEY).unwrap();
    let sb = sandboxes.create(CreateSandboxParams::new()).await.unwrap();
    // 4 MiB of output comes back whole.
    let out = sb
        .process()
        .exec("head -c 4194304 /dev/zero | tr '\\0' a")
        .await
        .unwrap();
    assert_eq!(out.result.len(), 4 * 1024 * 1024);
    // The Authorization header does not reach processd's commands' view; Origin is dropped
    // (processd would refuse a non-loopback Origin with 403).
    let (st, body) = crate::support::raw(
        &s.addr,
        "POST",
        &format!("/toolbox/{}/process/execute", sb.id()),
        Some(r#"{"command": "echo ok"}"#.to_owned()),
        &[
            ("authorization", format!("Bearer {KEY}")),
            ("origin", "https://evil.example".to_owned()),
        ],
    )
    .await;
    assert_eq!((st, body["result"].as_str()), (200, Some("ok\n")), "{body}");
    sandboxes.delete(&sb).await.unwrap();
}
