//! Running code: state per context, isolation, timeouts and interrupts, fd-level output,
//! errors, envs, queueing.

use super::*;

#[tokio::test]
async fn state_persists_in_the_default_context_and_frames_have_all_keys() {
    let d = TestDaemon::start().await;
    let first = run_code(&d, "x = 41").await;
    assert_completed(&first);
    assert!(first.errors().is_empty());
    let second = run_code(&d, "print(x + 1)").await;
    assert_completed(&second);
    assert_eq!(second.stdout(), "42\n");
    for frame in &second.frames {
        for key in ["type", "text", "name", "value", "traceback"] {
            assert!(
                frame.get(key).is_some_and(Value::is_string),
                "{key} missing in {frame}"
            );
        }
    }
    assert_eq!(second.frames.last().unwrap()["type"], "control");
    d.daemon.shutdown().await;
}

#[tokio::test]
async fn contexts_are_isolated() {
    let d = TestDaemon::start().await;
    let a = create_context(&d, json!({})).await;
    let b = create_context(&d, json!({"language": "python"})).await;
    assert_completed(&run_in(&d, &a, "secret = 'a'").await);
    let in_b = run_in(&d, &b, "print(secret)").await;
    assert_completed(&in_b);
    let err = in_b.errors();
    assert_eq!(err.len(), 1);
    assert_eq!(err[0]["name"], "NameError");
    let in_default = run_code(&d, "print('secret' in globals())").await;
    assert_eq!(in_default.stdout(), "False\n");
    assert_eq!(run_in(&d, &a, "print(secret)").await.stdout(), "a\n");
    d.daemon.shutdown().await;
}

#[tokio::test]
async fn timeout_interrupts_and_the_context_keeps_its_state() {
    let d = TestDaemon::start().await;
    let ctx = create_context(&d, json!({})).await;
    assert_completed(&run_in(&d, &ctx, "kept = 7").await);
    let timed_out = run_json(
        &d,
        json!({"code": "import time\nprint('start', flush=True)\ntime.sleep(30)", "contextId": ctx, "timeout": 1}),
    )
    .await;
    assert_eq!(timed_out.stdout(), "start\n");
    assert_eq!(timed_out.control(), Some("interrupted"));
    assert_eq!(timed_out.code(), 4008);
    assert!(timed_out.errors().is_empty(), "{timed_out:?}");
    let after = run_in(&d, &ctx, "print(kept)").await;
    assert_completed(&after);
    assert_eq!(after.stdout(), "7\n");
    d.daemon.shutdown().await;
}

#[tokio::test]
async fn a_hang_that_ignores_the_interrupt_is_killed_and_the_context_restarts() {
    let d = TestDaemon::start().await;
    let ctx = create_context(&d, json!({})).await;
    assert_completed(&run_in(&d, &ctx, "import os\nold_pid = os.getpid()\nprint(old_pid)").await);
    let code = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nprint('hang', flush=True)\nwhile True:\n    pass";
    let started = std::time::Instant::now();
    let killed = run_json(&d, json!({"code": code, "contextId": ctx, "timeout": 1})).await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "kill took too long"
    );
    assert_eq!(killed.stdout(), "hang\n");
    assert_eq!(killed.code(), 4008);
    assert_eq!(killed.control(), Some("interrupted"));
    let errors = killed.errors();
    assert_eq!(errors.len(), 1, "{killed:?}");
    assert_eq!(errors[0]["name"], "ContextRestarted");
    assert!(errors[0]["value"].as_str().unwrap().contains("lost"));
    // The next run works, in a fresh worker: the old state is gone.
    let fresh = run_in(&d, &ctx, "print('old_pid' in globals())").await;
    assert_completed(&fresh);
    assert_eq!(fresh.stdout(), "False\n");
    d.daemon.shutdown().await;
}

#[tokio::test]
async fn fd_level_output_of_subprocesses_arrives_in_order() {
    let d = TestDaemon::start().await;
    let code =
        "print('a')\nimport os, subprocess\nos.system('echo b')\nsubprocess.run(['echo', 'c'])\n\
                print('d', end='')\nos.system('printf e')\nos.system('echo oops >&2')\n\
                import ctypes\nlibc = ctypes.CDLL(None)\nlibc.write(1, b'f\\n', 2)";
    let run = run_code(&d, code).await;
    assert_completed(&run);
    assert_eq!(run.stdout(), "a\nb\nc\ndef\n");
    assert_eq!(run.stderr(), "oops\n");
    d.daemon.shutdown().await;
}

#[tokio::test]
async fn ten_mib_without_a_newline_arrives_complete_in_small_frames() {
    let d = TestDaemon::start().await;
    let run = run_code(&d, "import sys\nsys.stdout.write('x' * (10 * 1024 * 1024))").await;
    assert_completed(&run);
    let out = run.stdout();
    assert_eq!(out.len(), 10 * 1024 * 1024);
    assert!(out.bytes().all(|b| b == b'x'));
    assert!(
        run.sizes.iter().all(|&s| s < 1024 * 1024),
        "a frame exceeds 1 MiB"
    );
    d.daemon.shutdown().await;
}

