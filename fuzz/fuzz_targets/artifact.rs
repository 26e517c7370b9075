//! ArtifactScanner: never panics, consumes all input, and any chunking gives the same events.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use process_proto::artifact::{strip_artifacts, ArtifactScanner, ScanEvent};

fn scan(pieces: &[&[u8]]) -> (Vec<u8>, Vec<String>) {
    let mut scanner = ArtifactScanner::new().with_max_line(4096);
    let mut src = BytesMut::new();
    let (mut data, mut events) = (Vec::new(), Vec::new());
    let mut take = |ev: ScanEvent| match ev {
        ScanEvent::Data(d) => data.extend_from_slice(&d),
        other => events.push(format!("{other:?}")),
    };
    for piece in pieces {
        src.extend_from_slice(piece);
        while let Some(ev) = scanner.decode(&mut src) {
            take(ev);
        }
        assert!(src.is_empty());
    }
    while let Some(ev) = scanner.decode_eof(&mut src) {
        take(ev);
    }
    (data, events)
}

fuzz_target!(|data: &[u8]| {
    let (payload, sizes) = process_fuzz::split_input(data);
    let chunked = scan(&process_fuzz::pieces(payload, &sizes));
    assert_eq!(chunked, scan(&[payload]));
    if let Ok(text) = std::str::from_utf8(payload) {
        let _ = strip_artifacts(text);
    }
});
