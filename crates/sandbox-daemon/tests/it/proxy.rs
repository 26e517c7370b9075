//! The toolbox proxy through the Rust client (`process::Sandboxes`): exec, sessions with log
//! following (WebSocket), PTYs (WebSocket), streamed request bodies, auth headers, and the file
//! system and git (`Sandbox::fs()`, `Sandbox::git()`).

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

/// `Sandbox::fs()` and `Sandbox::git()` through the proxy on a runc sandbox: a streamed
/// upload and download that come back identical, the listing/search/replace/move/delete
/// calls, a not-found error with its kind, and clone → commit → push → branches against a
/// bare repository inside the sandbox (`file://`).
#[tokio::test]
async fn fs_and_git_through_the_proxy() {
    require_sandboxes!();
    let s = Server::runc().await;
    let sandboxes = Sandboxes::connect(&s.api, KEY).unwrap();
    let sb = sandboxes.create(CreateSandboxParams::new()).await.unwrap();
    let fs = sb.fs();
    fs.create_folder("data", "755").await.unwrap();
    let big: Vec<u8> = (0..8u32 << 20).map(|i| (i % 251) as u8).collect();
    let up = fs.upload_file(big.clone(), "data/big.bin").await.unwrap();
    assert_eq!(up.bytes, 8 << 20);
    fs.upload_file(&b"hello needle\nsecond\n"[..], "data/a.txt")
        .await
        .unwrap();
    assert!(fs.download_file("data/big.bin").await.unwrap() == big);
    assert_eq!(
        fs.get_file_info("data/big.bin").await.unwrap().size,
        8 << 20
    );
    let mut names: Vec<String> = fs
        .list_files("data")
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
    names.sort();
    assert_eq!(names, ["a.txt", "big.bin"]);
    let found = fs.find_files("data", "needle").await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0].line, found[0].content.as_str()),
        (1, "hello needle")
    );
    let searched = fs.search_files("data", "*.txt").await.unwrap();
    assert!(
        searched.len() == 1 && searched[0].ends_with("data/a.txt"),
        "{searched:?}"
    );
    let replaced = fs
        .replace_in_files(&["data/a.txt"], "needle", "pin")
        .await
        .unwrap();
    assert!(replaced[0].success, "{replaced:?}");
    fs.move_files("data/a.txt", "data/b.txt").await.unwrap();
    assert_eq!(
        &fs.download_file("data/b.txt").await.unwrap()[..],
        b"hello pin\nsecond\n"
    );
    fs.delete_file("data/big.bin", false).await.unwrap();
    let gone = fs.download_file("data/big.bin").await.unwrap_err();
    assert!(gone.is_not_found(), "{gone}");

    // git: a bare remote inside the sandbox, cloned, committed to, pushed back.
    let seeded = sb
        .process()
        .exec(
            "set -e; git init -q -b main /tmp/seed; cd /tmp/seed; echo one > one.txt; git add .; \
             git -c user.name=t -c user.email=t@example.com commit -qm init; \
             git clone -q --bare /tmp/seed /tmp/remote.git; echo ok",
        )
        .await
        .unwrap();
    assert_eq!(seeded.result, "ok\n", "{seeded:?}");
    let git = sb.git();
    git.clone(
        "file:///tmp/remote.git",
        "repo",
        process::CloneOptions::default(),
    )
    .await
    .unwrap();
    fs.upload_file(&b"two\n"[..], "repo/two.txt").await.unwrap();
    let st = git.status("repo").await.unwrap();
    assert_eq!(st.current_branch, "main");
    assert!(st.file_status.iter().any(|f| f.name == "two.txt"), "{st:?}");
    git.add("repo", &["two.txt"]).await.unwrap();
    let hash = git
        .commit("repo", "add two", "Ann", "ann@example.com")
        .await
        .unwrap();
    assert!(!hash.is_empty());
    git.push("repo", None).await.unwrap();
    let log = sb
        .process()
        .exec("git -C /tmp/remote.git log -1 --format=%s/%an")
        .await
        .unwrap();
    assert_eq!(log.result, "add two/Ann\n");
    git.create_branch("repo", "feature").await.unwrap();
    let br = git.branches("repo").await.unwrap();
    assert!(br.branches.iter().any(|b| b == "feature"), "{br:?}");
    git.checkout_branch("repo", "main").await.unwrap();
    git.delete_branch("repo", "feature").await.unwrap();
    assert_eq!(git.branches("repo").await.unwrap().branches, ["main"]);
    sandboxes.delete(&sb).await.unwrap();
}
