//! Property laws: split invariance of every streaming decoder, mux → demux round trip (and the
//! forging the format cannot prevent), and JSON round trips of every wire type.

use std::collections::BTreeMap;

use bytes::BytesMut;
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use serde_json::Value;

use process_proto::artifact::{strip_artifacts, Artifact, ArtifactScanner, ScanEvent};
use process_proto::chart::*;
use process_proto::log::{Demuxer, Muxer, OutputStream, TextDemuxer, Unlabelled};
use process_proto::wire::{self, *};

// ---------- helpers ----------

/// Bytes drawn mostly from the interesting ones: marker bytes, UTF-8 lead/continuation bytes,
/// newline, ASCII.
fn log_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => Just(1u8),
        3 => Just(2u8),
        2 => Just(b'a'),
        1 => Just(b'\n'),
        1 => Just(0xe2u8),
        1 => Just(0x82u8),
        1 => Just(0xacu8),
        1 => Just(0xffu8),
        1 => any::<u8>(),
    ]
}

fn log_bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(log_byte(), 0..200)
}

/// Splits `data` at the given (unsorted, arbitrary) cut points.
fn chunks(data: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut prev = 0;
    for c in cuts.into_iter().chain([data.len()]) {
        out.push(data[prev..c].to_vec());
        prev = c;
    }
    out
}

/// Demuxes `frames`, returning the chunks with consecutive same-stream chunks merged.
fn demux_frames(frames: &[Vec<u8>]) -> Vec<(OutputStream, Vec<u8>)> {
    let mut demux = Demuxer::new().with_max_chunk(7);
    let mut src = BytesMut::new();
    let mut out: Vec<(OutputStream, Vec<u8>)> = Vec::new();
    let mut push = |c: process_proto::LogChunk| match out.last_mut() {
        Some((s, d)) if *s == c.stream => d.extend_from_slice(&c.data),
        _ => out.push((c.stream, c.data.to_vec())),
    };
    for f in frames {
        src.extend_from_slice(f);
        while let Some(c) = demux.decode(&mut src).unwrap() {
            assert!(!c.data.is_empty() && c.data.len() <= 7);
            push(c);
        }
        assert!(src.len() <= 2);
    }
    while let Some(c) = demux.decode_eof(&mut src).unwrap() {
        push(c);
    }
    out
}

fn text_frames(frames: &[Vec<u8>]) -> (String, String) {
    let mut demux = TextDemuxer::from_demuxer(Demuxer::new().with_max_chunk(5));
    let mut src = BytesMut::new();
    let (mut out, mut err) = (String::new(), String::new());
    let mut push = |(s, t): (OutputStream, String)| {
        assert!(!t.is_empty());
        match s {
            OutputStream::Stdout => out.push_str(&t),
            OutputStream::Stderr => err.push_str(&t),
        }
    };
    for f in frames {
        src.extend_from_slice(f);
        while let Some(p) = demux.decode(&mut src).unwrap() {
            push(p);
        }
    }
    while let Some(p) = demux.decode_eof(&mut src).unwrap() {
        push(p);
    }
    (out, err)
}

/// A payload the format can carry unambiguously: no run of three equal marker bytes, and no
/// trailing marker byte (which a following marker of the same byte would absorb).
fn clean_payload() -> impl Strategy<Value = Vec<u8>> {
    vec(log_byte(), 0..30).prop_map(|mut p| {
        let mut i = 2;
        while i < p.len() {
            if (p[i] == 1 || p[i] == 2) && p[i - 1] == p[i] && p[i - 2] == p[i] {
                p[i] = b'x';
            }
            i += 1;
        }
        if matches!(p.last(), Some(1 | 2)) {
            p.push(b'.');
        }
        p
    })
}

fn stream() -> impl Strategy<Value = OutputStream> {
    prop_oneof![Just(OutputStream::Stdout), Just(OutputStream::Stderr)]
}

fn coalesce(writes: &[(OutputStream, Vec<u8>)]) -> Vec<(OutputStream, Vec<u8>)> {
    let mut out: Vec<(OutputStream, Vec<u8>)> = Vec::new();
    for (s, d) in writes.iter().filter(|(_, d)| !d.is_empty()) {
        match out.last_mut() {
            Some((ls, ld)) if ls == s => ld.extend_from_slice(d),
            _ => out.push((*s, d.clone())),
        }
    }
    out
}

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

// ---------- artifact scanner ----------

