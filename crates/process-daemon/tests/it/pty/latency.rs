//! Keystroke echo latency (a measurement, no assertion on timing).

use super::*;

/// `cargo test -p process-daemon --test it -- --ignored pty::latency::echo_latency --nocapture`
/// (`PTY_ECHO_SAMPLES=N` for more samples). Daemon and client share one 2-worker runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: prints echo latency percentiles"]
async fn echo_latency() {
    let d = TestDaemon::start().await;
    let mut c = PtyClient::create(d.addr, "id=lat").await;
    // Raw mode, no echo, then `cat` echoes every byte back as soon as it is read.
    c.send(b"stty raw -echo; echo READY_$((1+1)); exec cat\n")
        .await;
    c.read_until("READY_2").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    while c.next(Duration::from_millis(100)).await.is_some() {}
    let mut samples = Vec::new();
    let n: u32 = std::env::var("PTY_ECHO_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
        .clamp(10, 100_000);
    for i in 0..n {
        let byte = b'a' + (i % 26) as u8;
        let t0 = Instant::now();
        c.send(&[byte]).await;
        loop {
            match c.next(HANG).await {
                Some(Msg::Binary(b)) if b.contains(&byte) => break,
                Some(_) => {}
                None => panic!("no echo"),
            }
        }
        samples.push(t0.elapsed());
    }
    samples.sort();
    let p = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    println!(
        "PTY keystroke echo latency over {} samples: p50 {:?}, p99 {:?}, max {:?}",
        samples.len(),
        p(0.50),
        p(0.99),
        samples[samples.len() - 1]
    );
    http(d.addr, "DELETE", "/process/pty/lat", None).await;
}
