//! Spec Appendix B: the SDK 0.226.1 client demux vectors, run through our `TextDemuxer` frame by
//! frame. Our text per stream equals the SDK's callbacks concatenated, except for the one vector
//! where the SDK is lossy (documented in `process_proto::log`).

use bytes::BytesMut;
use process_proto::log::{Demuxer, OutputStream, TextDemuxer};

/// Feeds `frames` one by one; returns every piece handed out, per stream.
pub fn run_text(frames: &[&[u8]]) -> (Vec<String>, Vec<String>) {
    let mut demux = TextDemuxer::new();
    let mut src = BytesMut::new();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut push = |piece: Option<(OutputStream, String)>| match piece {
        Some((OutputStream::Stdout, t)) => {
            out.push(t);
            true
        }
        Some((OutputStream::Stderr, t)) => {
            err.push(t);
            true
        }
        None => false,
    };
    for frame in frames {
        src.extend_from_slice(frame);
        while push(demux.decode(&mut src).unwrap()) {}
    }
    while push(demux.decode_eof(&mut src).unwrap()) {}
    for piece in out.iter().chain(&err) {
        assert!(!piece.is_empty(), "empty pieces are never handed out");
    }
    (out, err)
}

/// Feeds `frames` to the byte demuxer; returns each stream's bytes.
pub fn run_bytes(frames: &[&[u8]]) -> (Vec<u8>, Vec<u8>) {
    let mut demux = Demuxer::new();
    let mut src = BytesMut::new();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut take = |c: Option<process_proto::LogChunk>| match c {
        Some(c) => {
            assert!(!c.data.is_empty());
            match c.stream {
                OutputStream::Stdout => out.extend_from_slice(&c.data),
                OutputStream::Stderr => err.extend_from_slice(&c.data),
            }
            true
        }
        None => false,
    };
    for frame in frames {
        src.extend_from_slice(frame);
        while take(demux.decode(&mut src).unwrap()) {}
        assert!(src.len() <= 2, "at most a partial marker is held");
    }
    while take(demux.decode_eof(&mut src).unwrap()) {}
    assert!(src.is_empty());
    (out, err)
}

/// One Appendix B row: frames, SDK stdout callbacks, SDK stderr callbacks.
pub struct Vector {
    pub frames: &'static [&'static [u8]],
    pub sdk_stdout: &'static [&'static str],
    pub sdk_stderr: &'static [&'static str],
}

/// The table of Appendix B, verbatim (the text-frame row is given as its UTF-8 bytes).
pub const VECTORS: &[Vector] = &[
    Vector {
        frames: &[b"junk\x01\x01\x01abc"],
        sdk_stdout: &["abc"],
        sdk_stderr: &[],
    },
    Vector {
        frames: &[b"no markers at all\n"],
        sdk_stdout: &[],
        sdk_stderr: &[],
    },
    Vector {
        frames: &[b"\x01", b"\x01", b"\x01abc"],
        sdk_stdout: &["abc"],
        sdk_stderr: &[],
    },
    Vector {
        frames: &[b"\x01\x01", b"\x01abc"],
        sdk_stdout: &["abc"],
        sdk_stderr: &[],
    },
    Vector {
        frames: &[b"\x01\x01\x01a\x01\x01b\n"],
        sdk_stdout: &["a\x01\x01b\n"],
        sdk_stderr: &[],
    },
    Vector {
        frames: &[b"\x01\x01\x01abc\x01", b"def"],
        sdk_stdout: &["abc", "\x01def"],
        sdk_stderr: &[],
    },
    Vector {
        frames: &[b"\x01\x01\x01abc\x01\x01"],
        sdk_stdout: &["abc", "\x01\x01"],
        sdk_stderr: &[],
    },
    Vector {
        frames: &[b"\x01\x01\x01a\x01\x02\x02\x02\x02b"],
        sdk_stdout: &["a\x01"],
        sdk_stderr: &["\x02b"],
    },
    Vector {
        frames: &[b"\x01\x01\x01a\xff\xfeb\n"],
        sdk_stdout: &["a\u{fffd}\u{fffd}b\n"],
        sdk_stderr: &[],
    },
    Vector {
        frames: &[b"\x01\x01\x01\xe2", b"\x82", b"\xac!"],
        sdk_stdout: &["€!"],
        sdk_stderr: &[],
    },
    // The SDK-lossy row: checked separately below.
    Vector {
        frames: &[b"\x01\x01\x01\xe2\x82\x02\x02\x02x"],
        sdk_stdout: &[""],
        sdk_stderr: &["x"],
    },
    Vector {
        frames: &["\x01\x01\x01text-frame é\n".as_bytes()],
        sdk_stdout: &["text-frame é\n"],
        sdk_stderr: &[],
    },
    Vector {
        frames: &[b"", b"\x01\x01\x01x", b""],
        sdk_stdout: &["x"],
        sdk_stderr: &[],
    },
    Vector {
        frames: &[b"\x01\x01\x01\x01abc"],
        sdk_stdout: &["\x01abc"],
        sdk_stderr: &[],
    },
    Vector {
        frames: &[b"\x02\x02\x02e1\n\x01\x01\x01o1\n\x02\x02\x02e2\n"],
        sdk_stdout: &["o1\n"],
        sdk_stderr: &["e1\n", "e2\n"],
    },
    Vector {
        frames: &[
            b"\x01\x01\x01hel",
            b"lo\n\x02\x02",
            b"\x02err line\n\x01",
            b"\x01\x01bye \xe2\x82",
            b"\xac\n",
        ],
        sdk_stdout: &["hel", "lo\n", "bye ", "€\n"],
        sdk_stderr: &["err line\n"],
    },
];

