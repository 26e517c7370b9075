//! The session shell's recovery snapshot: after each sync command the shell writes the
//! command id, `export -p` and `pwd` (NUL-separated) to its stderr; [`SnapshotParser`] reads
//! them back and [`read_snapshots`] publishes each and saves it (`env.sh`, `cwd` in the session
//! directory) off the reply path, only when it changed, so a fresh shell generation or a
//! restarted daemon restores the cwd and exported variables.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::SessionCore;

/// A recovery snapshot: the sync command after which it was taken, the shell's exported
/// variables (`export -p`, shell text) and its cwd (`pwd`, without the final newline).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub(crate) cid: String,
    pub(crate) env: Vec<u8>,
    pub(crate) cwd: Vec<u8>,
}

/// How long the snapshot reader waits for the rest of a record before reading again.
const SNAPSHOT_BATCH: Duration = Duration::from_millis(1);

/// Largest snapshot field kept (a bigger one is dropped: the previous snapshot stays).
const MAX_SNAPSHOT_FIELD: usize = 16 << 20;

/// Parses the snapshot pipe: records `\0 cid \0 env \0 cwd \0`. Anything between records
/// (a diagnostic the shell printed on its stderr) holds no NUL and is skipped.
#[derive(Debug, Default)]
pub(crate) struct SnapshotParser {
    /// Which field the next bytes belong to: 0 between records, 1 cid, 2 env, 3 cwd.
    field: u8,
    cur: Vec<u8>,
    too_big: bool,
    partial: Snapshot,
}

impl SnapshotParser {
    /// Feeds `data`; returns the last snapshot completed in it, if any.
    pub(crate) fn push(&mut self, mut data: &[u8]) -> Option<Snapshot> {
        let mut done = None;
        while !data.is_empty() {
            let (piece, rest, at_nul) = match memchr::memchr(0, data) {
                Some(i) => (&data[..i], &data[i + 1..], true),
                None => (data, &data[data.len()..], false),
            };
            if self.field != 0 && !self.too_big {
                if self.cur.len() + piece.len() > MAX_SNAPSHOT_FIELD {
                    self.too_big = true;
                    self.cur = Vec::new();
                } else {
                    self.cur.extend_from_slice(piece);
                }
            }
            data = rest;
            if !at_nul {
                break;
            }
            let value = std::mem::take(&mut self.cur);
            match self.field {
                1 => self.partial.cid = String::from_utf8_lossy(&value).into_owned(),
                2 => self.partial.env = value,
                3 => {
                    let mut cwd = value;
                    if cwd.last() == Some(&b'\n') {
                        cwd.pop();
                    }
                    self.partial.cwd = cwd;
                    if !std::mem::take(&mut self.too_big) {
                        done = Some(std::mem::take(&mut self.partial));
                    }
                }
                _ => {}
            }
            self.field = (self.field + 1) % 4;
        }
        done
    }
}

/// Reads a generation's snapshot pipe until EOF, publishing each new snapshot and writing it
/// to the session directory when it differs from the last one written (off the reply path).
pub(super) async fn read_snapshots(
    core: Arc<SessionCore>,
    mut stderr: tokio::process::ChildStderr,
) {
    use tokio::io::AsyncReadExt;
    let mut parser = SnapshotParser::default();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match stderr.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let Some(snap) = parser.push(&buf[..n]) else {
            // `export -p` writes one line per write(2): let the record arrive whole instead of
            // waking for every line (nothing waits on it but a shell restart).
            tokio::time::sleep(SNAPSHOT_BATCH).await;
            continue;
        };
        let changed = {
            let last = core.snapshot.borrow();
            last.env != snap.env || last.cwd != snap.cwd
        };
        if changed {
            let dir = core.dir.clone();
            let (env, cwd) = (snap.env.clone(), snap.cwd.clone());
            let wrote = tokio::task::spawn_blocking(move || write_snapshot(&dir, &env, &cwd)).await;
            if let Ok(Err(err)) = wrote {
                tracing::debug!(session = %core.id, error = %err, "cannot save a session snapshot");
            }
        }
        core.snapshot.send_replace(snap);
    }
}

/// Writes `env.sh` and `cwd` (each to a temporary file renamed into place).
fn write_snapshot(dir: &Path, env: &[u8], cwd: &[u8]) -> std::io::Result<()> {
    for (name, data) in [("env.sh", env), ("cwd", cwd)] {
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, data)?;
        std::fs::rename(&tmp, dir.join(name))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_parse_across_any_split_and_skip_diagnostics() {
        let stream: &[u8] =
            b"bash: warning\n\0c1\0declare -x A=\"1\"\n\0/tmp\n\0+ junk\n\0c2\0declare -x B=\"x\ny\"\n\0/a\nb\n\0";
        let want = Snapshot {
            cid: "c2".into(),
            env: b"declare -x B=\"x\ny\"\n".to_vec(),
            cwd: b"/a\nb".to_vec(),
        };
        let mut whole = SnapshotParser::default();
        assert_eq!(whole.push(stream), Some(want.clone()));
        for cut in 0..stream.len() {
            let mut p = SnapshotParser::default();
            let a = p.push(&stream[..cut]);
            let b = p.push(&stream[cut..]);
            assert_eq!(b.or(a).map(|s| s.cid), Some(want.cid.clone()), "cut {cut}");
        }
        let mut p = SnapshotParser::default();
        let mut last = None;
        for byte in stream {
            if let Some(s) = p.push(std::slice::from_ref(byte)) {
                last = Some(s);
            }
        }
        assert_eq!(last, Some(want));
    }
}
