//! The embedded daemon changes no process-wide state: the host application's own children
//! stay its own (no subreaper, no orphan reaper stealing their statuses).

use std::time::Duration;

/// An app using `Client::embedded()` spawns a child itself, lets it exit, waits 2 s (longer than
/// the orphan reaper's 1 s grace plus its 200 ms scan, were it running) and still gets the exit
/// status.
#[tokio::test(flavor = "multi_thread")]
async fn an_embedded_client_leaves_the_hosts_children_alone() {
    let client = process::Client::embedded().await.expect("embedded daemon");
    let r = client.exec("echo up").await.expect("exec");
    assert_eq!(r.exit_code, 0);

    let mut child = std::process::Command::new("sh")
        .args(["-c", "exit 7"])
        .spawn()
        .expect("spawn");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let status = child
        .wait()
        .expect("the host's own child was reaped by someone else");
    assert_eq!(status.code(), Some(7));
}
