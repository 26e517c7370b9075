//! Byte streams to text, incrementally: [`Utf8Decoder`] (lossy UTF-8 that never splits a
//! character across chunks) and [`MarkerStripper`] (the log's stdout/stderr markers removed,
//! for "combined output" readers). Both give exactly what their one-shot counterpart gives on
//! the whole stream, however the stream was cut ([`String::from_utf8_lossy`],
//! [`strip_markers`]); the proptests and the `text` fuzz target hold them to it.
//!
//! ```
//! use process_proto::text::{MarkerStripper, Utf8Decoder};
//!
//! // "é" cut in the middle, and a stdout marker cut after its first byte.
//! let chunks: [&[u8]; 3] = [b"\x01", b"\x01\x01caf\xc3", b"\xa9"];
//! let (mut strip, mut utf8, mut text) = (MarkerStripper::default(), Utf8Decoder::default(), String::new());
//! for chunk in chunks {
//!     utf8.decode(&strip.push(chunk), &mut text);
//! }
//! utf8.decode(&strip.finish(), &mut text);
//! utf8.finish(&mut text);
//! assert_eq!(text, "café");
//! ```

/// Decodes a UTF-8 byte stream delivered in arbitrary chunks into text: invalid sequences
/// become U+FFFD exactly as [`String::from_utf8_lossy`] would replace them in the whole stream,
/// and an incomplete character at the end of a chunk (at most 3 bytes, held here) waits for the
/// next chunk. `Copy`, no allocation of its own.
#[derive(Debug, Clone, Copy, Default)]
pub struct Utf8Decoder {
    bytes: [u8; 3],
    len: usize,
}

impl Utf8Decoder {
    /// Decodes `chunk` (continuing the earlier chunks), appending complete characters to `out`.
    pub fn decode(&mut self, mut chunk: &[u8], out: &mut String) {
        // A held tail starts at a character boundary, so decoding it together with the next
        // bytes from scratch continues the stream exactly; whatever is held after that
        // precedes the rest of `chunk`.
        while self.len > 0 && !chunk.is_empty() {
            let (held, take) = (self.len, chunk.len().min(3));
            let mut joined = [0u8; 6];
            joined[..held].copy_from_slice(&self.bytes[..held]);
            joined[held..held + take].copy_from_slice(&chunk[..take]);
            self.len = 0;
            self.decode_slice(&joined[..held + take], out);
            chunk = &chunk[take..];
        }
        if !chunk.is_empty() {
            self.decode_slice(chunk, out);
        }
    }

    /// Ends the stream: an incomplete trailing character becomes one U+FFFD.
    pub fn finish(&mut self, out: &mut String) {
        if self.len > 0 {
            self.len = 0;
            out.push(char::REPLACEMENT_CHARACTER);
        }
    }

    fn decode_slice(&mut self, mut data: &[u8], out: &mut String) {
        loop {
            match std::str::from_utf8(data) {
                Ok(s) => {
                    out.push_str(s);
                    return;
                }
                Err(e) => {
                    let (valid, rest) = data.split_at(e.valid_up_to());
                    // `valid` is UTF-8 by construction; the lossy call never replaces here.
                    out.push_str(&String::from_utf8_lossy(valid));
                    if let Some(bad) = e.error_len() {
                        out.push(char::REPLACEMENT_CHARACTER);
                        data = &rest[bad..];
                    } else {
                        // An incomplete sequence at the end: at most 3 bytes.
                        let n = rest.len().min(self.bytes.len());
                        self.bytes[..n].copy_from_slice(&rest[..n]);
                        self.len = n;
                        return;
                    }
                }
            }
        }
    }
}

/// Removes every stdout/stderr marker (3 bytes of `0x01` or of `0x02`) from a whole muxed log:
/// what the original serves as a session command's combined output.
///
/// ```
/// assert_eq!(process_proto::text::strip_markers(b"\x01\x01\x01a\x02\x02\x02b\x01\x01c"), b"ab\x01\x01c");
/// ```
#[must_use]
pub fn strip_markers(log: &[u8]) -> Vec<u8> {
    let mut s = MarkerStripper::default();
    let mut out = s.push(log);
    out.extend(s.finish());
    out
}

/// [`strip_markers`] for a log given in chunks: holds back up to two trailing bytes that may
/// start a marker cut by the chunk edge (spec §3.4; the markers are
/// [`STDOUT_MARKER`](crate::log::STDOUT_MARKER) and [`STDERR_MARKER`](crate::log::STDERR_MARKER)).
#[derive(Debug, Clone, Copy, Default)]
pub struct MarkerStripper {
    held: [u8; 2],
    len: usize,
}

