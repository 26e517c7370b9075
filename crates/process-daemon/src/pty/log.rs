//! The PTY output log: a bounded ring of the most recent output, addressed by absolute byte
//! offsets, that every attached client reads at its own pace.
//!
//! The shell's output is appended once; each client keeps its own offset and copies what it has
//! not sent yet. Replay after a (re)connect and live output are the same read, so nothing is
//! duplicated or lost at the seam, and a slow client never holds up another client: it either
//! catches up from the ring or learns that it fell behind the oldest byte kept ([`Lagged`]).

/// A client asked for bytes that were already overwritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lagged {
    /// The oldest offset still available.
    pub(crate) oldest: u64,
}

/// The most recent `capacity` bytes of a stream, addressed by absolute offsets.
#[derive(Debug)]
pub(crate) struct OutputLog {
    /// Ring storage; grows up to `capacity`, then wraps. Byte at offset `o` lives at
    /// `o % capacity`.
    buf: Vec<u8>,
    capacity: usize,
    /// Total bytes ever appended (the offset one past the newest byte).
    end: u64,
}

impl OutputLog {
    /// An empty log that keeps at most `capacity` bytes (`capacity` ≥ 1).
    pub(crate) fn new(capacity: usize) -> OutputLog {
        OutputLog {
            buf: Vec::new(),
            capacity: capacity.max(1),
            end: 0,
        }
    }

    /// The offset one past the newest byte.
    pub(crate) fn end(&self) -> u64 {
        self.end
    }

    /// The oldest offset still held.
    pub(crate) fn start(&self) -> u64 {
        self.end.saturating_sub(self.capacity as u64)
    }

    /// Appends `data`, overwriting the oldest bytes beyond the capacity.
    pub(crate) fn append(&mut self, mut data: &[u8]) {
        // Only the last `capacity` bytes of a huge append can survive.
        if data.len() > self.capacity {
            let skip = data.len() - self.capacity;
            self.end += skip as u64;
            data = &data[skip..];
            // Every slot is about to be overwritten: stop growing so positions stay `o % cap`.
            self.buf.resize(self.capacity, 0);
        }
        while !data.is_empty() {
            let pos = (self.end % self.capacity as u64) as usize;
            if self.buf.len() < self.capacity {
                // Still growing: positions are contiguous with the end of `buf`.
                let n = data.len().min(self.capacity - self.buf.len());
                self.buf.extend_from_slice(&data[..n]);
                self.end += n as u64;
                data = &data[n..];
            } else {
                let n = data.len().min(self.capacity - pos);
                self.buf[pos..pos + n].copy_from_slice(&data[..n]);
                self.end += n as u64;
                data = &data[n..];
            }
        }
    }

    /// Where a client that attaches now should start: the oldest byte kept, or, once older
    /// output was overwritten, just after the first line break in the next `window` bytes (so
    /// the replay does not start in the middle of a line, an escape sequence or a UTF-8
    /// character).
    pub(crate) fn replay_start(&self, window: usize) -> u64 {
        let start = self.start();
        if start == 0 {
            return 0;
        }
        let mut head = Vec::new();
        let _ = self.read_into(start, window, &mut head);
        match head.iter().position(|&b| b == b'\n') {
            Some(i) => start + i as u64 + 1,
            None => start,
        }
    }

