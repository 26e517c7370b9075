//! Input checks of issue 13: a whitespace-only token is refused at startup (item 4); a PTY
//! cannot be resized to 0×0 (item 5).

use std::process::Command;

use serde_json::json;

use crate::pty::{http, PtyClient};
use crate::support::TestDaemon;

#[test]
fn a_whitespace_only_token_is_refused() {
    for listen in ["0.0.0.0:0", "127.0.0.1:0"] {
        let out = Command::new(env!("CARGO_BIN_EXE_processd"))
            .args(["--listen", listen, "--token", "   "])
            .output()
            .expect("run processd");
        assert_eq!(out.status.code(), Some(2), "{listen}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("only whitespace"), "{err}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_processd"))
        .args(["--listen", "0.0.0.0:0"])
        .env("PROCESSD_TOKEN", "\t \n")
        .output()
        .expect("run processd");
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn resizing_a_pty_to_zero_is_a_bad_request() {
    let d = TestDaemon::start().await;
    let _c = PtyClient::create(d.addr, "id=zero").await;
    for (cols, rows) in [(0, 0), (0, 24), (80, 0)] {
        let (status, body) = http(
            d.addr,
            "POST",
            "/process/pty/zero/resize",
            Some(json!({"cols": cols, "rows": rows})),
        )
        .await;
        assert_eq!(status, 400, "{cols}x{rows}: {body}");
        assert!(body.to_string().contains("at least 1"), "{body}");
    }
    let (status, info) = http(
        d.addr,
        "POST",
        "/process/pty/zero/resize",
        Some(json!({"cols": 100, "rows": 30})),
    )
    .await;
    assert_eq!(status, 200, "{info}");
    let (_, info) = http(d.addr, "GET", "/process/pty/zero", None).await;
    assert_eq!(
        (info["cols"].as_u64(), info["rows"].as_u64()),
        (Some(100), Some(30))
    );
    http(d.addr, "DELETE", "/process/pty/zero", None).await;
}
