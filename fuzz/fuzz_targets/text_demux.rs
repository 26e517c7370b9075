//! TextDemuxer: never panics, and any chunking gives, per stream, the lossy UTF-8 decoding of
//! that stream's bytes.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use process_proto::log::{demux_log_text, OutputStream, TextDemuxer};

fuzz_target!(|data: &[u8]| {
    let (payload, sizes) = process_fuzz::split_input(data);
    let mut demux = TextDemuxer::new();
    let mut src = BytesMut::new();
    let (mut out, mut err) = (String::new(), String::new());
    let mut take = |(s, t): (OutputStream, String)| match s {
        OutputStream::Stdout => out.push_str(&t),
        OutputStream::Stderr => err.push_str(&t),
    };
    for piece in process_fuzz::pieces(payload, &sizes) {
        src.extend_from_slice(piece);
        while let Some(p) = demux.decode(&mut src).unwrap() {
            take(p);
        }
    }
    while let Some(p) = demux.decode_eof(&mut src).unwrap() {
        take(p);
    }
    assert_eq!((out, err), demux_log_text(payload));
});