impl MarkerStripper {
    /// Strips markers from `chunk` (continuing the earlier chunks); returns what is surely not
    /// part of a marker.
    #[must_use]
    pub fn push(&mut self, mut chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(chunk.len() + self.len);
        // Held bytes are undecided marker bytes: stripping them together with the next bytes
        // from scratch continues the stream exactly.
        while self.len > 0 && !chunk.is_empty() {
            let (held, take) = (self.len, chunk.len().min(2));
            let mut joined = [0u8; 4];
            joined[..held].copy_from_slice(&self.held[..held]);
            joined[held..held + take].copy_from_slice(&chunk[..take]);
            self.len = 0;
            self.strip_into(&joined[..held + take], &mut out);
            chunk = &chunk[take..];
        }
        if !chunk.is_empty() {
            self.strip_into(chunk, &mut out);
        }
        out
    }

    /// The bytes held back at the end of the stream.
    #[must_use]
    pub fn finish(&mut self) -> Vec<u8> {
        let held = self.held[..self.len].to_vec();
        self.len = 0;
        held
    }

    /// Strips `data` into `out`, holding a possible marker start at its end.
    fn strip_into(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let mut i = 0;
        while let Some(k) = memchr::memchr2(1, 2, &data[i..]) {
            let at = i + k;
            out.extend_from_slice(&data[i..at]);
            let b = data[at];
            if at + 3 <= data.len() {
                if data[at + 1] == b && data[at + 2] == b {
                    i = at + 3;
                } else {
                    out.push(b);
                    i = at + 1;
                }
            } else if data[at..].iter().all(|&x| x == b) {
                // A possible marker cut by the chunk edge: 1 or 2 bytes.
                let n = data.len() - at;
                self.held[..n].copy_from_slice(&data[at..]);
                self.len = n;
                return;
            } else {
                out.push(b);
                i = at + 1;
            }
        }
        out.extend_from_slice(&data[i..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cut(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut out = Vec::new();
        let mut prev = 0;
        for c in cuts {
            out.push(bytes[prev..c].to_vec());
            prev = c;
        }
        out.push(bytes[prev..].to_vec());
        out
    }

    #[test]
    fn split_characters_stay_whole_and_bad_input_is_replaced() {
        let samples: [&[u8]; 8] = [
            "é€😀".as_bytes(),
            b"a\xe2\x82\xacb",
            b"\xf0\x9f\x98\x80\xff\xfe",
            b"\xed\xa0\x80x",    // surrogate: 3 replacements
            b"\xf0\x80\x80\x80", // overlong
            b"\xe2\x82",         // truncated at the end
            b"\xc3",
            b"\xf4\x90\x80\x80\xc3\xa9",
        ];
        for s in samples {
            for a in 0..=s.len() {
                for b in a..=s.len() {
                    let mut d = Utf8Decoder::default();
                    let mut out = String::new();
                    for piece in [&s[..a], &s[a..b], &s[b..]] {
                        d.decode(piece, &mut out);
                    }
                    d.finish(&mut out);
                    assert_eq!(out, String::from_utf8_lossy(s), "{s:?} cut at {a}, {b}");
                }
            }
        }
    }

    #[test]
    fn markers_are_removed_and_near_misses_kept() {
        assert_eq!(
            strip_markers(b"\x01\x01\x01a\x02\x02\x02b\x01\x01c"),
            b"ab\x01\x01c"
        );
        assert_eq!(strip_markers(b"\x01\x02\x01\x01\x01\x01"), b"\x01\x02\x01");
        assert_eq!(strip_markers(b"\x02\x02"), b"\x02\x02");
    }

    proptest! {
        #[test]
        fn utf8_decoding_is_split_invariant(
            bytes in proptest::collection::vec(prop_oneof![any::<u8>(), 0x80u8..0xc0, 0xc2u8..0xf5], 0..64),
            text in "\\PC{0,16}",
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            let mut all = bytes.clone();
            all.extend_from_slice(text.as_bytes());
            let mut d = Utf8Decoder::default();
            let mut out = String::new();
            for chunk in cut(&all, &cuts) {
                d.decode(&chunk, &mut out);
            }
            d.finish(&mut out);
            prop_assert_eq!(out, String::from_utf8_lossy(&all).into_owned());
        }

        #[test]
        fn stripping_is_split_invariant(
            data in proptest::collection::vec(prop_oneof![Just(1u8), Just(2u8), Just(b'x')], 0..64),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            let mut s = MarkerStripper::default();
            let mut out = Vec::new();
            for chunk in cut(&data, &cuts) {
                out.extend(s.push(&chunk));
            }
            out.extend(s.finish());
            prop_assert_eq!(&out, &strip_markers(&data));
            // And the one-shot rule itself: the byte-by-byte reading of spec §3.4.
            let mut naive = Vec::new();
            let mut i = 0;
            while i < data.len() {
                if i + 3 <= data.len() && (data[i] == 1 || data[i] == 2) && data[i + 1] == data[i] && data[i + 2] == data[i] {
                    i += 3;
                } else {
                    naive.push(data[i]);
                    i += 1;
                }
            }
            prop_assert_eq!(out, naive);
        }
    }
}
