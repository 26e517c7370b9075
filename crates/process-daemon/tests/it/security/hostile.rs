//! Hostile ids and values never reach a shell as code.

use super::*;

#[tokio::test]
async fn hostile_ids_and_values_never_reach_a_shell_as_code() {
    let d = TestDaemon::start().await;
    let canary = d.workdir.path().join("canary");
    let touch = format!("touch {}", canary.display());
    let hostile = [
        format!("$({touch})"),
        format!("`{touch}`"),
        format!("'; {touch}; '"),
        format!("\"; {touch}; \""),
        format!("x\n{touch}\n"),
        format!("${{IFS}}{touch}"),
        "*".to_owned(),
        "a b".to_owned(),
    ];
    for (i, value) in hostile.iter().enumerate() {
        // As a session id (accepted or refused with 400, never 500), used everywhere.
        let r = d
            .post("/process/session", &json!({ "sessionId": value }))
            .await;
        assert!(
            r.status == StatusCode::CREATED || r.status == StatusCode::BAD_REQUEST,
            "{value:?}: {}",
            r.status
        );
        if r.status == StatusCode::CREATED {
            let enc =
                percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC)
                    .to_string();
            let out = d
                .post(
                    &format!("/process/session/{enc}/exec"),
                    &json!({"command": "echo ok"}),
                )
                .await;
            assert_eq!(out.json()["stdout"], "ok\n", "{value:?}");
            assert_eq!(
                d.delete(&format!("/process/session/{enc}")).await.status,
                StatusCode::NO_CONTENT
            );
        }
        // As an env value and a code-run argument: arrives byte-exact.
        let r = d
            .post(
                "/process/execute",
                &json!({"command": "printf %s \"$V\"", "envs": {"V": value}}),
            )
            .await;
        assert_eq!(
            r.json()["result"].as_str(),
            Some(value.as_str()),
            "case {i}"
        );
        let r = d
            .post(
                "/process/code-run",
                &json!({"code": "console.log(process.argv[1])", "language": "javascript", "argv": [value]}),
            )
            .await;
        assert_eq!(
            r.json()["result"].as_str(),
            Some(format!("{value}\n").as_str()),
            "case {i}"
        );
        // As a cwd: an error, not an execution.
        let r = d
            .post(
                "/process/execute",
                &json!({"command": "true", "cwd": value}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!canary.exists(), "a hostile value was executed");
    d.stop().await;
}
