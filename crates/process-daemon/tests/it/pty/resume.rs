//! Resume at an output offset (issue 13 item 6).

use super::*;

#[tokio::test]
async fn connect_with_an_offset_resumes_exactly_there() {
    let d = TestDaemon::start().await;
    let mut c = PtyClient::create(d.addr, "id=resume&cols=200").await;
    c.send(b"for i in $(seq 1 3000); do echo L$i; done; echo DONE\"\"-MARK\n")
        .await;
    c.read_until("DONE-MARK").await;
    let full = c.output.clone();
    c.disconnect().await;
    let k = full.len() / 2;
    let path = format!("/process/pty/resume/connect?offset={k}");
    let (mut r, _) = ws_connect(d.addr, &path, &[EXIT_CONTROL]).await.unwrap();
    r.expect_connected().await;
    r.read_until("DONE-MARK").await;
    assert!(
        r.output.len() >= full.len() - k && r.output[..full.len() - k] == full[k..],
        "the resumed output does not continue at byte {k}"
    );
    drop(r);
    // Beyond the end: a clear error, not a silent gap.
    let path = format!("/process/pty/resume/connect?offset={}", full.len() * 10);
    let (mut bad, _) = ws_connect(d.addr, &path, &[EXIT_CONTROL]).await.unwrap();
    let (code, reason) = bad.read_to_close().await;
    assert_eq!(code, 1011, "{reason}");
    assert!(reason.contains("outside the scrollback"), "{reason}");
    let (status, _) = http(d.addr, "DELETE", "/process/pty/resume", None).await;
    assert_eq!(status, 200);
}