fn artifact_line() -> impl Strategy<Value = String> {
    prop_oneof![
        // plain output, possibly starting like the prefix
        "[a-z é]{0,12}",
        Just("dtn_artifact".to_string()),
        Just("dtn_artifact_k39fd2".to_string()),
        Just("xdtn_artifact_k39fd2:{}".to_string()),
        // valid charts
        Just(r#"dtn_artifact_k39fd2:{"type": "chart", "value": {"type": "line", "elements": [{"label": "a", "points": [[1, 2]]}]}}"#.to_string()),
        Just(r#"dtn_artifact_k39fd2: {"type":"chart","value":{"type":"bar","elements":[{"value":3}]}} "#.to_string()),
        // other artifact types, invalid ones
        Just(r#"dtn_artifact_k39fd2:{"type": "table", "value": 1}"#.to_string()),
        Just(r#"dtn_artifact_k39fd2:{"type": "chart", "value": {}}"#.to_string()),
        Just(r#"dtn_artifact_k39fd2:{"type": "chart", "value": {"type": "line", "elements": [{"points": "x"}]}}"#.to_string()),
        Just("dtn_artifact_k39fd2:not json".to_string()),
        Just("dtn_artifact_k39fd2:".to_string()),
    ]
}

fn scan_frames(frames: &[Vec<u8>], max_line: usize) -> (Vec<u8>, Vec<Result<Artifact, String>>) {
    let mut sc = ArtifactScanner::new().with_max_line(max_line);
    let mut src = BytesMut::new();
    let (mut data, mut arts) = (Vec::new(), Vec::new());
    let mut push = |ev: ScanEvent| match ev {
        ScanEvent::Data(d) => {
            assert!(!d.is_empty());
            data.extend_from_slice(&d);
        }
        ScanEvent::Artifact(a) => arts.push(Ok(a)),
        ScanEvent::Error(e) => arts.push(Err(e.to_string())),
        _ => unreachable!(),
    };
    for f in frames {
        src.extend_from_slice(f);
        while let Some(ev) = sc.decode(&mut src) {
            push(ev);
        }
        assert!(src.is_empty(), "the scanner consumes all input");
    }
    while let Some(ev) = sc.decode_eof(&mut src) {
        push(ev);
    }
    (data, arts)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn artifact_scanner_split_invariance(
        lines in vec(artifact_line(), 0..8),
        trailing_newline in any::<bool>(),
        cuts in vec(any::<usize>(), 0..10),
        max_line in prop_oneof![Just(usize::MAX), 0usize..200],
    ) {
        let mut text = lines.join("\n");
        if trailing_newline {
            text.push('\n');
        }
        let whole = scan_frames(&[text.clone().into_bytes()], max_line);
        prop_assert_eq!(&scan_frames(&chunks(text.as_bytes(), &cuts), max_line), &whole);

        if max_line == usize::MAX {
            // Same charts as the daemon's one-shot rule; same text except the documented corner.
            let (stripped, charts) = strip_artifacts(&text);
            let scanned: Vec<Chart> = whole.1.iter().filter_map(|a| match a { Ok(Artifact::Chart(c)) => Some((**c).clone()), _ => None }).collect();
            prop_assert_eq!(&scanned, &charts);
            let ends_with_artifact = lines.last().is_some_and(|l| l.starts_with(process_proto::ARTIFACT_PREFIX)) && !trailing_newline;
            let data = String::from_utf8(whole.0).unwrap();
            let kept_before_last = lines.iter().rev().skip(1).any(|l| !l.starts_with(process_proto::ARTIFACT_PREFIX));
            if ends_with_artifact && kept_before_last {
                prop_assert_eq!(format!("{stripped}\n"), data);
            } else {
                prop_assert_eq!(stripped, data);
            }
        }
    }
}

#[test]
fn artifact_line_limit() {
    let line = format!(
        "{}{}\nok\n",
        process_proto::ARTIFACT_PREFIX,
        "x".repeat(100)
    );
    let (data, arts) = scan_frames(&[line.into_bytes()], 10);
    assert_eq!(data, b"ok\n");
    assert_eq!(
        arts,
        vec![Err(
            "artifact line longer than 10 bytes was dropped".to_string()
        )]
    );
}

// ---------- JSON round trips ----------

fn s() -> impl Strategy<Value = String> {
    prop_oneof!["[a-zA-Z0-9_ /.-]{0,8}", ".{0,6}"]
}

fn envs() -> impl Strategy<Value = BTreeMap<String, String>> {
    btree_map(s(), s(), 0..4)
}

fn json_round_trip<T>(v: &T) -> Result<(), TestCaseError>
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let bytes = wire::encode(v);
    let back: T = wire::decode(&bytes)
        .map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&bytes))))?;
    prop_assert_eq!(&back, v);
    Ok(())
}

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        -1e6f64..1e6,
        any::<i32>().prop_map(f64::from),
        Just(0.0),
        proptest::num::f64::NORMAL
    ]
}

