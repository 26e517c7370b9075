//! Multipart codec laws: encode → decode round trip under any chunking (split invariance),
//! content that imitates delimiters stays intact, hostile input never panics and the decoder
//! never holds more than its bound.

use bytes::{Bytes, BytesMut};
use process_proto::multipart::{
    boundary_from_random, content_disposition, write_close, write_part_start, Event,
    MultipartDecoder,
};
use proptest::prelude::*;

/// (name, filename, body) of a decoded part.
type Part = (String, String, Vec<u8>);

fn encode(boundary: &str, parts: &[Part]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, (name, filename, body)) in parts.iter().enumerate() {
        let len = body.len().to_string();
        write_part_start(
            &mut out,
            boundary,
            i == 0,
            &[
                ("Content-Disposition", &content_disposition(name, filename)),
                ("Content-Length", len.as_bytes()),
            ],
        );
        out.extend_from_slice(body);
    }
    write_close(&mut out, boundary, parts.is_empty());
    out
}

/// Decodes `input` fed in pieces of the given sizes (cyclic); checks the buffer bound.
fn decode(boundary: &str, input: &[u8], sizes: &[usize]) -> Result<Vec<Part>, String> {
    let mut dec = MultipartDecoder::new(boundary).map_err(|e| e.to_string())?;
    let mut buf = BytesMut::new();
    let mut out: Vec<Part> = Vec::new();
    let mut rest = input;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        i += 1;
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        while let Some(ev) = dec.decode(&mut buf).map_err(|e| e.to_string())? {
            collect(ev, &mut out);
        }
        assert!(
            buf.len() <= 16 * 1024 + 8 + boundary.len(),
            "decoder held {} bytes",
            buf.len()
        );
    }
    while let Some(ev) = dec.decode_eof(&mut buf).map_err(|e| e.to_string())? {
        collect(ev, &mut out);
    }
    Ok(out)
}

/// Like [`decode`], through [`MultipartDecoder::decode_from`]: the input arrives as `Bytes`
/// frames of the given sizes (cyclic), and only the carry is a buffer.
fn decode_frames(boundary: &str, input: &[u8], sizes: &[usize]) -> Result<Vec<Part>, String> {
    let mut dec = MultipartDecoder::new(boundary).map_err(|e| e.to_string())?;
    let mut carry = BytesMut::new();
    let mut out: Vec<Part> = Vec::new();
    let mut rest = input;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        i += 1;
        let mut frame = Bytes::copy_from_slice(&rest[..n]);
        rest = &rest[n..];
        while let Some(ev) = dec
            .decode_from(&mut carry, &mut frame)
            .map_err(|e| e.to_string())?
        {
            collect(ev, &mut out);
        }
        assert!(
            frame.is_empty(),
            "decode_from left {} bytes of its input",
            frame.len()
        );
        assert!(
            carry.len() <= 16 * 1024 + 8 + boundary.len(),
            "decoder held {} bytes",
            carry.len()
        );
    }
    while let Some(ev) = dec.decode_eof(&mut carry).map_err(|e| e.to_string())? {
        collect(ev, &mut out);
    }
    Ok(out)
}

fn collect(ev: Event, out: &mut Vec<Part>) {
    match ev {
        Event::Part(h) => out.push((
            h.name.unwrap_or_default(),
            h.filename.unwrap_or_default(),
            Vec::new(),
        )),
        Event::Data(d) => {
            if let Some(p) = out.last_mut() {
                p.2.extend_from_slice(&d);
            }
        }
        Event::PartEnd | Event::End => {}
    }
}

fn body_strategy() -> impl Strategy<Value = Vec<u8>> {
    // Bytes that make delimiter look-alikes likely: CR, LF, '-', and the boundary's letters.
    proptest::collection::vec(
        prop_oneof![
            Just(b'\r'),
            Just(b'\n'),
            Just(b'-'),
            Just(b'a'),
            Just(b'b'),
            Just(b'0'),
            any::<u8>()
        ],
        0..300,
    )
}

