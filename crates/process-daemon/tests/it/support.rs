//! Test harness: starts an in-process daemon on 127.0.0.1:0 with scratch directories, plus a
//! small HTTP/1.1 client (hyper over `TokioIo`) and a WebSocket client (fastwebsockets).

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use fastwebsockets::WebSocket;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use process_daemon::{Config, Daemon};
use serde_json::Value;

/// The Python interpreter tests use for code-run: `PROCESSD_PYTHON`, else the compat venv at
/// `<workspace>/target/compat-venv/bin/python` if it exists.
pub fn test_python() -> Option<PathBuf> {
    if let Some(py) = std::env::var_os("PROCESSD_PYTHON") {
        return Some(py.into());
    }
    let venv =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/compat-venv/bin/python");
    venv.exists().then_some(venv)
}

/// A daemon serving on loopback, stopped when dropped.
pub struct TestDaemon {
    pub addr: SocketAddr,
    pub daemon: Daemon,
    pub workdir: tempfile::TempDir,
    pub state_dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

/// A complete HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    /// The body as JSON (panics with the body text if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): status {} body {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Runs hyper's upgrade futures on tokio.
pub struct SpawnExecutor;

impl<F> hyper::rt::Executor<F> for SpawnExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        tokio::spawn(fut);
    }
}

/// A WebSocket client connection.
pub type Ws = WebSocket<TokioIo<Upgraded>>;

impl TestDaemon {
    /// Starts a daemon with default settings.
    pub async fn start() -> TestDaemon {
        TestDaemon::start_with(|_| {}).await
    }

    /// Starts a daemon after `tweak` adjusts its configuration.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestDaemon {
        let workdir = tempfile::tempdir().expect("workdir");
        let state_dir = tempfile::tempdir().expect("state dir");
        let mut config = Config::new(workdir.path(), state_dir.path());
        config.python = test_python();
        // As the processd binary does (the tests of orphans and escapees rely on it).
        config.reap_orphans = true;
        tweak(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let daemon = Daemon::new(config).expect("daemon");
        let served = daemon.clone();
        let task = tokio::spawn(async move {
            let _ = process_daemon::serve(listener, served).await;
        });
        TestDaemon {
            addr,
            daemon,
            workdir,
            state_dir,
            task,
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the daemon and everything it started (sessions, PTYs, workers).
    pub async fn stop(self) {
        self.daemon.shutdown().await;
    }

    /// Sends one request on a fresh connection and reads the whole response (30 s limit).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let bytes = body.map_or_else(Bytes::new, |b| Bytes::from(serde_json::to_vec(b).unwrap()));
        self.call_raw(method, path, bytes, headers).await
    }

    /// Like [`call`](Self::call) with a raw body.
    pub async fn call_raw(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
        headers: &[(&str, &str)],
    ) -> Resp {
        let fut = async {
            let stream = tokio::net::TcpStream::connect(self.addr)
                .await
                .expect("connect");
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .expect("handshake");
            tokio::spawn(conn);
            let mut req = Request::builder().method(method).uri(path);
            if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
                req = req.header("host", self.addr.to_string());
            }
            let typed = headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
            if !body.is_empty() && !typed {
                req = req.header("content-type", "application/json");
            }
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            let resp = sender
                .send_request(req.body(Full::new(body)).unwrap())
                .await
                .expect("send");
            let (parts, body) = resp.into_parts();
            let body = body.collect().await.expect("body").to_bytes();
            Resp {
                status: parts.status,
                headers: parts.headers,
                body,
            }
        };
        tokio::time::timeout(Duration::from_secs(30), fut)
            .await
            .expect("request took more than 30 s")
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, None, &[]).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.call(Method::POST, path, Some(body), &[]).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Resp {
        self.call(Method::DELETE, path, None, &[]).await
    }

    /// Opens a WebSocket; `Err` carries the non-101 response.
    pub async fn ws(&self, path: &str, headers: &[(&str, &str)]) -> Result<Ws, Resp> {
        ws_at(self.addr, path, headers).await
    }
}

/// Opens a WebSocket to the daemon at `addr`; `Err` carries the non-101 response.
pub async fn ws_at(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Result<Ws, Resp> {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut req = Request::builder().method(Method::GET).uri(path);
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req = req.header("host", addr.to_string());
    }
    req = req
        .header("upgrade", "websocket")
        .header("connection", "upgrade")
        .header(
            "sec-websocket-key",
            fastwebsockets::handshake::generate_key(),
        )
        .header("sec-websocket-version", "13");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(http_body_util::Empty::<Bytes>::new()).unwrap();
    match fastwebsockets::handshake::client(&SpawnExecutor, req, stream).await {
        Ok((ws, _)) => Ok(ws),
        Err(fastwebsockets::WebSocketError::InvalidStatusCode(code)) => Err(Resp {
            status: StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY),
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }),
        Err(e) => panic!("WebSocket handshake failed: {e}"),
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs a command in a session synchronously and returns the JSON response.
pub async fn session_exec(d: &TestDaemon, sid: &str, command: &str) -> Value {
    let r = d
        .post(
            &format!("/process/session/{sid}/exec"),
            &serde_json::json!({"command": command}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

/// Whether any process's command line contains `marker` (excluding zombies).
pub fn processes_with(marker: &str) -> Vec<i32> {
    use process_daemon::proc::table;
    table::pids()
        .into_iter()
        .filter(|&pid| {
            // Empty for a zombie or a kernel thread.
            table::cmdline(pid).is_some_and(|c| {
                !c.is_empty()
                    && String::from_utf8_lossy(&c)
                        .replace('\0', " ")
                        .contains(marker)
            })
        })
        .collect()
}

/// Polls `check` every 50 ms until it holds or `limit` passes; returns whether it held.
pub async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A unique number of seconds (≈ 300 s) to use as `sleep <n>`: a marker for the processes of
/// one test, unique per call and per test process.
pub fn unique_seconds() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("3{:05}.{:04}", std::process::id() % 100_000, n)
}

impl TestDaemon {
    /// Waits until `n` warm shells are waiting (30 s limit).
    pub async fn warm_ready(&self, n: usize) {
        assert!(
            eventually(Duration::from_secs(30), || self.daemon.warm_shells_ready()
                >= n)
            .await,
            "the warm pool did not fill ({} of {n})",
            self.daemon.warm_shells_ready()
        );
    }
}
