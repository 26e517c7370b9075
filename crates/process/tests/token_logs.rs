//! K6 of `shared/research/reliability.md` §3.9: the Bearer token never reaches logs, errors or
//! `Debug` output. Its own test binary, so the subscriber is the process-wide default from the
//! first callsite on: with other tests' threads registering callsites first, a thread-local
//! subscriber can miss spans whose interest was cached as "never".

use std::io::Write;
use std::sync::{Arc, Mutex};

use process::transport::HttpTransport;
use process::Client;
use process_daemon::{Config, Daemon};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_token_never_reaches_logs_or_errors() {
    const SECRET: &str = "tok-3f9a1c-do-not-log";
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let workdir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut config = Config::new(workdir.path(), state.path());
    config.token = Some(SECRET.into());
    let daemon = Daemon::new(config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(process_daemon::serve(listener, daemon.clone()));
    let client = Client::builder(url.clone()).token(SECRET).build().unwrap();

    client.list_sessions().await.unwrap();
    client.exec("echo hi").await.unwrap();
    let mut seen = Vec::new();
    // Failures, with the right and the wrong token.
    let err = client.get_session("nope").await.unwrap_err();
    seen.push(format!("{err} {err:?}"));
    let wrong = Client::builder(url)
        .token(format!("{SECRET}-wrong"))
        .build()
        .unwrap();
    let err = wrong.list_sessions().await.unwrap_err();
    seen.push(format!("{err} {err:?}"));
    seen.push(format!("{client:?}"));
    seen.push(format!(
        "{:?}",
        HttpTransport::builder("http://127.0.0.1:1").token(SECRET)
    ));
    seen.push(format!(
        "{:?}",
        HttpTransport::builder("http://127.0.0.1:1")
            .token(SECRET)
            .build()
            .unwrap()
    ));
    server.abort();
    daemon.shutdown().await;

    let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    // The client's span and the daemon's span both logged, so the absence below means something.
    assert!(
        logs.contains("process.request"),
        "the client's trace layer logged: {logs}"
    );
    assert!(
        logs.contains("/process/execute"),
        "the daemon's trace layer logged: {logs}"
    );
    assert!(!logs.contains(SECRET), "token in the logs:\n{logs}");
    for s in seen {
        assert!(!s.contains(SECRET), "token in {s}");
    }
}
