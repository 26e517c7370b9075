//! Sessions: delete, per-command kill (async and sync) and a restart kill the escapees.

use std::time::Duration;

use http::Method;
use serde_json::json;

use super::{cgroup_dir, dies, escapee, started, Bin, Root};
use crate::durability::Daemon;
use crate::support::{eventually, unique_seconds};

#[tokio::test]
async fn session_delete_kills_an_escapee_and_removes_its_cgroup() {
    let Some(root) = Root::new("session_delete_kills_an_escapee_and_removes_its_cgroup") else {
        return;
    };
    let d = Bin::start(&["--cgroup-root", &root.arg()]);
    d.session("s").await;
    let marker = unique_seconds();
    let pidfile = d.pidfile("escapee");
    d.run_async(
        "s",
        &format!("{}; sleep {marker}", escapee(&marker, &pidfile)),
    )
    .await;
    let p = started(&pidfile).await;
    let cgroup = p.cgroup().expect("cgroup");
    assert!(
        cgroup.contains("/processd-it-"),
        "the escapee is not in the session's cgroup: {cgroup}"
    );
    d.call(Method::DELETE, "/process/session/s", None).await;
    dies(p, "session delete").await;
    // The session's cgroup goes once it is empty.
    let unit = cgroup_dir(&cgroup).expect("cgroup dir");
    assert!(
        eventually(Duration::from_secs(10), || !unit.exists()).await,
        "{} was not removed",
        unit.display()
    );
}

#[tokio::test]
async fn session_command_kill_kills_an_escapee_and_spares_the_session() {
    let Some(root) = Root::new("session_command_kill_kills_an_escapee_and_spares_the_session")
    else {
        return;
    };
    let d = Bin::start(&["--cgroup-root", &root.arg()]);
    d.session("s").await;
    let marker = unique_seconds();
    let pidfile = d.pidfile("escapee");
    let cid = d
        .run_async(
            "s",
            &format!("{}; sleep {marker}", escapee(&marker, &pidfile)),
        )
        .await;
    let p = started(&pidfile).await;
    d.call(
        Method::POST,
        &format!("/process/session/s/command/{cid}/signal"),
        Some(json!({"signal": "KILL"})),
    )
    .await;
    dies(p, "session command kill").await;
    // The session shell and its state survive.
    let v = d
        .call(
            Method::POST,
            "/process/session/s/exec",
            Some(json!({"command": "echo still here"})),
        )
        .await;
    assert_eq!(v["exitCode"], 0, "{v}");
    assert!(
        v["output"]
            .as_str()
            .unwrap_or_default()
            .contains("still here"),
        "{v}"
    );
}

/// A sync command runs in the session shell itself, which moves into the command's own cgroup
/// while it runs: killing the command (from another request, here its per-command signal, and
/// by its timeout) takes an escapee that cleared its environment, and the shell, moved out
/// first, survives with its state.
#[tokio::test]
async fn sync_session_command_kill_and_timeout_kill_an_escapee_and_spare_the_session() {
    let Some(root) =
        Root::new("sync_session_command_kill_and_timeout_kill_an_escapee_and_spare_the_session")
    else {
        return;
    };
    let d = Bin::start(&["--cgroup-root", &root.arg()]);
    d.session("s").await;
    d.call(
        Method::POST,
        "/process/session/s/exec",
        Some(json!({"command": "export KEPT=yes; cd /tmp"})),
    )
    .await;
    for how in ["signal", "timeout"] {
        let marker = unique_seconds();
        let pidfile = d.pidfile(&format!("escapee-{how}"));
        let mut body =
            json!({"command": format!("{}; sleep {marker}", escapee(&marker, &pidfile))});
        if how == "timeout" {
            body["timeout"] = json!(3);
        }
        let run = d
            .daemon
            .call(Method::POST, "/process/session/s/exec", Some(body));
        let kill = async {
            let p = started(&pidfile).await;
            if how == "signal" {
                let s = d.call(Method::GET, "/process/session/s", None).await;
                let cid = s["commands"]
                    .as_array()
                    .expect("commands")
                    .iter()
                    .find(|c| c["exitCode"].is_null())
                    .and_then(|c| c["id"].as_str())
                    .expect("the running command")
                    .to_owned();
                d.call(
                    Method::POST,
                    &format!("/process/session/s/command/{cid}/signal"),
                    Some(json!({"signal": "KILL"})),
                )
                .await;
            }
            p
        };
        let ((status, v), p) = tokio::join!(run, kill);
        assert!((200..300).contains(&status), "{how}: {status} {v}");
        assert_ne!(v["exitCode"], 0, "{how}: {v}");
        dies(p, &format!("sync session command {how}")).await;
    }
    // The session shell and its state survive.
    let v = d
        .call(
            Method::POST,
            "/process/session/s/exec",
            Some(json!({"command": "echo \"$KEPT $PWD\""})),
        )
        .await;
    assert_eq!(v["exitCode"], 0, "{v}");
    assert_eq!(
        v["stdout"].as_str().unwrap_or_default(),
        "yes /tmp\n",
        "{v}"
    );
}

#[tokio::test]
async fn a_restart_kills_the_escapees_of_the_previous_incarnation() {
    let Some(root) = Root::new("a_restart_kills_the_escapees_of_the_previous_incarnation") else {
        return;
    };
    let work = tempfile::tempdir().expect("work");
    let state = tempfile::tempdir().expect("state");
    let args = ["--cgroup-root", &root.arg()];
    let first = Daemon::start(work.path(), state.path(), &args);
    let (status, _) = first
        .call(
            Method::POST,
            "/process/session",
            Some(json!({"sessionId": "s"})),
        )
        .await;
    assert!((200..300).contains(&status));
    let marker = unique_seconds();
    let pidfile = work.path().join("escapee");
    let (status, _) = first
        .call(
            Method::POST,
            "/process/session/s/exec",
            Some(json!({"command": escapee(&marker, &pidfile), "runAsync": true})),
        )
        .await;
    assert!((200..300).contains(&status));
    let p = started(&pidfile).await;
    first.crash();
    assert!(p.alive(), "the escapee died with the daemon");
    let _second = Daemon::start(work.path(), state.path(), &args);
    dies(p, "restart").await;
}
