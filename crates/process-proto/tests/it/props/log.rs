//! Log codec laws: split invariance of the demuxers, mux → demux round trip, forged markers.

#[allow(clippy::wildcard_imports)]
use super::*;

// ---------- log codec ----------

/// The owned and the borrowing decode, fed the same frames: every chunk (unmerged) and every
/// error, in order, as (stream, bytes) or the error's unlabelled length.
type Event = Result<(OutputStream, Vec<u8>), usize>;

fn owned_events(frames: &[Vec<u8>], demux: Demuxer) -> Vec<Event> {
    let mut demux = demux;
    let mut src = BytesMut::new();
    let mut out = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        src.extend_from_slice(f);
        let eof = i + 1 == frames.len();
        loop {
            let r = if eof {
                demux.decode_eof(&mut src)
            } else {
                demux.decode(&mut src)
            };
            match r {
                Ok(Some(c)) => out.push(Ok((c.stream, c.data.to_vec()))),
                Ok(None) => break,
                Err(process_proto::log::DemuxError::Unlabelled { len }) => out.push(Err(len)),
                Err(e) => panic!("{e}"),
            }
        }
    }
    out
}

fn borrowed_events(frames: &[Vec<u8>], demux: Demuxer) -> Vec<Event> {
    let mut demux = demux;
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        buf.extend_from_slice(f);
        let eof = i + 1 == frames.len();
        let mut pos = 0;
        loop {
            let r = if eof {
                demux.decode_eof_borrowed(&buf[pos..])
            } else {
                demux.decode_borrowed(&buf[pos..])
            };
            match r {
                Ok(step) => {
                    let chunk = step.chunk.map(|c| (c.stream, c.data.to_vec()));
                    pos += step.consumed;
                    match chunk {
                        Some(c) => out.push(Ok(c)),
                        None => break,
                    }
                }
                Err(process_proto::log::DemuxError::Unlabelled { len }) => {
                    pos += len;
                    out.push(Err(len));
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert!(
            eof || buf.len() - pos <= 2,
            "at most a partial marker is held"
        );
        buf.drain(..pos);
    }
    assert!(buf.is_empty(), "everything is consumed at the end");
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The borrowing decode hands out exactly the owned decode's chunks and errors, under any
    /// chunking, chunk limit and unlabelled policy.
    #[test]
    fn borrowed_decode_equals_owned(
        data in log_bytes(),
        cuts in vec(any::<usize>(), 0..12),
        max in 1usize..20,
        reject in any::<bool>(),
    ) {
        let policy = if reject { Unlabelled::Reject } else { Unlabelled::Drop };
        let demux = Demuxer::new().with_max_chunk(max).with_unlabelled(policy);
        let frames = chunks(&data, &cuts);
        prop_assert_eq!(borrowed_events(&frames, demux.clone()), owned_events(&frames, demux));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn demux_split_invariance(data in log_bytes(), cuts in vec(any::<usize>(), 0..12)) {
        let whole = demux_frames(std::slice::from_ref(&data));
        prop_assert_eq!(&demux_frames(&chunks(&data, &cuts)), &whole);
        // One-shot helper agrees.
        let (o, e) = process_proto::demux_log(&data);
        let cat = |want: OutputStream| whole.iter().filter(|(s, _)| *s == want).flat_map(|(_, d)| d.clone()).collect::<Vec<u8>>();
        prop_assert_eq!((o, e), (cat(OutputStream::Stdout), cat(OutputStream::Stderr)));
    }

    #[test]
    fn text_demux_split_invariance(data in log_bytes(), cuts in vec(any::<usize>(), 0..12)) {
        let whole = text_frames(std::slice::from_ref(&data));
        prop_assert_eq!(&text_frames(&chunks(&data, &cuts)), &whole);
        // Per stream, the text is exactly the lossy decoding of that stream's bytes.
        let (o, e) = process_proto::demux_log(&data);
        prop_assert_eq!(whole, (String::from_utf8_lossy(&o).into_owned(), String::from_utf8_lossy(&e).into_owned()));
    }

    #[test]
    fn mux_demux_round_trip(
        writes in vec((stream(), clean_payload()), 0..20),
        every in any::<bool>(),
        cuts in vec(any::<usize>(), 0..8),
    ) {
        let mut mux = if every { Muxer::marking_every_write() } else { Muxer::new() };
        let mut log = Vec::new();
        for (s, d) in &writes {
            let before = log.len();
            let expect = mux.encoded_len(*s, d.len());
            mux.encode(*s, d, &mut log);
            prop_assert_eq!(log.len() - before, expect);
        }
        prop_assert_eq!(demux_frames(&chunks(&log, &cuts)), coalesce(&writes));
    }

    #[test]
    fn payload_with_a_marker_is_forged(
        before in clean_payload(),
        after in clean_payload(),
        forged in stream(),
    ) {
        // The format has no escaping: stderr output containing 01 01 01 switches to stdout
        // (and stdout output containing 02 02 02 switches to stderr).
        let carrier = if forged == OutputStream::Stdout { OutputStream::Stderr } else { OutputStream::Stdout };
        let mut payload = before.clone();
        payload.extend_from_slice(&forged.marker());
        payload.extend_from_slice(&after);
        let mut log = Vec::new();
        Muxer::new().encode(carrier, &payload, &mut log);
        let got = demux_frames(&[log]);
        prop_assert_ne!(&got, &coalesce(&[(carrier, payload)]));
        let expect = coalesce(&[(carrier, before), (forged, after)]);
        prop_assert_eq!(got, expect);
    }
}

#[test]
fn forged_marker_example() {
    let mut log = Vec::new();
    Muxer::new().encode(OutputStream::Stderr, b"e\x01\x01\x01o", &mut log);
    assert_eq!(
        demux_frames(&[log]),
        vec![
            (OutputStream::Stderr, b"e".to_vec()),
            (OutputStream::Stdout, b"o".to_vec())
        ]
    );
    // A trailing marker byte followed by a marker of the same byte shifts the switch left.
    let mut mux = Muxer::new();
    let mut log = Vec::new();
    mux.encode(OutputStream::Stderr, b"e\x01", &mut log);
    mux.encode(OutputStream::Stdout, b"o", &mut log);
    assert_eq!(
        demux_frames(&[log]),
        vec![
            (OutputStream::Stderr, b"e".to_vec()),
            (OutputStream::Stdout, b"\x01o".to_vec())
        ]
    );
}

#[test]
fn demux_reject_policy() {
    use process_proto::log::{DemuxError, Unlabelled};
    let mut d = Demuxer::new().with_unlabelled(Unlabelled::Reject);
    let mut src = BytesMut::from(&b"junk\x01\x01\x01ok"[..]);
    assert_eq!(d.decode(&mut src), Err(DemuxError::Unlabelled { len: 4 }));
    // The error consumed the junk; decoding continues.
    let c = d.decode_eof(&mut src).unwrap().unwrap();
    assert_eq!((c.stream, &c.data[..]), (OutputStream::Stdout, &b"ok"[..]));
}

#[test]
fn long_runs_are_chunked_without_rescanning() {
    // 8 MiB without a marker: handed out in max-size chunks, all of it, promptly.
    let mut src = BytesMut::new();
    src.extend_from_slice(b"\x01\x01\x01");
    src.extend_from_slice(&vec![b'a'; 8 << 20]);
    let mut d = Demuxer::new();
    let mut total = 0;
    while let Some(c) = d.decode(&mut src).unwrap() {
        assert!(c.data.len() <= process_proto::log::DEFAULT_MAX_CHUNK);
        total += c.data.len();
    }
    assert_eq!(total, 8 << 20);
}
