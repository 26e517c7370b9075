//! Reading a command's output until its owner has ended, then a short drain: what one-shot
//! execs (cold and warm) and session commands share. A background process that inherited the
//! pipes can keep them open for ever; the owner's end (its exit, or the status a session shell
//! reports) starts [`DRAIN_GRACE`], after which reading stops and the pipes are abandoned.

use std::future::Future;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

/// After the owner ends, how long to keep reading output still in flight before abandoning
/// pipes that a background process holds open.
pub(crate) const DRAIN_GRACE: Duration = Duration::from_millis(200);

/// Which pipe a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The first pipe (stdout, or both streams on one pipe).
    Out,
    /// The second pipe (stderr read apart).
    Err,
}

/// What [`read_until_ended`] saw.
#[derive(Debug)]
pub(crate) struct Drained<T> {
    /// What the owner's end resolved to.
    pub ended: T,
    /// A pipe was still open when reading stopped (held by a process other than the owner).
    pub abandoned: bool,
}

/// Reads `out` and `err` (either may be absent) into `sink` until `ended` has resolved and
/// both pipes are at their end, or until `grace` after `ended` resolved, whichever is first.
/// `ended` is polled alongside the reads (so it may also time out and kill the owner) and not
/// after it resolved. A read error ends that pipe like EOF.
pub(crate) async fn read_until_ended<T, O, E>(
    mut out: Option<O>,
    mut err: Option<E>,
    ended: impl Future<Output = T>,
    grace: Duration,
    mut sink: impl FnMut(Source, &[u8]),
) -> Drained<T>
where
    O: AsyncRead + Unpin,
    E: AsyncRead + Unpin,
{
    let mut ended = std::pin::pin!(ended);
    let mut obuf = vec![0u8; 64 * 1024];
    // The second buffer only when there is a second pipe.
    let mut ebuf = if err.is_some() {
        vec![0u8; 64 * 1024]
    } else {
        Vec::new()
    };
    let far = tokio::time::Instant::now() + Duration::from_hours(24 * 365);
    let mut drain_until = far;
    let mut result: Option<T> = None;
    let ended = loop {
        if out.is_none() && err.is_none() {
            if let Some(value) = result.take() {
                break value;
            }
        }
        tokio::select! {
            r = read_some(&mut out, &mut obuf) => match r {
                Some(n) => sink(Source::Out, &obuf[..n]),
                None => out = None,
            },
            r = read_some(&mut err, &mut ebuf) => match r {
                Some(n) => sink(Source::Err, &ebuf[..n]),
                None => err = None,
            },
            value = &mut ended, if result.is_none() => {
                result = Some(value);
                drain_until = tokio::time::Instant::now() + grace;
            }
            () = tokio::time::sleep_until(drain_until), if result.is_some() => {
                if let Some(value) = result.take() {
                    break value;
                }
            }
        }
    };
    Drained {
        ended,
        abandoned: out.is_some() || err.is_some(),
    }
}

/// Reads once from an open pipe; `None` at EOF or error. An absent pipe never resolves.
async fn read_some<R: AsyncRead + Unpin>(pipe: &mut Option<R>, buf: &mut [u8]) -> Option<usize> {
    match pipe {
        Some(p) => match p.read(buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => Some(n),
        },
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    type Absent = tokio::io::DuplexStream;

    /// Everything written before and shortly after the end is read; closed pipes end it at
    /// once (no grace waited for).
    #[tokio::test]
    async fn reads_everything_and_returns_when_the_pipes_close() {
        let (mut w_out, r_out) = tokio::io::duplex(16);
        let (mut w_err, r_err) = tokio::io::duplex(16);
        let (tx, rx) = tokio::sync::oneshot::channel::<i32>();
        let writer = tokio::spawn(async move {
            for i in 0..100u8 {
                w_out.write_all(&[i; 10]).await.unwrap();
                w_err.write_all(&[i]).await.unwrap();
            }
            tx.send(7).unwrap();
            // Output still in flight after the end is read too.
            w_out.write_all(b"tail").await.unwrap();
        });
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let start = tokio::time::Instant::now();
        let d = read_until_ended(
            Some(r_out),
            Some(r_err),
            async { rx.await.unwrap() },
            Duration::from_secs(30),
            |pipe, b| match pipe {
                Source::Out => out.extend_from_slice(b),
                Source::Err => err.extend_from_slice(b),
            },
        )
        .await;
        writer.await.unwrap();
        assert_eq!(d.ended, 7);
        assert!(!d.abandoned);
        assert!(start.elapsed() < Duration::from_secs(30));
        let mut want: Vec<u8> = (0..100u8).flat_map(|i| [i; 10]).collect();
        want.extend_from_slice(b"tail");
        assert_eq!(out, want);
        assert_eq!(err, (0..100u8).collect::<Vec<_>>());
    }

    /// A pipe held open by someone else stops being read `grace` after the end (abandoned),
    /// with what was written before kept; before the end no grace applies.
    #[tokio::test]
    async fn a_pipe_held_open_is_abandoned_after_the_grace() {
        let (mut w_out, r_out) = tokio::io::duplex(64);
        w_out.write_all(b"before").await.unwrap();
        let started = tokio::time::Instant::now();
        let mut out = Vec::new();
        let d = read_until_ended(
            Some(r_out),
            None::<Absent>,
            async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "done"
            },
            DRAIN_GRACE,
            |_, b| out.extend_from_slice(b),
        )
        .await;
        assert_eq!(d.ended, "done");
        assert!(d.abandoned);
        assert_eq!(out, b"before");
        // Not before the owner ended plus the whole grace (the writer never closed).
        assert!(started.elapsed() >= Duration::from_millis(300) + DRAIN_GRACE);
        drop(w_out);
    }

    /// No pipes at all: it returns as soon as the owner ends, without waiting for a grace.
    #[tokio::test]
    async fn without_pipes_it_ends_with_the_owner() {
        let d = read_until_ended(
            None::<Absent>,
            None::<Absent>,
            async { 1 },
            Duration::from_hours(1),
            |_, _| panic!("nothing to read"),
        )
        .await;
        assert_eq!((d.ended, d.abandoned), (1, false));
    }
}
