//! The proto's text decoders: `Utf8Decoder` and `MarkerStripper` never panic, and any chunking
//! gives exactly what their one-shot counterparts (`String::from_utf8_lossy`,
//! `strip_markers`) give on the whole input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use process_proto::text::{strip_markers, MarkerStripper, Utf8Decoder};

fuzz_target!(|data: &[u8]| {
    let (payload, sizes) = process_fuzz::split_input(data);
    let pieces = process_fuzz::pieces(payload, &sizes);

    let mut utf8 = Utf8Decoder::default();
    let mut text = String::new();
    for piece in &pieces {
        utf8.decode(piece, &mut text);
    }
    utf8.finish(&mut text);
    assert_eq!(text, String::from_utf8_lossy(payload));

    let mut strip = MarkerStripper::default();
    let mut out = Vec::new();
    for piece in &pieces {
        out.extend(strip.push(piece));
    }
    out.extend(strip.finish());
    assert_eq!(out, strip_markers(payload));
});
