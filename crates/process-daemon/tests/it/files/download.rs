//! Downloads: bulk-download parts and errors, single-file and ranged download, and the
//! daemon-memory bound of streaming transfers.

use std::os::unix::fs::OpenOptionsExt;

use bytes::{Bytes, BytesMut};
use http::{Method, StatusCode};
use process_proto::multipart::{self, Event, MultipartDecoder};
use serde_json::{json, Value};

use super::{code, httpx_body, multipart_post, parts, vm_hwm_kib, write};
use crate::support::TestDaemon;

#[tokio::test]
async fn bulk_download_parts_errors_and_random_boundary() {
    let d = TestDaemon::start().await;
    // Fault fixed: this content broke the original's fixed-boundary framing.
    let tricky = b"before\r\n--DAYTONA-FILE-BOUNDARY\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nafter\r\n--DAYTONA-FILE-BOUNDARY--\r\n".to_vec();
    write(&d, "a.txt", b"hello");
    write(&d, "tricky.bin", &tricky);
    write(&d, "dir/\u{fc} \"q\".bin", b"\x00\x01\x02");
    write(&d, "empty.txt", b"");
    let body = json!({"paths": ["a.txt", "missing.txt", "tricky.bin", "dir/\u{fc} \"q\".bin", "empty.txt", "dir", ""]});
    let r1 = d.post("/files/bulk-download", &body).await;
    assert_eq!(r1.status, StatusCode::OK);
    let p = parts(&r1);
    assert_eq!(p.len(), 7);
    assert_eq!(
        (
            p[0].0.as_str(),
            p[0].1.as_str(),
            p[0].2.as_str(),
            p[0].3.as_slice()
        ),
        ("file", "a.txt", "text/plain; charset=utf-8", &b"hello"[..])
    );
    assert_eq!((p[1].0.as_str(), p[1].1.as_str()), ("error", "missing.txt"));
    let err: Value = serde_json::from_slice(&p[1].3).unwrap();
    assert_eq!(
        (
            err["statusCode"].as_u64(),
            err["code"].as_str(),
            err["path"].as_str()
        ),
        (Some(404), Some("FILE_NOT_FOUND"), Some("missing.txt"))
    );
    assert_eq!(err["message"], "file not found: missing.txt");
    assert_eq!(
        p[2].3, tricky,
        "content with the original's boundary arrives intact"
    );
    assert_eq!(
        (p[3].1.as_str(), p[3].3.as_slice()),
        ("dir/\u{fc} \"q\".bin", &b"\x00\x01\x02"[..])
    );
    assert_eq!((p[4].0.as_str(), p[4].3.len()), ("file", 0));
    let e5: Value = serde_json::from_slice(&p[5].3).unwrap();
    assert_eq!(e5["code"], "INVALID_FILE_PATH");
    let e6: Value = serde_json::from_slice(&p[6].3).unwrap();
    assert_eq!(e6["message"], "invalid file path: path is empty");
    let r2 = d
        .post("/files/bulk-download", &json!({"paths": ["a.txt"]}))
        .await;
    assert_ne!(
        r1.headers["content-type"], r2.headers["content-type"],
        "boundary is random per response"
    );
    assert!(!r1.headers["content-type"]
        .to_str()
        .unwrap()
        .contains("DAYTONA-FILE-BOUNDARY"));
    let r = d.post("/files/bulk-download", &json!({"paths": []})).await;
    assert_eq!(code(&r), "BAD_REQUEST");
    let r = d
        .call_raw(
            Method::POST,
            "/files/bulk-download",
            Bytes::from_static(b"{nope"),
            &[],
        )
        .await;
    assert_eq!((r.status, r.body.len()), (StatusCode::BAD_REQUEST, 0));
}