#[tokio::test]
async fn multibyte_characters_are_never_split() {
    let d = TestDaemon::start().await;
    let run = run_code(&d, "import sys\nsys.stdout.write('é€😀' * 100000)").await;
    assert_completed(&run);
    assert_eq!(run.stdout(), "é€😀".repeat(100_000));
    d.daemon.shutdown().await;
}

#[tokio::test]
async fn errors_carry_name_value_and_a_user_only_traceback() {
    let d = TestDaemon::start().await;
    let run = run_code(
        &d,
        "print('before')\ndef f():\n    raise ValueError('bad')\nf()",
    )
    .await;
    assert_completed(&run);
    assert_eq!(run.stdout(), "before\n");
    let errors = run.errors();
    assert_eq!(errors.len(), 1);
    let e = errors[0];
    assert_eq!(e["name"], "ValueError");
    assert_eq!(e["value"], "bad");
    let tb = e["traceback"].as_str().unwrap();
    assert!(tb.starts_with("Traceback (most recent call last):"), "{tb}");
    assert!(tb.contains("line 4, in <module>"), "{tb}");
    assert!(tb.contains("raise ValueError('bad')"), "{tb}");
    assert!(tb.ends_with("ValueError: bad\n"), "{tb}");
    assert!(!tb.contains("<string>"), "worker frames leaked: {tb}");
    // The error frame comes after the output and before the control frame.
    let kinds: Vec<&str> = run
        .frames
        .iter()
        .map(|f| f["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["stdout", "error", "control"]);

    let syntax = run_code(&d, "x = (").await;
    assert_completed(&syntax);
    assert_eq!(syntax.errors()[0]["name"], "SyntaxError");
    d.daemon.shutdown().await;
}

#[tokio::test]
async fn keyboard_interrupt_raised_by_code_is_an_error_not_a_timeout() {
    let d = TestDaemon::start().await;
    let run = run_code(&d, "raise KeyboardInterrupt").await;
    assert_completed(&run);
    assert_eq!(run.errors()[0]["name"], "KeyboardInterrupt");
    let exit = run_code(&d, "import sys\nsys.exit(3)").await;
    assert_completed(&exit);
    assert!(exit.errors().is_empty());
    d.daemon.shutdown().await;
}

#[tokio::test]
async fn envs_apply_to_one_run_and_are_restored() {
    let d = TestDaemon::start().await;
    let code = "import os\nprint(os.environ.get('PROCESSD_IT_VAR'))\nos.system('echo sub=$PROCESSD_IT_VAR')";
    let with = run_json(&d, json!({"code": code, "envs": {"PROCESSD_IT_VAR": "on"}})).await;
    assert_completed(&with);
    assert_eq!(with.stdout(), "on\nsub=on\n");
    let without = run_code(&d, code).await;
    assert_eq!(without.stdout(), "None\nsub=\n");
    d.daemon.shutdown().await;
}

#[tokio::test]
async fn runs_of_one_context_queue_in_order() {
    let d = TestDaemon::start().await;
    let ctx = create_context(&d, json!({})).await;
    let (mut first, _) = connect(&d, None).await;
    let code = "import time\nprint('started', flush=True)\ntime.sleep(1)\norder = ['first']";
    first
        .write_frame(Frame::text(Payload::Owned(
            json!({"code": code, "contextId": ctx})
                .to_string()
                .into_bytes(),
        )))
        .await
        .unwrap();
    // Wait until the first run is executing, then queue the second.
    let frame = tokio::time::timeout(RUN_LIMIT, first.read_frame())
        .await
        .unwrap()
        .unwrap();
    let v: Value = serde_json::from_slice(&frame.payload).unwrap();
    assert_eq!(v["text"], "started\n");
    let second = tokio::spawn({
        let ctx = ctx.clone();
        let addr = d.addr;
        async move {
            let d2 = AddrOnly(addr);
            d2.run(json!({"code": "order.append('second')\nprint(order)", "contextId": ctx}))
                .await
        }
    });
    let rest = collect(&mut first, |_| {}).await;
    assert_completed(&rest);
    let second = second.await.unwrap();
    assert_completed(&second);
    assert_eq!(second.stdout(), "['first', 'second']\n");
    d.daemon.shutdown().await;
}

/// A daemon address usable from a spawned task.
struct AddrOnly(std::net::SocketAddr);

impl AddrOnly {
    async fn run(&self, request: Value) -> Run {
        let (mut ws, _) = connect_at(self.0, None).await;
        ws.write_frame(Frame::text(Payload::Owned(
            request.to_string().into_bytes(),
        )))
        .await
        .unwrap();
        collect(&mut ws, |_| {}).await
    }
}