fn extra() -> impl Strategy<Value = serde_json::Map<String, Value>> {
    btree_map(
        "zz_[a-z]{1,4}",
        prop_oneof![
            any::<i64>().prop_map(Value::from),
            s().prop_map(Value::from),
            any::<bool>().prop_map(Value::from)
        ],
        0..3,
    )
    .prop_map(|m| m.into_iter().collect())
}

fn known_kind(k: &ChartType) -> bool {
    !matches!(k, ChartType::Unknown(_))
}

fn element(kind: ChartType, depth: u32) -> BoxedStrategy<ChartElement> {
    match kind {
        ChartType::Line | ChartType::Scatter => (s(), vec([finite(), finite()], 0..4), extra())
            .prop_map(|(label, points, extra)| {
                let mut e = PointsElement::new(label, points);
                e.extra = extra;
                ChartElement::Points(e)
            })
            .boxed(),
        ChartType::Bar => (s(), s(), s(), extra())
            .prop_map(|(l, g, v, extra)| {
                let mut e = BarElement::new(l, g, v);
                e.extra = extra;
                ChartElement::Bar(e)
            })
            .boxed(),
        ChartType::Pie => (s(), finite(), finite(), option::of(s()), extra())
            .prop_map(|(l, a, r, p, extra)| {
                let mut e = PieElement::new(l, a, r);
                e.autopct = p;
                e.extra = extra;
                ChartElement::Pie(e)
            })
            .boxed(),
        ChartType::BoxAndWhisker => (
            s(),
            [finite(), finite(), finite(), finite(), finite()],
            vec(finite(), 0..3),
            extra(),
        )
            .prop_map(|(l, q, o, extra)| {
                let mut e = BoxElement::new(l, q, o);
                e.extra = extra;
                ChartElement::BoxAndWhisker(e)
            })
            .boxed(),
        ChartType::CompositeChart => chart(depth + 1)
            .prop_map(|c| ChartElement::Chart(Box::new(c)))
            .boxed(),
        _ => extra().prop_map(ChartElement::Other).boxed(),
    }
}

fn chart_type(depth: u32) -> impl Strategy<Value = ChartType> {
    let mut kinds = vec![
        ChartType::Line,
        ChartType::Scatter,
        ChartType::Bar,
        ChartType::Pie,
        ChartType::BoxAndWhisker,
        ChartType::Unknown("unknown".into()),
        ChartType::Unknown("heatmap".into()),
    ];
    if depth < 2 {
        kinds.push(ChartType::CompositeChart);
    }
    proptest::sample::select(kinds)
}

fn ticks() -> impl Strategy<Value = Option<Vec<Tick>>> {
    option::of(vec(
        prop_oneof![finite().prop_map(Tick::Number), s().prop_map(Tick::Text)],
        0..4,
    ))
}

fn chart(depth: u32) -> BoxedStrategy<Chart> {
    chart_type(depth)
        .prop_flat_map(move |kind| {
            (
                Just(kind.clone()),
                (
                    option::of(s()),
                    option::of("[A-Za-z0-9+/]{0,8}"),
                    option::of(s()),
                    option::of(s()),
                ),
                (
                    ticks(),
                    ticks(),
                    option::of(vec(s(), 0..3)),
                    option::of(vec(s(), 0..3)),
                ),
                (option::of(s()), option::of(s())),
                vec(element(kind, depth), 0..3),
                extra(),
            )
        })
        .prop_map(
            |(kind, (title, png, xl, yl), (xt, yt, xtl, ytl), (xs, ys), elements, extra)| {
                let mut c = Chart::new(kind);
                c.title = title;
                c.png = png;
                c.x_label = xl;
                c.y_label = yl;
                c.x_ticks = xt;
                c.y_ticks = yt;
                c.x_tick_labels = xtl;
                c.y_tick_labels = ytl;
                c.x_scale = xs;
                c.y_scale = ys;
                c.elements = elements;
                c.extra = extra;
                c
            },
        )
        .boxed()
}

