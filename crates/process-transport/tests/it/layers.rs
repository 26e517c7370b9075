//! The layers at service level, with `tower_test::mock` standing in for the network.

use std::time::Duration;

use http::{Request, Response, StatusCode};
use process_transport::auth::BearerLayer;
use process_transport::retry::RetryLayer;
use process_transport::sdk_version::SdkVersionLayer;
use process_transport::timeout::{RequestTimeout, TimeoutLayer};
use process_transport::{empty, full, Body, BoxError, Error};
use tower::{Layer, Service, ServiceExt};
use tower_test::mock;

fn status(code: u16) -> Response<Body> {
    let mut r = Response::new(empty());
    *r.status_mut() = StatusCode::from_u16(code).unwrap();
    r
}

#[tokio::test]
async fn bearer_and_version_headers_reach_the_inner_service() {
    let (svc, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let mut svc = SdkVersionLayer::new("0.300.0")
        .unwrap()
        .layer(BearerLayer::new("k").unwrap().layer(svc));
    let call = async {
        svc.ready()
            .await
            .unwrap()
            .call(Request::get("/x").body(empty()).unwrap())
            .await
    };
    let serve = async {
        let (req, send) = handle.next_request().await.unwrap();
        assert_eq!(req.headers()["authorization"], "Bearer k");
        assert_eq!(req.headers()["x-daytona-sdk-version"], "0.300.0");
        send.send_response(status(204));
    };
    let (res, ()) = tokio::join!(call, serve);
    assert_eq!(res.unwrap().status(), 204);
}

#[test]
fn a_token_with_a_newline_is_refused() {
    let err = BearerLayer::new("a\nb").unwrap_err();
    assert!(matches!(err, Error::InvalidHeader { .. }), "{err}");
}

// Paused time: the backoffs and deadlines below run on tokio's virtual clock, which moves only
// when every task waits on a timer, so the schedule is exact and the test never sleeps.
#[tokio::test(start_paused = true)]
async fn reads_are_retried_and_writes_are_not() {
    // (Calls and responses are joined rather than spawned: the mock's higher-ranked body type
    // trips rustc's Send inference for spawned futures.)
    let (svc, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let svc = RetryLayer::new(2).layer(svc);

    // GET: 503, then 200 → one retry, success.
    let mut get = svc.clone();
    let call = async {
        get.ready()
            .await
            .unwrap()
            .call(Request::get("/process/session").body(empty()).unwrap())
            .await
    };
    let serve = async {
        let (_, send) = handle.next_request().await.unwrap();
        send.send_response(status(503));
        let (req, send) = handle.next_request().await.unwrap();
        assert_eq!(req.uri(), "/process/session");
        send.send_response(status(200));
    };
    let (res, ()) = tokio::join!(call, serve);
    assert_eq!(res.unwrap().status(), 200);

    // POST: 503 is final.
    let mut post = svc.clone();
    let call = async {
        post.ready()
            .await
            .unwrap()
            .call(Request::post("/process/execute").body(full("{}")).unwrap())
            .await
    };
    let serve = async {
        let (_, send) = handle.next_request().await.unwrap();
        send.send_response(status(503));
    };
    let (res, ()) = tokio::join!(call, serve);
    assert_eq!(res.unwrap().status(), 503);

    // GET failing every time: 1 + 2 attempts, then the error, after the backoffs of 25 ms
    // and then 50 ms (the virtual clock's reading is exact).
    let started = tokio::time::Instant::now();
    let mut get = svc;
    let call = async {
        get.ready()
            .await
            .unwrap()
            .call(Request::get("/process/pty").body(empty()).unwrap())
            .await
    };
    let serve = async {
        for _ in 0..3 {
            let (_, send) = handle.next_request().await.unwrap();
            send.send_error(std::io::Error::other("connection reset"));
        }
    };
    let (res, ()) = tokio::join!(call, serve);
    let err: BoxError = res.unwrap_err();
    assert!(err.to_string().contains("connection reset"), "{err}");
    assert_eq!(started.elapsed(), Duration::from_millis(25 + 50));
}

#[tokio::test(start_paused = true)]
async fn per_request_timeout_overrides_the_default() {
    let (svc, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let svc = TimeoutLayer::new(Some(Duration::from_millis(50))).layer(svc);
    handle.allow(10);

    // The default fires, at 50 ms exactly.
    let started = tokio::time::Instant::now();
    let mut s = svc.clone();
    let err = s
        .ready()
        .await
        .unwrap()
        .call(Request::get("/a").body(empty()).unwrap())
        .await
        .unwrap_err();
    assert!(err.downcast_ref::<Error>().unwrap().is_timeout());
    assert_eq!(started.elapsed(), Duration::from_millis(50));
    let _ = handle.next_request().await;

    // A request with its own longer limit gets its answer after the default has passed.
    let mut s = svc.clone();
    let mut req = Request::get("/b").body(empty()).unwrap();
    req.extensions_mut()
        .insert(RequestTimeout(Some(Duration::from_secs(10))));
    let call = async { s.ready().await.unwrap().call(req).await };
    let serve = async {
        let (_, send) = handle.next_request().await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        send.send_response(status(200));
    };
    let started = tokio::time::Instant::now();
    let (res, ()) = tokio::join!(call, serve);
    assert_eq!(res.unwrap().status(), 200);
    assert_eq!(started.elapsed(), Duration::from_millis(150));
}
