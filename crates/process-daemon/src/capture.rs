//! [`Capped`]: a bounded output buffer that keeps the first and the last bytes of a stream and
//! counts the rest, so a command's output never grows the daemon's memory past its cap.

use std::collections::VecDeque;

/// Keeps at most `cap` bytes of a stream: the first `cap - cap/2` bytes and the last `cap/2`
/// bytes; every byte is counted in [`Capped::total`].
#[derive(Debug, Clone)]
pub(crate) struct Capped {
    head: Vec<u8>,
    head_cap: usize,
    tail: VecDeque<u8>,
    tail_cap: usize,
    total: u64,
}

impl Capped {
    /// An empty buffer keeping at most `cap` bytes.
    pub(crate) fn new(cap: usize) -> Capped {
        let tail_cap = cap / 2;
        Capped {
            head: Vec::new(),
            head_cap: cap - tail_cap,
            tail: VecDeque::new(),
            tail_cap,
            total: 0,
        }
    }

    /// Appends `data`.
    pub(crate) fn push(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        let room = self.head_cap - self.head.len();
        if room > 0 {
            let n = room.min(data.len());
            self.head.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
        if data.is_empty() || self.tail_cap == 0 {
            return;
        }
        if data.len() >= self.tail_cap {
            self.tail.clear();
            self.tail
                .extend(data[data.len() - self.tail_cap..].iter().copied());
            return;
        }
        let overflow = (self.tail.len() + data.len()).saturating_sub(self.tail_cap);
        self.tail.drain(..overflow);
        self.tail.extend(data.iter().copied());
    }

    /// Every byte pushed so far.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// Whether bytes were dropped (more than the cap was pushed).
    pub(crate) fn truncated(&self) -> bool {
        self.total > (self.head.len() + self.tail.len()) as u64
    }

    /// The kept bytes: the head, then the tail.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        let mut out = self.head;
        out.extend(self.tail);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn keeps_head_and_tail_of_any_chunking(
            data in proptest::collection::vec(any::<u8>(), 0..400),
            cap in 0usize..64,
            cuts in proptest::collection::vec(0usize..400, 0..8),
        ) {
            let mut c = Capped::new(cap);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|x| x.min(data.len())).collect();
            cuts.sort_unstable();
            let mut last = 0;
            for cut in cuts.into_iter().chain([data.len()]) {
                c.push(&data[last..cut]);
                last = cut;
            }
            prop_assert_eq!(c.total(), data.len() as u64);
            let truncated = c.truncated();
            let kept = c.into_bytes();
            if data.len() <= cap {
                prop_assert!(!truncated);
                prop_assert_eq!(kept, data);
            } else {
                prop_assert!(truncated);
                let tail = cap / 2;
                let head = cap - tail;
                let mut want = data[..head].to_vec();
                want.extend_from_slice(&data[data.len() - tail..]);
                prop_assert_eq!(kept, want);
            }
        }
    }
}
