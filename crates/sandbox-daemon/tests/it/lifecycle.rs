//! Lifecycle through the API on real runc sandboxes: stop/start keeps files, delete removes
//! everything (counted on the host), serialised concurrent calls, a crashed processd → error →
//! startable, restart after SIGKILL re-adopts, auto-stop.

use std::time::Duration;

use serde_json::json;

use crate::require_sandboxes;
use crate::support::{eventually, pid_alive, Server};

async fn exec(s: &Server, id: &str, command: &str) -> serde_json::Value {
    let (st, out) = s
        .call(
            "POST",
            &format!("/toolbox/{id}/process/execute"),
            Some(json!({"command": command})),
        )
        .await;
    assert_eq!(st, 200, "{out}");
    out
}

#[tokio::test]
async fn stop_start_keeps_files_and_delete_removes_everything() {
    require_sandboxes!();
    let s = Server::runc().await;
    let sb = s.create(json!({"env": {"A": "1"}})).await;
    let id = sb["id"].as_str().unwrap();
    exec(&s, id, "echo kept > file.txt").await;
    let pid = s.pid_of(id).expect("pid");
    assert!(pid_alive(pid));
    let (st, body) = s
        .call("POST", &format!("/api/sandbox/{id}/stop?force=false"), None)
        .await;
    assert_eq!(
        (st, body["state"].as_str()),
        (200, Some("stopped")),
        "{body}"
    );
    assert!(!pid_alive(pid), "processd is gone after stop");
    let (_, got) = s.call("GET", &format!("/api/sandbox/{id}"), None).await;
    assert_eq!(got["state"], "stopped");
    // Stop again: not stoppable; the toolbox answers a clear error while stopped.
    let (st, body) = s
        .call("POST", &format!("/api/sandbox/{id}/stop?force=false"), None)
        .await;
    assert_eq!(st, 400);
    assert_eq!(body["message"], "Sandbox is not in a stoppable state");
    let (st, body) = s
        .call("GET", &format!("/toolbox/{id}/process/session"), None)
        .await;
    assert_eq!(st, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("not started"));
    let (st, body) = s
        .call("POST", &format!("/api/sandbox/{id}/start"), None)
        .await;
    assert_eq!(
        (st, body["state"].as_str()),
        (200, Some("started")),
        "{body}"
    );
    let out = exec(&s, id, "cat file.txt; echo $A").await;
    assert_eq!(out["result"], "kept\n1\n");
    // start when started: unchanged
    let (st, body) = s
        .call("POST", &format!("/api/sandbox/{id}/start"), None)
        .await;
    assert_eq!((st, body["state"].as_str()), (200, Some("started")));
    let pid = s.pid_of(id).unwrap();
    let (st, body) = s.call("DELETE", &format!("/api/sandbox/{id}"), None).await;
    assert_eq!(
        (st, body["state"].as_str()),
        (200, Some("destroyed")),
        "{body}"
    );
    assert!(!pid_alive(pid));
    assert!(!s.sandbox_dir(id).exists(), "files removed");
    let left = s.leftovers(id);
    assert!(left.is_empty(), "delete left: {left:#?}");
    let (st, _) = s.call("GET", &format!("/api/sandbox/{id}"), None).await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn force_stop_kills_at_once_and_ephemeral_stop_deletes() {
    require_sandboxes!();
    let s = Server::runc().await;
    let sb = s.create(json!({})).await;
    let id = sb["id"].as_str().unwrap();
    // A processd that ignores nothing, but a child that traps TERM must not delay a force stop.
    let (st, body) = s
        .call("POST", &format!("/api/sandbox/{id}/stop?force=true"), None)
        .await;
    assert_eq!((st, body["state"].as_str()), (200, Some("stopped")));
    let eph = s.create(json!({"autoDeleteInterval": 0})).await;
    let eid = eph["id"].as_str().unwrap();
    let (st, body) = s
        .call(
            "POST",
            &format!("/api/sandbox/{eid}/stop?force=false"),
            None,
        )
        .await;
    assert_eq!(
        (st, body["state"].as_str()),
        (200, Some("destroyed")),
        "{body}"
    );
    let (st, _) = s.call("GET", &format!("/api/sandbox/{eid}"), None).await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn concurrent_start_stop_delete_are_serialized() {
    require_sandboxes!();
    let s = Server::runc().await;
    let sb = s.create(json!({})).await;
    let id = sb["id"].as_str().unwrap().to_owned();
    let mut requests: Vec<(&str, String)> = (0..12)
        .map(|i| match i % 3 {
            0 => ("POST", format!("/api/sandbox/{id}/stop?force=false")),
            1 => ("POST", format!("/api/sandbox/{id}/start")),
            _ => ("GET", format!("/api/sandbox/{id}")),
        })
        .collect();
    requests.insert(7, ("DELETE", format!("/api/sandbox/{id}")));
    let calls: Vec<_> = requests.iter().map(|(m, p)| s.call(m, p, None)).collect();
    let results = futures_util::future::join_all(calls).await;
    for (st, body) in &results {
        match st {
            200 => {
                let state = body["state"].as_str().unwrap();
                assert!(
                    matches!(
                        state,
                        "started"
                            | "stopped"
                            | "destroyed"
                            | "stopping"
                            | "starting"
                            | "destroying"
                    ),
                    "{body}"
                );
            }
            // Lost the race against another call: stop of a stopped one, or after the delete.
            400 | 404 => assert!(body["message"].is_string(), "{body}"),
            other => panic!("unexpected status {other}: {body}"),
        }
    }
    // The delete ran: nothing is left, and no processd survived.
    let (st, _) = s.call("GET", &format!("/api/sandbox/{id}"), None).await;
    assert_eq!(st, 404);
    assert!(!s.sandbox_dir(&id).exists());
    let left = s.leftovers(&id);
    assert!(left.is_empty(), "delete left: {left:#?}");
    let (_, list) = s.call("GET", "/api/sandbox", None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn crashed_processd_is_an_error_with_a_reason_and_can_start_again() {
    require_sandboxes!();
    let s = Server::runc_with(&["--test-monitor-ms", "100"]).await;
    let sb = s.create(json!({})).await;
    let id = sb["id"].as_str().unwrap();
    let pid = s.pid_of(id).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let errored = eventually(Duration::from_secs(10), || async {
        let (_, got) = s.call("GET", &format!("/api/sandbox/{id}"), None).await;
        got["state"] == "error"
    })
    .await;
    assert!(errored, "state becomes error");
    let (_, got) = s.call("GET", &format!("/api/sandbox/{id}"), None).await;
    assert!(
        got["errorReason"]
            .as_str()
            .is_some_and(|r| r.contains("exited")),
        "{got}"
    );
    assert_eq!(got["recoverable"], true);
    let (st, body) = s
        .call("POST", &format!("/api/sandbox/{id}/start"), None)
        .await;
    assert_eq!(
        (st, body["state"].as_str()),
        (200, Some("started")),
        "{body}"
    );
    assert!(body
        .get("errorReason")
        .is_none_or(serde_json::Value::is_null));
    assert_eq!(exec(&s, id, "echo back").await["result"], "back\n");
}

#[tokio::test]
async fn sigkilled_sandboxd_restarts_and_keeps_every_sandbox() {
    require_sandboxes!();
    let mut s = Server::runc().await;
    let running = s.create(json!({"name": "running"})).await;
    let stopped = s.create(json!({"name": "stopped"})).await;
    let rid = running["id"].as_str().unwrap().to_owned();
    let sid = stopped["id"].as_str().unwrap().to_owned();
    exec(&s, &rid, "echo state > f").await;
    s.call(
        "POST",
        &format!("/api/sandbox/{sid}/stop?force=false"),
        None,
    )
    .await;
    let pid = s.pid_of(&rid).unwrap();
    s.kill_and_restart();
    assert!(pid_alive(pid), "the sandbox outlived sandboxd");
    let (_, r) = s.call("GET", "/api/sandbox/running", None).await;
    assert_eq!(r["state"], "started", "{r}");
    assert_eq!(exec(&s, &rid, "cat f").await["result"], "state\n");
    assert_eq!(s.pid_of(&rid), Some(pid), "re-adopted, not restarted");
    let (_, st) = s.call("GET", "/api/sandbox/stopped", None).await;
    assert_eq!(st["state"], "stopped", "{st}");
    let (code, body) = s
        .call("POST", &format!("/api/sandbox/{sid}/start"), None)
        .await;
    assert_eq!((code, body["state"].as_str()), (200, Some("started")));
    let (_, list) = s.call("GET", "/api/sandbox", None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn auto_stop_stops_idle_sandboxes_but_not_busy_ones() {
    // One "minute" = 300 ms.
    require_sandboxes!();
    let s = Server::runc_with(&["--test-minute-ms", "300", "--test-monitor-ms", "50"]).await;
    // `busy` gets its interval once its command runs: a create or a request can take longer
    // than one such "minute" on a loaded machine.
    let busy = s.create(json!({"autoStopInterval": 0})).await;
    let never = s.create(json!({"autoStopInterval": 0})).await;
    let (busy, never) = (busy["id"].as_str().unwrap(), never["id"].as_str().unwrap());
    // A running session command keeps `busy` alive although no request is in flight.
    let (st, _) = s
        .call(
            "POST",
            &format!("/toolbox/{busy}/process/session"),
            Some(json!({"sessionId": "s"})),
        )
        .await;
    assert_eq!(
        st, 201,
        "processd answers 201 Created, passed through as is"
    );
    let (st, body) = s
        .call(
            "POST",
            &format!("/toolbox/{busy}/process/session/s/exec"),
            Some(json!({"command": "sleep 30", "runAsync": true})),
        )
        .await;
    assert_eq!(st, 202, "{body}");
    let (st, body) = s
        .call("POST", &format!("/api/sandbox/{busy}/autostop/1"), None)
        .await;
    assert!(st == 200 || st == 204, "{st} {body}");
    let idle = s.create(json!({"autoStopInterval": 1})).await;
    let idle = idle["id"].as_str().unwrap();
    let stopped = eventually(Duration::from_secs(10), || async {
        let (_, got) = s.call("GET", &format!("/api/sandbox/{idle}"), None).await;
        got["state"] == "stopped"
    })
    .await;
    assert!(stopped, "the idle sandbox auto-stopped");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for id in [busy, never] {
        let (_, got) = s.call("GET", &format!("/api/sandbox/{id}"), None).await;
        assert_eq!(got["state"], "started", "{id}: {got}");
    }
    // An in-flight toolbox request is activity too: exec for longer than the interval.
    let (_, _) = s
        .call("POST", &format!("/api/sandbox/{never}/autostop/1"), None)
        .await;
    let out = exec(&s, never, "sleep 1; echo done").await;
    assert_eq!(out["result"], "done\n");
    let (_, got) = s.call("GET", &format!("/api/sandbox/{never}"), None).await;
    assert_eq!(got["state"], "started", "not stopped during its exec");
}
