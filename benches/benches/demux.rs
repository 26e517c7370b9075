//! Demux throughput (criterion): our `Demuxer` and `TextDemuxer` beside `memchr` and a plain
//! copy over the same buffer and the same chunking, so the ratio is measured in one run.
//!
//! Input: `PROCESS_BENCH_DEMUX_MIB` MiB (default 64) of records 64 B or 1 KiB long, stdout and
//! stderr 50/50, fed in 4 KiB or 64 KiB chunks. `cargo xtask bench` reads the medians from
//! `target/criterion/demux_<records>_<chunk>/<kernel>/new/estimates.json`.

#![allow(missing_docs)] // criterion_group!/criterion_main! generate undocumented items

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use process_benches::demux;
use process_benches::demux_report::{CHUNKS, INPUTS, P_STDOUT, SEED};

/// Input size in MiB: 1 when `cargo test` runs the bench once as a smoke test (no `--bench`).
fn input_mib() -> usize {
    if !std::env::args().any(|a| a == "--bench") {
        return 1;
    }
    std::env::var("PROCESS_BENCH_DEMUX_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

fn bench(c: &mut Criterion) {
    let total = input_mib() << 20;
    for (label, period) in INPUTS {
        let input = demux::muxed(total, period, P_STDOUT, SEED);
        let bytes = &input.bytes[..];
        for (clabel, chunk) in CHUNKS {
            let mut group = c.benchmark_group(format!("demux_{label}_{clabel}"));
            group.throughput(Throughput::Bytes(bytes.len() as u64));
            group.sample_size(10);
            group.bench_function("memchr", |b| {
                b.iter(|| demux::memchr_count(black_box(bytes), chunk));
            });
            let mut dst = Vec::with_capacity(bytes.len());
            group.bench_function("copy", |b| {
                b.iter(|| demux::copy(black_box(bytes), chunk, &mut dst));
            });
            group.bench_function("demux", |b| {
                b.iter(|| demux::demux_bytes(black_box(bytes), chunk));
            });
            group.bench_function("borrowed", |b| {
                b.iter(|| demux::demux_borrowed(black_box(bytes), chunk));
            });
            group.bench_function("text", |b| {
                b.iter(|| demux::demux_text(black_box(bytes), chunk));
            });
            group.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
