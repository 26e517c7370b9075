//! Interpreter contexts (spec §7): REST, the execute WebSocket, workers, timeouts, output capture.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use fastwebsockets::{Frame, OpCode, Payload, WebSocket};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

use crate::support::TestDaemon;

/// Bound on any single run in these tests (detects hangs, not a timing assertion).
const RUN_LIMIT: Duration = Duration::from_mins(1);

struct SpawnExecutor;

impl<Fut> hyper::rt::Executor<Fut> for SpawnExecutor
where
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    fn execute(&self, fut: Fut) {
        tokio::spawn(fut);
    }
}

/// A REST call; returns the status and the JSON body (`Null` if empty or not JSON).
async fn call(
    d: &TestDaemon,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let stream = tokio::net::TcpStream::connect(d.addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let body = body.map_or_else(Bytes::new, |v| Bytes::from(v.to_string()));
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", d.addr.to_string())
        .header("content-type", "application/json")
        .body(Full::new(body))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn create_context(d: &TestDaemon, body: Value) -> String {
    let (status, ctx) = call(d, Method::POST, "/process/interpreter/context", Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{ctx}");
    ctx["id"].as_str().unwrap().to_owned()
}

/// Opens the execute socket, offering `protocols` (comma-joined) if any.
async fn connect(
    d: &TestDaemon,
    protocols: Option<&str>,
) -> (
    WebSocket<TokioIo<Upgraded>>,
    http::Response<hyper::body::Incoming>,
) {
    let stream = tokio::net::TcpStream::connect(d.addr).await.unwrap();
    let mut req = Request::builder()
        .method("GET")
        .uri(format!("http://{}/process/interpreter/execute", d.addr))
        .header("host", d.addr.to_string())
        .header("upgrade", "websocket")
        .header("connection", "upgrade")
        .header(
            "sec-websocket-key",
            fastwebsockets::handshake::generate_key(),
        )
        .header("sec-websocket-version", "13");
    if let Some(p) = protocols {
        req = req.header("sec-websocket-protocol", p);
    }
    let req = req.body(Empty::<Bytes>::new()).unwrap();
    let (mut ws, resp) = fastwebsockets::handshake::client(&SpawnExecutor, req, stream)
        .await
        .unwrap();
    ws.set_auto_close(true);
    (ws, resp)
}

/// Everything a run produced.
#[derive(Debug, Default)]
struct Run {
    frames: Vec<Value>,
    /// Sizes of the text frames' payloads.
    sizes: Vec<usize>,
    close: Option<(u16, String)>,
}

impl Run {
    fn text(&self, kind: &str) -> String {
        self.frames
            .iter()
            .filter(|f| f["type"] == kind)
            .map(|f| f["text"].as_str().unwrap())
            .collect()
    }
    fn stdout(&self) -> String {
        self.text("stdout")
    }
    fn stderr(&self) -> String {
        self.text("stderr")
    }
    fn errors(&self) -> Vec<&Value> {
        self.frames
            .iter()
            .filter(|f| f["type"] == "error")
            .collect()
    }
    fn control(&self) -> Option<&str> {
        self.frames
            .iter()
            .rev()
            .find(|f| f["type"] == "control")
            .and_then(|f| f["text"].as_str())
    }
    fn code(&self) -> u16 {
        self.close.as_ref().map_or(0, |c| c.0)
    }
}

/// Reads frames until the daemon closes; `on_frame` sees each text frame as it arrives.
async fn collect(ws: &mut WebSocket<TokioIo<Upgraded>>, mut on_frame: impl FnMut(&Value)) -> Run {
    let mut run = Run::default();
    let read = async {
        loop {
            let Ok(frame) = ws.read_frame().await else {
                break;
            };
            match frame.opcode {
                OpCode::Text => {
                    run.sizes.push(frame.payload.len());
                    let v: Value = serde_json::from_slice(&frame.payload).unwrap();
                    on_frame(&v);
                    run.frames.push(v);
                }
                OpCode::Close => {
                    let p = &frame.payload;
                    let code = if p.len() >= 2 {
                        u16::from_be_bytes([p[0], p[1]])
                    } else {
                        0
                    };
                    let reason =
                        String::from_utf8_lossy(p.get(2..).unwrap_or_default()).into_owned();
                    run.close = Some((code, reason));
                    break;
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(RUN_LIMIT, read)
        .await
        .expect("run did not finish in time");
    run
}

/// Sends `request` as the first message and collects the run.
async fn run_json(d: &TestDaemon, request: Value) -> Run {
    let (mut ws, _) = connect(d, None).await;
    ws.write_frame(Frame::text(Payload::Owned(
        request.to_string().into_bytes(),
    )))
    .await
    .unwrap();
    collect(&mut ws, |_| {}).await
}

async fn run_code(d: &TestDaemon, code: &str) -> Run {
    run_json(d, json!({ "code": code })).await
}

async fn run_in(d: &TestDaemon, ctx: &str, code: &str) -> Run {
    run_json(d, json!({ "code": code, "contextId": ctx })).await
}

fn assert_completed(run: &Run) {
    assert_eq!(run.control(), Some("completed"), "{run:?}");
    assert_eq!(run.code(), 1000, "{run:?}");
}

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
        let stream = tokio::net::TcpStream::connect(self.0).await.unwrap();
        let req = Request::builder()
            .method("GET")
            .uri(format!("http://{}/process/interpreter/execute", self.0))
            .header("host", self.0.to_string())
            .header("upgrade", "websocket")
            .header("connection", "upgrade")
            .header(
                "sec-websocket-key",
                fastwebsockets::handshake::generate_key(),
            )
            .header("sec-websocket-version", "13")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let (mut ws, _) = fastwebsockets::handshake::client(&SpawnExecutor, req, stream)
            .await
            .unwrap();
        ws.write_frame(Frame::text(Payload::Owned(
            request.to_string().into_bytes(),
        )))
        .await
        .unwrap();
        collect(&mut ws, |_| {}).await
    }
}

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
async fn rest_create_list_delete_and_their_errors() {
    let d = TestDaemon::start().await;
    let path = "/process/interpreter/context";
    // Use the default context so it exists; it must still be hidden from the list.
    assert_completed(&run_code(&d, "pass").await);

    let sub = d.workdir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let (status, ctx) = call(&d, Method::POST, path, Some(json!({"cwd": "sub"}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ctx["language"], "python");
    assert_eq!(ctx["active"], true);
    assert_eq!(ctx["cwd"], sub.to_string_lossy().as_ref());
    assert!(ctx["createdAt"].as_str().unwrap().contains('T'));
    let id = ctx["id"].as_str().unwrap().to_owned();
    assert_eq!(uuid_version(&id), Some(4));
    let cwd_run = run_in(&d, &id, "import os\nprint(os.getcwd())").await;
    assert_eq!(
        cwd_run.stdout().trim(),
        std::fs::canonicalize(&sub).unwrap().to_string_lossy()
    );

    let (status, list) = call(&d, Method::GET, path, None).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = list["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str()]);

    let (status, err) = call(
        &d,
        Method::POST,
        path,
        Some(json!({"language": "javascript"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        err["message"],
        "bad request: unsupported language: javascript (only 'python' is supported currently)"
    );

    let (status, err) = call(&d, Method::POST, path, Some(json!({"cwd": "/no/such/dir"}))).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(err["message"].as_str().unwrap().starts_with(
        "internal server error: failed to start context: failed to start Python worker: chdir /no/such/dir"
    ), "{err}");

    let (status, err) = call(&d, Method::DELETE, &format!("{path}/default"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["message"], "bad request: cannot delete default context");

    let (status, err) = call(&d, Method::DELETE, &format!("{path}/nope"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err["code"], "PROCESS_NOT_FOUND");
    assert_eq!(
        err["message"],
        "not found: context with ID 'nope' not found"
    );

    let (status, ok) = call(&d, Method::DELETE, &format!("{path}/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ok["message"], "Context deleted successfully");
    let (_, list) = call(&d, Method::GET, path, None).await;
    assert_eq!(list["contexts"], json!([]));
    let gone = run_in(&d, &id, "pass").await;
    assert_eq!(gone.close, Some((1008, format!("context not found: {id}"))));
    d.daemon.shutdown().await;
}

fn uuid_version(id: &str) -> Option<u32> {
    let parts: Vec<&str> = id.split('-').collect();
    (parts.len() == 5).then(|| parts[2].chars().next()?.to_digit(16))?
}

#[tokio::test]
async fn validation_failures_close_with_the_documented_codes() {
    let d = TestDaemon::start().await;
    let (mut ws, _) = connect(&d, None).await;
    ws.write_frame(Frame::text(Payload::Owned(b"not json".to_vec())))
        .await
        .unwrap();
    let run = collect(&mut ws, |_| {}).await;
    assert_eq!(run.close, Some((1002, "invalid JSON payload".into())));
    assert!(run.frames.is_empty());

    let run = run_json(&d, json!({"code": ""})).await;
    assert_eq!(run.close, Some((1008, "code is required".into())));
    let run = run_json(&d, json!({"code": "pass", "timeout": -1})).await;
    assert_eq!(
        run.close,
        Some((1008, "timeout must be greater than or equal to 0".into()))
    );
    let run = run_json(&d, json!({"code": "pass", "contextId": "nope"})).await;
    assert_eq!(run.close, Some((1008, "context not found: nope".into())));

    // A plain GET (no upgrade) is a 400.
    let (status, _) = call(&d, Method::GET, "/process/interpreter/execute", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    d.daemon.shutdown().await;
}

#[tokio::test]
async fn the_first_offered_subprotocol_is_echoed() {
    let d = TestDaemon::start().await;
    let (mut ws, resp) = connect(&d, Some("first, second")).await;
    assert_eq!(resp.headers()["sec-websocket-protocol"], "first");
    ws.write_frame(Frame::text(Payload::Owned(
        br#"{"code": "print(1)", "timeout": 0}"#.to_vec(),
    )))
    .await
    .unwrap();
    let run = collect(&mut ws, |_| {}).await;
    assert_completed(&run);
    assert_eq!(run.stdout(), "1\n");
    d.daemon.shutdown().await;
}

#[tokio::test]
async fn deleting_a_context_closes_its_running_client() {
    let d = TestDaemon::start().await;
    let ctx = create_context(&d, json!({})).await;
    let (mut ws, _) = connect(&d, None).await;
    let code = "import time\nprint('running', flush=True)\ntime.sleep(60)";
    ws.write_frame(Frame::text(Payload::Owned(
        json!({"code": code, "contextId": ctx})
            .to_string()
            .into_bytes(),
    )))
    .await
    .unwrap();
    let frame = tokio::time::timeout(RUN_LIMIT, ws.read_frame())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(frame.opcode, OpCode::Text);
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
async fn output_is_streamed_while_the_code_runs() {
    // The code waits for a file the test creates only after it has seen the first output: this
    // finishes only if output is forwarded while the code is still running.
    let d = TestDaemon::start().await;
    let flag = d.workdir.path().join("go");
    let (mut ws, _) = connect(&d, None).await;
    let code = format!(
        "import os, time\nprint('early', flush=True)\nfor _ in range(3000):\n    if os.path.exists({flag:?}):\n        break\n    time.sleep(0.01)\nelse:\n    raise SystemExit('never released')\nprint('late')",
        flag = flag.to_string_lossy()
    );
    ws.write_frame(Frame::text(Payload::Owned(
        json!({"code": code}).to_string().into_bytes(),
    )))
    .await
    .unwrap();
    let mut seen = String::new();
    let run = collect(&mut ws, |f| {
        if f["type"] == "stdout" {
            seen.push_str(f["text"].as_str().unwrap());
            if seen == "early\n" {
                std::fs::write(&flag, b"").unwrap();
            }
        }
    })
    .await;
    assert_completed(&run);
    assert_eq!(run.stdout(), "early\nlate\n");
    assert_eq!(run.stderr(), "");
    d.daemon.shutdown().await;
}

#[tokio::test]
async fn many_small_writes_all_arrive() {
    // Many small prints: every byte must arrive, merged into few frames.
    let d = TestDaemon::start().await;
    let run = run_code(&d, "for i in range(20000):\n    print(i)").await;
    assert_completed(&run);
    let expected: String = (0..20000).fold(String::new(), |mut acc, i| {
        acc.push_str(&i.to_string());
        acc.push('\n');
        acc
    });
    assert_eq!(run.stdout(), expected);
    d.daemon.shutdown().await;
}

/// Whether the daemon's Python can import matplotlib (CI's venv can; a bare system Python may
/// not, and then the chart tests say so and skip).
async fn has_matplotlib(d: &TestDaemon) -> bool {
    let probe = run_code(
        d,
        "import importlib.util\nprint(importlib.util.find_spec('matplotlib') is not None)",
    )
    .await;
    let found = probe.stdout() == "True\n";
    if !found {
        eprintln!(
            "matplotlib is not installed for the daemon's Python: skipping (set PROCESSD_PYTHON)"
        );
    }
    found
}

#[tokio::test]
async fn plt_show_yields_chart_frames_in_place_and_printed_artifacts_are_plain_text() {
    let d = TestDaemon::start().await;
    if !has_matplotlib(&d).await {
        return;
    }
    // The figure is built in one run and shown in the next: the context keeps it.
    let build = "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9], label='sq')\nplt.title('squares')";
    assert_completed(&run_code(&d, build).await);
    let show = "print('before')\nplt.show()\nprint('after')\n\
                print('dtn_artifact_k39fd2:{\"type\": \"chart\", \"value\": {\"type\": \"line\"}}')";
    let run = run_code(&d, show).await;
    assert_completed(&run);
    assert!(run.errors().is_empty(), "{:?}", run.errors());
    let charts: Vec<&Value> = run.frames.iter().filter(|f| f["type"] == "chart").collect();
    assert_eq!(charts.len(), 1, "{run:?}");
    let chart = &charts[0]["chart"];
    assert_eq!(chart["type"], "line");
    assert_eq!(chart["title"], "squares");
    assert_eq!(chart["elements"][0]["label"], "sq");
    assert_eq!(
        chart["elements"][0]["points"],
        json!([[1.0, 1.0], [2.0, 4.0], [3.0, 9.0]])
    );
    let png = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        chart["png"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // The chart sits between the output printed before and after `show()`.
    let position = |pred: &dyn Fn(&Value) -> bool| run.frames.iter().position(pred).unwrap();
    let before = position(&|f| f["text"].as_str().is_some_and(|t| t.contains("before")));
    let chart_at = position(&|f| f["type"] == "chart");
    let after = position(&|f| f["text"].as_str().is_some_and(|t| t.contains("after")));
    assert!(before < chart_at && chart_at < after, "{run:?}");
    // A printed artifact line is just output.
    assert!(run.stdout().contains("dtn_artifact_k39fd2:"));
    // show() closed the figure: showing again yields nothing.
    let again = run_code(&d, "plt.show()").await;
    assert!(again.frames.iter().all(|f| f["type"] != "chart"));
    // Several charts interleaved with output keep their places.
    let many = "for i in range(3):\n    print(f'text {i}')\n    plt.bar(['a', 'b'], [i, i + 1])\n    plt.title(f'chart {i}')\n    plt.show()\nprint('end')";
    let run = run_code(&d, many).await;
    assert_completed(&run);
    let sequence: Vec<String> = run
        .frames
        .iter()
        .filter_map(|f| match f["type"].as_str() {
            Some("chart") => Some(f["chart"]["title"].as_str().unwrap().to_owned()),
            Some("stdout") => Some(f["text"].as_str().unwrap().to_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(
        sequence.concat(),
        "text 0\nchart 0text 1\nchart 1text 2\nchart 2end\n",
        "{sequence:?}"
    );
    let bar = run.frames.iter().find(|f| f["type"] == "chart").unwrap();
    assert_eq!(bar["chart"]["type"], "bar");
    assert_eq!(bar["chart"]["elements"][1]["value"], "1");
    d.daemon.shutdown().await;
}

#[tokio::test]
async fn a_run_continues_when_its_client_leaves_and_the_context_stays_usable() {
    let d = TestDaemon::start().await;
    let ctx = create_context(&d, json!({})).await;
    let (mut ws, _) = connect(&d, None).await;
    let code = "import time\nprint('started', flush=True)\ntime.sleep(1)\nprint('x' * 100000)\nfinished = True";
    ws.write_frame(Frame::text(Payload::Owned(
        json!({"code": code, "contextId": ctx})
            .to_string()
            .into_bytes(),
    )))
    .await
    .unwrap();
    let frame = tokio::time::timeout(RUN_LIMIT, ws.read_frame())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(frame.opcode, OpCode::Text);
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
