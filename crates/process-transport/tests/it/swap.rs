//! The same tests over TCP and in memory: one body per test, instantiated for both transports.

use std::time::Duration;

use futures_util::StreamExt;
use http::Request;
use http_body_util::BodyExt;
use process_transport::ws::{self, CloseFrame, Message};
use process_transport::{empty, full, Builder, Error, HttpTransport};
use tower::{Service, ServiceExt};

use crate::support;

/// A transport to the test server plus whatever keeps the server alive.
struct Fixture {
    transport: HttpTransport,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(task) = &self.server {
            task.abort();
        }
    }
}

async fn tcp(configure: impl FnOnce(Builder) -> Builder, prefix: &str) -> Fixture {
    let (url, task) = support::tcp_server().await;
    let transport = configure(HttpTransport::builder(format!("{url}{prefix}")))
        .build()
        .unwrap();
    Fixture {
        transport,
        server: Some(task),
    }
}

#[allow(clippy::unused_async)] // same signature as `tcp`, so one macro instantiates both
async fn memory(configure: impl FnOnce(Builder) -> Builder, prefix: &str) -> Fixture {
    let transport = configure(HttpTransport::builder(format!(
        "{}{prefix}",
        process_transport::MEMORY_URL
    )))
    .build_in_memory(hyper::service::service_fn(support::handle))
    .unwrap();
    Fixture {
        transport,
        server: None,
    }
}

macro_rules! both_transports {
    ($($name:ident),* $(,)?) => {
        mod over_tcp {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(|c, p| Box::pin(super::tcp(c, p))).await;
                }
            )*
        }
        mod in_memory {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(|c, p| Box::pin(super::memory(c, p))).await;
                }
            )*
        }
    };
}

both_transports!(
    plain_request_carries_identification,
    token_and_prefix_are_applied,
    bodies_round_trip,
    default_timeout_fires,
    websocket_echo_and_close_code,
    websocket_refusal_keeps_the_body,
    websocket_client_close_is_echoed,
    keep_alive_reuses_connections_for_many_requests,
);

type Make = fn(
    fn(Builder) -> Builder,
    &'static str,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Fixture> + Send>>;

fn defaults(b: Builder) -> Builder {
    b
}

async fn get(t: &mut HttpTransport, path: &str) -> http::Response<process_transport::Body> {
    let req = Request::get(path).body(empty()).unwrap();
    t.ready().await.unwrap().call(req).await.unwrap()
}

async fn plain_request_carries_identification(make: Make) {
    let mut f = make(defaults, "").await;
    let resp = get(&mut f.transport, "/hello").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-seen-version"], "0.226.1");
    assert!(resp.headers()["x-seen-agent"]
        .to_str()
        .unwrap()
        .starts_with("process-rust/"));
    assert!(resp.headers().get("x-seen-auth").is_none());
    assert_eq!(
        resp.into_body().collect().await.unwrap().to_bytes(),
        "hello"
    );
}

async fn token_and_prefix_are_applied(make: Make) {
    let mut f = make(|b| b.token("tok-1"), "/prefix").await;
    let resp = get(&mut f.transport, "/hello").await;
    assert_eq!(resp.headers()["x-seen-auth"], "Bearer tok-1");
    assert_eq!(resp.headers()["x-seen-path"], "/prefix/hello");
}

async fn bodies_round_trip(make: Make) {
    let mut f = make(defaults, "").await;
    let payload = "é".repeat(100_000);
    let req = Request::post("/echo").body(full(payload.clone())).unwrap();
    let resp = f.transport.ready().await.unwrap().call(req).await.unwrap();
    let got = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(got, payload.as_bytes());
}

async fn default_timeout_fires(make: Make) {
    let mut f = make(|b| b.timeout(Duration::from_millis(200)), "").await;
    let req = Request::get("/slow").body(empty()).unwrap();
    let err = tokio::time::timeout(
        Duration::from_secs(10),
        f.transport.ready().await.unwrap().call(req),
    )
    .await
    .expect("the timeout layer must fire long before 10 s")
    .unwrap_err();
    let err = err.downcast_ref::<Error>().expect("a transport error");
    assert!(err.is_timeout(), "{err}");
}

async fn websocket_echo_and_close_code(make: Make) {
    let f = make(defaults, "").await;
    let req = ws::upgrade_request("/ws".parse().unwrap(), &["proto-a", "proto-b~x"]).unwrap();
    let ws = ws::connect(f.transport.clone(), req).await.unwrap();
    assert_eq!(ws.protocol(), Some("proto-a"));
    let (tx, mut rx) = ws.split();
    tx.send(Message::Text("hi é".into())).await.unwrap();
    // A message larger than one frame buffer, binary, with every byte value.
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 256) as u8).collect();
    tx.send(Message::Binary(big.clone().into())).await.unwrap();
    tx.send(Message::Text("close".into())).await.unwrap();
    assert_eq!(
        rx.next().await.unwrap().unwrap(),
        Message::Text("hi é".into())
    );
    assert_eq!(
        rx.next().await.unwrap().unwrap(),
        Message::Binary(big.into())
    );
    assert_eq!(
        rx.next().await.unwrap().unwrap(),
        Message::Close(Some(CloseFrame {
            code: 4008,
            reason: "bye".into()
        }))
    );
    assert!(rx.next().await.is_none());
}

async fn websocket_client_close_is_echoed(make: Make) {
    let f = make(defaults, "").await;
    let req = ws::upgrade_request("/ws".parse().unwrap(), &[]).unwrap();
    let (tx, mut rx) = ws::connect(f.transport.clone(), req).await.unwrap().split();
    tx.close(1000, "done").await.unwrap();
    assert_eq!(
        rx.next().await.unwrap().unwrap(),
        Message::Close(Some(CloseFrame {
            code: 1000,
            reason: "done".into()
        }))
    );
    assert!(rx.next().await.is_none());
    // Nothing can be sent after the close.
    tokio::time::timeout(Duration::from_secs(10), async {
        while !tx.is_closed() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    assert!(matches!(
        tx.send(Message::Text("late".into())).await,
        Err(Error::Closed)
    ));
}

async fn websocket_refusal_keeps_the_body(make: Make) {
    let f = make(defaults, "").await;
    let req = ws::upgrade_request("/ws-reject".parse().unwrap(), &[]).unwrap();
    let err = ws::connect(f.transport.clone(), req).await.unwrap_err();
    match err.downcast_ref::<Error>() {
        Some(Error::UpgradeRejected { status, body }) => {
            assert_eq!(*status, 409);
            assert_eq!(&body[..], br#"{"error":"taken"}"#);
        }
        other => panic!("expected UpgradeRejected, got {other:?}"),
    }
}

async fn keep_alive_reuses_connections_for_many_requests(make: Make) {
    let f = make(defaults, "").await;
    // Bounded: 200 requests, 8 at a time.
    let results = futures_util::stream::iter(0..200)
        .map(|_| {
            let mut t = f.transport.clone();
            async move { get(&mut t, "/hello").await.status() }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    assert!(results.iter().all(|s| *s == 200));
}
