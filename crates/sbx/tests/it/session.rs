//! `sbx session …`: create, exec (sync and async), logs, ls, rm; `logs -f` follows live and
//! resumes after a dropped connection without losing or repeating output.

use std::time::Duration;

use crate::support::{sbx_with, text, Proxy, TestDaemon};

#[tokio::test(flavor = "multi_thread")]
async fn sessions_keep_state_and_list_their_commands() {
    let d = TestDaemon::start(None).await;
    let out = d.sbx(&["session", "create", "local", "work"]).await;
    assert_eq!(text(&out), ("work\n".into(), String::new(), 0));
    let out = d
        .sbx(&[
            "session",
            "exec",
            "local",
            "work",
            "--",
            "cd /tmp && export V=1",
        ])
        .await;
    assert_eq!(out.status.code(), Some(0));
    let out = d
        .sbx(&[
            "session",
            "exec",
            "local",
            "work",
            "--",
            "echo $V $(pwd); echo e >&2; false",
        ])
        .await;
    assert_eq!(text(&out), ("1 /tmp\n".into(), "e\n".into(), 1));
    let out = d.sbx(&["--json", "session", "ls", "local"]).await;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let work = v
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["sessionId"] == "work")
        .unwrap();
    assert_eq!(work["commands"].as_array().unwrap().len(), 2, "{v}");
    let out = d.sbx(&["session", "ls", "local"]).await;
    assert!(text(&out).0.contains("cd /tmp && export V=1"), "{out:?}");
    // A generated name is printed.
    let out = d.sbx(&["session", "create", "local"]).await;
    assert!(text(&out).0.starts_with("sbx-"), "{out:?}");
    let out = d.sbx(&["session", "rm", "local", "work"]).await;
    assert_eq!(out.status.code(), Some(0));
    // Gone: 127.
    let out = d
        .sbx(&["session", "exec", "local", "work", "--", "true"])
        .await;
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_of_an_async_command_and_its_exit_code() {
    let d = TestDaemon::start(None).await;
    d.sbx(&["session", "create", "local", "bg"]).await;
    let out = d
        .sbx(&[
            "session",
            "exec",
            "local",
            "bg",
            "--async",
            "--",
            "echo out; echo err >&2; exit 5",
        ])
        .await;
    let (cmd_id, _, code) = text(&out);
    assert_eq!(code, 0);
    let cmd_id = cmd_id.trim().to_owned();
    let out = d
        .sbx(&["session", "logs", "local", "bg", &cmd_id, "-f"])
        .await;
    assert_eq!(text(&out), ("out\n".into(), "err\n".into(), 5));
    let out = d.sbx(&["session", "logs", "local", "bg", &cmd_id]).await;
    assert_eq!(text(&out), ("out\n".into(), "err\n".into(), 5));
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn follow_resumes_after_dropped_connections_without_loss_or_repeats() {
    // With a token: a daemon without one answers only its own Host (the proxy's differs).
    let d = TestDaemon::start(Some("follow-token")).await;
    let proxy = Proxy::start(&d.url).await;
    d.sbx(&[
        "--token",
        "follow-token",
        "session",
        "create",
        "local",
        "long",
    ])
    .await;
    let script = "for i in $(seq 1 40); do echo out$i; echo err$i >&2; sleep 0.05; done";
    let out = d
        .sbx(&[
            "--token",
            "follow-token",
            "session",
            "exec",
            "local",
            "long",
            "--async",
            "--",
            script,
        ])
        .await;
    let cmd_id = text(&out).0.trim().to_owned();
    let url = proxy.url.clone();
    let follow = tokio::spawn(async move {
        sbx_with(
            &url,
            &[
                "--token",
                "follow-token",
                "session",
                "logs",
                "local",
                "long",
                &cmd_id,
                "-f",
            ],
            None,
        )
        .await
    });
    // Drop the connection twice while the command is writing.
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        proxy.cut();
    }
    let out = follow.await.unwrap();
    let (stdout, stderr, code) = text(&out);
    assert_eq!(code, 0, "{stderr}");
    let lines =
        |prefix: &str| -> Vec<String> { (1..=40).map(|i| format!("{prefix}{i}")).collect() };
    let want_out = lines("out").join("\n") + "\n";
    assert_eq!(stdout, want_out);
    let err_only: Vec<&str> = stderr.lines().filter(|l| l.starts_with("err")).collect();
    assert_eq!(err_only, lines("err"));
    // The follow really was cut and resumed: the first connection, at least one reconnect,
    // and the final status call all went through the proxy.
    assert!(
        proxy.accepted() >= 3,
        "only {} connections",
        proxy.accepted()
    );
    d.stop().await;
}
