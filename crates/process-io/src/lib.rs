//! File IO for streamed HTTP bodies, shared by `processd` (uploads in, downloads out) and the
//! client (uploads out, downloads in), so both move file bytes the same way:
//!
//! - [`FileSink`] writes a stream of `Bytes` to a file on a blocking thread of its own. The
//!   frames are written where they lie (vectored writes; small frames are batched up to about
//!   half a [`CHUNK`], never copied together), and [`FileSink::write`] returns once its batch is
//!   on disk, so the sink holds no frame longer than its write: the body's receive buffer is
//!   free again before the next read, and the HTTP stack refills the same (already mapped)
//!   memory instead of faulting in fresh pages for every frame (measured: 157 k page faults per
//!   GiB received with 8 batches queued, 1–5 k this way).
//! - [`ChunkReader`] reads a file in [`CHUNK`]s for a body that sends file contents: one
//!   `read` per chunk, into page-aligned buffers that return to the reader when the HTTP stack
//!   drops them (`Bytes::from_owner`), so no chunk faults in fresh pages and the kernel copies
//!   page-aligned to page-aligned (on the AMD host of the benchmarks a copy into a buffer 16
//!   bytes off a page boundary, as `malloc` returns, took twice the CPU).
//!
//! Both block: call them on a blocking thread (`FileSink` does so itself).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! use bytes::Bytes;
//! use process_io::{ChunkReader, FileSink};
//!
//! let path = std::env::temp_dir().join(format!("process-io-doc-{}", std::process::id()));
//! let mut sink = FileSink::new(std::fs::File::create(&path)?);
//! sink.write(Bytes::from_static(b"hello, ")).await?;
//! sink.write(Bytes::from_static(b"world")).await?;
//! drop(sink.finish().await?);
//!
//! let mut file = std::fs::File::open(&path)?;
//! let reader = ChunkReader::new(1024);
//! assert_eq!(reader.read(&mut file, 1024)?, "hello, world");
//! assert!(reader.read(&mut file, 1024)?.is_empty());
//! std::fs::remove_file(&path)
//! # }
//! ```

#![forbid(unsafe_code)]

use std::fs::File;
use std::io::{self, IoSlice, Read, Write};
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;

/// The transfer unit: reads are this size, and small frames are batched up to about half of
/// it before a write.
pub const CHUNK: usize = 512 * 1024;

/// Page size: [`ChunkReader`] buffers start on a multiple of it.
const ALIGN: usize = 4096;

/// Free buffers a [`ChunkReader`] keeps at most (more in flight are dropped when they return).
const KEEP: usize = 8;

type Free = Arc<Mutex<Vec<Vec<u8>>>>;

/// Reads files in chunks into reused, page-aligned buffers (see the crate docs). Cheap to
/// clone; clones share the buffers.
#[derive(Debug, Clone)]
pub struct ChunkReader {
    size: usize,
    free: Free,
}

/// A chunk lent to a `Bytes`: `buf[off..off + len]`; the buffer goes back to its reader on drop.
struct Lent {
    buf: Vec<u8>,
    off: usize,
    len: usize,
    home: Weak<Mutex<Vec<Vec<u8>>>>,
}

impl AsRef<[u8]> for Lent {
    fn as_ref(&self) -> &[u8] {
        &self.buf[self.off..self.off + self.len]
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        let Some(home) = self.home.upgrade() else {
            return;
        };
        if let Ok(mut free) = home.lock() {
            if free.len() < KEEP {
                free.push(std::mem::take(&mut self.buf));
            }
        };
    }
}

impl ChunkReader {
    /// A reader whose chunks are at most `size` bytes (at least 1).
    #[must_use]
    pub fn new(size: usize) -> ChunkReader {
        ChunkReader {
            size: size.max(1),
            free: Arc::default(),
        }
    }

