//! `https`/`wss` with a path prefix and a token, the way a Daytona sandbox's toolbox URL is
//! served: a TLS-terminating proxy on 127.0.0.1:0 strips `/toolbox/<sandboxId>` and hands the
//! request to the daemon, which checks the token.

use std::convert::Infallible;
use std::sync::Arc;

use futures_util::StreamExt;
use http::{Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use process::transport::rustls;
use process::transport::HttpTransport;
use process::{Client, CommandRequest};
use process_daemon::{Config, Daemon};

const PREFIX: &str = "/toolbox/sbx-1";
const TOKEN: &str = "sbx-token";

struct Proxy {
    url: String,
    roots: rustls::RootCertStore,
    daemon: Daemon,
    task: tokio::task::JoinHandle<()>,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        let daemon = self.daemon.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            tokio::task::block_in_place(|| rt.block_on(daemon.shutdown()));
        }
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

async fn proxy() -> Proxy {
    let workdir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut config = Config::new(workdir.path(), state.path());
    config.token = Some(TOKEN.into());
    let daemon = Daemon::new(config).unwrap();

    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_der = cert.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
    let server = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert_der.clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert_der).unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = daemon.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let daemon = served.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let strip = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                    let daemon = daemon.clone();
                    async move {
                        let pq = req.uri().path_and_query().map_or("/", |p| p.as_str());
                        let Some(rest) = pq.strip_prefix(PREFIX) else {
                            let mut resp = Response::new(process_daemon::error::full(""));
                            *resp.status_mut() = StatusCode::NOT_FOUND;
                            return Ok::<_, Infallible>(resp);
                        };
                        *req.uri_mut() = rest.parse::<Uri>().unwrap();
                        hyper::service::Service::call(&daemon.service(), req).await
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), strip)
                    .with_upgrades()
                    .await;
            });
        }
    });
    Proxy {
        url: format!("https://localhost:{port}{PREFIX}"),
        roots,
        daemon,
        task,
        _dirs: (workdir, state),
    }
}

fn client(p: &Proxy, token: &str) -> Client {
    let tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(p.roots.clone())
        .with_no_client_auth();
    let transport = HttpTransport::builder(p.url.clone())
        .token(token)
        .tls_config(tls)
        .build()
        .unwrap();
    Client::new(transport)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_prefix_and_token_like_a_toolbox_url() {
    let p = proxy().await;
    let c = client(&p, TOKEN);

    // Plain requests.
    let r = c.exec("echo over-tls").await.unwrap();
    assert_eq!(r.result, "over-tls\n");

    // A log stream (wss).
    c.create_session("s").await.unwrap();
    let cmd = c
        .execute_session_command(
            "s",
            CommandRequest::new("echo a; echo b >&2").run_async(true),
        )
        .await
        .unwrap();
    let mut stream = c
        .stream_session_command_logs("s", &cmd.cmd_id)
        .await
        .unwrap();
    let mut bytes = 0;
    while let Some(chunk) = stream.next().await {
        bytes += chunk.unwrap().data.len();
    }
    assert_eq!(bytes, 4);

    // A PTY (wss with subprotocols).
    let mut pty = c.create_pty_session("t").await.unwrap();
    pty.send_input("exit 4\n").await.unwrap();
    assert_eq!(pty.wait().await.unwrap().exit_code, Some(4));

    // The wrong token is refused, with advice.
    let err = client(&p, "wrong").list_sessions().await.unwrap_err();
    assert!(err.is_unauthorized(), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_certificates_are_refused() {
    let p = proxy().await;
    // Default roots (webpki): the self-signed certificate is not trusted.
    let c = Client::builder(p.url.clone())
        .token(TOKEN)
        .retries(0)
        .build()
        .unwrap();
    let err = c.list_sessions().await.unwrap_err();
    assert_eq!(err.kind(), process::ErrorKind::Connect, "{err:?}");
    assert!(err.to_string().contains("certificate"), "{err}");
}