#[tokio::test]
async fn upload_v2_legacy_and_ranged_download() {
    let d = TestDaemon::start().await;
    let r = d
        .call_raw(
            Method::POST,
            "/files/upload-v2?path=up/raw.bin",
            Bytes::from_static(b"0123456789"),
            &[("content-type", "application/octet-stream")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"name": "raw.bin", "path": "up/raw.bin", "type": "file"})
    );
    let body = b"--QQ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n\r\nmultipart!\r\n--QQ--\r\n".to_vec();
    let r = multipart_post(&d, "/files/upload?path=up/mp.bin", "QQ", body).await;
    assert_eq!((r.status, r.body.len()), (StatusCode::OK, 0));
    assert_eq!(
        std::fs::read(d.workdir.path().join("up/mp.bin")).unwrap(),
        b"multipart!"
    );
    let body =
        b"--QQ\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--QQ--\r\n".to_vec();
    let r = multipart_post(&d, "/files/upload-v2?path=up/none.bin", "QQ", body).await;
    assert_eq!(r.json()["message"], "bad request: http: no such file");

    let r = d.get("/files/download?path=up/raw.bin").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(&r.body[..], b"0123456789");
    assert_eq!(r.headers["content-type"], "application/octet-stream");
    assert_eq!(
        r.headers["content-disposition"],
        "attachment; filename=\"raw.bin\"; filename*=utf-8''raw.bin"
    );
    let r = d
        .call(
            Method::GET,
            "/files/download?path=up/raw.bin",
            None,
            &[("range", "bytes=2-4")],
        )
        .await;
    assert_eq!(
        (r.status, &r.body[..]),
        (StatusCode::PARTIAL_CONTENT, &b"234"[..])
    );
    let r = d
        .call(Method::HEAD, "/files/download?path=up/raw.bin", None, &[])
        .await;
    assert_eq!((r.status, r.body.len()), (StatusCode::OK, 0));
    assert_eq!(r.headers["content-length"], "10");
    let r = d.get("/files/download?path=up").await;
    assert_eq!(r.json()["message"], "bad request: path must be a file");
    let r = d.get("/files/download?path=up/missing").await;
    assert_eq!(code(&r), "FILE_NOT_FOUND");
}