    /// Reads up to `max` bytes of `file` (at most the reader's size; fewer only at the end of
    /// the file, empty at its end), in as few `read` calls as the file allows.
    ///
    /// # Errors
    /// The read's error (`Interrupted` is retried).
    pub fn read(&self, file: &mut File, max: usize) -> io::Result<Bytes> {
        let max = max.min(self.size);
        let reused = self.free.lock().ok().and_then(|mut free| free.pop());
        // Zeroed once when allocated (calloc: fresh pages are zero already), then reused.
        let mut buf = reused.unwrap_or_else(|| vec![0u8; self.size + ALIGN]);
        let off = buf.as_ptr().align_offset(ALIGN).min(ALIGN);
        let mut len = 0;
        while len < max {
            match file.read(&mut buf[off + len..off + max]) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if len == 0 {
            if let Ok(mut free) = self.free.lock() {
                free.push(buf);
            }
            return Ok(Bytes::new());
        }
        Ok(Bytes::from_owner(Lent {
            buf,
            off,
            len,
            home: Arc::downgrade(&self.free),
        }))
    }
}

/// Writes a stream of chunks to a file on a blocking thread of its own (see the crate docs).
#[derive(Debug)]
pub struct FileSink {
    tx: Option<tokio::sync::mpsc::Sender<Vec<Bytes>>>,
    /// One message per batch written (and dropped).
    written: tokio::sync::mpsc::Receiver<()>,
    batch: Vec<Bytes>,
    batched: usize,
    writer: Option<tokio::task::JoinHandle<io::Result<File>>>,
}

impl FileSink {
    /// Starts the writer thread on `file`. Call from within a tokio runtime.
    #[must_use]
    pub fn new(file: File) -> FileSink {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Bytes>>(1);
        let (done, written) = tokio::sync::mpsc::channel::<()>(1);
        let writer = tokio::task::spawn_blocking(move || {
            let mut file = file;
            while let Some(batch) = rx.blocking_recv() {
                write_all_vectored(&mut file, &batch)?;
                drop(batch);
                // The sink waits for this before it takes another frame; a sink that is gone
                // has nothing left to send.
                let _ = done.blocking_send(());
            }
            Ok(file)
        });
        FileSink {
            tx: Some(tx),
            written,
            batch: Vec::new(),
            batched: 0,
            writer: Some(writer),
        }
    }

    /// Adds `data` to the batch; once the batch holds about half a [`CHUNK`], writes it and
    /// returns when it is written (the frames dropped).
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
        if self.written.recv().await.is_none() {
            // The writer stopped on an error after taking the batch: report it.
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
    fn a_reader_reads_whole_chunks_then_the_tail_then_nothing() {
        let path = std::env::temp_dir().join(format!("process-io-read-{}", std::process::id()));
        let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let mut f = File::open(&path).unwrap();
        let reader = ChunkReader::new(8192);
        let (first, second, tail, end) = (
            reader.read(&mut f, 4096).unwrap(),
            reader.read(&mut f, 100_000).unwrap(),
            reader.read(&mut f, 8192).unwrap(),
            reader.read(&mut f, 10).unwrap(),
        );
        std::fs::remove_file(&path).unwrap();
        // The second read is capped at the reader's size.
        assert_eq!(
            (first.len(), second.len(), tail.len(), end.len()),
            (4096, 8192, 20_000 - 4096 - 8192, 0)
        );
        assert_eq!([first, second, tail].concat(), data);
    }

    #[test]
    fn chunks_are_page_aligned_and_their_buffers_come_back() {
        let path = std::env::temp_dir().join(format!("process-io-reuse-{}", std::process::id()));
        std::fs::write(&path, vec![7u8; 3 * 4096]).unwrap();
        let mut f = File::open(&path).unwrap();
        let reader = ChunkReader::new(4096);
        let first = reader.read(&mut f, 4096).unwrap();
        let at = first.as_ptr() as usize;
        assert_eq!(at % ALIGN, 0, "chunk at {at:#x}");
        // Still held: the next chunk needs another buffer.
        let second = reader.read(&mut f, 4096).unwrap();
        assert_ne!(second.as_ptr() as usize, at);
        // Dropped (also through a slice of it): the next read refills the same memory.
        let slice = first.slice(10..20);
        drop(first);
        drop(slice);
        let third = reader.read(&mut f, 4096).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(third.as_ptr() as usize, at);
        assert_eq!((second.len(), third.len()), (4096, 4096));
        assert!(third.iter().all(|&b| b == 7));
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
        for _ in 0..12 {
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
