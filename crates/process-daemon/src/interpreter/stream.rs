//! Pure helpers for a worker's output pipes: finding the end-of-job sync marker in a byte stream
//! ([`MarkerScanner`]) and decoding UTF-8 incrementally without splitting characters
//! ([`Utf8Decoder`]).

/// Finds a fixed marker in a byte stream delivered in arbitrary chunks.
///
/// Bytes before the marker are handed out as soon as they cannot be the start of the marker;
/// a possible marker prefix at the end of a chunk is held back until the next chunk decides.
#[derive(Debug)]
pub(crate) struct MarkerScanner {
    marker: Vec<u8>,
    held: Vec<u8>,
}

/// What [`MarkerScanner::push`] found in a chunk.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Scan {
    /// No marker yet: these bytes are data (possibly empty).
    Data(Vec<u8>),
    /// The marker: `before` is the data that preceded it, `after` what followed it.
    Marker {
        /// Data before the marker.
        before: Vec<u8>,
        /// Bytes after the marker in the same chunk.
        after: Vec<u8>,
    },
}

impl MarkerScanner {
    /// A scanner for `marker` (must not be empty).
    pub(crate) fn new(marker: Vec<u8>) -> MarkerScanner {
        debug_assert!(!marker.is_empty());
        MarkerScanner {
            marker,
            held: Vec::new(),
        }
    }

    /// Feeds one chunk of the stream.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Scan {
        let mut buf = std::mem::take(&mut self.held);
        buf.extend_from_slice(chunk);
        if let Some(at) = find(&buf, &self.marker) {
            let after = buf[at + self.marker.len()..].to_vec();
            buf.truncate(at);
            return Scan::Marker { before: buf, after };
        }
        let keep = longest_prefix_suffix(&buf, &self.marker);
        self.held = buf.split_off(buf.len() - keep);
        Scan::Data(buf)
    }

    /// Ends the stream without a marker: returns the held-back bytes.
    pub(crate) fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.held)
    }
}

/// Position of the first occurrence of `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() > hay.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Length of the longest proper prefix of `marker` that `buf` ends with.
fn longest_prefix_suffix(buf: &[u8], marker: &[u8]) -> usize {
    let max = (marker.len() - 1).min(buf.len());
    (1..=max)
        .rev()
        .find(|&n| buf.ends_with(&marker[..n]))
        .unwrap_or(0)
}

/// Decodes a UTF-8 byte stream delivered in arbitrary chunks into text.
///
/// Invalid sequences become U+FFFD exactly as [`String::from_utf8_lossy`] would replace them in
/// the whole stream; an incomplete character at the end of a chunk waits for the next chunk.
#[derive(Debug, Default)]
pub(crate) struct Utf8Decoder {
    tail: Vec<u8>,
}

impl Utf8Decoder {
    /// Decodes `chunk`, appending complete characters to `out`.
    pub(crate) fn decode(&mut self, chunk: &[u8], out: &mut String) {
        let joined;
        let mut input: &[u8] = if self.tail.is_empty() {
            chunk
        } else {
            let mut t = std::mem::take(&mut self.tail);
            t.extend_from_slice(chunk);
            joined = t;
            &joined
        };
        loop {
            match std::str::from_utf8(input) {
                Ok(text) => {
                    out.push_str(text);
                    return;
                }
                Err(err) => {
                    let (valid, rest) = input.split_at(err.valid_up_to());
                    // `valid` is valid UTF-8 by construction.
                    out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                    if let Some(bad) = err.error_len() {
                        out.push(char::REPLACEMENT_CHARACTER);
                        input = &rest[bad..];
                    } else {
                        self.tail = rest.to_vec();
                        return;
                    }
                }
            }
        }
    }

    /// Ends the stream: an incomplete trailing character becomes U+FFFD.
    pub(crate) fn finish(&mut self, out: &mut String) {
        if !self.tail.is_empty() {
            self.tail.clear();
            out.push(char::REPLACEMENT_CHARACTER);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MARK: &[u8] = b"\0sync:ab\0";

    fn scan_all(chunks: &[&[u8]]) -> (Vec<u8>, Option<Vec<u8>>) {
        let mut s = MarkerScanner::new(MARK.to_vec());
        let mut data = Vec::new();
        for c in chunks {
            match s.push(c) {
                Scan::Data(d) => data.extend(d),
                Scan::Marker { before, after } => {
                    data.extend(before);
                    return (data, Some(after));
                }
            }
        }
        data.extend(s.finish());
        (data, None)
    }

    #[test]
    fn marker_split_across_chunks_is_found() {
        let (data, after) = scan_all(&[b"hello\0sy", b"nc:a", b"b\0tail"]);
        assert_eq!(data, b"hello");
        assert_eq!(after.as_deref(), Some(&b"tail"[..]));
    }

    #[test]
    fn near_miss_prefix_is_released_as_data() {
        let (data, after) = scan_all(&[b"x\0sync:a", b"c rest"]);
        assert_eq!(data, b"x\0sync:ac rest");
        assert_eq!(after, None);
    }

    #[test]
    fn decoder_keeps_split_characters_whole() {
        let mut d = Utf8Decoder::default();
        let mut out = String::new();
        let bytes = "é€😀".as_bytes();
        for b in bytes {
            d.decode(std::slice::from_ref(b), &mut out);
        }
        d.finish(&mut out);
        assert_eq!(out, "é€😀");
    }

    #[test]
    fn decoder_replaces_invalid_and_truncated_input() {
        let mut d = Utf8Decoder::default();
        let mut out = String::new();
        d.decode(b"a\xffb\xe2\x82", &mut out);
        assert_eq!(out, "a\u{fffd}b");
        d.finish(&mut out);
        assert_eq!(out, "a\u{fffd}b\u{fffd}");
    }

    fn split_at_cuts(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
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

    proptest! {
        #[test]
        fn decoder_split_invariance(
            bytes in proptest::collection::vec(any::<u8>(), 0..64),
            text in "\\PC{0,16}",
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            let mut all = bytes.clone();
            all.extend_from_slice(text.as_bytes());
            let mut d = Utf8Decoder::default();
            let mut out = String::new();
            for chunk in split_at_cuts(&all, &cuts) {
                d.decode(&chunk, &mut out);
            }
            d.finish(&mut out);
            prop_assert_eq!(out, String::from_utf8_lossy(&all).into_owned());
        }

        #[test]
        fn scanner_split_invariance(
            pre in proptest::collection::vec(prop_oneof![Just(0u8), Just(b's'), any::<u8>()], 0..48),
            post in proptest::collection::vec(any::<u8>(), 0..16),
            with_marker in any::<bool>(),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            let mut all = pre.clone();
            if with_marker {
                all.extend_from_slice(MARK);
                all.extend_from_slice(&post);
            }
            let chunks = split_at_cuts(&all, &cuts);
            let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
            let (data, after) = scan_all(&refs);
            let first = find(&all, MARK);
            if let Some(at) = first {
                prop_assert_eq!(&data[..], &all[..at]);
                prop_assert!(after.is_some());
            } else {
                prop_assert_eq!(&data[..], &all[..]);
                prop_assert!(after.is_none());
            }
        }
    }
}