proptest! {
    #[test]
    fn round_trip_under_any_chunking(
        seed in any::<[u8; 16]>(),
        parts in proptest::collection::vec(("[a-z\\[\\]0-9.]{1,12}", "\\PC{0,12}", body_strategy()), 0..6),
        sizes in proptest::collection::vec(1usize..70, 1..8),
    ) {
        let boundary = boundary_from_random(seed);
        let expected: Vec<Part> = parts
            .iter()
            .map(|(n, f, b)| (n.clone(), f.clone(), b.clone()))
            .collect();
        let wire = encode(&boundary, &expected);
        let whole = decode(&boundary, &wire, &[usize::MAX]).unwrap();
        let chunked = decode(&boundary, &wire, &sizes).unwrap();
        let framed = decode_frames(&boundary, &wire, &sizes).unwrap();
        // Filenames survive through filename* (UTF-8), control characters included.
        prop_assert_eq!(&whole, &expected);
        prop_assert_eq!(&chunked, &whole);
        prop_assert_eq!(framed, whole);
    }

    #[test]
    fn hostile_input_never_panics_and_stays_bounded(
        input in proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'-'), Just(b'B'), Just(b':'), any::<u8>()], 0..800),
        sizes in proptest::collection::vec(1usize..50, 1..6),
    ) {
        let mut prefixed = b"--B\r\n".to_vec();
        prefixed.extend_from_slice(&input);
        for input in [&input, &prefixed] {
            let buffered = decode("B", input, &sizes);
            let framed = decode_frames("B", input, &sizes);
            // Both ways see the same events; an error may surface at a different chunk.
            if let (Ok(b), Ok(f)) = (&buffered, &framed) {
                prop_assert_eq!(b, f);
            }
        }
    }
}

#[test]
fn the_originals_fixed_boundary_inside_content_is_just_data() {
    let tricky = b"x\r\n--DAYTONA-FILE-BOUNDARY\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\ny\r\n--DAYTONA-FILE-BOUNDARY--\r\n".to_vec();
    let boundary = boundary_from_random([7; 16]);
    let parts = vec![("file".to_owned(), "a.bin".to_owned(), tricky)];
    assert_eq!(
        decode(&boundary, &encode(&boundary, &parts), &[3, 1, 9]).unwrap(),
        parts
    );
}

#[test]
fn a_body_of_many_mebibytes_is_decoded_with_a_small_buffer() {
    let body = vec![b'\r'; 8 * 1024 * 1024];
    let parts = vec![("file".to_owned(), "big".to_owned(), body)];
    let wire = encode("b", &parts);
    assert_eq!(decode("b", &wire, &[65_536]).unwrap(), parts);
}

#[test]
fn framed_body_data_is_lent_from_the_frames_not_copied() {
    let body: Vec<u8> = (0..1_048_576u32).map(|i| (i % 251) as u8).collect();
    let parts = vec![("file".to_owned(), "big".to_owned(), body.clone())];
    let wire = Bytes::from(encode("bNd", &parts));
    let mut dec = MultipartDecoder::new("bNd").unwrap();
    let mut carry = BytesMut::new();
    let (mut lent, mut total) = (0usize, 0usize);
    let mut got = Vec::new();
    for start in (0..wire.len()).step_by(65_536) {
        let mut frame = wire.slice(start..wire.len().min(start + 65_536));
        let range = frame.as_ptr() as usize..frame.as_ptr() as usize + frame.len();
        while let Some(ev) = dec.decode_from(&mut carry, &mut frame).unwrap() {
            if let Event::Data(d) = ev {
                total += d.len();
                if range.contains(&(d.as_ptr() as usize)) {
                    lent += d.len();
                }
                got.extend_from_slice(&d);
            }
        }
    }
    assert!(dec.decode_eof(&mut carry).unwrap().is_none());
    assert_eq!(got, body);
    assert_eq!(total, body.len());
    // Only the first frame (headers and body together) and a few bytes at each frame edge
    // go through the carry.
    assert!(lent >= body.len() - 70_000, "{lent} of {total} bytes lent");
}
