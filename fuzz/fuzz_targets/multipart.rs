//! MultipartDecoder: never panics, holds a bounded buffer, and any chunking gives the same
//! events (data merged) as the whole input at once.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use process_proto::multipart::{Event, MultipartDecoder};

fn decode(pieces: &[&[u8]]) -> (Vec<String>, Result<(), String>) {
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
        src.extend_from_slice(piece);
        loop {
            match dec.decode(&mut src) {
                Ok(Some(ev)) => push(ev, &mut events, &mut data),
                Ok(None) => break,
                Err(e) => return (events, Err(e.to_string())),
            }
        }
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
    let chunked = decode(&process_fuzz::pieces(payload, &sizes));
    let whole = decode(&[payload]);
    // Errors may be detected at different points, but successful decodes agree exactly.
    if chunked.1.is_ok() && whole.1.is_ok() {
        assert_eq!(chunked, whole);
    }
});
