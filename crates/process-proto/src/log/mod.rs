//! The stdout/stderr log multiplexing codec (spec §3): a 3-byte stream marker, then data up to
//! the next marker. [`Muxer`] writes it (daemon side), [`Demuxer`] reads it as labelled byte
//! chunks, [`TextDemuxer`] as UTF-8 text; [`demux_log`] and [`parse_session_command_logs`] do it
//! in one shot.
//!
//! # Format and its limits
//!
//! ```text
//! record = marker payload      marker = 01 01 01 (stdout) | 02 02 02 (stderr)
//! ```
//!
//! There is no length field and no escaping, so a payload that contains `01 01 01` or
//! `02 02 02` is read as a stream switch: such payloads cannot round-trip (the official daemon
//! writes them verbatim too, and every reader then "forges" a switch). Payload bytes before the
//! first marker are unlabelled and dropped, as the official SDK and daemon do.
//!
//! # Reading rules (equal to SDK 0.226.1's `_std_demux_loop`, spec §3.5)
//!
//! The leftmost complete marker wins (`01 01 01 01 x` is a stdout marker followed by `01 x`);
//! up to 2 trailing bytes that may begin a marker are held until the next input; at the end of
//! input they are data of the current stream. The result per stream does not depend on how the
//! input is chunked.
//!
//! Text ([`TextDemuxer`]) is decoded per stream, incrementally: an incomplete UTF-8 sequence at
//! the end of a chunk is held (per stream, also across stream switches) until more bytes of that
//! stream arrive; invalid bytes become U+FFFD with the same rule as Python's
//! `errors="replace"` (one U+FFFD per maximal invalid subpart). Compared with the SDK's
//! callbacks, the concatenated text per stream is identical, with two documented differences:
//! - the SDK invokes callbacks with `""` when a chunk held only part of a character; we emit no
//!   empty pieces;
//! - where the SDK is lossy: at the end of input, if bytes are still held (a 1–2 byte partial
//!   marker) the SDK finalises only the current stream's decoder and silently drops an
//!   incomplete character pending in the *other* stream (Appendix B:
//!   `01 01 01 e2 82 02 02 02 'x'` → SDK stdout `""`); we flush every stream at the end, so that
//!   incomplete character becomes U+FFFD (stdout `"\u{FFFD}"`).
//!
//! # Where each part lives
//!
//! - [`Muxer`] (`mux.rs`): the daemon's writer.
//! - [`Demuxer`] (`demux.rs`): the reader, handing out shared [`LogChunk`]s or lending slices
//!   of the caller's buffer ([`Demuxer::decode_borrowed`]).
//! - [`TextDemuxer`] (`text.rs`): the reader's UTF-8 view.
//! - [`LogsJsonEncoder`] (`json.rs`): the `GET …/logs` answer, streamed.
//! - The one-shot helpers ([`demux_log`], [`parse_session_command_logs`]): here.

use bytes::{Bytes, BytesMut};

use crate::wire::SessionCommandLogsResponse;

mod demux;
mod json;
mod mux;
mod text;

pub use demux::{Borrowed, Demuxer, LogSlice, Unlabelled};
pub use json::LogsJsonEncoder;
pub use mux::Muxer;
pub use text::TextDemuxer;

/// Marker that starts stdout data.
pub const STDOUT_MARKER: [u8; 3] = [1, 1, 1];
/// Marker that starts stderr data.
pub const STDERR_MARKER: [u8; 3] = [2, 2, 2];
/// Length of a marker.
pub const MARKER_LEN: usize = 3;
/// Default largest [`LogChunk`] a [`Demuxer`] hands out (longer runs are split).
pub const DEFAULT_MAX_CHUNK: usize = 64 * 1024;

/// One of the two output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OutputStream {
    /// Standard output (marker `01 01 01`).
    Stdout,
    /// Standard error (marker `02 02 02`).
    Stderr,
}

impl OutputStream {
    /// The marker that starts this stream's data.
    pub const fn marker(self) -> [u8; 3] {
        match self {
            OutputStream::Stdout => STDOUT_MARKER,
            OutputStream::Stderr => STDERR_MARKER,
        }
    }

    /// The stream whose marker consists of `byte` (1 or 2).
    pub const fn from_marker_byte(byte: u8) -> Option<OutputStream> {
        match byte {
            1 => Some(OutputStream::Stdout),
            2 => Some(OutputStream::Stderr),
            _ => None,
        }
    }

    pub(crate) const fn index(self) -> usize {
        match self {
            OutputStream::Stdout => 0,
            OutputStream::Stderr => 1,
        }
    }
}

/// A run of bytes of one stream, sliced out of the input without copying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChunk {
    /// The stream the bytes belong to.
    pub stream: OutputStream,
    /// The bytes (never empty when returned by a [`Demuxer`]).
    pub data: Bytes,
}

/// An error of the log codec.
///
/// Reading never fails under the default policy (like the SDK, unlabelled bytes are dropped);
/// it fails only under [`Unlabelled::Reject`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DemuxError {
    /// Bytes arrived before any marker and the demuxer was told to reject them.
    #[error(
        "{len} bytes of log output carry no stream marker (expected 01 01 01 or 02 02 02 first)"
    )]
    Unlabelled {
        /// How many unlabelled bytes were found in this call.
        len: usize,
    },
}

/// Demuxes a whole log into (stdout, stderr) bytes.
///
/// ```
/// use process_proto::log::demux_log;
/// let (out, err) = demux_log(b"\x01\x01\x01hello\n\x02\x02\x02err\n\x01\x01\x01again\n");
/// assert_eq!(out, b"hello\nagain\n");
/// assert_eq!(err, b"err\n");
/// ```
pub fn demux_log(log: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut out = (Vec::new(), Vec::new());
    let mut src = BytesMut::from(log);
    let mut demux = Demuxer::new().with_max_chunk(usize::MAX);
    // Cannot fail: the default policy drops unlabelled bytes.
    while let Ok(Some(chunk)) = demux.decode_eof(&mut src) {
        match chunk.stream {
            OutputStream::Stdout => out.0.extend_from_slice(&chunk.data),
            OutputStream::Stderr => out.1.extend_from_slice(&chunk.data),
        }
    }
    out
}

/// Demuxes a whole log into (stdout, stderr) text, invalid UTF-8 replaced by U+FFFD.
pub fn demux_log_text(log: &[u8]) -> (String, String) {
    let (out, err) = demux_log(log);
    (
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

/// Builds the `GET …/logs` answer from a command's raw log: `output` is the log as text (lossy
/// UTF-8, markers included), `stdout`/`stderr` are demuxed.
///
/// ```
/// use process_proto::log::parse_session_command_logs;
/// let logs = parse_session_command_logs(b"\x01\x01\x01out\n\x02\x02\x02err\n");
/// assert_eq!(logs.output, "\u{1}\u{1}\u{1}out\n\u{2}\u{2}\u{2}err\n");
/// assert_eq!((logs.stdout.as_str(), logs.stderr.as_str()), ("out\n", "err\n"));
/// ```
pub fn parse_session_command_logs(log: &[u8]) -> SessionCommandLogsResponse {
    let (stdout, stderr) = demux_log_text(log);
    SessionCommandLogsResponse::new(String::from_utf8_lossy(log).into_owned(), stdout, stderr)
}
