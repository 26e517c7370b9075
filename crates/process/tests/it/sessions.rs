//! Sessions: lifecycle, state between commands, async commands and input, entrypoint.

use std::time::Duration;

use futures_util::StreamExt;
use process::{CommandRequest, OutputStream};

use crate::support::{Fixture, Kind};

crate::both_transports!(
    lifecycle_and_state,
    async_command_with_input,
    duplicate_and_unknown_sessions,
    entrypoint_session_and_logs,
    no_entrypoint_is_not_found,
    ids_with_spaces_and_slashes_roundtrip,
    session_and_command_handles,
    wait_on_a_killed_command_reports_the_signal,
);

async fn lifecycle_and_state(kind: Kind) {
    let f = Fixture::start(kind).await;
    let c = &f.client;
    c.create_session("my-session").await.unwrap();
    let s = c.get_session("my-session").await.unwrap();
    assert_eq!(s.session_id, "my-session");
    assert!(s.commands.is_empty());
    assert!(c
        .list_sessions()
        .await
        .unwrap()
        .iter()
        .any(|s| s.session_id == "my-session"));

    std::fs::create_dir(f.workdir.path().join("workspace")).unwrap();
    c.execute_session_command("my-session", "cd workspace")
        .await
        .unwrap();
    c.execute_session_command("my-session", "echo 'Hello' > test.txt; export V=42")
        .await
        .unwrap();
    let r = c
        .execute_session_command("my-session", "cat test.txt; echo $V; echo warn >&2")
        .await
        .unwrap();
    assert_eq!(r.stdout, "Hello\n42\n");
    assert_eq!(r.stderr, "warn\n");
    assert_eq!(r.exit_code, Some(0));
    assert!(
        r.output.contains("\u{1}\u{1}\u{1}"),
        "output keeps the markers: {:?}",
        r.output
    );
    assert!(f.workdir.path().join("workspace/test.txt").exists());

    let failed = c
        .execute_session_command("my-session", CommandRequest::new("(exit 7)"))
        .await
        .unwrap();
    assert_eq!(failed.exit_code, Some(7));

    let cmd = c
        .get_session_command("my-session", &r.cmd_id)
        .await
        .unwrap();
    assert_eq!(cmd.exit_code, Some(0));
    assert!(cmd.command.contains("cat test.txt"));
    let logs = c
        .get_session_command_logs("my-session", &r.cmd_id)
        .await
        .unwrap();
    assert_eq!(logs.stdout, "Hello\n42\n");
    assert_eq!(logs.stderr, "warn\n");

    let s = c.get_session("my-session").await.unwrap();
    assert_eq!(s.commands.len(), 4);

    c.delete_session("my-session").await.unwrap();
    let err = c.get_session("my-session").await.unwrap_err();
    assert!(err.is_not_found());
}

async fn async_command_with_input(kind: Kind) {
    let f = Fixture::start(kind).await;
    let c = &f.client;
    c.create_session("s").await.unwrap();
    let started = c
        .execute_session_command(
            "s",
            CommandRequest::new("read -r name; echo \"hi $name\"").run_async(true),
        )
        .await
        .unwrap();
    assert_eq!(started.exit_code, None);
    assert!(!started.cmd_id.is_empty());
    // Running: no exit code yet.
    let running = c.get_session_command("s", &started.cmd_id).await.unwrap();
    assert_eq!(running.exit_code, None);

    c.send_session_command_input("s", &started.cmd_id, "ferris")
        .await
        .unwrap();
    let (mut out, mut err) = (String::new(), String::new());
    c.follow_session_command_logs(
        "s",
        &started.cmd_id,
        |s| out.push_str(s),
        |s| err.push_str(s),
    )
    .await
    .unwrap();
    // The input is echoed into the log (stdout) unless suppressed, then the command's line.
    assert!(out.ends_with("hi ferris\n"), "{out:?}");
    assert!(err.is_empty(), "{err:?}");
    let done = c.get_session_command("s", &started.cmd_id).await.unwrap();
    assert_eq!(done.exit_code, Some(0));

    // Input to a finished command is refused with advice.
    let late = c
        .send_session_command_input("s", &started.cmd_id, "again")
        .await
        .unwrap_err();
    assert!(late.is_gone(), "{late:?}");
}

async fn duplicate_and_unknown_sessions(kind: Kind) {
    let f = Fixture::start(kind).await;
    let c = &f.client;
    c.create_session("dup").await.unwrap();
    let err = c.create_session("dup").await.unwrap_err();
    assert!(err.is_conflict(), "{err:?}");
    assert!(
        err.to_string().contains("session 'dup' already exists"),
        "{err}"
    );

    let err = c.execute_session_command("nope", "echo").await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(
        err.to_string(),
        "session 'nope' not found: create it first with create_session"
    );
    let err = c
        .get_session_command("dup", "no-such-command")
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    assert!(
        err.to_string()
            .starts_with("command 'no-such-command' not found in session 'dup'"),
        "{err}"
    );
    let err = c.delete_session("nope").await.unwrap_err();
    assert!(err.is_not_found());
}

