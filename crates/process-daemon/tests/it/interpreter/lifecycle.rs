//! Workers and clients coming and going: a dying worker, a deleted context, a client that
//! leaves, leftovers between runs, a Python that cannot start, dedented code.

use super::*;

#[tokio::test]
async fn a_worker_that_dies_is_reported_and_replaced() {
    let d = TestDaemon::start().await;
    let ctx = create_context(&d, json!({})).await;
    assert_completed(&run_in(&d, &ctx, "v = 1").await);
    let died = run_in(&d, &ctx, "import os\nprint('bye', flush=True)\nos._exit(3)").await;
    assert_eq!(died.stdout(), "bye\n");
    assert_eq!(died.close, Some((1001, "worker process ended".into())));
    assert_eq!(died.errors()[0]["name"], "WorkerExited");
    let next = run_in(&d, &ctx, "print('v' in globals())").await;
    assert_completed(&next);
    assert_eq!(next.stdout(), "False\n");
    d.daemon.shutdown().await;
}

#[tokio::test]
async fn deleting_a_context_closes_its_running_client() {
    let d = TestDaemon::start().await;
    let ctx = create_context(&d, json!({})).await;
    let mut ws = start_in(
        &d,
        &ctx,
        "import time\nprint('running', flush=True)\ntime.sleep(60)",
    )
    .await;
    let (status, _) = call(
        &d,
        Method::DELETE,
        &format!("/process/interpreter/context/{ctx}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let run = collect(&mut ws, |_| {}).await;
    assert_eq!(run.close, Some((1001, "context shutdown".into())));
    d.daemon.shutdown().await;
}

#[tokio::test]
async fn a_run_continues_when_its_client_leaves_and_the_context_stays_usable() {
    let d = TestDaemon::start().await;
    let ctx = create_context(&d, json!({})).await;
    let ws = start_in(&d, &ctx, "import time\nprint('started', flush=True)\ntime.sleep(1)\nprint('x' * 100000)\nfinished = True").await;
    drop(ws); // the client goes away mid-run
    let next = run_in(&d, &ctx, "print(finished)").await;
    assert_completed(&next);
    assert_eq!(next.stdout(), "True\n");
    d.daemon.shutdown().await;
}

#[tokio::test]
async fn output_written_after_a_run_ended_does_not_leak_into_the_next_run() {
    let d = TestDaemon::start().await;
    let ctx = create_context(&d, json!({})).await;
    let flag = d.workdir.path().join("late-written");
    let code = format!(
        "import threading, time\ndef late():\n    time.sleep(0.3)\n    print('late', flush=True)\n    open({flag:?}, 'w').close()\n\
         threading.Thread(target=late).start()\nprint('now')",
        flag = flag.to_string_lossy()
    );
    let first = run_in(&d, &ctx, &code).await;
    assert_completed(&first);
    assert_eq!(first.stdout(), "now\n");
    // Wait (bounded) until the thread has written its late line between the runs.
    for _ in 0..1000 {
        if flag.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(flag.exists(), "the background thread never ran");
    let second = run_in(&d, &ctx, "print('next')").await;
    assert_eq!(second.stdout(), "next\n");
    d.daemon.shutdown().await;
}

#[tokio::test]
async fn fds_the_code_closes_or_redirects_are_restored_for_the_next_run() {
    let d = TestDaemon::start().await;
    let ctx = create_context(&d, json!({})).await;
    let closed = run_in(&d, &ctx, "import os\nos.close(1)\nprint('lost')").await;
    assert_completed(&closed);
    assert_eq!(closed.errors()[0]["name"], "OSError");
    let code = "import os\nfd = os.open(os.devnull, os.O_WRONLY)\nos.dup2(fd, 2)\nos.system('echo hidden >&2')";
    assert_completed(&run_in(&d, &ctx, code).await);
    let back = run_in(
        &d,
        &ctx,
        "import sys, os\nprint('back')\nos.system('echo err >&2')",
    )
    .await;
    assert_completed(&back);
    assert_eq!(back.stdout(), "back\n");
    assert_eq!(back.stderr(), "err\n");
    d.daemon.shutdown().await;
}

#[tokio::test]
async fn a_python_that_cannot_start_is_reported() {
    let d = TestDaemon::start_with(|c| c.python = Some("/nonexistent/python3".into())).await;
    let run = run_code(&d, "print(1)").await;
    assert_eq!(run.code(), 1011, "{run:?}");
    assert!(run
        .close
        .as_ref()
        .unwrap()
        .1
        .starts_with("failed to start the Python worker"));
    assert_eq!(run.errors()[0]["name"], "WorkerStartError");
    assert!(run.errors()[0]["value"]
        .as_str()
        .unwrap()
        .contains("/nonexistent/python3"));
    let (status, err) = call(
        &d,
        Method::POST,
        "/process/interpreter/context",
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/python3"),
        "{err}"
    );
    d.daemon.shutdown().await;
}

#[tokio::test]
async fn uniformly_indented_code_runs_dedented_and_valid_code_is_untouched() {
    let d = TestDaemon::start().await;
    // The seed's snippet (001_33f4345e71fa771b.txt) as printed inside `'''…'''`.
    let run = run_code(
        &d,
        "\n    x = 10\n    y = 20\n    print(f\"Sum: {x + y}\")\n",
    )
    .await;
    assert_completed(&run);
    assert!(run.errors().is_empty(), "{run:?}");
    assert_eq!(run.stdout(), "Sum: 30\n");
    // State from the dedented run persists, and valid code keeps its indented string content.
    let run = run_code(&d, "s = '''\n    kept\n'''\nprint(repr(s), x)").await;
    assert_completed(&run);
    assert_eq!(run.stdout(), "'\\n    kept\\n' 10\n");
    d.daemon.shutdown().await;
}
