//! The REST API: DTO completeness, status codes, the error envelope, validation, auth,
//! pagination, labels, intervals, unsupported features.

use serde_json::{json, Value};

use crate::support::{assert_envelope, raw, Server, KEY};

const REQUIRED: [&str; 15] = [
    "id",
    "organizationId",
    "name",
    "user",
    "env",
    "labels",
    "public",
    "networkBlockAll",
    "kvm",
    "target",
    "cpu",
    "gpu",
    "memory",
    "disk",
    "toolboxProxyUrl",
];

/// The Python SDK's create body of the seed-003 lifecycle example.
pub(crate) fn seed_body() -> Value {
    json!({"env": {"DEBUG": "true"}, "labels": {"code-toolbox-language": "python"}, "cpu": 2,
           "memory": 2, "autoStopInterval": 15, "volumes": [],
           "buildInfo": {"dockerfileContent": "FROM debian:12.9\n"}})
}

#[tokio::test]
async fn create_answers_started_with_a_complete_dto() {
    let s = Server::start();
    let sb = s.create(seed_body()).await;
    for key in REQUIRED {
        assert!(
            sb.get(key).is_some_and(|v| !v.is_null()),
            "missing {key}: {sb}"
        );
    }
    assert_eq!(sb["state"], "started");
    assert_eq!(sb["env"]["DEBUG"], "true");
    assert!(sb["cpu"].is_u64() && sb["memory"].is_u64() && sb["disk"].is_u64());
    assert_eq!(
        (sb["cpu"].as_u64(), sb["memory"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(sb["autoStopInterval"], 15);
    let url = sb["toolboxProxyUrl"].as_str().unwrap();
    assert_eq!(url, format!("http://{}/toolbox", s.addr));
    assert!(!url.ends_with('/'));
    assert_eq!(sb["name"], sb["id"]);
    // get by id and by name give the same sandbox
    let id = sb["id"].as_str().unwrap();
    let (st, by_id) = s.call("GET", &format!("/api/sandbox/{id}"), None).await;
    assert_eq!(st, 200);
    assert_eq!(by_id["id"], sb["id"]);
    let named = s.create(json!({"name": "my named sb"})).await;
    let (st, by_name) = s.call("GET", "/api/sandbox/my%20named%20sb", None).await;
    assert_eq!(st, 200, "{by_name}");
    assert_eq!(by_name["id"], named["id"]);
    let (st, url) = s
        .call("GET", &format!("/api/sandbox/{id}/toolbox-proxy-url"), None)
        .await;
    assert_eq!(st, 200);
    assert_eq!(url["url"], sb["toolboxProxyUrl"]);
}

#[tokio::test]
async fn errors_use_the_envelope_with_the_right_status() {
    let s = Server::start();
    let (st, body) = s.call("GET", "/api/sandbox/nope", None).await;
    assert_envelope(st, &body, 404, "/api/sandbox/nope");
    assert_eq!(body["message"], "Sandbox with ID or name nope not found");
    for (method, path) in [
        ("POST", "/api/sandbox/nope/start"),
        ("POST", "/api/sandbox/nope/stop?force=false"),
        ("DELETE", "/api/sandbox/nope"),
        ("POST", "/api/sandbox/nope/autostop/5"),
    ] {
        let (st, body) = s.call(method, path, None).await;
        assert_eq!(st, 404, "{method} {path}: {body}");
        assert_eq!(body["statusCode"], 404);
    }
    s.create(json!({"name": "dup"})).await;
    let (st, body) = s
        .call("POST", "/api/sandbox", Some(json!({"name": "dup"})))
        .await;
    assert_envelope(st, &body, 409, "/api/sandbox");
    assert_eq!(body["message"], "Sandbox with name dup already exists");
    let (st, body) = s.call("GET", "/api/xyz", None).await;
    assert_envelope(st, &body, 404, "/api/xyz");
    assert_eq!(body["message"], "Cannot GET /api/xyz");
    // Socket.IO without the WebSocket upgrade (the polling transport) is refused clearly.
    let (st, body) = s
        .call("GET", "/api/socket.io/?EIO=4&transport=polling", None)
        .await;
    assert_envelope(st, &body, 400, "/api/socket.io/");
    let (st, body) = raw(
        &s.addr,
        "POST",
        "/api/sandbox",
        Some("{nope".into()),
        &[("authorization", format!("Bearer {KEY}"))],
    )
    .await;
    assert_envelope(st, &body, 400, "/api/sandbox");
}

#[tokio::test]
async fn absurd_resources_and_bad_input_are_400() {
    let s = Server::start();
    let cores = std::thread::available_parallelism().unwrap().get() as u64;
    let cases = [
        json!({"cpu": cores + 1}),
        json!({"memory": 100_000}),
        json!({"disk": 10_000_000}),
        json!({"cpu": 0}),
        json!({"gpu": 1}),
        json!({"cpu": 1.5}),
        json!({"snapshot": "no-such-snapshot"}),
        json!({"snapshot": "host", "cpu": 1}),
        json!({"buildInfo": {"dockerfileContent": "FROM nope:1\n"}}),
        json!({"labels": {"code-toolbox-language": "rust"}}),
        json!({"env": {"BAD=KEY": "x"}}),
        json!({"autoStopInterval": -1}),
    ];
    for body in cases {
        let (st, resp) = s.call("POST", "/api/sandbox", Some(body.clone())).await;
        assert_envelope(st, &resp, 400, "/api/sandbox");
        let _ = body;
    }
    // Oversubscription within the host's cores is fine.
    let sb = s.create(json!({"cpu": cores})).await;
    assert_eq!(sb["cpu"], cores);
    let (st, list) = s.call("GET", "/api/sandbox", None).await;
    assert_eq!(st, 200);
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "failed creates left nothing"
    );
    // Dockerfile builds and volumes are not supported: 422 with a clear message.
    let (st, resp) = s
        .call(
            "POST",
            "/api/sandbox",
            Some(json!({"buildInfo": {"dockerfileContent": "FROM x\nRUN y\n"}})),
        )
        .await;
    assert_envelope(st, &resp, 422, "/api/sandbox");
    assert!(resp["message"].as_str().unwrap().contains("not supported"));
}

#[tokio::test]
async fn unsupported_features_answer_422_not_supported() {
    let s = Server::start();
    let sb = s.create(json!({})).await;
    let id = sb["id"].as_str().unwrap();
    for (method, path) in [
        ("GET", format!("/api/sandbox/{id}/ports/3000/preview-url")),
        (
            "GET",
            format!("/api/sandbox/{id}/ports/3000/signed-preview-url?expiresInSeconds=60"),
        ),
        (
            "POST",
            format!("/api/sandbox/{id}/ssh-access?expiresInMinutes=60"),
        ),
        ("POST", format!("/api/sandbox/{id}/pause")),
        ("POST", format!("/api/sandbox/{id}/fork")),
        ("GET", "/api/snapshots?page=1&limit=10".to_owned()),
        ("GET", "/api/snapshots/snapshot-name".to_owned()),
        ("GET", "/api/volumes".to_owned()),
        ("POST", "/api/volumes".to_owned()),
        ("GET", "/api/object-storage/push-access".to_owned()),
    ] {
        let (st, body) = s.call(method, &path, None).await;
        let bare = path.split('?').next().unwrap();
        assert_envelope(st, &body, 422, bare);
        assert!(
            body["message"].as_str().unwrap().contains("not supported"),
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn api_key_is_required_everywhere_and_host_checked_without_one() {
    let s = Server::start();
    let sb = s.create(json!({})).await;
    let id = sb["id"].as_str().unwrap();
    for path in [
        "/api/sandbox".to_owned(),
        format!("/api/sandbox/{id}"),
        format!("/toolbox/{id}/process/session"),
    ] {
        let (st, body) = raw(&s.addr, "GET", &path, None, &[]).await;
        assert_envelope(st, &body, 401, &path);
        let (st, _) = raw(
            &s.addr,
            "GET",
            &path,
            None,
            &[("authorization", "Bearer wrong".to_owned())],
        )
        .await;
        assert_eq!(st, 401);
    }
    // Keyless (loopback only): any Bearer, but the Host must be a loopback name.
    let open = Server::start_with(None, &[]);
    let (st, _) = raw(&open.addr, "GET", "/api/sandbox", None, &[]).await;
    assert_eq!(st, 200);
    let (st, body) = raw(
        &open.addr,
        "GET",
        "/api/sandbox",
        None,
        &[("host", "evil.example:3000".to_owned())],
    )
    .await;
    assert_eq!(st, 403, "{body}");
}

#[tokio::test]
async fn refuses_a_public_listen_address_without_a_key() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sandboxd"))
        .args(["--listen", "0.0.0.0:0", "--test-unisolated-provider"])
        .env_remove("SANDBOXD_API_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("without an API key"));
}

#[tokio::test]
async fn list_pages_follow_the_cursor_and_filters_apply() {
    let s = Server::start();
    let mut ids = Vec::new();
    for i in 0..3 {
        let sb = s
            .create(json!({"labels": {"team": "x y", "n": i.to_string()}}))
            .await;
        ids.push(sb["id"].as_str().unwrap().to_owned());
    }
    s.create(json!({"labels": {"team": "other"}})).await;
    // Python spelling (%20) of {"team": "x y"}
    let q = "labels=%7B%22team%22%3A%20%22x%20y%22%7D&limit=2";
    let (st, page1) = s.call("GET", &format!("/api/sandbox?{q}"), None).await;
    assert_eq!(st, 200);
    assert_eq!(page1["items"].as_array().unwrap().len(), 2);
    let cursor = page1["nextCursor"]
        .as_str()
        .expect("a next cursor")
        .to_owned();
    // TS spelling (+)
    let q2 = format!("cursor={cursor}&limit=2&labels=%7B%22team%22%3A%22x+y%22%7D");
    let (_, page2) = s.call("GET", &format!("/api/sandbox?{q2}"), None).await;
    let items2 = page2["items"].as_array().unwrap();
    assert_eq!(items2.len(), 1);
    assert!(page2["nextCursor"].is_null());
    let mut seen: Vec<String> = page1["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(items2)
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    seen.sort();
    ids.sort();
    assert_eq!(seen, ids);
    for item in page1["items"].as_array().unwrap() {
        for key in [
            "id",
            "organizationId",
            "name",
            "user",
            "labels",
            "public",
            "networkBlockAll",
            "target",
            "cpu",
            "gpu",
            "memory",
            "disk",
            "toolboxProxyUrl",
        ] {
            assert!(item.get(key).is_some_and(|v| !v.is_null()), "{key}");
        }
    }
    s.call(
        "POST",
        &format!("/api/sandbox/{}/stop?force=true", ids[0]),
        None,
    )
    .await;
    let (_, stopped) = s.call("GET", "/api/sandbox?states=stopped", None).await;
    let stopped = stopped["items"].as_array().unwrap();
    assert_eq!(stopped.len(), 1);
    assert_eq!(stopped[0]["id"], ids[0].as_str());
    let (st, body) = s.call("GET", "/api/sandbox?labels=notjson", None).await;
    assert_eq!(st, 400);
    assert_eq!(body["message"], "Invalid labels JSON format");
}

#[tokio::test]
async fn labels_intervals_activity_and_resize() {
    let s = Server::start();
    let sb = s.create(json!({"cpu": 1, "memory": 1})).await;
    let id = sb["id"].as_str().unwrap();
    let (st, body) = s
        .call(
            "PUT",
            &format!("/api/sandbox/{id}/labels"),
            Some(json!({"labels": {"a": "b"}})),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(body["labels"], json!({"a": "b"}));
    // Bodyless POSTs with TS's form content type, Python's none: both fine.
    let (st, body) = raw(
        &s.addr,
        "POST",
        &format!("/api/sandbox/{id}/autostop/60"),
        None,
        &[
            ("authorization", format!("Bearer {KEY}")),
            (
                "content-type",
                "application/x-www-form-urlencoded".to_owned(),
            ),
        ],
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["autoStopInterval"], 60);
    let (st, body) = s
        .call("POST", &format!("/api/sandbox/{id}/autostop/-1"), None)
        .await;
    assert_eq!(st, 400, "{body}");
    let (st, body) = s
        .call("POST", &format!("/api/sandbox/{id}/autodelete/-1"), None)
        .await;
    assert_eq!((st, body["autoDeleteInterval"].as_i64()), (200, Some(-1)));
    let (st, body) = s
        .call("POST", &format!("/api/sandbox/{id}/last-activity"), None)
        .await;
    assert_eq!((st, body), (204, Value::Null));
    let (st, body) = s
        .call(
            "POST",
            &format!("/api/sandbox/{id}/resize"),
            Some(json!({"cpu": 2, "memory": 2})),
        )
        .await;
    if std::thread::available_parallelism().unwrap().get() >= 2 {
        assert_eq!(st, 200, "{body}");
        assert_eq!(
            (body["cpu"].as_u64(), body["memory"].as_u64()),
            (Some(2), Some(2))
        );
        assert_eq!(body["state"], "started");
    }
    let (st, body) = s
        .call(
            "POST",
            &format!("/api/sandbox/{id}/resize"),
            Some(json!({"memory": 100_000})),
        )
        .await;
    assert_envelope(st, &body, 400, &format!("/api/sandbox/{id}/resize"));
    let (st, _) = s
        .call(
            "POST",
            &format!("/api/sandbox/{id}/resize"),
            Some(json!({"disk": 10})),
        )
        .await;
    assert_eq!(st, 400, "disk only grows while stopped");
}

/// A minimal WebSocket client over a raw TCP stream (text frames, masked as clients must).
struct Ws(tokio::net::TcpStream);

impl Ws {
    async fn connect(addr: &str, path: &str) -> Ws {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        tcp.write_all(req.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut b = [0u8; 1];
            tcp.read_exact(&mut b).await.unwrap();
            head.push(b[0]);
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        Ws(tcp)
    }

    async fn send(&mut self, text: &str) {
        use tokio::io::AsyncWriteExt;
        let mask = [1u8, 2, 3, 4];
        let len = text.len();
        assert!(len < 126);
        let mut frame = vec![0x81, 0x80 | len as u8];
        frame.extend_from_slice(&mask);
        frame.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.0.write_all(&frame).await.unwrap();
    }

    /// The next text message (server frames are unmasked); `None` on close.
    async fn recv(&mut self) -> Option<String> {
        use tokio::io::AsyncReadExt;
        loop {
            let mut h = [0u8; 2];
            tokio::time::timeout(
                std::time::Duration::from_secs(30),
                self.0.read_exact(&mut h),
            )
            .await
            .expect("a frame within 30 s")
            .ok()?;
            let mut len = u64::from(h[1] & 0x7f);
            if len == 126 {
                let mut b = [0u8; 2];
                self.0.read_exact(&mut b).await.ok()?;
                len = u64::from(u16::from_be_bytes(b));
            } else if len == 127 {
                let mut b = [0u8; 8];
                self.0.read_exact(&mut b).await.ok()?;
                len = u64::from_be_bytes(b);
            }
            let mut payload = vec![0u8; usize::try_from(len).unwrap()];
            self.0.read_exact(&mut payload).await.ok()?;
            match h[0] & 0x0f {
                0x1 => return Some(String::from_utf8(payload).unwrap()),
                0x8 => return None,
                _ => {}
            }
        }
    }
}

#[tokio::test]
async fn socket_io_authenticates_and_pushes_state_events() {
    let s = Server::start();
    let path =
        "/api/socket.io/?source=sdk-typescript-legacy&sdkVersion=0.218.0&EIO=4&transport=websocket";
    // A wrong token in the CONNECT packet is refused (the upgrade itself carries no key).
    let mut bad = Ws::connect(&s.addr, path).await;
    assert!(bad.recv().await.unwrap().starts_with("0{"));
    bad.send(r#"40{"token":"wrong"}"#).await;
    assert_eq!(bad.recv().await.unwrap(), r#"44{"message":"Unauthorized"}"#);

    let mut ws = Ws::connect(&s.addr, path).await;
    let open = ws.recv().await.unwrap();
    let open: Value = serde_json::from_str(open.strip_prefix('0').unwrap()).unwrap();
    assert_eq!(open["upgrades"], json!([]), "{open}");
    assert!(open["pingInterval"].as_u64().unwrap() > 0);
    ws.send(&format!(r#"40{{"token":"{KEY}"}}"#)).await;
    let accepted = ws.recv().await.unwrap();
    assert!(accepted.starts_with(r#"40{"sid":""#), "{accepted}");
    // A client ping is answered.
    ws.send("2").await;
    assert_eq!(ws.recv().await.unwrap(), "3");
    // Every state change of a sandbox is pushed, with the DTO.
    let sb = s.create(json!({})).await;
    let id = sb["id"].as_str().unwrap();
    let event = ws.recv().await.unwrap();
    let event: Value = serde_json::from_str(event.strip_prefix("42").unwrap()).unwrap();
    assert_eq!(event[0], "sandbox.state.updated");
    assert_eq!(event[1]["sandbox"]["id"], id);
    assert_eq!(event[1]["newState"], "started", "{event}");
    assert_eq!(event[1]["sandbox"]["state"], "started");
    let (st, _) = s.call("DELETE", &format!("/api/sandbox/{id}"), None).await;
    assert_eq!(st, 200);
    let mut states = Vec::new();
    while states.last().map(String::as_str) != Some("destroyed") {
        let event = ws.recv().await.unwrap();
        let event: Value = serde_json::from_str(event.strip_prefix("42").unwrap()).unwrap();
        states.push(event[1]["newState"].as_str().unwrap().to_owned());
    }
    assert_eq!(states, ["destroying", "destroyed"]);
}
