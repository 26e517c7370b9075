//! `/files/...` routes: every route, the SDKs' multipart framings, and each original fault we
//! fixed (random download boundary, atomic uploads, kept spaces and modes, no 64 KiB line
//! cliff, `**` globs, untouched files on replace, special mode bits, moves into a subtree).
//! Shared helpers live here; the tests are split by concern.

use bytes::{Bytes, BytesMut};
use http::Method;
use process_proto::multipart::{self, Event, MultipartDecoder};

use crate::support::{Resp, TestDaemon};

mod download;
mod tree;
mod upload;
mod walk;

pub fn write(d: &TestDaemon, rel: &str, content: &[u8]) {
    let p = d.workdir.path().join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

pub fn code(r: &Resp) -> String {
    r.json()["code"].as_str().unwrap_or_default().to_owned()
}

pub async fn multipart_post(d: &TestDaemon, path: &str, boundary: &str, body: Vec<u8>) -> Resp {
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
pub fn parts(r: &Resp) -> Vec<(String, String, String, Vec<u8>)> {
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

/// The sync SDK's httpx framing: all `.path` parts first, then the `.file` parts.
pub fn httpx_body(boundary: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
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

/// Peak resident memory (`VmHWM`) of a process, in KiB.
pub fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}