/// Index of the row where the SDK drops an incomplete character at a stream switch.
const LOSSY_ROW: usize = 10;

#[test]
fn text_matches_sdk_on_every_vector() {
    for (i, v) in VECTORS.iter().enumerate() {
        let (out, err) = run_text(v.frames);
        if i == LOSSY_ROW {
            // SDK: stdout [''] (the pending "\xe2\x82" is never flushed); we flush it as U+FFFD.
            assert_eq!(
                (out.concat(), err.concat()),
                ("\u{fffd}".to_string(), "x".to_string())
            );
            continue;
        }
        assert_eq!(out.concat(), v.sdk_stdout.concat(), "stdout of row {i}");
        assert_eq!(err.concat(), v.sdk_stderr.concat(), "stderr of row {i}");
    }
}

#[test]
fn pieces_match_sdk_callbacks_where_no_empty_callback() {
    // Where the SDK made no '' callback, even the piece boundaries agree (same hold rules).
    for (i, v) in VECTORS.iter().enumerate() {
        if i == LOSSY_ROW {
            continue;
        }
        let (out, err) = run_text(v.frames);
        assert_eq!(out, v.sdk_stdout, "stdout pieces of row {i}");
        assert_eq!(err, v.sdk_stderr, "stderr pieces of row {i}");
    }
}

#[test]
fn bytes_match_on_every_vector() {
    for (i, v) in VECTORS.iter().enumerate() {
        let (out, err) = run_bytes(v.frames);
        let expect_out: Vec<u8> = match i {
            8 => b"a\xff\xfeb\n".to_vec(),
            LOSSY_ROW => b"\xe2\x82".to_vec(),
            _ => v.sdk_stdout.concat().into_bytes(),
        };
        assert_eq!(out, expect_out, "stdout of row {i}");
        assert_eq!(err, v.sdk_stderr.concat().as_bytes(), "stderr of row {i}");
        // The one-shot helper agrees with the streaming demuxer.
        let all: Vec<u8> = v.frames.concat();
        assert_eq!(
            process_proto::demux_log(&all),
            (out, err),
            "demux_log of row {i}"
        );
    }
}

#[test]
fn split_character_resumes_after_stream_switch() {
    // The incomplete character stays with its stream across a switch (as in the SDK's
    // per-stream decoders) and completes when that stream continues.
    let (out, err) = run_text(&[b"\x01\x01\x01\xe2\x82\x02\x02\x02x\x01\x01\x01\xac"]);
    assert_eq!(
        (out.concat(), err.concat()),
        ("€".to_string(), "x".to_string())
    );
}

#[test]
fn appendix_c_logs() {
    use process_proto::log::parse_session_command_logs;
    let cases: &[(&[u8], &str, &str)] = &[
        (
            b"\x01\x01\x01hello\n\x01\x01\x01again\n\x02\x02\x02err\n",
            "hello\nagain\n",
            "err\n",
        ),
        (b"\x01\x01\x01no-newline\n", "no-newline\n", ""),
        (
            b"\x01\x01\x01a\r\n\x02\x02\x02  lead\n\x01\x01\x01b\tc  \n",
            "a\r\nb\tc  \n",
            "  lead\n",
        ),
        (b"\x01\x01\x01x\x00y\n", "x\0y\n", ""),
        // Forged marker in program output: an empty stdout record, then "inject".
        (b"\x01\x01\x01\x01\x01\x01inject\n", "inject\n", ""),
        (b"\x01\x01\x01AC\n\x02\x02\x02B\n", "AC\n", "B\n"),
        (b"", "", ""),
    ];
    for (log, out, err) in cases {
        let r = parse_session_command_logs(log);
        assert_eq!((r.stdout.as_str(), r.stderr.as_str()), (*out, *err));
        assert_eq!(r.output.as_bytes(), *log);
    }
    let r = parse_session_command_logs(b"\x01\x01\x01\xff\n");
    assert_eq!(
        (r.output.as_str(), r.stdout.as_str()),
        ("\u{1}\u{1}\u{1}\u{fffd}\n", "\u{fffd}\n")
    );
}
