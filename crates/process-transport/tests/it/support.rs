//! A small hyper server used by the tests: a few HTTP routes and a WebSocket echo.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use fastwebsockets::{Frame, OpCode, Payload};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

pub type TestBody = Full<Bytes>;

/// Routes:
/// - `GET /hello`: 200 "hello", echoing the identification and auth headers as `x-seen-*`;
/// - `GET /status/<code>`: that status;
/// - `GET /slow`: answers after 30 s;
/// - `POST /echo`: the request body;
/// - `GET /ws`: WebSocket echo; "close" makes it close with 4008 "bye"; selects the first
///   offered subprotocol;
/// - `GET /ws-reject`: 409 with a JSON body.
pub async fn handle(mut req: Request<Incoming>) -> Result<Response<TestBody>, Infallible> {
    let path = req.uri().path().to_owned();
    let resp = match path.as_str() {
        "/hello" | "/prefix/hello" => {
            let mut resp = Response::new(Full::new(Bytes::from("hello")));
            for (name, seen) in [
                ("x-daytona-sdk-version", "x-seen-version"),
                ("authorization", "x-seen-auth"),
                ("user-agent", "x-seen-agent"),
            ] {
                if let Some(v) = req.headers().get(name) {
                    resp.headers_mut().insert(seen, v.clone());
                }
            }
            resp.headers_mut()
                .insert("x-seen-path", req.uri().path().parse().unwrap());
            resp
        }
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Response::new(Full::new(Bytes::new()))
        }
        "/echo" => {
            let body = req.into_body().collect().await.unwrap().to_bytes();
            Response::new(Full::new(body))
        }
        "/ws" => {
            let protocol = req
                .headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(|v| v.trim().to_owned());
            let (mut resp, fut) = fastwebsockets::upgrade::upgrade(&mut req).unwrap();
            if let Some(p) = protocol {
                resp.headers_mut()
                    .insert("sec-websocket-protocol", p.parse().unwrap());
            }
            tokio::spawn(async move {
                let mut ws = fastwebsockets::FragmentCollector::new(fut.await.unwrap());
                loop {
                    let Ok(frame) = ws.read_frame().await else {
                        return;
                    };
                    match frame.opcode {
                        OpCode::Text if &frame.payload[..] == b"close" => {
                            let _ = ws.write_frame(Frame::close(4008, b"bye")).await;
                            return;
                        }
                        OpCode::Text | OpCode::Binary => {
                            let echo = Frame::new(
                                true,
                                frame.opcode,
                                None,
                                Payload::Owned(frame.payload.to_vec()),
                            );
                            if ws.write_frame(echo).await.is_err() {
                                return;
                            }
                        }
                        OpCode::Close => return,
                        _ => {}
                    }
                }
            });
            let (parts, body) = resp.into_parts();
            let _ = body;
            Response::from_parts(parts, Full::new(Bytes::new()))
        }
        "/ws-reject" => {
            let mut resp = Response::new(Full::new(Bytes::from(r#"{"error":"taken"}"#)));
            *resp.status_mut() = StatusCode::CONFLICT;
            resp
        }
        p if p.starts_with("/status/") => {
            let code: u16 = p["/status/".len()..].parse().unwrap();
            let mut resp = Response::new(Full::new(Bytes::new()));
            *resp.status_mut() = StatusCode::from_u16(code).unwrap();
            resp
        }
        _ => {
            let mut resp = Response::new(Full::new(Bytes::new()));
            *resp.status_mut() = StatusCode::NOT_FOUND;
            resp
        }
    };
    Ok(resp)
}

/// Serves `handle` on 127.0.0.1:0 until the returned task is aborted.
pub async fn tcp_server() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(
                        hyper_util::rt::TokioIo::new(stream),
                        hyper::service::service_fn(handle),
                    )
                    .with_upgrades()
                    .await;
            });
        }
    });
    (format!("http://{addr}"), task)
}
