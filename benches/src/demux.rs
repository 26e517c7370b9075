//! Demux inputs (deterministic muxed logs) and the kernels the demux benchmark times: our
//! [`Demuxer`] and [`TextDemuxer`] against `memchr` and a plain copy over the same chunks.

use bytes::{Buf, BytesMut};
use process_proto::log::{Demuxer, LogSlice, OutputStream, TextDemuxer, STDOUT_MARKER};

/// A muxed log and what it holds per stream.
#[derive(Debug, Clone)]
pub struct Input {
    /// The log bytes: records of `marker + payload`.
    pub bytes: Vec<u8>,
    /// Payload bytes labelled stdout.
    pub stdout_len: usize,
    /// Payload bytes labelled stderr.
    pub stderr_len: usize,
}

/// A small deterministic generator (xorshift64*): benchmarks must see the same input every run.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a non-zero seed (zero is replaced).
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Builds a log of `total` bytes made of records `period` bytes long (a 3-byte marker, then
/// printable ASCII text with a newline at the end of each record), each record on stdout with
/// probability `p_stdout_percent` %. The text never contains a marker byte (1 or 2).
pub fn muxed(total: usize, period: usize, p_stdout_percent: u64, seed: u64) -> Input {
    assert!(
        period > STDOUT_MARKER.len(),
        "a record needs room for its marker"
    );
    let mut rng = Rng::new(seed);
    let mut bytes = Vec::with_capacity(total);
    let (mut stdout_len, mut stderr_len) = (0, 0);
    while bytes.len() < total {
        let stream = if rng.next_u64() % 100 < p_stdout_percent {
            OutputStream::Stdout
        } else {
            OutputStream::Stderr
        };
        bytes.extend_from_slice(&stream.marker());
        let payload = (period - 3).min(total - bytes.len());
        let start = bytes.len();
        let mut bits = 0u64;
        for i in 0..payload {
            if i % 8 == 0 {
                bits = rng.next_u64();
            }
            // 95 printable characters, 0x20..=0x7e.
            let c = 0x20 + ((bits & 0xff) % 95) as u8;
            bits >>= 8;
            bytes.push(c);
        }
        if payload > 0 {
            bytes[start + payload - 1] = b'\n';
        }
        match stream {
            OutputStream::Stdout => stdout_len += payload,
            OutputStream::Stderr => stderr_len += payload,
        }
    }
    Input {
        bytes,
        stdout_len,
        stderr_len,
    }
}

/// Counts occurrences of byte 0x01 chunk by chunk: the `memchr` ceiling for a scanner.
pub fn memchr_count(input: &[u8], chunk: usize) -> usize {
    input
        .chunks(chunk)
        .map(|c| memchr::memchr_iter(1, c).count())
        .sum()
}

/// Copies the input chunk by chunk into `dst` (cleared first): the `memcpy` floor.
pub fn copy(input: &[u8], chunk: usize, dst: &mut Vec<u8>) -> usize {
    dst.clear();
    for c in input.chunks(chunk) {
        dst.extend_from_slice(c);
    }
    dst.len()
}

/// Feeds the input chunk by chunk to a [`Demuxer`], as a client does with received frames,
/// and returns the (stdout, stderr) bytes handed out.
pub fn demux_bytes(input: &[u8], chunk: usize) -> (usize, usize) {
    let mut demux = Demuxer::new();
    let mut src = BytesMut::with_capacity(chunk + 3);
    let mut out = (0, 0);
    let mut take = |c: process_proto::log::LogChunk| match c.stream {
        OutputStream::Stdout => out.0 += c.data.len(),
        OutputStream::Stderr => out.1 += c.data.len(),
    };
    for c in input.chunks(chunk) {
        src.extend_from_slice(c);
        while let Ok(Some(c)) = demux.decode(&mut src) {
            take(c);
        }
    }
    while let Ok(Some(c)) = demux.decode_eof(&mut src) {
        take(c);
    }
    out
}

/// Like [`demux_bytes`] with the lending decode ([`Demuxer::decode_each_borrowed`]), as a
/// client holding each received frame uses it: one call per frame lends the chunks straight
/// out of the frame; only the at most 2 held bytes of a possible partial marker are carried
/// into the next frame.
pub fn demux_borrowed(input: &[u8], chunk: usize) -> (usize, usize) {
    let mut demux = Demuxer::new();
    let mut carry = BytesMut::new();
    let mut out = (0, 0);
    let mut take = |c: LogSlice<'_>| match c.stream {
        OutputStream::Stdout => out.0 += c.data.len(),
        OutputStream::Stderr => out.1 += c.data.len(),
    };
    // The default policy drops unlabelled bytes: decoding cannot fail.
    for frame in input.chunks(chunk) {
        if carry.is_empty() {
            let used = demux
                .decode_each_borrowed(frame, false, &mut take)
                .unwrap_or(frame.len());
            carry.extend_from_slice(&frame[used..]);
        } else {
            carry.extend_from_slice(frame);
            let used = demux
                .decode_each_borrowed(&carry, false, &mut take)
                .unwrap_or(carry.len());
            carry.advance(used);
        }
    }
    let _ = demux.decode_each_borrowed(&carry, true, &mut take);
    out
}

/// Like [`demux_bytes`] through the UTF-8 text view ([`TextDemuxer`]); returns the (stdout,
/// stderr) text lengths in bytes.
pub fn demux_text(input: &[u8], chunk: usize) -> (usize, usize) {
    let mut demux = TextDemuxer::new();
    let mut src = BytesMut::with_capacity(chunk + 3);
    let mut out = (0, 0);
    let mut take = |(stream, text): (OutputStream, String)| match stream {
        OutputStream::Stdout => out.0 += text.len(),
        OutputStream::Stderr => out.1 += text.len(),
    };
    for c in input.chunks(chunk) {
        src.extend_from_slice(c);
        while let Ok(Some(piece)) = demux.decode(&mut src) {
            take(piece);
        }
    }
    while let Ok(Some(piece)) = demux.decode_eof(&mut src) {
        take(piece);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_is_deterministic_and_marker_free_in_text() {
        let a = muxed(10_000, 64, 50, 7);
        let b = muxed(10_000, 64, 50, 7);
        assert_eq!(a.bytes, b.bytes);
        assert_eq!(a.bytes.len(), 10_000);
        assert_eq!(
            a.stdout_len + a.stderr_len + 3 * 10_000_usize.div_ceil(64),
            10_000
        );
        assert!(a.stdout_len > 2_000 && a.stderr_len > 2_000, "about 50/50");
    }

    #[test]
    fn kernels_agree_with_the_generator() {
        for (period, p) in [(64, 50), (1024, 50), (64, 100)] {
            let input = muxed(300_000, period, p, 3);
            for chunk in [4096, 65536, 1000] {
                let want = (input.stdout_len, input.stderr_len);
                assert_eq!(demux_bytes(&input.bytes, chunk), want, "{period} {chunk}");
                assert_eq!(
                    demux_borrowed(&input.bytes, chunk),
                    want,
                    "{period} {chunk}"
                );
                assert_eq!(demux_text(&input.bytes, chunk), want, "{period} {chunk}");
                let mut dst = Vec::new();
                assert_eq!(copy(&input.bytes, chunk, &mut dst), input.bytes.len());
                let stdout_records = input.bytes.chunks(period).filter(|r| r[0] == 1).count();
                assert_eq!(memchr_count(&input.bytes, chunk), 3 * stdout_records);
            }
        }
    }
}
