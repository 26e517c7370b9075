//! File IO for streamed HTTP bodies, shared by `processd` (uploads in, downloads out) and the
//! client (uploads out, downloads in), so both move file bytes the same way:
//!
//! - [`FileSink`] writes a stream of `Bytes` to a file on a blocking thread of its own, so the
//!   body keeps being read while the disk write runs. The frames are written where they lie
//!   (vectored writes; small frames are batched, never copied together), and at most
//!   [`QUEUE`] batches of about [`CHUNK`] bytes wait: the memory bound of a transfer.
//! - [`read_chunk`] reads the next [`CHUNK`] of a file into a fresh buffer without zeroing it
//!   first, for a body that sends file contents.
//!
//! Both block: call them on a blocking thread (`FileSink` does so itself).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! use bytes::Bytes;
//! use process_io::{read_chunk, FileSink};
//!
//! let path = std::env::temp_dir().join(format!("process-io-doc-{}", std::process::id()));
//! let mut sink = FileSink::new(std::fs::File::create(&path)?);
//! sink.write(Bytes::from_static(b"hello, ")).await?;
//! sink.write(Bytes::from_static(b"world")).await?;
//! drop(sink.finish().await?);
//!
//! let mut file = std::fs::File::open(&path)?;
//! assert_eq!(read_chunk(&mut file, 1024)?, "hello, world");
//! assert!(read_chunk(&mut file, 1024)?.is_empty());
//! std::fs::remove_file(&path)
//! # }
//! ```

#![forbid(unsafe_code)]

use std::fs::File;
use std::io::{self, IoSlice, Read, Write};

use bytes::Bytes;

/// The transfer unit: reads are this size, and small frames are batched up to about half of
/// it before a write.
pub const CHUNK: usize = 512 * 1024;

/// Batches queued for a [`FileSink`]'s writer thread at most.
pub const QUEUE: usize = 8;

/// Reads up to `max` bytes of `file` (fewer only at its end; empty at its end) into a new
/// buffer, without zero-filling it first.
///
/// # Errors
/// The read's error (`Interrupted` is retried).
pub fn read_chunk(file: &mut File, max: usize) -> io::Result<Bytes> {
    let mut buf = Vec::with_capacity(max);
    // `read_to_end` fills spare capacity without initialising it; `take` stops it at `max`
    // with no extra read, and it retries `Interrupted` itself.
    file.take(max as u64).read_to_end(&mut buf)?;
    Ok(Bytes::from(buf))
}

/// Writes a stream of chunks to a file on a blocking thread of its own (see the crate docs).
#[derive(Debug)]
pub struct FileSink {
    tx: Option<tokio::sync::mpsc::Sender<Vec<Bytes>>>,
    batch: Vec<Bytes>,
    batched: usize,
    writer: Option<tokio::task::JoinHandle<io::Result<File>>>,
}

impl FileSink {
    /// Starts the writer thread on `file`. Call from within a tokio runtime.
    #[must_use]
    pub fn new(file: File) -> FileSink {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Bytes>>(QUEUE);
        let writer = tokio::task::spawn_blocking(move || {
            let mut file = file;
            while let Some(batch) = rx.blocking_recv() {
                write_all_vectored(&mut file, &batch)?;
            }
            Ok(file)
        });
        FileSink {
            tx: Some(tx),
            batch: Vec::new(),
            batched: 0,
            writer: Some(writer),
        }
    }

    /// Queues `data`, waiting while the queue is full.
    ///
    /// # Errors
    /// The writer's: a disk write failed, and nothing more will be written.
    pub async fn write(&mut self, data: Bytes) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        self.batched += data.len();
        self.batch.push(data);
        if self.batched >= CHUNK / 2 {
            self.send().await?;
        }
        Ok(())
    }

    /// Writes what is left and returns the file once every byte is in it.
    ///
    /// # Errors
    /// The writer's, as for [`write`](Self::write).
    pub async fn finish(mut self) -> io::Result<File> {
        if !self.batch.is_empty() {
            self.send().await?;
        }
        self.tx = None;
        self.join().await
    }

    async fn send(&mut self) -> io::Result<()> {
        let batch = std::mem::take(&mut self.batch);
        self.batched = 0;
        let Some(tx) = self.tx.as_ref() else {
            return Err(io::Error::other("the file writer has stopped"));
        };
        if tx.send(batch).await.is_err() {
            // The writer stopped on an error: report it.
            self.tx = None;
            return Err(self
                .join()
                .await
                .err()
                .unwrap_or_else(|| io::Error::other("the file writer stopped early")));
        }
        Ok(())
    }

    /// Waits for the writer thread (once; later calls are an error).
    async fn join(&mut self) -> io::Result<File> {
        let writer = self
            .writer
            .take()
            .ok_or_else(|| io::Error::other("the file writer has stopped"))?;
        writer
            .await
            .map_err(|e| io::Error::other(format!("the file writer failed: {e}")))?
    }
}