fn error_code() -> impl Strategy<Value = ErrorCode> {
    prop_oneof![
        Just(ErrorCode::ProcessExecutionTimeout),
        Just(ErrorCode::ProcessNotFound),
        Just(ErrorCode::SessionEnded),
        Just(ErrorCode::CommandAlreadyCompleted),
        Just(ErrorCode::BadRequest),
        Just(ErrorCode::InvalidRequestBody),
        Just(ErrorCode::NotFound),
        Just(ErrorCode::Conflict),
        Just(ErrorCode::Forbidden),
        Just(ErrorCode::Gone),
        Just(ErrorCode::RequestTimeout),
        Just(ErrorCode::InternalServerError),
        Just(ErrorCode::Unauthorized),
        "[A-Z]{1,4}_X".prop_map(ErrorCode::Unknown),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn chart_json(c in chart(0)) {
        json_round_trip(&c)?;
        // What we write never has a numeric bar value.
        let v: Value = serde_json::from_str(&c.to_json()).unwrap();
        if c.kind == ChartType::Bar {
            for e in v["elements"].as_array().unwrap() {
                prop_assert!(e.get("value").is_none_or(Value::is_string));
            }
        }
        prop_assert!(known_kind(&c.kind) || !c.kind.as_str().is_empty());
        // And as an artifact line it survives the scanner.
        let (data, arts) = scan_frames(&[Artifact::chart_line(&c).into_bytes()], usize::MAX);
        prop_assert!(data.is_empty());
        prop_assert_eq!(arts, vec![Ok(Artifact::Chart(Box::new(c)))]);
    }

    #[test]
    fn exec_json(
        (command, cwd, e, timeout) in (s(), option::of(s()), option::of(envs()), option::of(any::<u32>())),
        (code, result, out, err, to, tr, total) in (any::<i32>(), s(), option::of(s()), option::of(s()), option::of(any::<bool>()), option::of(any::<bool>()), option::of(any::<u64>())),
        lang in prop_oneof![Just(Language::Python), Just(Language::Javascript), Just(Language::Typescript), "[a-z]{1,3}x".prop_map(Language::Unknown)],
        argv in option::of(vec(s(), 0..3)),
        charts in vec(chart(1), 0..2),
    ) {
        let mut req = ExecuteRequest::new(command.clone());
        req.cwd = cwd;
        req.envs = e.clone();
        req.timeout = timeout;
        json_round_trip(&req)?;
        let mut resp = ExecuteResponse::new(code, result.clone());
        (resp.stdout, resp.stderr, resp.timed_out, resp.truncated, resp.total_bytes) = (out.clone(), err.clone(), to, tr, total);
        json_round_trip(&resp)?;
        let mut cr = CodeRunRequest::new(command, lang);
        cr.argv = argv;
        cr.envs = e;
        cr.timeout = timeout;
        json_round_trip(&cr)?;
        let mut crr = CodeRunResponse::new(code, result, charts.clone());
        (crr.stdout, crr.stderr, crr.timed_out, crr.truncated, crr.total_bytes) = (out, err, to, tr, total);
        json_round_trip(&crr)?;
        prop_assert_eq!(crr.charts(), &charts[..]);
    }

    #[test]
    fn session_json(
        (id, cmd, exit) in (s(), s(), option::of(any::<i32>())),
        flags in (option::of(any::<bool>()), option::of(any::<bool>()), option::of(any::<bool>())),
        outs in (option::of(s()), option::of(s()), option::of(s()), option::of(s())),
    ) {
        json_round_trip(&CreateSessionRequest::new(id.clone()))?;
        json_round_trip(&Session::new(id.clone(), vec![Command::new(id.clone(), cmd.clone(), exit), Command::new("c", "x", None)]))?;
        let mut r = SessionExecuteRequest::new(cmd.clone());
        (r.run_async, r.async_, r.suppress_input_echo) = flags;
        json_round_trip(&r)?;
        prop_assert_eq!(r.is_async(), flags.0 == Some(true) || flags.1 == Some(true));
        let mut resp = SessionExecuteResponse::started(id.clone());
        (resp.cmd_id, resp.output, resp.stdout, resp.stderr, resp.exit_code) = (outs.0.clone(), outs.1.clone(), outs.2.clone(), outs.3.clone(), exit);
        json_round_trip(&resp)?;
        let v: Value = serde_json::from_slice(&wire::encode(&resp)).unwrap();
        prop_assert_eq!(v.as_object().unwrap().len(), 5);
        json_round_trip(&SessionSendInputRequest::new(cmd))?;
        json_round_trip(&SessionCommandLogsResponse::new(id, outs.1.unwrap_or_default(), outs.2.unwrap_or_default()))?;
    }

    #[test]
    fn pty_json(
        (id, cwd, e) in (s(), option::of(s()), option::of(envs())),
        (cols, rows, lazy) in (option::of(any::<u16>()), option::of(any::<u16>()), option::of(any::<bool>())),
        (active, created) in (any::<bool>(), s()),
        exit in any::<i32>(),
        reason in option::of(s()),
        status in "[a-z]{1,8}".prop_filter("not a known status", |s| !["connected", "error", "exited"].contains(&s.as_str())),
    ) {
        let mut r = PtyCreateRequest::new(id.clone());
        (r.cwd, r.envs, r.cols, r.rows, r.lazy_start) = (cwd.clone(), e.clone(), cols, rows, lazy);
        json_round_trip(&r)?;
        json_round_trip(&PtyCreateResponse::new(id.clone()))?;
        let info = PtySessionInfo::new(id.clone(), cwd.unwrap_or_default(), e.unwrap_or_default(), cols.unwrap_or(80), rows.unwrap_or(24), created, active, lazy.unwrap_or(false));
        json_round_trip(&info)?;
        json_round_trip(&PtyListResponse::new(vec![info.clone(), info]))?;
        json_round_trip(&PtyResizeRequest::new(cols.unwrap_or(1), rows.unwrap_or(1)))?;
        for c in [
            PtyControl::Connected,
            PtyControl::Error { error: id.clone() },
            PtyControl::Exited { exit_code: exit, exit_reason: reason.clone() },
            PtyControl::Unknown { status },
        ] {
            prop_assert_eq!(PtyControl::parse(&c.to_json()), Some(c));
        }
        let cr = PtyCloseReason::new(exit, reason);
        prop_assert_eq!(PtyCloseReason::parse(&cr.to_json()), Some(cr));
        prop_assert_eq!(exit_reason(exit).is_none(), exit == 0);
    }

    #[test]
    fn envs_token_round_trip(e in btree_map("[^=\u{0}\r\n]{1,6}", ".{0,8}", 0..5)) {
        let token = encode_envs_token(&e).unwrap();
        prop_assert!(token.starts_with(PTY_ENVS_PROTOCOL_PREFIX));
        prop_assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_~".contains(&b)), "token chars: {}", token);
        prop_assert_eq!(envs_from_subprotocols([format!("{PTY_EXIT_CONTROL_PROTOCOL}, {token}").as_str()]).unwrap(), e);
    }

    #[test]
    fn interpreter_json(
        (code, ctx, e, timeout) in (s(), option::of(s()), option::of(envs()), option::of(any::<i64>())),
        (text, name, value, tb) in (s(), s(), s(), s()),
        kind in prop_oneof![Just(InterpreterFrameType::Stdout), Just(InterpreterFrameType::Stderr), Just(InterpreterFrameType::Error), Just(InterpreterFrameType::Control), Just(InterpreterFrameType::Chart), "[a-z]{1,3}q".prop_map(InterpreterFrameType::Unknown)],
        ch in option::of(chart(1)),
        active in any::<bool>(),
    ) {
        let mut r = InterpreterRequest::new(code);
        (r.context_id, r.envs, r.timeout) = (ctx.clone(), e, timeout);
        json_round_trip(&r)?;
        let mut f = InterpreterFrame::stdout(text.clone());
        (f.kind, f.name, f.value, f.traceback, f.chart) = (kind, name, value, tb, ch);
        json_round_trip(&f)?;
        let mut c = CreateContextRequest::new();
        (c.cwd, c.language) = (ctx, Some(text.clone()));
        json_round_trip(&c)?;
        let ictx = InterpreterContext::new(text.clone(), text.clone(), text, active, "python");
        json_round_trip(&ictx)?;
        json_round_trip(&ListContextsResponse::new(vec![ictx]))?;
    }

    #[test]
    fn error_json(
        status in any::<u16>(),
        (message, ts, path) in (s(), s(), s()),
        (source, method, code) in (option::of(s()), option::of(s()), option::of(error_code())),
        (result, out, err, to) in (option::of(s()), option::of(s()), option::of(s()), option::of(any::<bool>())),
    ) {
        let mut e = ErrorResponse::new(status, message, ts, path, "GET");
        (e.source, e.method, e.code, e.result, e.stdout, e.stderr, e.timed_out) = (source, method, code, result, out, err, to);
        json_round_trip(&e)?;
        let mut lenient = ErrorResponse::parse_lenient(status, &wire::encode(&e));
        if e.status_code == 0 {
            lenient.status_code = 0;
        }
        prop_assert_eq!(lenient, e);
    }

    #[test]
    fn lenient_error_never_fails(status in any::<u16>(), body in vec(any::<u8>(), 0..64)) {
        let e = ErrorResponse::parse_lenient(status, &body);
        prop_assert!(e.status_code == status || e.status_code != 0);
    }
}
