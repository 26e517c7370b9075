//! Harness for the local (runc) provider tests: a provider on a scratch state dir with the shared
//! image dir, a tiny HTTP client for a sandbox's processd over its Unix socket, fake network
//! namespaces, and counters of what a sandbox leaves on the host.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use sandbox_daemon::provider::local::{image, LocalConfig, LocalProvider};
use sandbox_daemon::provider::{Endpoint, ImageRef, Provider, Resources, SandboxSpec};
use serde_json::Value;

/// The shared image dir: `SANDBOXD_TEST_IMAGE_DIR`, else `<workspace>/target/sandbox-images`.
pub fn image_dir() -> PathBuf {
    std::env::var_os("SANDBOXD_TEST_IMAGE_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/sandbox-images"),
        PathBuf::from,
    )
}

/// The processd binary and its argv prefix: `SANDBOXD_TEST_PROCESSD` (a `processd` binary),
/// else this package's `sandboxd` in its `processd` mode.
pub fn processd() -> (PathBuf, Vec<String>) {
    match std::env::var_os("SANDBOXD_TEST_PROCESSD") {
        Some(path) => (PathBuf::from(path), Vec::new()),
        None => (
            PathBuf::from(env!("CARGO_BIN_EXE_sandboxd")),
            vec!["processd".to_owned()],
        ),
    }
}

fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Why these tests cannot run here, if they cannot.
pub fn unavailable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root (runc, mounts and cgroups need it)".into());
    }
    for tool in ["runc", "slirp4netns", "nft"] {
        if !have(tool) {
            return Some(format!("`{tool}` is not installed (.ci/run installs it)"));
        }
    }
    if image::ImageStore::new(image_dir())
        .info(image::DEFAULT_IMAGE)
        .is_none()
        && !have("mmdebstrap")
    {
        return Some("no default image and no mmdebstrap to build it".into());
    }
    None
}

/// Skips the calling test (returns from it) when the machine cannot run sandboxes.
#[macro_export]
macro_rules! require_sandboxes {
    () => {
        if let Some(why) = $crate::local_support::unavailable() {
            eprintln!("SKIPPED (sandboxes unavailable: {why})");
            return;
        }
    };
}

static IMAGE: tokio::sync::OnceCell<ImageRef> = tokio::sync::OnceCell::const_new();

/// The default image (built once per image dir if missing; other test processes wait on the
/// image dir's lock).
pub async fn default_image(provider: &LocalProvider) -> ImageRef {
    IMAGE
        .get_or_init(|| async {
            provider
                .ensure_default_image(|line| eprintln!("image: {line}"))
                .await
                .expect("build the default image");
            provider.resolve_image(None).await.expect("resolve")
        })
        .await
        .clone()
}

/// A provider on its own scratch state dir.
pub struct TestProvider {
    pub provider: Arc<LocalProvider>,
    pub state: tempfile::TempDir,
    pub image: ImageRef,
}

/// Deletes every sandbox under `state_dir` (container, slirp4netns, mount, cgroup, files) with
/// a provider of its own, on a thread of its own (callable from `Drop` inside a runtime).
/// Panics if one cannot be deleted: a leak must fail the test run, not go unseen.
pub fn delete_all_sandboxes(state_dir: &Path) {
    let state_dir = state_dir.to_path_buf();
    let result = std::thread::spawn(move || -> Result<(), String> {
        if !state_dir.join("sandboxes").exists()
            && !state_dir
                .join(sandbox_daemon::provider::local::disk::SPARES)
                .exists()
        {
            return Ok(());
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let mut config = LocalConfig::new(&state_dir, image_dir());
        let (bin, args) = processd();
        config.processd = bin;
        config.processd_args = args;
        let provider = LocalProvider::new(config).map_err(|e| e.to_string())?;
        rt.block_on(async {
            for id in provider.sandbox_ids() {
                provider
                    .delete(&id)
                    .await
                    .map_err(|e| format!("cannot delete leftover sandbox {id}: {e}"))?;
            }
            // The spare disk layers a killed sandboxd left.
            provider.shutdown().await;
            Ok(())
        })
    })
    .join();
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) if !std::thread::panicking() => panic!("{e}"),
        Ok(Err(e)) => eprintln!("cleanup: {e}"),
        Err(_) => eprintln!("cleanup: the cleanup thread panicked"),
    }
}

impl Drop for TestProvider {
    fn drop(&mut self) {
        // A failed assertion must not leak a running sandbox (container, mount, cgroup).
        delete_all_sandboxes(&self.provider.config().state_dir);
    }
}

