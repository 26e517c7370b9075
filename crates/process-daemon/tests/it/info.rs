//! Info, port, system and proxy routes (spec toolbox §6.1), including the fixed faults: IPv6
//! listeners are listed and `/port` is sorted; `POST /env`.

use http::{Method, StatusCode};
use serde_json::json;

use crate::support::TestDaemon;

#[tokio::test]
async fn dirs_version_and_init() {
    let d = TestDaemon::start().await;
    // (HOME itself may be switched by the git tests of this binary: compare the two routes.)
    let home = d.get("/user-home-dir").await.json();
    assert!(std::path::Path::new(home["dir"].as_str().unwrap()).is_absolute());
    assert_eq!(d.get("/project-dir").await.json(), home);
    assert_eq!(
        d.get("/work-dir").await.json(),
        json!({"dir": d.workdir.path().to_string_lossy()})
    );
    assert!(d.get("/version").await.json()["version"].is_string());
    let r = d.post("/init", &json!({"token": "t"})).await;
    assert_eq!(
        r.json(),
        json!({"message": "Auth token set and telemetry initialized successfully"})
    );
    let r = d
        .call_raw(
            Method::POST,
            "/init",
            bytes::Bytes::from_static(b"nope"),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn ports_sorted_with_ipv6_and_in_use_probe() {
    let d = TestDaemon::start().await;
    let v4 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let v6 = std::net::TcpListener::bind("[::1]:0").ok();
    let r = d.get("/port").await;
    assert_eq!(r.status, StatusCode::OK);
    let ports: Vec<u64> = r.json()["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_u64().unwrap())
        .collect();
    let mut sorted = ports.clone();
    sorted.sort_unstable();
    assert_eq!(ports, sorted, "ascending");
    assert!(ports.contains(&u64::from(v4.local_addr().unwrap().port())));
    assert!(
        ports.contains(&u64::from(d.addr.port())),
        "the daemon's own port"
    );
    if let Some(v6) = &v6 {
        assert!(
            ports.contains(&u64::from(v6.local_addr().unwrap().port())),
            "IPv6 listeners are listed (the original read the IPv4 table only)"
        );
    }
    let r = d.get("/port/80/in-use").await;
    assert_eq!(
        r.json()["message"],
        "bad request: port out of range: must be between 3000 and 9999"
    );
    // Find a free port in range, then occupy it.
    let free = (3000..=9999u16)
        .find_map(|p| std::net::TcpListener::bind(("127.0.0.1", p)).ok())
        .unwrap();
    let port = free.local_addr().unwrap().port();
    assert_eq!(
        d.get(&format!("/port/{port}/in-use")).await.json(),
        json!({"isInUse": true})
    );
    drop(free);
    assert_eq!(
        d.get(&format!("/port/{port}/in-use")).await.json(),
        json!({"isInUse": false})
    );
}

#[tokio::test]
async fn system_metrics_are_plausible() {
    let d = TestDaemon::start().await;
    let v = d.get("/system/metrics").await.json();
    assert!(v["cpuCount"].as_u64().unwrap() >= 1);
    assert!(v["memTotal"].as_u64().unwrap() > v["memUsed"].as_u64().unwrap());
    assert!(v["diskTotal"].as_u64().unwrap() >= v["diskFree"].as_u64().unwrap());
    let pct = v["cpuUsedPct"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&pct), "{pct}");
    assert!(v["timestampUnix"].as_i64().unwrap() > 1_700_000_000);
}

#[tokio::test]
async fn proxy_forwards_to_a_loopback_port() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let d = TestDaemon::start().await;
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = upstream.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut s, _) = upstream.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).await.unwrap();
        let head = String::from_utf8_lossy(&buf[..n]).into_owned();
        let line = head.lines().next().unwrap_or_default().to_owned();
        let body = format!("saw {line}");
        let resp = format!(
            "HTTP/1.1 201 Created\r\nContent-Length: {}\r\nX-Up: 1\r\n\r\n{body}",
            body.len()
        );
        s.write_all(resp.as_bytes()).await.unwrap();
    });
    let r = d.get(&format!("/proxy/{port}/some/path?q=1")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.text(), "saw GET /some/path?q=1 HTTP/1.1");
    assert_eq!(r.headers["x-up"], "1");
    // Nothing listens there now: 502 with the envelope.
    let r = d.get(&format!("/proxy/{port}/x")).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .starts_with("proxy upstream error"));
}

/// `POST /env` (I6, `sandbox.update_env`): processes started afterwards see the change (set,
/// unset, `unsetValuePrefix`); invalid names are refused and change nothing.
#[tokio::test]
async fn update_env_reaches_processes_started_afterwards() {
    let d = TestDaemon::start().await;
    let exec = |cmd: &'static str| {
        let d = &d;
        async move {
            d.post("/process/execute", &json!({"command": cmd}))
                .await
                .json()["result"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        }
    };
    let r = d
        .post(
            "/env",
            &json!({"set": {"IT_ENV_A": "one", "IT_ENV_P": "ph:x"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.json()["message"].is_string());
    assert_eq!(exec("printf %s \"$IT_ENV_A/$IT_ENV_P\"").await, "one/ph:x");
    let r = d
        .post(
            "/env",
            &json!({"unset": ["IT_ENV_A"], "unsetValuePrefix": "ph:", "set": {"IT_ENV_Q": "ph:kept"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        exec("printf %s \"${IT_ENV_A-gone}/${IT_ENV_P-gone}/$IT_ENV_Q\"").await,
        "gone/gone/ph:kept"
    );
    let r = d
        .post("/env", &json!({"set": {"IT_ENV_B": "x", "BAD=NAME": "y"}}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(exec("printf %s \"${IT_ENV_B-unset}\"").await, "unset");
    let r = d
        .call_raw(Method::POST, "/env", bytes::Bytes::from_static(b"{"), &[])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}
