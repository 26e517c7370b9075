//! `/files/...` routes: every route, the SDKs' multipart framings, and each original fault we
//! fixed (random download boundary, atomic uploads, kept spaces and modes, no 64 KiB line
//! cliff, `**` globs, untouched files on replace, special mode bits, moves into a subtree).

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use bytes::{Bytes, BytesMut};
use http::{Method, StatusCode};
use process_proto::multipart::{self, Event, MultipartDecoder};
use serde_json::{json, Value};

use crate::support::{Resp, TestDaemon};

fn write(d: &TestDaemon, rel: &str, content: &[u8]) {
    let p = d.workdir.path().join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

fn code(r: &Resp) -> String {
    r.json()["code"].as_str().unwrap_or_default().to_owned()
}

async fn multipart_post(d: &TestDaemon, path: &str, boundary: &str, body: Vec<u8>) -> Resp {
    let ct = format!("multipart/form-data; boundary={boundary}");
    d.call_raw(
        Method::POST,
        path,
        Bytes::from(body),
        &[("content-type", &ct)],
    )
    .await
}

/// Decodes a bulk-download response into `(name, filename, content type, bytes)` parts.
fn parts(r: &Resp) -> Vec<(String, String, String, Vec<u8>)> {
    let ct = r.headers["content-type"].to_str().unwrap();
    let boundary = multipart::boundary_from_content_type(ct).expect("multipart content type");
    let mut dec = MultipartDecoder::new(&boundary).unwrap();
    let mut buf = BytesMut::from(&r.body[..]);
    let mut out = Vec::new();
    while let Some(ev) = dec.decode_eof(&mut buf).expect("well-formed multipart") {
        match ev {
            Event::Part(h) => out.push((
                h.name.unwrap_or_default(),
                h.filename.unwrap_or_default(),
                h.content_type.unwrap_or_default(),
                Vec::new(),
            )),
            Event::Data(b) => out.last_mut().unwrap().3.extend_from_slice(&b),
            Event::PartEnd | Event::End => {}
        }
    }
    out
}

#[tokio::test]
async fn list_sorted_relative_paths_and_errors() {
    let d = TestDaemon::start().await;
    write(&d, "w/b.txt", b"bb");
    write(&d, "w/a.txt", b"a");
    write(&d, "w/sub/deep.txt", b"deep");
    std::os::unix::fs::symlink("/nonexistent/target", d.workdir.path().join("w/broken")).unwrap();
    for path in ["/files?path=w", "/files/?path=w"] {
        let r = d.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let v = r.json();
        let names: Vec<&str> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["a.txt", "b.txt", "sub"],
            "broken links are left out"
        );
        assert_eq!(v[0]["path"], "w/a.txt");
        assert_eq!(v[0]["size"], 1);
        assert_eq!(v[0]["isDir"], false);
        assert_eq!(v[2]["isDir"], true);
        assert!(v[2]["mode"].as_str().unwrap().starts_with("drwx"));
        assert_eq!(v[0]["owner"], nix::unistd::getuid().as_raw().to_string());
        assert!(v[0]["modifiedAt"].as_str().unwrap().ends_with('Z'));
        assert!(v[0]["modTime"].as_str().unwrap().ends_with("+0000 UTC"));
    }
    let deep = d.get("/files?path=w&depth=2").await.json();
    let paths: Vec<&str> = deep
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["w/a.txt", "w/b.txt", "w/sub", "w/sub/deep.txt"]);
    let r = d.get("/files?path=nope").await;
    assert_eq!(
        (r.status, code(&r)),
        (StatusCode::NOT_FOUND, "FILE_NOT_FOUND".into())
    );
    assert_eq!(r.json()["message"], "open nope: no such file or directory");
    let r = d.get("/files?path=w/a.txt").await;
    assert_eq!(
        (r.status, code(&r)),
        (StatusCode::BAD_REQUEST, "BAD_REQUEST".into())
    );
    let r = d.get("/files?path=w&depth=0").await;
    assert_eq!(
        r.json()["message"],
        "bad request: depth must be an integer >= 1"
    );
    // An empty directory is `[]`, never null.
    std::fs::create_dir(d.workdir.path().join("empty")).unwrap();
    assert_eq!(d.get("/files?path=empty").await.json(), json!([]));
}

