//! A running `sandboxd` for one test (on real runc sandboxes, or on the unisolated test provider
//! for tests of the HTTP surface only), and a small HTTP helper that returns status and JSON.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;

pub(crate) const KEY: &str = "test-api-key";

/// One `sandboxd` (its state dir lives as long as the fixture).
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) api: String,
    pub(crate) addr: String,
    pub(crate) state: tempfile::TempDir,
    pub(crate) key: Option<String>,
    extra: Vec<String>,
    /// Sandboxes are runc containers (else plain processes of the unisolated test provider).
    runc: bool,
}

/// Which provider a test server runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Unisolated,
    Runc,
}

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sandboxd"))
}

impl Server {
    pub(crate) fn start() -> Server {
        Server::start_with(Some(KEY), &[])
    }

    pub(crate) fn start_with(key: Option<&str>, extra: &[&str]) -> Server {
        Server::start_kind(Kind::Unisolated, key, extra)
    }

    /// A server whose sandboxes are real runc containers of the default image (callers check
    /// `require_sandboxes!()` first). Every sandbox it made is deleted when it is dropped.
    pub(crate) async fn runc() -> Server {
        Server::runc_with(&[]).await
    }

    /// [`Server::runc`] with extra flags.
    pub(crate) async fn runc_with(extra: &[&str]) -> Server {
        // The image is built once per image dir (by whichever test comes first).
        crate::local_support::TestProvider::ensure_image().await;
        Server::start_kind(Kind::Runc, Some(KEY), extra)
    }

    fn start_kind(kind: Kind, key: Option<&str>, extra: &[&str]) -> Server {
        // In /tmp: traversable by the sandboxes' mapped uid, and short (socket paths).
        let state = tempfile::Builder::new()
            .prefix("sandboxd-it-")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let mut extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        if kind == Kind::Runc {
            extra.push("--image-dir".into());
            extra.push(crate::local_support::image_dir().display().to_string());
            if let Some(processd) = std::env::var_os("SANDBOXD_TEST_PROCESSD") {
                extra.push("--processd".into());
                extra.push(PathBuf::from(processd).display().to_string());
            }
        } else {
            extra.push("--test-unisolated-provider".into());
        }
        let (child, api) = spawn(&state.path().to_path_buf(), key, &extra, "127.0.0.1:0");
        let addr = api
            .trim_start_matches("http://")
            .trim_end_matches("/api")
            .to_owned();
        Server {
            child,
            api,
            addr,
            state,
            key: key.map(str::to_owned),
            extra,
            runc: kind == Kind::Runc,
        }
    }

    /// SIGKILLs the server and starts it again on the same address and state dir.
    pub(crate) fn kill_and_restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, api) = spawn(
            &self.state.path().to_path_buf(),
            self.key.as_deref(),
            &self.extra,
            &self.addr,
        );
        assert_eq!(api, self.api, "restarted on the same address");
        self.child = child;
    }

    pub(crate) async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let headers: Vec<(&str, String)> = match &self.key {
            Some(k) => vec![("authorization", format!("Bearer {k}"))],
            None => vec![],
        };
        raw(
            &self.addr,
            method,
            path,
            body.map(|b| b.to_string()),
            &headers,
        )
        .await
    }

    pub(crate) async fn create(&self, body: Value) -> Value {
        let (status, sb) = self.call("POST", "/api/sandbox", Some(body)).await;
        assert_eq!(status, 200, "{sb}");
        sb
    }

    /// The provider's directory of sandbox `id` (gone once it is deleted).
    pub(crate) fn sandbox_dir(&self, id: &str) -> PathBuf {
        if self.runc {
            self.state.path().join("sandboxes").join(id)
        } else {
            self.state.path().join("unisolated").join(id)
        }
    }

    /// Host pid of the sandbox's processd.
    pub(crate) fn pid_of(&self, id: &str) -> Option<i32> {
        let file = if self.runc { "init.pid" } else { "pid" };
        std::fs::read_to_string(self.sandbox_dir(id).join(file))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// Everything of sandbox `id` left on the host (runc servers only; see `leftovers`).
    pub(crate) fn leftovers(&self, id: &str) -> Vec<String> {
        assert!(self.runc, "leftovers are counted on runc servers");
        crate::local_support::leftovers(self.state.path(), id)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM first: sandboxd then removes what it keeps beside the sandboxes (warm pool,
        // spare disk layers, including one being made); SIGKILL if it hangs.
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while matches!(self.child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Sandboxes outlive sandboxd by design; a test's must not outlive the test.
        if self.runc {
            crate::local_support::delete_all_sandboxes(self.state.path());
            return;
        }
        if let Ok(dirs) = std::fs::read_dir(self.state.path().join("unisolated")) {
            for dir in dirs.flatten() {
                if let Some(pid) = std::fs::read_to_string(dir.path().join("pid"))
                    .ok()
                    .and_then(|s| s.trim().parse::<i32>().ok())
                {
                    let _ = nix::sys::signal::killpg(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
    }
}

fn spawn(state: &PathBuf, key: Option<&str>, extra: &[String], listen: &str) -> (Child, String) {
    let mut cmd = Command::new(bin());
    cmd.args(["--listen", listen, "--log-level", "warn"])
        .arg("--state-dir")
        .arg(state)
        .args(extra)
        .env_remove("SANDBOXD_API_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(k) = key {
        cmd.args(["--api-key", k]);
    }
    let mut child = cmd.spawn().expect("start sandboxd");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read");
    let api = line
        .trim()
        .rsplit('=')
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(
        api.starts_with("http://127.0.0.1:"),
        "sandboxd printed {line:?}"
    );
    (child, api)
}

/// One HTTP/1.1 request on a fresh connection; the body parsed as JSON (`Null` when empty).
pub(crate) async fn raw(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<String>,
    headers: &[(&str, String)],
) -> (u16, Value) {
    let (status, _, bytes) = raw_full(addr, method, path, body, headers).await;
    let json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    (status, json)
}

pub(crate) async fn raw_full(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<String>,
    headers: &[(&str, String)],
) -> (u16, http::HeaderMap, bytes::Bytes) {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let mut req = http::Request::builder().method(method).uri(path);
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req = req.header("host", addr);
    }
    let has_body = body.is_some();
    for (k, v) in headers {
        req = req.header(*k, v.as_str());
    }
    if has_body
        && !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(Full::new(bytes::Bytes::from(body.unwrap_or_default())))
        .expect("request");
    let resp = tokio::time::timeout(Duration::from_mins(1), sender.send_request(req))
        .await
        .expect("answer within 60 s")
        .expect("send");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (status, headers, bytes)
}

/// Asserts the control plane's error envelope.
pub(crate) fn assert_envelope(status: u16, body: &Value, expected: u16, path: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["statusCode"], expected, "{body}");
    assert_eq!(body["path"], path, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(
        body["error"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(
        body["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{body}"
    );
}

/// Polls `check` every 50 ms until it is true or `within` passes.
pub(crate) async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) fn pid_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit(')').next().map(|r| r.trim().to_owned()))
        .is_some_and(|r| !r.starts_with('Z') && !r.starts_with('X'))
}
