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

mod artifact;
mod json;
mod log;

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