/// `write_all` for a list of buffers: `writev` until every byte is written.
fn write_all_vectored(out: &mut impl Write, chunks: &[Bytes]) -> io::Result<()> {
    // At most IOV_MAX (1024 on Linux) slices per call. Empty buffers are left out: a
    // `writev` of only empty buffers writes nothing, which would read as `WriteZero`.
    for group in chunks.chunks(1024) {
        let mut slices: Vec<IoSlice<'_>> = group
            .iter()
            .filter(|c| !c.is_empty())
            .map(|c| IoSlice::new(c))
            .collect();
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            match out.write_vectored(rest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => IoSlice::advance_slices(&mut rest, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A writer that takes at most `max` bytes per call, from the first slice only (as a
    /// short `writev` may).
    struct Stingy {
        out: Vec<u8>,
        max: usize,
    }

    impl Write for Stingy {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(self.max);
            self.out.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    proptest! {
        #[test]
        fn vectored_writes_keep_every_byte_in_order(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..20),
            max in 1usize..50,
        ) {
            let bytes: Vec<Bytes> = chunks.iter().cloned().map(Bytes::from).collect();
            let mut w = Stingy { out: Vec::new(), max };
            write_all_vectored(&mut w, &bytes).unwrap();
            prop_assert_eq!(w.out, chunks.concat());
        }
    }

    #[test]
    fn empty_buffers_anywhere_are_skipped() {
        let chunks = [
            Bytes::new(),
            Bytes::from_static(b"ab"),
            Bytes::new(),
            Bytes::new(),
        ];
        let mut w = Stingy {
            out: Vec::new(),
            max: 1,
        };
        write_all_vectored(&mut w, &chunks).unwrap();
        assert_eq!(w.out, b"ab");
        write_all_vectored(&mut w, &[Bytes::new()]).unwrap();
        assert_eq!(w.out, b"ab");
    }

    #[tokio::test]
    async fn a_sink_writes_small_and_large_frames_in_order() {
        let path = std::env::temp_dir().join(format!("process-io-sink-{}", std::process::id()));
        let mut sink = FileSink::new(File::create(&path).unwrap());
        let mut expected = Vec::new();
        for i in 0..2000u32 {
            // Frames from 1 byte to well over a chunk, so batches both gather and pass through.
            let len = if i % 500 == 0 {
                CHUNK + 7
            } else {
                (i as usize * 37) % 3000 + 1
            };
            let frame: Vec<u8> = (0..len).map(|k| (k as u32 ^ i) as u8).collect();
            expected.extend_from_slice(&frame);
            sink.write(Bytes::from(frame)).await.unwrap();
        }
        drop(sink.finish().await.unwrap());
        let got = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(
            got == expected,
            "{} bytes written, {} expected",
            got.len(),
            expected.len()
        );
    }

    #[test]
    fn read_chunk_reads_whole_chunks_then_the_tail_then_nothing() {
        let path = std::env::temp_dir().join(format!("process-io-read-{}", std::process::id()));
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let mut f = File::open(&path).unwrap();
        let (a, b, c) = (
            read_chunk(&mut f, 4096).unwrap(),
            read_chunk(&mut f, 8192).unwrap(),
            read_chunk(&mut f, 10).unwrap(),
        );
        std::fs::remove_file(&path).unwrap();
        assert_eq!((a.len(), b.len(), c.len()), (4096, 10_000 - 4096, 0));
        assert_eq!([a, b].concat(), data);
    }

    #[tokio::test]
    async fn a_failed_disk_write_is_reported() {
        // /dev/full fails every write with ENOSPC.
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full exists on Linux");
        let mut sink = FileSink::new(full);
        let mut failed = None;
        for _ in 0..(QUEUE + 4) {
            if let Err(e) = sink.write(Bytes::from(vec![1u8; CHUNK])).await {
                failed = Some(e);
                break;
            }
        }
        let err = match failed {
            Some(e) => e,
            None => sink
                .finish()
                .await
                .expect_err("writes to /dev/full must fail"),
        };
        assert_eq!(err.raw_os_error(), Some(28), "{err}");
    }
}
