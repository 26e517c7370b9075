//! Log streams: byte-for-byte equality with the daemon's own record, and chunking edge cases
//! (markers and UTF-8 characters split across WebSocket frames) from a stub server.

use std::convert::Infallible;

use bytes::Bytes;
use fastwebsockets::{Frame, Payload};
use futures_util::StreamExt;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use process::proto::wire::CloseCode;
use process::transport::HttpTransport;
use process::{Client, CommandRequest, LogChunk, OutputStream};
use proptest::prelude::*;

use crate::support::{Fixture, Kind};

crate::both_transports!(
    stream_matches_the_daemon_byte_for_byte,
    text_stream_matches_and_never_splits_characters,
    following_a_running_command_sees_it_live,
    unknown_command_stream_is_not_found,
);

/// A command writing ~150 KB to both streams: multi-byte characters, partial lines, marker-like
/// bytes are avoided (they cannot round-trip by design of the format).
const NOISY: &str = r#"i=0; while [ $i -lt 1500 ]; do i=$((i+1)); printf 'out %d €🦀 ' $i; echo "é-$i"; echo "err $i ✓ ñ" >&2; printf 'partial-%d' $i; echo; done"#;

async fn run_async(f: &Fixture, session: &str, command: &str) -> String {
    f.client.create_session(session).await.unwrap();
    f.client
        .execute_session_command(session, CommandRequest::new(command).run_async(true))
        .await
        .unwrap()
        .cmd_id
}

async fn stream_matches_the_daemon_byte_for_byte(kind: Kind) {
    let f = Fixture::start(kind).await;
    let cmd = run_async(&f, "s", NOISY).await;
    let mut stream = f
        .client
        .stream_session_command_logs("s", &cmd)
        .await
        .unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut chunks = 0;
    while let Some(chunk) = stream.next().await {
        let LogChunk { stream, data, .. } = chunk.unwrap();
        assert!(!data.is_empty());
        chunks += 1;
        match stream {
            OutputStream::Stdout => out.extend_from_slice(&data),
            OutputStream::Stderr => err.extend_from_slice(&data),
        }
    }
    assert!(chunks > 1, "a 150 KB log arrives in several chunks");
    let logs = f.client.get_session_command_logs("s", &cmd).await.unwrap();
    assert_eq!(out, logs.stdout.as_bytes());
    assert_eq!(err, logs.stderr.as_bytes());
    let (raw_out, raw_err) = process::proto::log::demux_log(logs.output.as_bytes());
    assert_eq!(out, raw_out);
    assert_eq!(err, raw_err);
    assert_eq!(
        out.len(),
        1500 * "out 1500 €🦀 é-1500\npartial-1500\n".len() - lengths_of_smaller_numbers()
    );
    assert!(String::from_utf8(out)
        .unwrap()
        .contains("out 777 €🦀 é-777\npartial-777\n"));
}

/// Bytes saved by the numbers below 1000 having fewer digits (3 numbers per stdout iteration).
fn lengths_of_smaller_numbers() -> usize {
    (1..=1500usize).map(|i| 3 * (4 - i.to_string().len())).sum()
}

async fn text_stream_matches_and_never_splits_characters(kind: Kind) {
    let f = Fixture::start(kind).await;
    let cmd = run_async(&f, "s", NOISY).await;
    let mut text = f
        .client
        .stream_session_command_logs("s", &cmd)
        .await
        .unwrap()
        .text();
    let (mut out, mut err) = (String::new(), String::new());
    while let Some(piece) = text.next().await {
        let piece = piece.unwrap();
        assert!(
            !piece.text.contains('\u{FFFD}'),
            "a character was split: {:?}",
            piece.text
        );
        match piece.stream {
            OutputStream::Stdout => out.push_str(&piece.text),
            OutputStream::Stderr => err.push_str(&piece.text),
        }
    }
    let logs = f.client.get_session_command_logs("s", &cmd).await.unwrap();
    assert_eq!(out, logs.stdout);
    assert_eq!(err, logs.stderr);
}

