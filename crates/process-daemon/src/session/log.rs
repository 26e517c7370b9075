//! [`CommandLog`]: one session command's output log on disk, labelled with stream markers,
//! size-capped, with a watch channel that tells readers (log followers, sync exec) how far the
//! log is written and when the command's exit code is final.
//!
//! Invariant: the exit code is published only after every output byte has been appended, so a
//! reader that sees the exit code sees the whole log (spec §3.2, daytona#4422).

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use process_proto::log::{Muxer, OutputStream};
use tokio::sync::watch;

/// What readers of a log can observe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct LogState {
    /// Bytes of the log written so far.
    pub len: u64,
    /// The command's exit code, once final (always after the last byte).
    pub exit_code: Option<i32>,
}

struct Writer {
    file: File,
    muxer: Muxer,
    written: u64,
    dropped: u64,
}

/// A command's log file plus its progress channel.
pub(crate) struct CommandLog {
    path: PathBuf,
    cap: u64,
    writer: Mutex<Writer>,
    reader: File,
    state: watch::Sender<LogState>,
}

impl CommandLog {
    /// Creates (truncates) the log file at `path`, keeping at most `cap` bytes.
    pub(crate) fn create(path: &Path, cap: u64) -> std::io::Result<CommandLog> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(path)?;
        let reader = File::open(path)?;
        Ok(CommandLog {
            path: path.to_owned(),
            cap,
            writer: Mutex::new(Writer {
                file,
                muxer: Muxer::new(),
                written: 0,
                dropped: 0,
            }),
            reader,
            state: watch::Sender::new(LogState::default()),
        })
    }

    /// Reopens the log a previous incarnation wrote at `path` (its `dropped` bytes as recorded);
    /// the caller then appends what it must and publishes the exit code.
    pub(crate) fn restore(path: &Path, cap: u64, dropped: u64) -> std::io::Result<CommandLog> {
        let file = std::fs::OpenOptions::new().append(true).open(path)?;
        let written = file.metadata()?.len();
        let reader = File::open(path)?;
        Ok(CommandLog {
            path: path.to_owned(),
            cap: cap.max(written),
            writer: Mutex::new(Writer {
                file,
                muxer: Muxer::new(),
                written,
                dropped,
            }),
            reader,
            state: watch::Sender::new(LogState {
                len: written,
                exit_code: None,
            }),
        })
    }

    /// The log file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `data` of `stream` (labelled with a marker when the stream changes). Bytes beyond
    /// the cap are counted as dropped, never written. Returns an error only if the disk write
    /// fails (the bytes then count as dropped too).
    pub(crate) fn append(&self, stream: OutputStream, data: &[u8]) -> std::io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let mut w = self
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.state.borrow().exit_code.is_some() {
            // Nothing is appended after the exit code is published.
            w.dropped += data.len() as u64;
            return Ok(());
        }
        let room = self.cap.saturating_sub(w.written);
        let encoded = w.muxer.encoded_len(stream, data.len()) as u64;
        let keep = if encoded <= room {
            data.len()
        } else {
            // Room for the marker (if any) plus part of the data.
            let overhead = encoded - data.len() as u64;
            usize::try_from(room.saturating_sub(overhead)).unwrap_or(0)
        };
        let mut res = Ok(());
        if keep > 0 {
            // The marker (if any) and the data in one write, without copying the data.
            let header = w.muxer.header(stream, keep);
            let head: &[u8] = header.as_ref().map_or(&[], |h| &h[..]);
            match write_both(&mut w.file, head, &data[..keep]) {
                Ok(()) => w.written += (head.len() + keep) as u64,
                Err(e) => {
                    w.dropped += keep as u64;
                    w.muxer.reset();
                    res = Err(e);
                }
            }
        }
        w.dropped += (data.len() - keep) as u64;
        let len = w.written;
        drop(w);
        self.state.send_modify(|s| s.len = len);
        res
    }

    /// Publishes the exit code (after the last append). Later appends are dropped.
    pub(crate) fn finish(&self, exit_code: i32) {
        let w = self
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let len = w.written;
        self.state.send_modify(|s| {
            if s.exit_code.is_none() {
                s.exit_code = Some(exit_code);
            }
            s.len = len;
        });
        drop(w);
    }

    /// The current state.
    pub(crate) fn state(&self) -> LogState {
        *self.state.borrow()
    }

    /// A receiver of state changes (notified on every append and at finish).
    pub(crate) fn subscribe(&self) -> watch::Receiver<LogState> {
        self.state.subscribe()
    }

    /// Bytes not written because of the cap (or a failed disk write).
    pub(crate) fn dropped(&self) -> u64 {
        self.writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .dropped
    }

    /// Reads up to `max` bytes of the log from `offset` (never past what is written).
    pub(crate) fn read_at(&self, offset: u64, max: usize) -> std::io::Result<Vec<u8>> {
        let len = self.state().len;
        if offset >= len {
            return Ok(Vec::new());
        }
        let want = usize::try_from(len - offset).unwrap_or(usize::MAX).min(max);
        let mut buf = vec![0u8; want];
        let mut got = 0;
        while got < want {
            let n = self.reader.read_at(&mut buf[got..], offset + got as u64)?;
            if n == 0 {
                break;
            }
            got += n;
        }
        buf.truncate(got);
        Ok(buf)
    }

    /// Hands the first `upto` bytes of the log (never past what is written) to `each`, in
    /// order, at most `chunk` bytes at a time through one reused buffer. Stops early, returning
    /// `Ok(false)`, when `each` returns `false`.
    pub(crate) fn read_range(
        &self,
        upto: u64,
        chunk: usize,
        mut each: impl FnMut(&[u8]) -> bool,
    ) -> std::io::Result<bool> {
        let end = upto.min(self.state().len);
        let mut buf = vec![0u8; chunk.max(1)];
        let mut offset = 0;
        while offset < end {
            let want = usize::try_from(end - offset)
                .unwrap_or(usize::MAX)
                .min(buf.len());
            let n = self.reader.read_at(&mut buf[..want], offset)?;
            if n == 0 {
                break;
            }
            offset += n as u64;
            if !each(&buf[..n]) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The whole log as written so far.
    pub(crate) fn read_all(&self) -> std::io::Result<Vec<u8>> {
        self.read_at(0, usize::MAX)
    }

    /// Waits until the exit code is published; returns it.
    pub(crate) async fn wait(&self) -> i32 {
        let mut rx = self.subscribe();
        let res = rx.wait_for(|s| s.exit_code.is_some()).await;
        match res {
            Ok(s) => s.exit_code.unwrap_or(-1),
            Err(_) => self.state().exit_code.unwrap_or(-1),
        }
    }
}

/// Writes `head` then `data` to `file`, in one vectored write when the kernel takes it whole.
fn write_both(file: &mut File, head: &[u8], data: &[u8]) -> std::io::Result<()> {
    if head.is_empty() {
        return file.write_all(data);
    }
    let total = head.len() + data.len();
    let n = loop {
        match file.write_vectored(&[std::io::IoSlice::new(head), std::io::IoSlice::new(data)]) {
            Ok(n) => break n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    };
    if n < head.len() {
        file.write_all(&head[n..])?;
        file.write_all(data)
    } else if n < total {
        file.write_all(&data[n - head.len()..])
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_caps_and_publishes_exit_after_data() {
        let dir = tempfile::tempdir().unwrap();
        let log = CommandLog::create(&dir.path().join("log"), 10).unwrap();
        log.append(OutputStream::Stdout, b"ab").unwrap();
        log.append(OutputStream::Stderr, b"cdefgh").unwrap();
        // 3+2 + 3+2 = 10: the rest is dropped.
        assert_eq!(log.read_all().unwrap(), b"\x01\x01\x01ab\x02\x02\x02cd");
        assert_eq!(log.dropped(), 4);
        assert_eq!(log.state().exit_code, None);
        log.finish(3);
        log.append(OutputStream::Stdout, b"late").unwrap();
        assert_eq!(
            log.state(),
            LogState {
                len: 10,
                exit_code: Some(3)
            }
        );
        assert_eq!(log.read_at(8, 100).unwrap(), b"cd");
    }
}
