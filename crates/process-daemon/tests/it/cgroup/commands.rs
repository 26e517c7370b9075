//! Per-command cgroups in sessions: made ahead of time (a command runs in a cgroup that existed
//! before it was submitted, so the request path does no `mkdir`), and given to the commands of
//! a session of another shell than bash too (here `dash`, through the hidden
//! `--test-session-shell`), whose per-command kill then takes an escapee that cleared its
//! environment.

use std::path::{Path, PathBuf};
use std::time::Duration;

use http::Method;
use serde_json::json;

use super::{cgroup_dir, dies, escapee, started, Bin, Root};
use crate::support::{eventually, unique_seconds};

/// The cgroup v2 path (`/proc/self/cgroup`'s `0::` line) in a command's output.
fn cgroup_line(output: &str) -> String {
    output
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or_else(|| panic!("no cgroup line in {output:?}"))
        .to_owned()
}

/// The names of the cgroup directories below `dir`.
fn children(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn session_commands_run_in_cgroups_made_before_they_were_submitted() {
    let Some(root) = Root::new("session_commands_run_in_cgroups_made_before_they_were_submitted")
    else {
        return;
    };
    let d = Bin::start(&["--cgroup-root", &root.arg()]);
    d.session("s").await;
    let first = d
        .call(
            Method::POST,
            "/process/session/s/exec",
            Some(json!({"command": "cat /proc/self/cgroup"})),
        )
        .await;
    let path = cgroup_line(first["stdout"].as_str().unwrap_or_default());
    let (session_cg, first_cid) = path.rsplit_once('/').expect("a command cgroup");
    let session_dir: PathBuf = cgroup_dir(session_cg).expect("session cgroup dir");
    for run_async in [false, true] {
        // The next command's cgroup is made while nothing is asked (after the last submit).
        let mut spare = Vec::new();
        let made = eventually(Duration::from_secs(20), || {
            spare = children(&session_dir)
                .into_iter()
                .filter(|c| c != first_cid)
                .collect();
            !spare.is_empty()
        })
        .await;
        assert!(made, "no spare command cgroup in {}", session_dir.display());
        let command = "cat /proc/self/cgroup > cg.txt";
        let v = d
            .call(
                Method::POST,
                "/process/session/s/exec",
                Some(json!({"command": command, "runAsync": run_async})),
            )
            .await;
        let cid = v["cmdId"].as_str().expect("cmdId").to_owned();
        let file = d.work.path().join("cg.txt");
        let mut text = String::new();
        assert!(
            eventually(Duration::from_secs(20), || {
                text = std::fs::read_to_string(&file).unwrap_or_default();
                text.contains("0::")
            })
            .await,
            "the command wrote no cgroup"
        );
        let _ = std::fs::remove_file(&file);
        let own = cgroup_line(&text);
        let name = own.rsplit('/').next().unwrap_or_default().to_owned();
        assert_eq!(
            name, cid,
            "async={run_async}: the command's cgroup is named by its id"
        );
        assert!(
            spare.contains(&name),
            "async={run_async}: {own} was made on the request path (spares were {spare:?})"
        );
    }
}

#[tokio::test]
async fn a_dash_session_gives_each_command_a_cgroup_and_its_kill_takes_an_escapee() {
    let Some(root) =
        Root::new("a_dash_session_gives_each_command_a_cgroup_and_its_kill_takes_an_escapee")
    else {
        return;
    };
    let dash = ["/bin/dash", "/usr/bin/dash"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let Some(dash) = dash else {
        eprintln!("skipping: no dash");
        return;
    };
    let d = Bin::start(&["--cgroup-root", &root.arg(), "--test-session-shell", dash]);
    d.session("s").await;
    d.call(
        Method::POST,
        "/process/session/s/exec",
        Some(json!({"command": "export KEPT=yes; cd /tmp"})),
    )
    .await;
    for run_async in [true, false] {
        let marker = unique_seconds();
        let pidfile = d.pidfile(&format!("escapee-{run_async}"));
        let command = format!("{}; sleep {marker}", escapee(&marker, &pidfile));
        let run = d.daemon.call(
            Method::POST,
            "/process/session/s/exec",
            Some(json!({"command": command, "runAsync": run_async})),
        );
        let kill = async {
            let p = started(&pidfile).await;
            let cg = p.cgroup().expect("cgroup");
            let s = d.call(Method::GET, "/process/session/s", None).await;
            let cid = s["commands"]
                .as_array()
                .expect("commands")
                .iter()
                .find(|c| c["exitCode"].is_null())
                .and_then(|c| c["id"].as_str())
                .expect("the running command")
                .to_owned();
            assert!(
                cg.ends_with(&format!("/{cid}")),
                "async={run_async}: the escapee is not in its command's cgroup: {cg}"
            );
            d.call(
                Method::POST,
                &format!("/process/session/s/command/{cid}/signal"),
                Some(json!({"signal": "KILL"})),
            )
            .await;
            p
        };
        let ((status, v), p) = tokio::join!(run, kill);
        assert!((200..300).contains(&status), "{status} {v}");
        dies(p, &format!("dash session command kill (async={run_async})")).await;
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
