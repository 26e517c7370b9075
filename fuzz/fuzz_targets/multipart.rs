//! MultipartDecoder: never panics, holds a bounded buffer, and any chunking gives the same
//! events (data merged) as the whole input at once, fed through `decode` (one buffer) or
//! `decode_from` (frames lent as `Bytes`).
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use process_proto::multipart::{Event, MultipartDecoder};

fn decode(pieces: &[&[u8]], framed: bool) -> (Vec<String>, Result<(), String>) {
    let mut dec = MultipartDecoder::new("B0und").expect("valid boundary");
    let mut src = BytesMut::new();
    let mut events: Vec<String> = Vec::new();
    let mut data: Vec<u8> = Vec::new();
    let push = |ev: Event, events: &mut Vec<String>, data: &mut Vec<u8>| match ev {
        Event::Data(d) => data.extend_from_slice(&d),
        other => {
            if !data.is_empty() {
                events.push(format!("data {data:?}"));
                data.clear();
            }
            events.push(format!("{other:?}"));
        }
    };
    for piece in pieces {
        let mut frame = Bytes::copy_from_slice(piece);
        if !framed {
            src.extend_from_slice(&frame.split_to(frame.len()));
        }
        loop {
            let ev = if framed {
                dec.decode_from(&mut src, &mut frame)
            } else {
                dec.decode(&mut src)
            };
            match ev {
                Ok(Some(ev)) => push(ev, &mut events, &mut data),
                Ok(None) => break,
                Err(e) => return (events, Err(e.to_string())),
            }
        }
        assert!(frame.is_empty(), "decode_from left part of its input");
        assert!(src.len() <= 16 * 1024 + 300, "buffer held {} bytes", src.len());
    }
    loop {
        match dec.decode_eof(&mut src) {
            Ok(Some(ev)) => push(ev, &mut events, &mut data),
            Ok(None) => break,
            Err(e) => return (events, Err(e.to_string())),
        }
    }
    if !data.is_empty() {
        events.push(format!("data {data:?}"));
    }
    (events, Ok(()))
}

fuzz_target!(|data: &[u8]| {
    let (payload, sizes) = process_fuzz::split_input(data);
    let pieces = process_fuzz::pieces(payload, &sizes);
    let chunked = decode(&pieces, false);
    let framed = decode(&pieces, true);
    let whole = decode(&[payload], false);
    // Errors may be detected at different points, but successful decodes agree exactly.
    if whole.1.is_ok() {
        if chunked.1.is_ok() {
            assert_eq!(chunked, whole);
        }
        if framed.1.is_ok() {
            assert_eq!(framed, whole);
        }
    }
});
