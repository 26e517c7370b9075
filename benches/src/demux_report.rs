//! Turns the demux measurements into rows: criterion's medians for our kernels, `memchr` and the
//! copy, and the official Python SDK's demux timed on the same input by
//! `benches/python/sdk_demux.py` (whose output is checked against ours on the prefix it read).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::demux;
use crate::row::{format_ratio, rate, Better, Row};

/// The demux inputs: (label, record length in bytes).
pub const INPUTS: [(&str, usize); 2] = [("m64", 64), ("m1k", 1024)];
/// The chunkings: (label, chunk length in bytes).
pub const CHUNKS: [(&str, usize); 2] = [("4k", 4096), ("64k", 65536)];
/// The seed the criterion bench and the input files share.
pub const SEED: u64 = 0x5eed;
/// Stdout share of the records, in percent.
pub const P_STDOUT: u64 = 50;

/// Where the input file of `label` lives under `dir`.
pub fn input_path(dir: &Path, label: &str) -> PathBuf {
    dir.join(format!("demux-{label}.bin"))
}

/// One line of `sdk_demux.py`'s output.
#[derive(Debug, Clone, Deserialize)]
pub struct PythonResult {
    /// Input label (`m64`, `m1k`).
    pub label: String,
    /// Chunk length.
    pub chunk: usize,
    /// Bytes fed before the budget ran out.
    pub bytes: usize,
    /// Seconds spent.
    pub seconds: f64,
    /// Characters the stdout callback received.
    pub stdout_chars: usize,
    /// Characters the stderr callback received.
    pub stderr_chars: usize,
}

/// Reads criterion's median time per iteration, in seconds, for `group/function`.
fn criterion_median(dir: &Path, group: &str, function: &str) -> Result<f64, String> {
    let path = dir
        .join(group)
        .join(function)
        .join("new")
        .join("estimates.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    v["median"]["point_estimate"]
        .as_f64()
        .map(|ns| ns * 1e-9)
        .ok_or_else(|| format!("{}: no median.point_estimate", path.display()))
}

/// Builds the rows of figure 1.
///
/// `total` is the input size the criterion bench used; `data_dir` holds the input files the
/// Python run read; `python` are its results (possibly none, e.g. no venv).
pub fn rows(
    criterion_dir: &Path,
    total: usize,
    data_dir: &Path,
    python: &[PythonResult],
    python_missing: Option<&str>,
) -> Vec<Row> {
    let mut rows = Vec::new();
    for (label, period) in INPUTS {
        let target = if period >= 1024 { 0.5 } else { 0.2 };
        let rec = if period >= 1024 { "1 KiB" } else { "64 B" };
        for (clabel, chunk) in CHUNKS {
            let group = format!("demux_{label}_{clabel}");
            let cfg = format!("{rec} records, {} KiB chunks", chunk / 1024);
            let get =
                |f: &str| criterion_median(criterion_dir, &group, f).map(|s| total as f64 / s);
            let (memchr, copy, ours, text, borrowed) = match (
                get("memchr"),
                get("copy"),
                get("demux"),
                get("text"),
                get("borrowed"),
            ) {
                (Ok(memchr), Ok(copy), Ok(ours), Ok(text), Ok(borrowed)) => {
                    (memchr, copy, ours, text, borrowed)
                }
                (memchr, copy, ours, text, borrowed) => {
                    let err = [memchr, copy, ours, text, borrowed]
                        .into_iter()
                        .find_map(Result::err)
                        .unwrap_or_default();
                    rows.push(Row::not_measured(1, format!("Demuxer, {cfg}"), err));
                    continue;
                }
            };
            let limit = format!("memchr {} · copy {}", rate(memchr), rate(copy));
            rows.push(Row::ratio(
                1,
                format!("`Demuxer` (bytes), {cfg}"),
                rate(ours),
                limit.clone(),
                ours / memchr,
                Some((Better::Higher, target)),
            ));
            // Issue 14's target for the borrowing decode: ≥ 0.3× memchr for 64 B records.
            let borrowed_target = if period >= 1024 { 0.5 } else { 0.3 };
            rows.push(Row::ratio(
                1,
                format!("`Demuxer::decode_each_borrowed` (bytes, lent slices, one call per frame), {cfg}"),
                rate(borrowed),
                limit.clone(),
                borrowed / memchr,
                Some((Better::Higher, borrowed_target)),
            ));
            let mut text_row = Row::ratio(
                1,
                format!("`TextDemuxer` (UTF-8 text), {cfg}"),
                rate(text),
                limit,
                text / memchr,
                None,
            );
            text_row.target = format!("(no target; {} of copy)", format_ratio(text / copy));
            rows.push(text_row);
            rows.push(python_row(
                label,
                chunk,
                &cfg,
                text,
                data_dir,
                python,
                python_missing,
            ));
        }
    }
    rows
}

fn python_row(
    label: &str,
    chunk: usize,
    cfg: &str,
    ours_text: f64,
    data_dir: &Path,
    python: &[PythonResult],
    python_missing: Option<&str>,
) -> Row {
    let figure = format!("ours (text) vs Python SDK `_std_demux_loop`, {cfg}");
    let Some(py) = python.iter().find(|p| p.label == label && p.chunk == chunk) else {
        return Row::not_measured(1, figure, python_missing.unwrap_or("no Python SDK result"));
    };
    if py.bytes == 0 || py.seconds <= 0.0 {
        return Row::not_measured(1, figure, "the Python SDK run read nothing");
    }
    // Check the SDK produced what we produce on the prefix it read (ASCII input: chars = bytes).
    let check = std::fs::read(input_path(data_dir, label))
        .map_err(|e| e.to_string())
        .map(|bytes| demux::demux_text(&bytes[..py.bytes.min(bytes.len())], chunk));
    match check {
        Ok(ours) if ours == (py.stdout_chars, py.stderr_chars) => {}
        Ok(ours) => {
            return Row::not_measured(
                1,
                figure,
                format!(
                    "SDK output differs from ours on the first {} bytes: SDK {:?}, ours {ours:?}",
                    py.bytes,
                    (py.stdout_chars, py.stderr_chars)
                ),
            )
        }
        Err(e) => return Row::not_measured(1, figure, format!("cannot re-read the input: {e}")),
    }
    let theirs = py.bytes as f64 / py.seconds;
    let mut row = Row::ratio(
        1,
        figure,
        rate(ours_text),
        format!("Python SDK {} ({} MiB read)", rate(theirs), py.bytes >> 20),
        ours_text / theirs,
        None,
    );
    row.target = "ours ÷ theirs".into();
    row
}
