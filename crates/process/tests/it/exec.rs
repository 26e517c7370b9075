//! `exec`: output, exit codes, cwd, environment, timeouts.

use std::time::Duration;

use crate::support::{Fixture, Kind};

crate::both_transports!(
    echo_and_exit_code,
    cwd_and_env_apply,
    timeout_kills_and_reports,
    missing_cwd_is_exit_minus_one,
    large_output_arrives_whole,
    split_output_returns_stdout_and_stderr_apart,
    exit_status_and_split_streams_are_typed,
    truncated_output_reports_the_total,
    timed_out_run_keeps_partial_output_and_exit_code,
);

async fn echo_and_exit_code(kind: Kind) {
    let f = Fixture::start(kind).await;
    let r = f
        .client
        .exec("echo 'Hello'; echo oops >&2; exit 3")
        .await
        .unwrap();
    assert_eq!(r.exit_code, 3);
    assert!(
        r.result.contains("Hello\n") && r.result.contains("oops\n"),
        "{r:?}"
    );
    assert_eq!(r.artifacts.stdout, r.result);
    assert!(r.artifacts.charts.is_empty());
}

async fn cwd_and_env_apply(kind: Kind) {
    let f = Fixture::start(kind).await;
    std::fs::create_dir_all(f.workdir.path().join("workspace/src")).unwrap();
    let r = f
        .client
        .exec("pwd; echo \"$GREETING $WHO\"")
        .cwd("workspace/src")
        .env("GREETING", "hello")
        .envs([("WHO", "world")])
        .await
        .unwrap();
    assert_eq!(r.exit_code, 0);
    let want = format!(
        "{}\nhello world\n",
        f.workdir().join("workspace/src").display()
    );
    assert_eq!(r.result, want);
}

async fn timeout_kills_and_reports(kind: Kind) {
    let f = Fixture::start(kind).await;
    let err = f
        .client
        .exec("echo before; sleep 10")
        .timeout(Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(err.status(), Some(408));
    assert!(err.to_string().contains("timeout of 1s"), "{err}");
    // Our daemon keeps what the command wrote before it was killed.
    assert_eq!(err.partial_output(), Some("before\n"), "{err:?}");
}

async fn missing_cwd_is_exit_minus_one(kind: Kind) {
    let f = Fixture::start(kind).await;
    let r = f.client.exec("true").cwd("/no/such/dir").await.unwrap();
    assert_eq!(r.exit_code, -1, "{r:?}");
}

async fn large_output_arrives_whole(kind: Kind) {
    let f = Fixture::start(kind).await;
    // 2 MB of output: many reads on the daemon, one response body on the client.
    let r = f
        .client
        .exec("head -c 2000000 /dev/zero | tr '\\0' 'x'")
        .await
        .unwrap();
    assert_eq!(r.result.len(), 2_000_000);
    assert!(r.result.bytes().all(|b| b == b'x'));
}

async fn split_output_returns_stdout_and_stderr_apart(kind: Kind) {
    let f = Fixture::start(kind).await;
    let r = f
        .client
        .exec("echo out; echo err >&2; exit 2")
        .split_output(true)
        .await
        .unwrap();
    assert_eq!(r.exit_code, 2);
    let split = r.split.expect("split output");
    assert_eq!(
        (split.stdout.as_str(), split.stderr.as_str()),
        ("out\n", "err\n")
    );
    // Without asking, there is none.
    let r = f.client.exec("echo out").await.unwrap();
    assert!(r.split.is_none(), "{r:?}");
}

async fn exit_status_and_split_streams_are_typed(kind: Kind) {
    let f = Fixture::start(kind).await;
    let r = f
        .client
        .exec("echo out; echo err >&2; exit 3")
        .split_output(true)
        .await
        .unwrap();
    assert_eq!(r.status().code(), 3);
    assert!(!r.status().success());
    assert_eq!(r.status().signal(), None);
    assert_eq!((r.stdout(), r.stderr()), (Some("out\n"), Some("err\n")));
    assert!(!r.truncated, "{r:?}");
    // A shell killed by a signal reports 128 + n.
    let r = f.client.exec("kill -TERM $$").await.unwrap();
    assert_eq!(r.status().signal(), Some(15), "{r:?}");
    let r = f.client.exec("true").await.unwrap();
    assert!(r.status().success());
    assert_eq!((r.stdout(), r.stderr()), (None, None));
}

async fn truncated_output_reports_the_total(kind: Kind) {
    let f = Fixture::start_with(kind, |c| c.max_output_bytes = 1000).await;
    let r = f
        .client
        .exec("head -c 5000 /dev/zero | tr '\\0' 'x'")
        .await
        .unwrap();
    assert!(r.truncated, "{r:?}");
    assert_eq!(r.total_bytes, Some(5000), "{r:?}");
    assert!(r.result.len() < 5000, "{}", r.result.len());
}

async fn timed_out_run_keeps_partial_output_and_exit_code(kind: Kind) {
    let f = Fixture::start(kind).await;
    let err = f
        .client
        .exec("echo before; echo oops >&2; sleep 10")
        .split_output(true)
        .timeout(Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    let run = err.partial_run().expect("the 408 carries the partial run");
    assert_eq!(
        (run.stdout(), run.stderr()),
        (Some("before\n"), Some("oops\n")),
        "{run:?}"
    );
    // The daemon killed the group: no clean exit.
    assert!(!run.status().success(), "{run:?}");
    assert_eq!(
        run.exit_code,
        err.response().and_then(|r| r.exit_code).unwrap()
    );
    assert!(!run.truncated);
}
