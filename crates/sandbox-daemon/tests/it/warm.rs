//! The warm pool (`sandboxd --warm N`): a default create takes a started member and gets the
//! create's id/name/labels/env exactly as a cold create would (the env in every kind of
//! command); members are never listed; the pool refills to N and not past it; creates it cannot
//! honour take the cold path; members are deleted on shutdown and, after a SIGKILL, on the
//! next start.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use process::{CreateSandboxParams, Resources, Sandboxes};
use serde_json::json;

use crate::require_sandboxes;
use crate::support::{eventually, Server, KEY};

/// Ids of the sandboxes the provider holds (one directory each).
fn on_disk(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().is_dir())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a `processd` answers `GET /health` on `sock` (a bound socket alone accepts
/// connections before anything serves it).
fn healthy(sock: &Path) -> bool {
    use std::io::{Read, Write};
    let Ok(mut conn) = std::os::unix::net::UnixStream::connect(sock) else {
        return false;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_millis(500)));
    if conn
        .write_all(b"GET /health HTTP/1.0\r\nHost: sandbox\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    conn.read_exact(&mut head).is_ok() && &head[9..12] == b"200"
}

/// Where sandboxes live and where their sockets are, per provider.
struct Layout {
    dirs: PathBuf,
    runc: bool,
}

impl Layout {
    fn of(s: &Server, runc: bool) -> Layout {
        let dirs = if runc {
            s.state.path().join("sandboxes")
        } else {
            s.state.path().join("unisolated")
        };
        Layout { dirs, runc }
    }

    fn socket(&self, id: &str) -> PathBuf {
        if self.runc {
            self.dirs
                .parent()
                .unwrap()
                .join("sockets")
                .join(format!("{id}.sock"))
        } else {
            self.dirs.join(id).join("run").join("sock")
        }
    }

    /// The warm members sandboxd lists as ready (`STATE/warm-pool`).
    fn ready(&self) -> BTreeSet<String> {
        std::fs::read_to_string(self.dirs.parent().unwrap().join("warm-pool"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Waits until `n` members are ready; each of them answers.
    async fn wait_ready(&self, n: usize) -> BTreeSet<String> {
        let ok = eventually(Duration::from_mins(2), || async { self.ready().len() == n }).await;
        let ids = self.ready();
        assert!(ok, "expected {n} ready warm sandboxes, found {ids:?}");
        for id in &ids {
            assert!(
                healthy(&self.socket(id)),
                "warm sandbox {id} does not answer"
            );
        }
        ids
    }
}

async fn list_ids(s: &Server) -> Vec<String> {
    let (st, body) = s.call("GET", "/api/sandbox?limit=200", None).await;
    assert_eq!(st, 200, "{body}");
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|sb| sb["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn exec(s: &Server, id: &str, command: &str) -> String {
    let (st, out) = s
        .call(
            "POST",
            &format!("/toolbox/{id}/process/execute"),
            Some(json!({"command": command})),
        )
        .await;
    assert_eq!(st, 200, "{out}");
    out["result"].as_str().unwrap().to_owned()
}

/// SIGTERM, then wait for the exit (the graceful path that deletes the pool).
fn terminate(s: &mut Server) {
    let pid = nix::unistd::Pid::from_raw(s.child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = s.child.wait().unwrap();
    assert!(status.success(), "sandboxd exited with {status}");
}

#[tokio::test]
async fn warm_pool_semantics_on_the_test_provider() {
    let mut s = Server::start_with(Some(KEY), &["--warm", "2", "--max-sandboxes", "3"]);
    let layout = Layout::of(&s, false);
    let members = layout.wait_ready(2).await;
    assert_eq!(on_disk(&layout.dirs), members);
    assert!(list_ids(&s).await.is_empty(), "pool members are listed");

    // A default create takes a member: its id, with the create's name, labels and env.
    let sb = s
        .create(json!({
            "name": "warm-one",
            "labels": {"team": "x"},
            "env": {"WARM_VAR": "from create"},
            "cpu": 1,
            "autoStopInterval": 7
        }))
        .await;
    let id = sb["id"].as_str().unwrap().to_owned();
    assert!(members.contains(&id), "{id} was not taken from {members:?}");
    assert_eq!(sb["state"], "started");
    assert_eq!(sb["name"], "warm-one");
    assert_eq!(sb["labels"]["team"], "x");
    assert_eq!(sb["labels"]["code-toolbox-language"], "python");
    assert_eq!(sb["env"]["WARM_VAR"], "from create");
    assert_eq!(sb["autoStopInterval"], 7);
    assert_eq!(exec(&s, &id, "echo $WARM_VAR").await, "from create\n");
    let (st, got) = s.call("GET", "/api/sandbox/warm-one", None).await;
    assert_eq!((st, got["id"].as_str()), (200, Some(id.as_str())), "{got}");
    assert_eq!(list_ids(&s).await, vec![id.clone()]);

    // Refilled off the request path, to N ready beside the taken one, and not past it.
    let now = layout.wait_ready(2).await;
    assert!(!now.contains(&id));
    for _ in 0..10 {
        assert!(on_disk(&layout.dirs).len() <= 3, "the pool grew past N");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let fresh: Vec<&String> = now.difference(&members).collect();
    assert_eq!(fresh.len(), 1, "{now:?} vs {members:?}");

    // What a member cannot be (another user) takes the cold path: a new id.
    let before = layout.ready();
    let cold = s.create(json!({"user": "root"})).await;
    let cold_id = cold["id"].as_str().unwrap().to_owned();
    assert!(!before.contains(&cold_id), "a root create took a member");
    // Two sandboxes now, limit 3: one more create is fine, a fourth is refused, and the pool
    // does not refill past the limit of user sandboxes.
    let third = s.create(json!({})).await;
    let third_id = third["id"].as_str().unwrap().to_owned();
    assert!(
        before.contains(&third_id),
        "a default create did not take a member"
    );
    let (st, body) = s.call("POST", "/api/sandbox", Some(json!({}))).await;
    assert_eq!(st, 403, "{body}");
    let ids = list_ids(&s).await;
    assert_eq!(ids.len(), 3, "{ids:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Three recorded + the one member left; no refill at the limit.
    assert_eq!(layout.ready().len(), 1);
    assert_eq!(on_disk(&layout.dirs).len(), 4);

    // SIGKILL: the members of that run are removed by the next start (they have no record),
    // recorded sandboxes are kept, and the pool fills again.
    let left_members: BTreeSet<String> = on_disk(&layout.dirs)
        .into_iter()
        .filter(|i| !ids.contains(i))
        .collect();
    assert_eq!(left_members.len(), 1);
    s.call("DELETE", &format!("/api/sandbox/{third_id}"), None)
        .await;
    s.kill_and_restart();
    layout.wait_ready(2).await;
    let after = on_disk(&layout.dirs);
    assert_eq!(
        after.len(),
        2 + 2,
        "on disk {after:?}, ready {:?}, recorded {:?}, killed run's member {left_members:?}",
        layout.ready(),
        list_ids(&s).await
    );
    assert!(
        after.is_disjoint(&left_members),
        "a member of the killed run survived: {after:?}"
    );
    assert!(after.contains(&id) && after.contains(&cold_id));
    assert_eq!(exec(&s, &id, "echo $WARM_VAR").await, "from create\n");
    let mut listed = list_ids(&s).await;
    listed.sort();
    let mut want = vec![id.clone(), cold_id.clone()];
    want.sort();
    assert_eq!(listed, want);

    // SIGTERM: the members are deleted, the recorded sandboxes stay.
    terminate(&mut s);
    let left = on_disk(&layout.dirs);
    assert_eq!(left, want.into_iter().collect::<BTreeSet<_>>());
}

#[tokio::test]
async fn a_warm_sandbox_is_configured_as_a_fresh_create_on_runc() {
    require_sandboxes!();
    let mut s = Server::runc_with(&["--warm", "1"]).await;
    let layout = Layout::of(&s, true);
    let members = layout.wait_ready(1).await;
    let sandboxes = Sandboxes::connect(&s.api, KEY).unwrap();
    let sb = sandboxes
        .create(
            CreateSandboxParams::new()
                .name("warm-runc")
                .env("WARM_VAR", "v1")
                .label("team", "y")
                .resources(Resources {
                    cpu: Some(2),
                    memory: Some(2),
                    disk: None,
                }),
        )
        .await
        .unwrap();
    let id = sb.id().to_owned();
    assert!(members.contains(&id), "{id} was not taken from {members:?}");
    assert_eq!(
        (sb.name(), sb.info().cpu, sb.info().memory),
        ("warm-runc", 2, 2)
    );
    assert_eq!(sb.info().labels["team"], "y");
    let p = sb.process();
    // exec (hostname = the id, as for a cold sandbox)
    let out = p.exec("echo $WARM_VAR; hostname").await.unwrap();
    assert_eq!(out.result, format!("v1\n{id}\n"));
    // a session
    p.create_session("s").await.unwrap();
    let cmd = p
        .execute_session_command("s", process::CommandRequest::new("echo s-$WARM_VAR"))
        .await
        .unwrap();
    assert_eq!(cmd.stdout.trim(), "s-v1");
    // code_run and an interpreter context
    let run = p
        .code_run("import os\nprint('c-' + os.environ['WARM_VAR'])")
        .await
        .unwrap();
    assert_eq!(run.result.trim(), "c-v1");
    let interpreter = p.interpreter();
    let ctx = interpreter.create_context().await.unwrap();
    let got = interpreter
        .run_code("import os\nprint('i-' + os.environ['WARM_VAR'])")
        .context(&ctx)
        .await
        .unwrap();
    assert_eq!(got.stdout.trim(), "i-v1");
    // a PTY
    let mut pty = p.create_pty_session("term").await.unwrap();
    pty.send_input("echo pty-$WARM_VAR; exit 0\n")
        .await
        .unwrap();
    let mut screen = Vec::new();
    pty.wait_with(|d| screen.extend_from_slice(d))
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&screen).contains("pty-v1"),
        "{}",
        String::from_utf8_lossy(&screen)
    );
    // The resources were applied live: the cgroup's cpu quota is 2 cores.
    let quota = p
        .exec("cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us")
        .await
        .unwrap();
    assert_eq!(quota.result.trim(), "200000", "{}", quota.result);
    // After stop/start (a bundle rebuilt from the record) the env is the sandbox's own.
    sandboxes.stop(&sb).await.unwrap();
    let sb = sandboxes.start(&sb).await.unwrap();
    let out = sb.process().exec("echo $WARM_VAR").await.unwrap();
    assert_eq!(out.result, "v1\n");
    // The pool refilled beside it.
    let member: String = layout.wait_ready(1).await.into_iter().next().unwrap();
    assert_ne!(member, id);
    sandboxes.delete(&sb).await.unwrap();
    assert!(s.leftovers(&id).is_empty(), "{:#?}", s.leftovers(&id));
    // SIGTERM deletes the member, leaving nothing of it.
    terminate(&mut s);
    let left = s.leftovers(&member);
    assert!(left.is_empty(), "the warm sandbox left: {left:#?}");
}
