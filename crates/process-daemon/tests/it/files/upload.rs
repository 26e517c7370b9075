//! Uploads: the SDKs' multipart framings, kept modes, atomic replacement, cut uploads.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use http::StatusCode;
use serde_json::json;

use super::{httpx_body, multipart_post, write};
use crate::support::TestDaemon;

#[tokio::test]
async fn bulk_upload_sdk_framings() {
    let d = TestDaemon::start().await;
    // sync httpx
    let r = multipart_post(
        &d,
        "/files/bulk-upload",
        "cf1fa1576c1e",
        httpx_body(
            "cf1fa1576c1e",
            &[
                ("tmp/hello.txt", b"hello"),
                ("/dev/null/x", b"no"),
                (" sp ace.txt", b"s"),
            ],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let v = r.json();
    assert_eq!(v["files"][0], json!({"path": "tmp/hello.txt", "bytes": 5}));
    assert!(
        v["errors"][0]
            .as_str()
            .unwrap()
            .starts_with("/dev/null/x: "),
        "{v}"
    );
    assert_eq!(
        std::fs::read(d.workdir.path().join("tmp/hello.txt")).unwrap(),
        b"hello"
    );
    // Fault fixed: the original trimmed spaces from destination names.
    assert_eq!(
        std::fs::read(d.workdir.path().join(" sp ace.txt")).unwrap(),
        b"s"
    );
    // async aiohttp: Content-Type first, percent-encoded filename, interleaved.
    let b = "14c43314357a";
    let body = format!(
        "--{b}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Disposition: form-data; name=\"files[0].path\"\r\n\r\n/tmp/../{}/f1.txt\r\n--{b}\r\nContent-Type: application/octet-stream\r\nContent-Disposition: form-data; name=\"files[0].file\"; filename=\"%2Ftmp%2Ff1.txt\"\r\n\r\none\r\n--{b}--\r\n",
        d.workdir.path().display()
    );
    let r = multipart_post(&d, "/files/bulk-upload", b, body.into_bytes()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        std::fs::read(d.workdir.path().join("f1.txt")).unwrap(),
        b"one"
    );
    // hand-built async stream framing, boundary with dashes
    let b = "----DaytonaUploade6c6c1d3a121ba51978ea0c1";
    let body = format!("--{b}\r\nContent-Disposition: form-data; name=\"files[0].path\"\r\n\r\ntmp/x y\"z.bin\r\n--{b}\r\nContent-Disposition: form-data; name=\"files[0].file\"; filename=\"x y_z.bin\"\r\nContent-Type: application/octet-stream\r\n\r\nabcdef\r\n--{b}--\r\n");
    let r = multipart_post(&d, "/files/bulk-upload", b, body.into_bytes()).await;
    assert_eq!(
        r.json(),
        json!({"files": [{"path": "tmp/x y\"z.bin", "bytes": 6}]})
    );
    // file before its path
    let b = "zz";
    let body = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"files[7].file\"\r\n\r\nabc\r\n--{b}--\r\n"
    );
    let r = multipart_post(&d, "/files/bulk-upload", b, body.into_bytes()).await;
    assert_eq!(
        r.json()["errors"],
        json!(["file[7]: missing .path metadata"])
    );
    // not multipart
    let r = d.post("/files/bulk-upload", &json!({})).await;
    assert_eq!(
        (r.status, r.json()),
        (
            StatusCode::BAD_REQUEST,
            json!({"errors": ["invalid multipart form"], "files": []})
        )
    );
}

#[tokio::test]
async fn bulk_upload_keeps_mode_and_replaces_atomically() {
    let d = TestDaemon::start().await;
    write(&d, "keep.sh", b"old");
    std::fs::set_permissions(
        d.workdir.path().join("keep.sh"),
        std::fs::Permissions::from_mode(0o751),
    )
    .unwrap();
    let r = multipart_post(
        &d,
        "/files/bulk-upload",
        "B0",
        httpx_body("B0", &[("keep.sh", b"new content")]),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        std::fs::read(d.workdir.path().join("keep.sh")).unwrap(),
        b"new content"
    );
    assert_eq!(
        std::fs::metadata(d.workdir.path().join("keep.sh"))
            .unwrap()
            .mode()
            & 0o777,
        0o751
    );
}

/// Fault fixed: a cut upload leaves neither a half file nor a temp file, and an existing file
/// keeps its old content.
#[tokio::test]
async fn cut_upload_leaves_no_half_file() {
    use tokio::io::AsyncWriteExt;
    let d = TestDaemon::start().await;
    write(&d, "dir/existing.bin", b"original");
    for dest in ["dir/fresh.bin", "dir/existing.bin"] {
        let b = "cutcut";
        let head = format!("--{b}\r\nContent-Disposition: form-data; name=\"files[0].path\"\r\n\r\n{dest}\r\n--{b}\r\nContent-Disposition: form-data; name=\"files[0].file\"; filename=\"f\"\r\n\r\n");
        let mut s = tokio::net::TcpStream::connect(d.addr).await.unwrap();
        let req = format!(
            "POST /files/bulk-upload HTTP/1.1\r\nHost: {}\r\nContent-Type: multipart/form-data; boundary={b}\r\nContent-Length: 10000000\r\n\r\n{head}",
            d.addr
        );
        s.write_all(req.as_bytes()).await.unwrap();
        s.write_all(&vec![b'z'; 3 * 1024 * 1024]).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        drop(s);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let mut names: Vec<String> = std::fs::read_dir(d.workdir.path().join("dir"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["existing.bin"], "no half or temp files");
    assert_eq!(
        std::fs::read(d.workdir.path().join("dir/existing.bin")).unwrap(),
        b"original"
    );
}
