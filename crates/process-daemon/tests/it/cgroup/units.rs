//! PTYs, interpreter contexts, the `auto` root and no root at all.

use std::time::Duration;

use fastwebsockets::{Frame, OpCode, Payload};
use http::Method;
use serde_json::json;

use super::{cgroup_dir, dies, escapee, own_cgroup_dir, started, Bin, Root};
use crate::support::{eventually, unique_seconds, ws_at};

#[tokio::test]
async fn pty_kill_kills_an_escapee() {
    let Some(root) = Root::new("pty_kill_kills_an_escapee") else {
        return;
    };
    let d = Bin::start(&["--cgroup-root", &root.arg()]);
    let mut c = crate::pty::PtyClient::create(d.addr(), "id=p").await;
    let marker = unique_seconds();
    let pidfile = d.pidfile("escapee");
    c.send(format!("{}\n", escapee(&marker, &pidfile)).as_bytes())
        .await;
    let p = started(&pidfile).await;
    d.call(Method::DELETE, "/process/pty/p", None).await;
    dies(p, "PTY kill").await;
}

#[tokio::test]
async fn interpreter_context_delete_kills_an_escapee() {
    let Some(root) = Root::new("interpreter_context_delete_kills_an_escapee") else {
        return;
    };
    let d = Bin::start(&["--cgroup-root", &root.arg()]);
    let ctx = d
        .call(
            Method::POST,
            "/process/interpreter/context",
            Some(json!({})),
        )
        .await;
    let id = ctx["id"].as_str().expect("id").to_owned();
    let marker = unique_seconds();
    let pidfile = d.pidfile("escapee");
    let code = format!(
        "import subprocess\nsubprocess.run(['/bin/sh', '-c', {:?}], check=True)\n",
        escapee(&marker, &pidfile)
    );
    let mut ws = ws_at(d.addr(), "/process/interpreter/execute", &[])
        .await
        .expect("upgrade");
    ws.write_frame(Frame::text(Payload::Owned(
        serde_json::to_vec(&json!({"code": code, "contextId": id})).expect("json"),
    )))
    .await
    .expect("send");
    let mut frames = Vec::new();
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), ws.read_frame())
            .await
            .expect("frames in time")
            .expect("frame");
        match frame.opcode {
            OpCode::Close => break,
            OpCode::Text => frames.push(String::from_utf8_lossy(&frame.payload).into_owned()),
            _ => {}
        }
    }
    assert!(
        frames.iter().any(|f| f.contains("completed")),
        "the run did not complete: {frames:?}"
    );
    let p = started(&pidfile).await;
    d.call(
        Method::DELETE,
        &format!("/process/interpreter/context/{id}"),
        None,
    )
    .await;
    dies(p, "context delete").await;
}

#[tokio::test]
async fn auto_puts_sessions_below_the_daemons_own_cgroup() {
    let Some(own) = own_cgroup_dir() else {
        eprintln!("skipping auto_puts_sessions_below_the_daemons_own_cgroup: no cgroup v2");
        return;
    };
    if std::fs::create_dir(own.join("processd-it-probe")).is_err() {
        eprintln!("skipping auto_puts_sessions_below_the_daemons_own_cgroup: not writable");
        return;
    }
    let _ = std::fs::remove_dir(own.join("processd-it-probe"));
    let d = Bin::start(&[]);
    d.session("s").await;
    let marker = unique_seconds();
    let pidfile = d.pidfile("escapee");
    d.run_async("s", &escapee(&marker, &pidfile)).await;
    let p = started(&pidfile).await;
    let cgroup = p.cgroup().expect("cgroup");
    // `<own>/processd-<hash of the state dir>/<pid>-<n>/<command id>`.
    let parts: Vec<&str> = cgroup.split('/').collect();
    let at = parts
        .iter()
        .position(|c| c.starts_with("processd-") && !c.starts_with("processd-it"));
    // The SIGKILLed daemon leaves its (empty) base behind: removed at the end.
    let leftover = at.and_then(|i| cgroup_dir(&parts[..=i].join("/")));
    assert!(
        at.is_some_and(|i| parts.len() == i + 3),
        "not in a command cgroup of a unit of the daemon's own cgroup: {cgroup}"
    );
    d.call(Method::DELETE, "/process/session/s", None).await;
    dies(p, "session delete (auto)").await;
    drop(d);
    drop(leftover.map(|dir| Root { dir }));
}

#[tokio::test]
async fn without_a_cgroup_root_the_tree_still_dies() {
    let d = Bin::start(&["--cgroup-root", "off"]);
    d.session("s").await;
    let marker = unique_seconds();
    let pidfile = d.pidfile("child");
    // A background child and an orphaned grandchild, both in the session's process group.
    d.run_async(
        "s",
        &format!(
            "sleep {marker} & echo $! > {}; (sleep {marker} &); sleep {marker}",
            pidfile.display()
        ),
    )
    .await;
    let p = started(&pidfile).await;
    assert!(
        p.cgroup().is_none_or(|c| !c.contains("processd-")),
        "a cgroup was made with --cgroup-root off: {:?}",
        p.cgroup()
    );
    d.call(Method::DELETE, "/process/session/s", None).await;
    dies(p, "session delete without cgroups").await;
    assert!(
        eventually(Duration::from_secs(10), || crate::support::processes_with(
            &format!("sleep {marker}")
        )
        .is_empty())
        .await,
        "part of the tree survived"
    );
}
