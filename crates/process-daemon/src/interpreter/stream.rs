//! A pure helper for a worker's output pipes: finding the end-of-job sync marker in a byte
//! stream ([`MarkerScanner`]). Decoding UTF-8 incrementally is `process_proto::text::Utf8Decoder`.

/// Finds fixed markers in a byte stream delivered in arbitrary chunks.
///
/// Feed chunks with [`MarkerScanner::push`] and take [`Piece`]s with [`MarkerScanner::next_piece`]:
/// data is handed out as soon as it cannot be the start of a marker; a possible marker prefix at
/// the end of the buffered bytes is held back until more bytes decide. Bytes after a marker stay
/// buffered until the caller asks for the next piece, so it can stop at any marker.
#[derive(Debug)]
pub(crate) struct MarkerScanner {
    markers: Vec<Vec<u8>>,
    buf: Vec<u8>,
}

/// What [`MarkerScanner::next_piece`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Stream bytes that are not part of a marker.
    Data(Vec<u8>),
    /// The marker with this index (in the list given to [`MarkerScanner::new`]).
    Marker(usize),
}

impl MarkerScanner {
    /// A scanner for `markers` (none of them empty).
    pub(crate) fn new(markers: Vec<Vec<u8>>) -> MarkerScanner {
        debug_assert!(markers.iter().all(|m| !m.is_empty()));
        MarkerScanner {
            markers,
            buf: Vec::new(),
        }
    }

    /// Appends one chunk of the stream.
    pub(crate) fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next piece of the buffered stream, or `None` when the buffered bytes cannot be
    /// decided yet (or there are none).
    pub(crate) fn next_piece(&mut self) -> Option<Piece> {
        let first = self
            .markers
            .iter()
            .enumerate()
            .filter_map(|(i, m)| find(&self.buf, m).map(|at| (at, i)))
            .min();
        if let Some((at, index)) = first {
            if at > 0 {
                let rest = self.buf.split_off(at);
                return Some(Piece::Data(std::mem::replace(&mut self.buf, rest)));
            }
            self.buf.drain(..self.markers[index].len());
            return Some(Piece::Marker(index));
        }
        let keep = self
            .markers
            .iter()
            .map(|m| longest_prefix_suffix(&self.buf, m))
            .max()
            .unwrap_or(0);
        if self.buf.len() == keep {
            return None;
        }
        let held = self.buf.split_off(self.buf.len() - keep);
        Some(Piece::Data(std::mem::replace(&mut self.buf, held)))
    }

    /// Ends the stream: returns every buffered byte (no marker will complete).
    pub(crate) fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SYNC: &[u8] = b"\0sync:ab\0";
    const CHART: &[u8] = b"\0chart:ab\0";

    /// Feeds `chunks` and returns the pieces, data merged between markers.
    fn scan_all(chunks: &[&[u8]]) -> Vec<Piece> {
        let mut s = MarkerScanner::new(vec![SYNC.to_vec(), CHART.to_vec()]);
        let mut out: Vec<Piece> = Vec::new();
        let add = |p: Piece, out: &mut Vec<Piece>| match (out.last_mut(), p) {
            (Some(Piece::Data(d)), Piece::Data(more)) => d.extend(more),
            (_, Piece::Data(d)) if d.is_empty() => {}
            (_, p) => out.push(p),
        };
        for c in chunks {
            s.push(c);
            while let Some(p) = s.next_piece() {
                add(p, &mut out);
            }
        }
        add(Piece::Data(s.finish()), &mut out);
        out
    }

    #[test]
    fn markers_split_across_chunks_are_found_in_order() {
        let pieces = scan_all(&[b"hello\0ch", b"art:a", b"b\0mid\0sync:ab", b"\0tail"]);
        assert_eq!(
            pieces,
            [
                Piece::Data(b"hello".to_vec()),
                Piece::Marker(1),
                Piece::Data(b"mid".to_vec()),
                Piece::Marker(0),
                Piece::Data(b"tail".to_vec()),
            ]
        );
    }

    #[test]
    fn near_miss_prefix_is_released_as_data() {
        let pieces = scan_all(&[b"x\0sync:a", b"c rest"]);
        assert_eq!(pieces, [Piece::Data(b"x\0sync:ac rest".to_vec())]);
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
        fn scanner_split_invariance(
            parts in proptest::collection::vec(
                prop_oneof![
                    proptest::collection::vec(prop_oneof![Just(0u8), Just(b's'), Just(b'c'), any::<u8>()], 0..12)
                        .prop_map(Piece::Data),
                    (0usize..2).prop_map(Piece::Marker),
                ],
                0..8,
            ),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            let mut all = Vec::new();
            for p in &parts {
                match p {
                    Piece::Data(d) => all.extend_from_slice(d),
                    Piece::Marker(0) => all.extend_from_slice(SYNC),
                    Piece::Marker(_) => all.extend_from_slice(CHART),
                }
            }
            let chunks = split_at_cuts(&all, &cuts);
            let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
            let whole = scan_all(&[&all]);
            prop_assert_eq!(scan_all(&refs), whole.clone());
            // Re-assembling the pieces gives the stream back.
            let mut again = Vec::new();
            for p in &whole {
                match p {
                    Piece::Data(d) => again.extend_from_slice(d),
                    Piece::Marker(0) => again.extend_from_slice(SYNC),
                    Piece::Marker(_) => again.extend_from_slice(CHART),
                }
            }
            prop_assert_eq!(again, all);
        }
    }
}