async fn following_a_running_command_sees_it_live(kind: Kind) {
    let f = Fixture::start(kind).await;
    // The command waits for input before finishing: the stream must deliver its first line
    // while it is still running.
    let cmd = run_async(&f, "s", "echo first; read -r x; echo \"second $x\"").await;
    let mut text = f
        .client
        .stream_session_command_logs("s", &cmd)
        .await
        .unwrap()
        .text();
    let mut seen = String::new();
    while !seen.contains("first\n") {
        let piece = text.next().await.expect("stream ended early").unwrap();
        seen.push_str(&piece.text);
    }
    assert_eq!(
        f.client
            .get_session_command("s", &cmd)
            .await
            .unwrap()
            .exit_code,
        None
    );
    f.client
        .send_session_command_input("s", &cmd, "go")
        .await
        .unwrap();
    while let Some(piece) = text.next().await {
        seen.push_str(&piece.unwrap().text);
    }
    assert!(
        seen.starts_with("first\n") && seen.ends_with("second go\n"),
        "{seen:?}"
    );
}

async fn unknown_command_stream_is_not_found(kind: Kind) {
    let f = Fixture::start(kind).await;
    f.client.create_session("s").await.unwrap();
    let err = f
        .client
        .stream_session_command_logs("s", "nope")
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    let err = f
        .client
        .stream_session_command_logs("nope", "nope")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "session 'nope' not found: create it first with create_session"
    );
}

/// A stub log server: upgrades and sends `frames`, then a close frame `(code, reason)`.
fn stub(frames: Vec<&'static [u8]>, close: (u16, &'static str)) -> Client {
    stub_owned(frames.into_iter().map(<[u8]>::to_vec).collect(), close)
}

fn stub_owned(frames: Vec<Vec<u8>>, close: (u16, &'static str)) -> Client {
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        let frames = frames.clone();
        async move {
            let (resp, fut) = fastwebsockets::upgrade::upgrade(&mut req).unwrap();
            tokio::spawn(async move {
                let mut ws = fut.await.unwrap();
                for f in frames {
                    ws.write_frame(Frame::binary(Payload::Owned(f)))
                        .await
                        .unwrap();
                    // Let each frame go out on its own.
                    tokio::task::yield_now().await;
                }
                ws.write_frame(Frame::close(close.0, close.1.as_bytes()))
                    .await
                    .unwrap();
            });
            let (parts, _) = resp.into_parts();
            Ok::<_, Infallible>(Response::from_parts(parts, Full::new(Bytes::new())))
        }
    });
    Client::new(HttpTransport::in_memory(service).unwrap())
}

/// Markers split 1+1+1 and 2+1, a euro sign split 1+1+1 across frames, bytes before the first
/// marker (dropped, as the SDK does).
const CRAFTED: [&[u8]; 7] = [
    b"junk\x01",
    b"\x01",
    b"\x01hel",
    b"lo \xe2",
    b"\x82",
    b"\xac\n\x02\x02",
    b"\x02err\n\x01\x01\x01bye",
];

#[tokio::test]
async fn crafted_frames_split_markers_and_characters() {
    let client = stub(CRAFTED.to_vec(), (1000, ""));
    let mut stream = client.stream_session_command_logs("s", "c").await.unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        match chunk.stream {
            OutputStream::Stdout => out.extend_from_slice(&chunk.data),
            OutputStream::Stderr => err.extend_from_slice(&chunk.data),
        }
    }
    assert_eq!(out, "hello €\nbye".as_bytes());
    assert_eq!(err, b"err\n");

    let client = stub(CRAFTED.to_vec(), (1000, ""));
    let mut text = client
        .stream_session_command_logs("s", "c")
        .await
        .unwrap()
        .text();
    let mut pieces = Vec::new();
    while let Some(piece) = text.next().await {
        let piece = piece.unwrap();
        pieces.push((piece.stream, piece.text));
    }
    let out: String = pieces
        .iter()
        .filter(|(s, _)| *s == OutputStream::Stdout)
        .map(|(_, t)| t.as_str())
        .collect();
    assert_eq!(out, "hello €\nbye");
    assert!(
        pieces.iter().any(|(_, t)| t.contains('€')),
        "the euro sign arrives whole in one piece: {pieces:?}"
    );
    assert!(pieces.iter().all(|(_, t)| !t.contains('\u{FFFD}')));
}