/// Uploads and downloads stream: 128 MiB up and down through a `processd` process grow its
/// peak memory by at most 32 MiB.
#[tokio::test]
async fn transfers_stream_in_bounded_daemon_memory() {
    use futures_util::StreamExt;
    use http_body_util::BodyExt;
    use tokio::io::AsyncBufReadExt;
    const SIZE: usize = 128 * 1024 * 1024;
    let work = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_processd"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--log-level",
            "warn",
            "--workdir",
        ])
        .arg(work.path())
        .arg("--state-dir")
        .arg(state.path())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next_line().await.unwrap().unwrap();
    let addr = line.rsplit("http://").next().unwrap().trim().to_owned();
    let connect = || async {
        let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let (sender, conn) = hyper::client::conn::http1::handshake::<
            _,
            http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>,
        >(hyper_util::rt::TokioIo::new(stream))
        .await
        .unwrap();
        tokio::spawn(conn);
        sender
    };
    // Warm up (allocator arenas, first request paths), then take the baseline.
    let mut s = connect().await;
    let warm = http::Request::post("/files/bulk-upload")
        .header("host", addr.as_str())
        .header("content-type", "multipart/form-data; boundary=wb")
        .body(
            http_body_util::Full::new(Bytes::from(httpx_body(
                "wb",
                &[("warm.bin", &vec![7u8; 1 << 20])],
            )))
            .boxed(),
        )
        .unwrap();
    assert_eq!(s.send_request(warm).await.unwrap().status(), StatusCode::OK);
    let base = vm_hwm_kib(pid);

    let b = "memb0undary";
    let head = Bytes::from(format!("--{b}\r\nContent-Disposition: form-data; name=\"files[0].path\"\r\n\r\nbig.bin\r\n--{b}\r\nContent-Disposition: form-data; name=\"files[0].file\"; filename=\"big.bin\"\r\n\r\n"));
    let tail = Bytes::from(format!("\r\n--{b}--\r\n"));
    let chunk = Bytes::from(vec![b'q'; 256 * 1024]);
    let chunks = std::iter::once(head)
        .chain(std::iter::repeat_n(chunk, SIZE / (256 * 1024)))
        .chain(std::iter::once(tail))
        .map(|c| Ok::<_, std::convert::Infallible>(http_body::Frame::data(c)));
    let body = http_body_util::StreamBody::new(futures_util::stream::iter(chunks));
    let mut s = connect().await;
    let req = http::Request::post("/files/bulk-upload")
        .header("host", addr.as_str())
        .header("content-type", format!("multipart/form-data; boundary={b}"))
        .body(BodyExt::boxed(body))
        .unwrap();
    let resp = s.send_request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        std::fs::metadata(work.path().join("big.bin"))
            .unwrap()
            .len(),
        SIZE as u64
    );

    let mut s = connect().await;
    let req = http::Request::post("/files/bulk-download")
        .header("host", addr.as_str())
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(Bytes::from_static(br#"{"paths":["big.bin"]}"#)).boxed())
        .unwrap();
    let resp = s.send_request(req).await.unwrap();
    let mut data = resp.into_body().into_data_stream();
    let mut total = 0usize;
    while let Some(c) = data.next().await {
        total += c.unwrap().len();
    }
    assert!(
        total > SIZE,
        "the whole file came back ({total} bytes with framing)"
    );
    let grown_mib = (vm_hwm_kib(pid).saturating_sub(base)) / 1024;
    assert!(
        grown_mib <= 32,
        "daemon peak memory grew by {grown_mib} MiB moving 128 MiB each way"
    );
    eprintln!(
        "daemon peak memory growth: {grown_mib} MiB (baseline {} MiB)",
        base / 1024
    );
    child.kill().await.unwrap();
}

/// Kept from the original (spec §8.1, the SDK's progress `total_bytes`): every file part
/// announces its length; error parts announce none.
#[tokio::test]
async fn bulk_download_file_parts_carry_their_content_length() {
    let d = TestDaemon::start().await;
    write(&d, "five.txt", b"hello");
    write(&d, "empty.bin", b"");
    let big = vec![b'z'; 3 * 1024 * 1024 + 17];
    write(&d, "big.bin", &big);
    let r = d
        .post(
            "/files/bulk-download",
            &json!({"paths": ["five.txt", "missing", "empty.bin", "big.bin"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let boundary =
        multipart::boundary_from_content_type(r.headers["content-type"].to_str().unwrap())
            .expect("multipart content type");
    let mut dec = MultipartDecoder::new(&boundary).unwrap();
    let mut buf = BytesMut::from(&r.body[..]);
    let mut got: Vec<(String, Option<u64>, u64)> = Vec::new();
    while let Some(ev) = dec.decode_eof(&mut buf).expect("well-formed multipart") {
        match ev {
            Event::Part(h) => got.push((h.name.unwrap_or_default(), h.content_length, 0)),
            Event::Data(b) => got.last_mut().unwrap().2 += b.len() as u64,
            Event::PartEnd | Event::End => {}
        }
    }
    let big_len = big.len() as u64;
    assert_eq!(
        got,
        [
            ("file".to_owned(), Some(5), 5),
            ("error".to_owned(), None, got[1].2),
            ("file".to_owned(), Some(0), 0),
            ("file".to_owned(), Some(big_len), big_len),
        ]
    );
}

/// Whether any descriptor of this process (the in-process daemon's included) is open on `path`.
fn open_in_this_process(path: &std::path::Path) -> bool {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(Result::ok)
        .any(|e| std::fs::read_link(e.path()).is_ok_and(|t| t == path))
}

/// Fault fixed (spec §8.1): when the client goes away mid-download the daemon stops reading
/// the current file and opens none of the later ones. The later path is a FIFO: opening it
/// for reading blocks until a writer comes, and while a reader is in `open` a non-blocking
/// writer can open it, so "the daemon tried to open it" is a state the test can see.
#[tokio::test]
async fn bulk_download_stops_when_the_client_goes_away() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let d = TestDaemon::start().await;
    write(&d, "big.bin", &vec![b'b'; 64 * 1024 * 1024]);
    let fifo = d.workdir.path().join("later.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let big = std::fs::canonicalize(d.workdir.path().join("big.bin")).unwrap();

    let body = br#"{"paths":["big.bin","later.fifo"]}"#;
    let mut s = tokio::net::TcpStream::connect(d.addr).await.unwrap();
    let req = format!(
        "POST /files/bulk-download HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        d.addr,
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut first = vec![0u8; 64 * 1024];
    s.read_exact(&mut first).await.unwrap();
    assert!(first.starts_with(b"HTTP/1.1 200"), "{:?}", &first[..40]);
    drop(s);

    // The daemon lets go of the big file (it would read it to the end and go on otherwise).
    let released = crate::support::eventually(std::time::Duration::from_mins(1), || {
        !open_in_this_process(&big)
    })
    .await;
    assert!(
        released,
        "the daemon still holds big.bin after the client left"
    );
    // Had it gone on, it would be blocked opening the FIFO by now (microseconds after the
    // close); give it ample time anyway.
    for _ in 0..20 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let writer = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo);
        match writer {
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {}
            Err(e) => panic!("opening the FIFO for writing: {e}"),
            Ok(_) => panic!("the daemon opened the next file after the client had gone"),
        }
    }
}