#[tokio::test]
async fn info_follows_links_and_reports_formats() {
    let d = TestDaemon::start().await;
    write(&d, "a+b&c=d.txt", b"hello");
    std::fs::set_permissions(
        d.workdir.path().join("a+b&c=d.txt"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    let r = d.get("/files/info?path=a%2Bb%26c%3Dd.txt").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    assert_eq!(v["name"], "a+b&c=d.txt");
    assert_eq!(v["permissions"], "0640");
    assert_eq!(v["mode"], "-rw-r-----");
    assert!(v.get("path").is_none());
    let r = d.get("/files/info?path=missing").await;
    assert_eq!(code(&r), "FILE_NOT_FOUND");
    let r = d.get("/files/info").await;
    assert_eq!(r.json()["message"], "bad request: path is required");
}

#[tokio::test]
async fn create_folder_modes_and_special_bits() {
    let d = TestDaemon::start().await;
    let r = d
        .call(Method::POST, "/files/folder?path=x/y&mode=750", None, &[])
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let md = std::fs::metadata(d.workdir.path().join("x/y")).unwrap();
    assert!(md.is_dir());
    // Fault fixed: the original silently dropped setuid/setgid/sticky digits.
    let r = d
        .call(
            Method::POST,
            "/files/folder?path=shared&mode=1777",
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let mode = std::fs::metadata(d.workdir.path().join("shared"))
        .unwrap()
        .mode();
    assert_eq!(mode & 0o1000, 0o1000, "sticky bit kept: {mode:o}");
    // Existing directory: success, unchanged.
    let r = d
        .call(Method::POST, "/files/folder?path=x/y&mode=700", None, &[])
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    for bad in ["0o755", "u%2Bx", "8"] {
        let r = d
            .call(
                Method::POST,
                &format!("/files/folder?path=z&mode={bad}"),
                None,
                &[],
            )
            .await;
        assert_eq!(
            r.json()["message"],
            "bad request: invalid mode format",
            "{bad}"
        );
    }
}

#[tokio::test]
async fn delete_files_and_directories() {
    let d = TestDaemon::start().await;
    write(&d, "old file.txt", b"x");
    write(&d, "dir/inner.txt", b"x");
    let r = d.delete("/files?path=old%20file.txt&recursive=false").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert!(!d.workdir.path().join("old file.txt").exists());
    let r = d.delete("/files?path=dir&recursive=false").await;
    assert_eq!(
        r.json()["message"],
        "bad request: cannot delete directory without recursive flag"
    );
    let r = d.delete("/files/?path=dir&recursive=true").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(!d.workdir.path().join("dir").exists());
    let r = d.delete("/files?path=dir").await;
    assert_eq!(code(&r), "FILE_NOT_FOUND");
}

#[tokio::test]
async fn move_renames_refuses_existing_and_own_subtree() {
    let d = TestDaemon::start().await;
    write(&d, "old name.txt", b"x");
    std::fs::create_dir(d.workdir.path().join("new")).unwrap();
    let r = d
        .call(
            Method::POST,
            "/files/move?source=old%20name.txt&destination=new/%E5%90%8D%E5%89%8D.txt",
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        std::fs::read(d.workdir.path().join("new/名前.txt")).unwrap(),
        b"x"
    );
    write(&d, "a", b"1");
    write(&d, "b", b"2");
    let r = d
        .call(
            Method::POST,
            "/files/move?source=a&destination=b",
            None,
            &[],
        )
        .await;
    assert_eq!(
        (r.status, r.json()["message"].as_str().unwrap()),
        (StatusCode::CONFLICT, "conflict: destination already exists")
    );
    // Fault fixed: the original copied a directory into its own subtree.
    let r = d
        .call(
            Method::POST,
            "/files/move?source=new&destination=new/inner",
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let r = d
        .call(
            Method::POST,
            "/files/move?source=missing&destination=c",
            None,
            &[],
        )
        .await;
    assert_eq!(code(&r), "FILE_NOT_FOUND");
    let r = d
        .call(
            Method::POST,
            "/files/move?source=a&destination=nodir/c",
            None,
            &[],
        )
        .await;
    assert_eq!(code(&r), "FILE_NOT_FOUND");
}

#[tokio::test]
async fn permissions_mode_owner_and_errors() {
    let d = TestDaemon::start().await;
    write(&d, "s.sh", b"#!/bin/sh\n");
    let r = d
        .call(
            Method::POST,
            "/files/permissions?path=s.sh&mode=755",
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        std::fs::metadata(d.workdir.path().join("s.sh"))
            .unwrap()
            .mode()
            & 0o7777,
        0o755
    );
    let r = d
        .call(
            Method::POST,
            "/files/permissions?path=s.sh&mode=4755",
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        std::fs::metadata(d.workdir.path().join("s.sh"))
            .unwrap()
            .mode()
            & 0o7777,
        0o4755,
        "setuid kept"
    );
    let uid = nix::unistd::getuid().as_raw().to_string();
    let r = d
        .call(
            Method::POST,
            &format!(
                "/files/permissions?path=s.sh&owner={uid}&group={}",
                nix::unistd::getgid()
            ),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = d
        .call(
            Method::POST,
            "/files/permissions?path=s.sh&owner=no-such-user-xyz",
            None,
            &[],
        )
        .await;
    assert_eq!(r.json()["message"], "bad request: user not found");
    let r = d
        .call(
            Method::POST,
            "/files/permissions?path=gone&mode=644",
            None,
            &[],
        )
        .await;
    assert_eq!(code(&r), "FILE_NOT_FOUND");
}

#[tokio::test]
async fn find_streams_matches_without_a_line_cliff() {
    let d = TestDaemon::start().await;
    write(&d, "src/a.py", b"x = 1\n# TODO: x&y\r\nlast TODO: x&y");
    let mut long = vec![b'-'; 200 * 1024];
    long.extend_from_slice(b"TODO: x&y\nafter TODO: x&y\n");
    write(&d, "src/long.txt", &long);
    write(&d, "src/bin", b"TODO: x&y\0");
    let r = d.get("/files/find?path=src&pattern=TODO%3A%20x%26y").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    let got: Vec<(String, u64)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["file"].as_str().unwrap().to_owned(),
                m["line"].as_u64().unwrap(),
            )
        })
        .collect();
    // Fault fixed: the original skipped the rest of a file after a line > 64 KiB.
    assert_eq!(
        got,
        [
            ("src/a.py".into(), 2),
            ("src/a.py".into(), 3),
            ("src/long.txt".into(), 1),
            ("src/long.txt".into(), 2)
        ]
    );
    assert_eq!(v[0]["content"], "# TODO: x&y", "CR dropped");
    assert_eq!(
        d.get("/files/find?path=missing&pattern=x").await.json(),
        json!([])
    );
    let r = d.get("/files/find?path=src").await;
    assert_eq!(
        r.json()["message"],
        "bad request: path and pattern are required"
    );
}

#[tokio::test]
async fn search_globs_names_and_relative_paths() {
    let d = TestDaemon::start().await;
    write(&d, "ws/a.py", b"");
    write(&d, "ws/src/deep/x.tsx", b"");
    write(&d, "ws/src/b.py", b"");
    let r = d.get("/files/search?path=ws&pattern=%2A.py").await;
    assert_eq!(r.json(), json!({"files": ["ws/a.py", "ws/src/b.py"]}));
    // Fault fixed (#3076): `**` and relative-path patterns.
    let r = d.get("/files/search?path=ws&pattern=%2A%2A/x.tsx").await;
    assert_eq!(r.json(), json!({"files": ["ws/src/deep/x.tsx"]}));
    assert_eq!(
        d.get("/files/search?path=ws&pattern=%5B").await.json(),
        json!({"files": []})
    );
    assert_eq!(
        d.get("/files/search?path=nope&pattern=%2A").await.json(),
        json!({"files": []})
    );
}

#[tokio::test]
async fn replace_in_band_errors_and_untouched_files() {
    let d = TestDaemon::start().await;
    write(&d, "f1.py", b"old old");
    write(&d, "f3.py", b"nothing here");
    std::fs::set_permissions(
        d.workdir.path().join("f1.py"),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    let before = std::fs::metadata(d.workdir.path().join("f3.py")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let r = d
        .post(
            "/files/replace",
            &json!({"files": ["f1.py", "f2.py", "f3.py"], "newValue": "new", "pattern": "old"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    assert_eq!(v[0], json!({"file": "f1.py", "success": true}));
    assert_eq!(v[1]["success"], false);
    assert!(
        v[1]["error"]
            .as_str()
            .unwrap()
            .contains("no such file or directory"),
        "{v}"
    );
    assert_eq!(
        std::fs::read(d.workdir.path().join("f1.py")).unwrap(),
        b"new new"
    );
    assert_eq!(
        std::fs::metadata(d.workdir.path().join("f1.py"))
            .unwrap()
            .mode()
            & 0o777,
        0o700,
        "mode kept"
    );
    // Fault fixed: the original rewrote files without a match (mtime changed).
    let after = std::fs::metadata(d.workdir.path().join("f3.py")).unwrap();
    assert_eq!(
        (before.mtime(), before.mtime_nsec()),
        (after.mtime(), after.mtime_nsec())
    );
    let r = d
        .post(
            "/files/replace",
            &json!({"files": ["f1.py"], "newValue": "", "pattern": ""}),
        )
        .await;
    assert_eq!(code(&r), "INVALID_REQUEST_BODY");
}

/// The sync SDK's httpx framing: all `.path` parts first, then the `.file` parts.
fn httpx_body(boundary: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = Vec::new();
    for (i, (dest, _)) in files.iter().enumerate() {
        b.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"files[{i}].path\"\r\n\r\n{dest}\r\n").as_bytes());
    }
    for (i, (dest, content)) in files.iter().enumerate() {
        b.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"files[{i}].file\"; filename=\"{dest}\"\r\nContent-Type: text/plain\r\n\r\n").as_bytes());
        b.extend_from_slice(content);
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    b
}

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

#[tokio::test]
async fn relative_paths_resolve_against_the_work_dir_not_the_cwd() {
    let d = TestDaemon::start().await;
    let r = d.get("/work-dir").await;
    assert_eq!(r.json()["dir"], d.workdir.path().to_string_lossy().as_ref());
    write(&d, "rel.txt", b"r");
    let r = d.get("/files/info?path=rel.txt").await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "the test process cwd is not the work dir: {}",
        r.text()
    );
}

/// Peak resident memory (`VmHWM`) of a process, in KiB.
fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
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