impl TestProvider {
    /// Builds the default image into the shared image dir unless it is there.
    pub async fn ensure_image() {
        let state = tempfile::Builder::new()
            .prefix("sbx-img-")
            .tempdir_in("/tmp")
            .unwrap();
        let mut config = LocalConfig::new(state.path(), image_dir());
        let (bin, args) = processd();
        config.processd = bin;
        config.processd_args = args;
        let provider = LocalProvider::new(config).unwrap();
        default_image(&provider).await;
    }

    pub async fn new() -> TestProvider {
        Self::with(|_| {}).await
    }

    pub async fn with(tweak: impl FnOnce(&mut LocalConfig)) -> TestProvider {
        let state = tempfile::Builder::new()
            .prefix("sbx-test-")
            .tempdir_in("/tmp")
            .unwrap();
        let mut config = LocalConfig::new(state.path(), image_dir());
        let (bin, args) = processd();
        config.processd = bin;
        config.processd_args = args;
        config.stop_grace = Duration::from_secs(5);
        tweak(&mut config);
        let provider = LocalProvider::new(config).expect("provider");
        let image = default_image(&provider).await;
        TestProvider {
            provider: Arc::new(provider),
            state,
            image,
        }
    }

    /// A spec with a fresh id and small resources.
    pub fn spec(&self, prefix: &str) -> SandboxSpec {
        SandboxSpec {
            id: format!("{prefix}-{}", &uuid_like()),
            image: self.image.clone(),
            env: BTreeMap::from([("SBX_TEST".to_owned(), "yes".to_owned())]),
            labels: BTreeMap::new(),
            resources: Resources {
                cpu: 1,
                memory_gib: 1,
                disk_gib: 3,
            },
            os_user: "daytona".into(),
            network_block_all: false,
        }
    }

    /// Creates and starts `spec`.
    pub async fn up(&self, spec: &SandboxSpec) -> Endpoint {
        self.provider.create(spec).await.expect("create");
        self.provider.start(spec).await.expect("start")
    }

    /// Host pid of the sandbox's init (processd), from runc's pid file.
    pub fn init_pid(&self, id: &str) -> i32 {
        let path = self
            .provider
            .config()
            .state_dir
            .join("sandboxes")
            .join(id)
            .join("init.pid");
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .trim()
            .parse()
            .unwrap()
    }
}

/// A short unique suffix (pid, counter, time).
pub fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{:x}{:x}{:03x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        nanos & 0xfff
    )
}

/// One HTTP request to a sandbox's processd; returns (status, JSON body).
pub async fn call(
    endpoint: &Endpoint,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let Endpoint::Unix(sock) = endpoint;
    let stream = tokio::net::UnixStream::connect(sock)
        .await
        .expect("connect");
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "sandbox");
    let bytes = match body {
        Some(v) => {
            req = req.header("content-type", "application/json");
            serde_json::to_vec(&v).unwrap()
        }
        None => Vec::new(),
    };
    let resp = send
        .send_request(req.body(Full::new(bytes::Bytes::from(bytes))).unwrap())
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    (status, json)
}

/// Runs `command` in the sandbox (processd's exec); returns (exit code, output).
pub async fn exec(endpoint: &Endpoint, command: &str) -> (i64, String) {
    let (status, body) = call(
        endpoint,
        "POST",
        "/process/execute",
        Some(serde_json::json!({ "command": command, "timeout": 120 })),
    )
    .await;
    assert!(
        status == 200 || status == 408,
        "exec {command:?}: {status} {body}"
    );
    (
        body["exitCode"].as_i64().unwrap_or(-1),
        body["result"].as_str().unwrap_or_default().to_owned(),
    )
}

/// Runs `command` and asserts it succeeds; returns its output.
pub async fn ok(endpoint: &Endpoint, command: &str) -> String {
    let (code, out) = exec(endpoint, command).await;
    assert_eq!(code, 0, "{command:?} failed: {out}");
    out
}