    /// Appends to `out` up to `max` bytes starting at offset `from`. Returns how many bytes were
    /// copied (0 when `from` is at or past the end), or [`Lagged`] when `from` was overwritten.
    pub(crate) fn read_into(
        &self,
        from: u64,
        max: usize,
        out: &mut Vec<u8>,
    ) -> Result<usize, Lagged> {
        if from < self.start() {
            return Err(Lagged {
                oldest: self.start(),
            });
        }
        if from >= self.end {
            return Ok(0);
        }
        let available = (self.end - from).min(max as u64) as usize;
        let mut copied = 0;
        while copied < available {
            let pos = ((from + copied as u64) % self.capacity as u64) as usize;
            let n = (available - copied).min(self.capacity - pos);
            out.extend_from_slice(&self.buf[pos..pos + n]);
            copied += n;
        }
        Ok(copied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_back_what_was_appended() {
        let mut log = OutputLog::new(8);
        log.append(b"hello");
        let mut out = Vec::new();
        assert_eq!(log.read_into(0, 100, &mut out), Ok(5));
        assert_eq!(out, b"hello");
        assert_eq!(log.read_into(5, 100, &mut out), Ok(0));
    }

    #[test]
    fn wraps_and_reports_lag() {
        let mut log = OutputLog::new(4);
        log.append(b"abcdef");
        assert_eq!(log.start(), 2);
        assert_eq!(log.end(), 6);
        let mut out = Vec::new();
        assert_eq!(log.read_into(1, 10, &mut out), Err(Lagged { oldest: 2 }));
        assert_eq!(log.read_into(2, 10, &mut out), Ok(4));
        assert_eq!(out, b"cdef");
    }

    #[test]
    fn replay_starts_on_a_line_once_wrapped() {
        let mut log = OutputLog::new(8);
        log.append(b"abc\n");
        assert_eq!(log.replay_start(8), 0);
        log.append(b"defg\nhi");
        assert_eq!(log.start(), 3); // kept: "\ndefg\nhi"
        let from = log.replay_start(8);
        let mut out = Vec::new();
        log.read_into(from, 100, &mut out).unwrap();
        assert_eq!(out, b"defg\nhi");
        // No line break in the window: start at the oldest byte kept.
        let mut log = OutputLog::new(4);
        log.append(b"abcdefgh");
        assert_eq!(log.replay_start(4), 4);
    }

    #[test]
    fn max_bounds_one_read() {
        let mut log = OutputLog::new(16);
        log.append(b"0123456789");
        let mut out = Vec::new();
        assert_eq!(log.read_into(3, 4, &mut out), Ok(4));
        assert_eq!(out, b"3456");
    }

    proptest! {
        /// Whatever the chunking, the log holds exactly the last `capacity` bytes of the stream,
        /// and any in-range read equals the same slice of the stream.
        #[test]
        fn matches_the_tail_of_the_stream(
            capacity in 1usize..64,
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..100), 0..20),
            from_back in 0usize..80,
            max in 1usize..80,
        ) {
            let mut log = OutputLog::new(capacity);
            let mut all = Vec::new();
            for c in &chunks {
                log.append(c);
                all.extend_from_slice(c);
            }
            prop_assert_eq!(log.end(), all.len() as u64);
            let start = all.len().saturating_sub(capacity);
            prop_assert_eq!(log.start(), start as u64);
            let from = all.len().saturating_sub(from_back);
            let mut out = Vec::new();
            match log.read_into(from as u64, max, &mut out) {
                Ok(n) => {
                    prop_assert!(from >= start);
                    let want = &all[from..(from + max).min(all.len())];
                    prop_assert_eq!(n, want.len());
                    prop_assert_eq!(&out[..], want);
                }
                Err(Lagged { oldest }) => {
                    prop_assert!(from < start);
                    prop_assert_eq!(oldest, start as u64);
                }
            }
        }

        /// A reader that follows the stream chunk by chunk sees every byte exactly once.
        #[test]
        fn a_following_reader_sees_every_byte_once(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..30),
        ) {
            let mut log = OutputLog::new(64);
            let mut all = Vec::new();
            let mut seen = Vec::new();
            let mut offset = 0u64;
            for c in &chunks {
                log.append(c);
                all.extend_from_slice(c);
                loop {
                    let n = log.read_into(offset, 7, &mut seen).map_err(|l| TestCaseError::fail(format!("{l:?}")))?;
                    if n == 0 { break; }
                    offset += n as u64;
                }
            }
            prop_assert_eq!(seen, all);
        }
    }
}