async fn entrypoint_session_and_logs(kind: Kind) {
    let f = Fixture::start_with(kind, |c| {
        c.entrypoint = vec![
            "sh".into(),
            "-c".into(),
            "echo from-entrypoint; echo e >&2".into(),
        ];
    })
    .await;
    let c = &f.client;
    let s = c.get_entrypoint_session().await.unwrap();
    assert_eq!(s.session_id, "entrypoint");
    assert_eq!(s.commands.len(), 1);
    let (mut out, mut err) = (String::new(), String::new());
    c.follow_entrypoint_logs(|s| out.push_str(s), |s| err.push_str(s))
        .await
        .unwrap();
    assert_eq!(out, "from-entrypoint\n");
    assert_eq!(err, "e\n");
    let logs = c.get_entrypoint_logs().await.unwrap();
    assert_eq!(logs.stdout, "from-entrypoint\n");
    // It is not listed among the sessions.
    assert!(c.list_sessions().await.unwrap().is_empty());
}

async fn no_entrypoint_is_not_found(kind: Kind) {
    let f = Fixture::start(kind).await;
    let err = f.client.get_entrypoint_session().await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert!(err.to_string().contains("without an entrypoint"), "{err}");
}

async fn ids_with_spaces_and_slashes_roundtrip(kind: Kind) {
    let f = Fixture::start(kind).await;
    let c = &f.client;
    // Spaces and non-ASCII travel percent-encoded.
    c.create_session("my session é").await.unwrap();
    let r = tokio::time::timeout(
        Duration::from_secs(20),
        c.execute_session_command("my session é", "echo ok"),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(r.stdout, "ok\n");
    assert_eq!(
        c.get_session("my session é").await.unwrap().session_id,
        "my session é"
    );
    c.delete_session("my session é").await.unwrap();
}

async fn session_and_command_handles(kind: Kind) {
    let f = Fixture::start(kind).await;
    let s = f.client.create_session("handles").await.unwrap();
    assert_eq!(s.id(), "handles");
    s.exec("cd /tmp").await.unwrap();
    assert_eq!(s.exec("pwd").await.unwrap().stdout, "/tmp\n");
    let job = s
        .spawn("read line; echo \"got $line\"; echo err >&2; exit 5")
        .await
        .unwrap();
    assert_eq!(job.session().id(), "handles");
    job.input("hello").await.unwrap();
    let status = job.wait().await.unwrap();
    assert_eq!(status.code(), 5);
    assert!(!status.success());
    let out = job.output().await.unwrap();
    assert!(out.stdout.contains("got hello\n"), "{out:?}");
    assert_eq!(out.stderr, "err\n");
    // The log of an ended command replays whole and then ends.
    let mut logs = job.logs().await.unwrap().text();
    let mut err = String::new();
    while let Some(piece) = logs.next().await {
        let piece = piece.unwrap();
        if piece.stream == OutputStream::Stderr {
            err.push_str(&piece.text);
        }
    }
    assert_eq!(err, "err\n");
    // The flat SDK mirror sees the same command, and a handle made from the id is the same.
    let cmd = f
        .client
        .get_session_command("handles", job.id())
        .await
        .unwrap();
    assert_eq!(cmd.exit_code, Some(5));
    assert_eq!(s.command(job.id()).wait().await.unwrap().code(), 5);
    assert_eq!(
        f.client
            .session("handles")
            .info()
            .await
            .unwrap()
            .commands
            .len(),
        3
    );
    s.delete().await.unwrap();
    assert!(f
        .client
        .get_session("handles")
        .await
        .unwrap_err()
        .is_not_found());
}

async fn wait_on_a_killed_command_reports_the_signal(kind: Kind) {
    let f = Fixture::start(kind).await;
    let s = f.client.create_session("sig").await.unwrap();
    // Session commands share the session shell's `$$`: the pid file is this session's own, so
    // the killer signals exactly the job's process (never, by name, anything else on the host).
    let job = s
        .spawn("sleep 30 & echo $! > /tmp/sig-$$.pid; wait $!")
        .await
        .unwrap();
    let killer = s
        .spawn("until [ -s /tmp/sig-$$.pid ]; do sleep 0.05; done; kill -TERM \"$(cat /tmp/sig-$$.pid)\"; rm -f /tmp/sig-$$.pid")
        .await
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), job.wait())
        .await
        .expect("wait returns once the command is killed")
        .unwrap();
    assert!(!status.success(), "{status}");
    drop(killer);
    s.delete().await.unwrap();
}
