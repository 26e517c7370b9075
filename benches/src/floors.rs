//! The floors the end-to-end figures are held against, measured without the daemon: a process
//! spawn through tokio, a bare hyper request/response round trip on loopback, a plain pipe, and
//! a fresh Python interpreter. Each is what our daemon cannot beat for the matching figure.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

/// A bench's boxed error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Spawns `sh -c <script>` with stdout and stderr piped (as an exec endpoint does) and waits
/// for it and its output; returns how long that took.
pub async fn spawn_sh(script: &str) -> Result<Duration, BoxError> {
    spawn_shell(Path::new("/bin/sh"), script).await
}

/// Like [`spawn_sh`] with another shell.
pub async fn spawn_shell(shell: &Path, script: &str) -> Result<Duration, BoxError> {
    let t = Instant::now();
    let out = tokio::process::Command::new(shell)
        .args(["-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output()
        .await?;
    if !out.status.success() {
        return Err(format!("sh -c {script:?} failed: {}", out.status).into());
    }
    Ok(t.elapsed())
}

/// `n` sequential `<shell> -c true` spawns (tokio); the latency of each.
pub async fn spawn_sequential(shell: &Path, n: usize) -> Result<Vec<Duration>, BoxError> {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(spawn_shell(shell, "true").await?);
    }
    Ok(v)
}

/// `total` spawns of `<shell> -c true` with `concurrency` in flight; returns spawns per
/// second.
pub async fn spawn_rate(shell: &Path, total: usize, concurrency: usize) -> Result<f64, BoxError> {
    let t = Instant::now();
    let per = total.div_ceil(concurrency);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let shell = shell.to_owned();
        tasks.spawn(async move {
            for _ in 0..per {
                spawn_shell(&shell, "true").await?;
            }
            Ok::<_, BoxError>(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    Ok((per * concurrency) as f64 / t.elapsed().as_secs_f64())
}

/// A bare hyper HTTP/1.1 server on 127.0.0.1 that answers every request with a small JSON
/// body, served on its own thread and runtime (as a separate daemon would be). Stops when
/// dropped.
pub struct BareServer {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BareServer {
    /// Starts the server.
    pub fn start() -> Result<BareServer, BoxError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            rt.block_on(async move {
                let Ok(listener) = TcpListener::from_std(std_listener) else {
                    return;
                };
                loop {
                    tokio::select! {
                        _ = &mut stopped => break,
                        accepted = listener.accept() => {
                            let Ok((tcp, _)) = accepted else { break };
                            let _ = tcp.set_nodelay(true);
                            tokio::spawn(async move {
                                let service = hyper::service::service_fn(|_req: http::Request<Incoming>| async {
                                    let body = Full::new(Bytes::from_static(br#"{"exitCode":0,"result":""}"#));
                                    let mut resp = http::Response::new(body);
                                    resp.headers_mut().insert(
                                        http::header::CONTENT_TYPE,
                                        http::HeaderValue::from_static("application/json"),
                                    );
                                    Ok::<_, Infallible>(resp)
                                });
                                let io = hyper_util::rt::TokioIo::new(tcp);
                                let _ = hyper::server::conn::http1::Builder::new()
                                    .serve_connection(io, service)
                                    .await;
                            });
                        }
                    }
                }
            });
        });
        Ok(BareServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for BareServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `n` sequential keep-alive `POST /` round trips to `addr` with a raw hyper HTTP/1.1
/// connection; the latency of each.
pub async fn http_rtt(addr: SocketAddr, n: usize) -> Result<Vec<Duration>, BoxError> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await?;
    let driver = tokio::spawn(conn);
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        send.ready().await?;
        let t = Instant::now();
        let req = http::Request::post("/")
            .header(http::header::HOST, "127.0.0.1")
            .body(Empty::<Bytes>::new())?;
        let resp = send.send_request(req).await?;
        let body = resp.into_body().collect().await?.to_bytes();
        v.push(t.elapsed());
        if body.is_empty() {
            return Err("empty body from the bare server".into());
        }
    }
    drop(send);
    driver.abort();
    Ok(v)
}

/// The shell command that writes `bytes` bytes of 64-byte text lines to stdout: the producer of
/// the log-follow figure and of its pipe floor.
pub fn producer_script(bytes: u64) -> String {
    format!("yes 'the quick brown fox jumps over the lazy dog 0123456789 abcdef' | head -c {bytes}")
}

/// Runs the producer with stdout piped to us and reads it all (64 KiB reads, tokio); returns
/// (bytes read, seconds).
pub async fn pipe_throughput(bytes: u64) -> Result<(u64, f64), BoxError> {
    let t = Instant::now();
    let mut child = tokio::process::Command::new("/bin/sh")
        .args(["-c", &producer_script(bytes)])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let mut out = child.stdout.take().ok_or("no stdout")?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = out.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    child.wait().await?;
    Ok((total, t.elapsed().as_secs_f64()))
}

/// Runs `python -c code` (fresh interpreter, output piped) and returns how long it took.
pub async fn python_c(python: &Path, code: &str) -> Result<Duration, BoxError> {
    let t = Instant::now();
    let out = tokio::process::Command::new(python)
        .args(["-c", code])
        .env("MPLBACKEND", "Agg")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output()
        .await?;
    if !out.status.success() {
        return Err(format!(
            "{} -c failed ({}): {}",
            python.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(t.elapsed())
}

/// `n` keystrokes written to a fresh PTY's master with no process on it, each until the
/// kernel's line discipline echoes it back: the echo floor of a terminal. Blocking.
pub fn pty_kernel_echo(n: usize) -> Result<Vec<Duration>, BoxError> {
    use std::io::{Read, Write};
    let mut samples = Vec::with_capacity(n);
    while samples.len() < n {
        // A fresh PTY per 1,000 keys keeps the canonical line (4 KiB) from filling up.
        let pty = nix::pty::openpty(None, None)?;
        let mut master = std::fs::File::from(pty.master);
        let _slave = pty.slave;
        let mut buf = [0u8; 64];
        for _ in 0..1000.min(n - samples.len()) {
            let t = Instant::now();
            master.write_all(b"x")?;
            loop {
                let got = master.read(&mut buf)?;
                if got == 0 {
                    return Err("the PTY closed".into());
                }
                if buf[..got].contains(&b'x') {
                    break;
                }
            }
            samples.push(t.elapsed());
        }
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bare_server_round_trips() {
        let bare = BareServer::start().unwrap();
        let v = http_rtt(bare.addr, 20).await.unwrap();
        assert_eq!(v.len(), 20);
    }
}