#[tokio::test]
async fn crafted_abnormal_close_yields_the_data_then_an_error() {
    let client = stub(vec![b"\x01\x01\x01partial output\n"], (1011, "boom"));
    let mut stream = client.stream_session_command_logs("s", "c").await.unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(&first.data[..], b"partial output\n");
    let err = stream.next().await.unwrap().unwrap_err();
    assert!(err.is_closed(), "{err:?}");
    assert_eq!(err.close_code(), Some(CloseCode::INTERNAL));
    assert!(err.to_string().contains("boom"), "{err}");
    assert!(stream.next().await.is_none());

    // The callback form reports the same error after delivering the data.
    let client = stub(vec![b"\x02\x02\x02bad\n"], (1011, ""));
    let mut seen = String::new();
    let err = client
        .follow_session_command_logs("s", "c", |_| {}, |e| seen.push_str(e))
        .await
        .unwrap_err();
    assert_eq!(seen, "bad\n");
    assert_eq!(err.close_code(), Some(CloseCode::INTERNAL));
}

/// Log bytes rich in what makes demuxing hard: markers, marker prefixes, multi-byte characters
/// and invalid UTF-8.
fn log_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"\x01\x01\x01".to_vec()),
        Just(b"\x02\x02\x02".to_vec()),
        Just(b"\x01".to_vec()),
        Just(b"\x02\x02".to_vec()),
        Just("€".as_bytes().to_vec()),
        Just("🦀".as_bytes().to_vec()),
        Just(b"\xff".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..8),
        "[a-z \n]{0,12}".prop_map(String::into_bytes),
    ];
    proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

/// Cuts `bytes` at the given fractions (any chunking, empty frames included).
fn chunked(bytes: &[u8], cuts: &[f64]) -> Vec<Vec<u8>> {
    let mut at: Vec<usize> = cuts
        .iter()
        .map(|c| ((bytes.len() as f64) * c) as usize)
        .collect();
    at.push(0);
    at.push(bytes.len());
    at.sort_unstable();
    at.windows(2).map(|w| bytes[w[0]..w[1]].to_vec()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the frame boundaries, the streams carry exactly the demuxed log (bytes), and
    /// the text stream exactly its lossy UTF-8 decoding.
    #[test]
    fn any_chunking_gives_the_demuxed_log(log in log_bytes(), cuts in proptest::collection::vec(0.0f64..1.0, 0..12)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (want_out, want_err) = process::proto::log::demux_log(&log);
        let frames = chunked(&log, &cuts);
        let (out, err, text_out, text_err) = rt.block_on(async {
            let client = stub_owned(frames.clone(), (1000, ""));
            let mut stream = client.stream_session_command_logs("s", "c").await.unwrap();
            let (mut out, mut err) = (Vec::new(), Vec::new());
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.unwrap();
                match chunk.stream {
                    OutputStream::Stdout => out.extend_from_slice(&chunk.data),
                    OutputStream::Stderr => err.extend_from_slice(&chunk.data),
                }
            }
            let client = stub_owned(frames, (1000, ""));
            let mut text = client.stream_session_command_logs("s", "c").await.unwrap().text();
            let (mut text_out, mut text_err) = (String::new(), String::new());
            while let Some(piece) = text.next().await {
                let piece = piece.unwrap();
                match piece.stream {
                    OutputStream::Stdout => text_out.push_str(&piece.text),
                    OutputStream::Stderr => text_err.push_str(&piece.text),
                }
            }
            (out, err, text_out, text_err)
        });
        prop_assert_eq!(&out, &want_out);
        prop_assert_eq!(&err, &want_err);
        prop_assert_eq!(text_out, String::from_utf8_lossy(&want_out).into_owned());
        prop_assert_eq!(text_err, String::from_utf8_lossy(&want_err).into_owned());
    }
}
