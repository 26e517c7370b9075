//! Demuxer: never panics, holds at most a partial marker, and any chunking gives the one-shot
//! result.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use process_proto::log::{demux_log, Demuxer, OutputStream};

fuzz_target!(|data: &[u8]| {
    let (payload, sizes) = process_fuzz::split_input(data);
    let mut demux = Demuxer::new().with_max_chunk(sizes[0]);
    let mut src = BytesMut::new();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut take = |c: process_proto::LogChunk| match c.stream {
        OutputStream::Stdout => out.extend_from_slice(&c.data),
        OutputStream::Stderr => err.extend_from_slice(&c.data),
    };
    for piece in process_fuzz::pieces(payload, &sizes) {
        src.extend_from_slice(piece);
        while let Some(c) = demux.decode(&mut src).unwrap() {
            take(c);
        }
        assert!(src.len() <= 2);
    }
    while let Some(c) = demux.decode_eof(&mut src).unwrap() {
        take(c);
    }
    assert_eq!((out, err), demux_log(payload));
});
