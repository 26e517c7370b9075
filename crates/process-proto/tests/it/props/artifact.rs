//! Artifact scanner laws: split invariance and the line limit.

#[allow(clippy::wildcard_imports)]
use super::*;

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

pub(super) fn scan_frames(
    frames: &[Vec<u8>],
    max_line: usize,
) -> (Vec<u8>, Vec<Result<Artifact, String>>) {
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