/// Runs a host command, panicking with its output on failure.
pub fn host(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Everything of sandbox `id` visible on the host: processes, mounts, cgroups, files, runc
/// state, links. Empty = nothing left.
pub fn leftovers(state_dir: &Path, id: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if cgroup.contains(&format!("sandboxd/{id}"))
            || String::from_utf8_lossy(&cmdline).contains(id)
        {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let field = |name: &str| {
                status
                    .lines()
                    .find(|l| l.starts_with(name))
                    .unwrap_or_default()
                    .replace('\t', " ")
            };
            found.push(format!(
                "process {pid} ({}, {}, {}): {}",
                field("Name:"),
                field("State:"),
                field("PPid:"),
                String::from_utf8_lossy(&cmdline).replace('\0', " ")
            ));
        }
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for line in mounts.lines().filter(|l| l.contains(id)) {
        found.push(format!("mount: {line}"));
    }
    for dir in walkdir::WalkDir::new("/sys/fs/cgroup")
        .max_depth(6)
        .into_iter()
        .flatten()
    {
        if dir.file_type().is_dir() && dir.file_name().to_string_lossy() == id {
            found.push(format!("cgroup: {}", dir.path().display()));
        }
    }
    for path in [
        state_dir.join("sandboxes").join(id),
        state_dir.join("sockets").join(format!("{id}.sock")),
        state_dir.join("runc").join(id),
    ] {
        if path.exists() {
            found.push(format!("file: {}", path.display()));
        }
    }
    for line in host(&["losetup", "-a"]).lines().filter(|l| l.contains(id)) {
        found.push(format!("loop device: {line}"));
    }
    let links = host(&["ip", "-o", "link", "show"]);
    for line in links.lines().filter(|l| l.contains(id)) {
        found.push(format!("link: {line}"));
    }
    found
}

/// A pair of network namespaces made by the test: `host` stands for the machine sandboxd runs
/// on (the provider's plumbing lives there), `uplink` for the network beyond it, joined by a
/// veth. Nothing leaves them. Removed on drop.
pub struct FakeNet {
    pub host: String,
    pub uplink: String,
}

/// Addresses of the fake network.
pub const FAKE_HOST_ADDR: &str = "10.199.0.2";
pub const FAKE_GATEWAY: &str = "10.199.0.1";
pub const FAKE_INTERNET: &str = "10.199.1.1";
pub const FAKE_METADATA: &str = "169.254.169.254";

impl FakeNet {
    pub fn new() -> FakeNet {
        let tag = uuid_like();
        let tag = &tag[tag.len().saturating_sub(8)..];
        let net = FakeNet {
            host: format!("sbxh{tag}"),
            uplink: format!("sbxu{tag}"),
        };
        let (vh, vu) = (format!("vh{tag}"), format!("vu{tag}"));
        host(&["ip", "netns", "add", &net.host]);
        host(&["ip", "netns", "add", &net.uplink]);
        host(&[
            "ip", "link", "add", &vh, "type", "veth", "peer", "name", &vu,
        ]);
        host(&["ip", "link", "set", &vh, "netns", &net.host]);
        host(&["ip", "link", "set", &vu, "netns", &net.uplink]);
        let h = |args: &[&str]| {
            let mut all = vec!["ip", "-n", &net.host];
            all.extend_from_slice(args);
            host(&all);
        };
        h(&["link", "set", "lo", "up"]);
        h(&["addr", "add", &format!("{FAKE_HOST_ADDR}/24"), "dev", &vh]);
        h(&["link", "set", &vh, "up"]);
        h(&["route", "add", "default", "via", FAKE_GATEWAY]);
        let u = |args: &[&str]| {
            let mut all = vec!["ip", "-n", &net.uplink];
            all.extend_from_slice(args);
            host(&all);
        };
        u(&["link", "set", "lo", "up"]);
        u(&["addr", "add", &format!("{FAKE_GATEWAY}/24"), "dev", &vu]);
        u(&["addr", "add", &format!("{FAKE_INTERNET}/32"), "dev", "lo"]);
        u(&["addr", "add", &format!("{FAKE_METADATA}/32"), "dev", "lo"]);
        u(&["link", "set", &vu, "up"]);
        net
    }

    pub fn host_path(&self) -> PathBuf {
        PathBuf::from(format!("/run/netns/{}", self.host))
    }

    /// Starts a TCP server in namespace `ns` on `addr:port` answering "hello from NAME".
    pub fn serve(ns: &str, addr: &str, port: u16, name: &str) {
        let (ns, addr, name) = (ns.to_owned(), addr.to_owned(), name.to_owned());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let file = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let listener = std::net::TcpListener::bind((addr.as_str(), port)).unwrap();
            tx.send(()).unwrap();
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                use std::io::Write;
                let _ = conn.write_all(format!("hello from {name}\n").as_bytes());
            }
        });
        rx.recv_timeout(Duration::from_secs(5)).expect("server up");
    }
}

impl FakeNet {
    /// Connects to `addr:port` from namespace `ns` (from a thread that joins it) and returns
    /// the server's greeting.
    pub fn connect_from(ns: &str, addr: &str, port: u16) -> String {
        let (ns, addr) = (ns.to_owned(), addr.to_owned());
        std::thread::spawn(move || {
            let file = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let mut conn = std::net::TcpStream::connect_timeout(
                &format!("{addr}:{port}").parse().unwrap(),
                Duration::from_secs(3),
            )
            .unwrap();
            let mut out = String::new();
            use std::io::Read;
            let _ = conn.read_to_string(&mut out);
            out
        })
        .join()
        .unwrap()
    }
}

impl Drop for FakeNet {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.host])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.uplink])
            .status();
    }
}
