//! Figure 9: file transfers and listing through the toolbox file-system API: a large file up
//! and down through our client and through the official Python SDK, each beside a plain local
//! `cp` of the same bytes on the same filesystem in the same run, a 10,000-entry directory
//! listed beside `read_dir` + `stat`, and the daemon's peak memory during each.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use process::Client;

use crate::daemon::Processd;
use crate::floors::BoxError;
use crate::row::{micros, rate, Better, Row};
use crate::stats::Summary;

/// The group these rows belong to.
const GROUP: u32 = 9;

/// Sizes of one run.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Bytes of the transferred file.
    pub file_bytes: u64,
    /// Entries of the listed directory.
    pub entries: usize,
    /// Listings timed.
    pub list_n: usize,
}

impl Sizes {
    /// The full run (1 GiB, 10,000 entries) or the quick one.
    pub fn new(quick: bool) -> Sizes {
        if quick {
            Sizes {
                file_bytes: 64 << 20,
                entries: 10_000,
                list_n: 5,
            }
        } else {
            Sizes {
                file_bytes: 1 << 30,
                entries: 10_000,
                list_n: 20,
            }
        }
    }
}

/// Writes `bytes` of incompressible pseudo-random data (xorshift) to `path`.
fn write_input(path: &Path, bytes: u64) -> Result<(), BoxError> {
    use std::io::Write;
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut block = vec![0u8; 1 << 20];
    let mut left = bytes;
    while left > 0 {
        for w in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            w.copy_from_slice(&x.to_le_bytes());
        }
        let n = usize::try_from(left.min(block.len() as u64))?;
        f.write_all(&block[..n])?;
        left -= n as u64;
    }
    f.flush()?;
    Ok(())
}

/// Flushes dirty pages so each timed step starts from the same writeback state.
fn settle() {
    nix::unistd::sync();
}

/// Seconds of a plain `cp src dst`.
fn cp(src: &Path, dst: &Path) -> Result<f64, BoxError> {
    settle();
    let t = Instant::now();
    let st = Command::new("cp").arg(src).arg(dst).status()?;
    let secs = t.elapsed().as_secs_f64();
    if !st.success() {
        return Err(format!("cp {} {} failed: {st}", src.display(), dst.display()).into());
    }
    std::fs::remove_file(dst)?;
    Ok(secs)
}

/// The faster of two `cp` runs, one taken before and one after a timed transfer: on a shared
/// machine one copy can land in a writeback stall; the ratio is to the better floor.
fn floor_text(before: f64, after: f64, bytes: f64) -> (f64, String) {
    let best = before.min(after);
    (
        best,
        format!(
            "`cp` of the same file {} (best of one before {} and one after {})",
            rate(bytes / best),
            rate(bytes / before),
            rate(bytes / after)
        ),
    )
}

/// The daemon's peak memory during `f`, as (peak MiB, growth MiB over its RSS before).
async fn peak_during<T>(
    daemon: &Processd,
    f: impl std::future::Future<Output = Result<T, BoxError>>,
) -> Result<(T, f64, f64), BoxError> {
    let before = daemon.rss_kib().ok_or("cannot read the daemon's RSS")?;
    daemon.reset_peak()?;
    let out = f.await?;
    let peak = daemon.peak_kib().ok_or("cannot read the daemon's VmHWM")?;
    Ok((
        out,
        peak as f64 / 1024.0,
        peak.saturating_sub(before) as f64 / 1024.0,
    ))
}

fn memory_row(what: &str, peak: f64, grown: f64) -> Row {
    let mut row = Row::plain(
        GROUP,
        format!("daemon peak memory (VmHWM) during {what}"),
        format!("{peak:.1} MiB (+{grown:.1} MiB over its RSS before)"),
        "–",
    );
    row.target = "growth ≤ 32 MiB".into();
    row.verdict = if grown <= 32.0 { "met" } else { "missed" }.into();
    row
}

fn same_file(a: &Path, b: &Path) -> Result<bool, BoxError> {
    use std::io::Read;
    let (mut fa, mut fb) = (std::fs::File::open(a)?, std::fs::File::open(b)?);
    if fa.metadata()?.len() != fb.metadata()?.len() {
        return Ok(false);
    }
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = fa.read(&mut ba)?;
        if n == 0 {
            return Ok(true);
        }
        fb.read_exact(&mut bb[..n])?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
    }
}

/// Runs figure 9 against `daemon` (fresh, no token) and returns its rows.
pub async fn run(
    daemon: &Processd,
    client: &Client,
    python: Option<&Path>,
    sizes: Sizes,
) -> Result<Vec<Row>, BoxError> {
    let work = daemon.work_dir();
    // Local files live beside the daemon's work dir: same filesystem for everyone.
    let local = tempfile::Builder::new()
        .prefix("bench-fs-local-")
        .tempdir_in(work.parent().ok_or("work dir has no parent")?)?;
    let src = local.path().join("input.bin");
    write_input(&src, sizes.file_bytes)?;
    let mib = sizes.file_bytes >> 20;
    let bytes = sizes.file_bytes as f64;
    let mut rows = Vec::new();

    // Upload through our client.
    let cp_up = cp(&src, &local.path().join("cp-up.bin"))?;
    settle();
    let (secs, peak, grown) = peak_during(daemon, async {
        let t = Instant::now();
        client
            .fs()
            .upload_file_from_path(&src, "up.bin")
            .await
            .map_err(|e| format!("upload: {e}"))?;
        Ok(t.elapsed().as_secs_f64())
    })
    .await?;
    let (cp_up, floor) = floor_text(cp_up, cp(&src, &local.path().join("cp-up.bin"))?, bytes);
    rows.push(Row::ratio(
        GROUP,
        format!("upload of a {mib} MiB file through our client (`fs().upload_file_from_path`)"),
        rate(bytes / secs),
        floor,
        cp_up / secs,
        Some((Better::Higher, 0.5)),
    ));
    rows.push(memory_row(&format!("our {mib} MiB upload"), peak, grown));
    if !same_file(&src, &work.join("up.bin"))? {
        return Err("the uploaded file differs from its source".into());
    }

    // Download through our client.
    let dst = local.path().join("down.bin");
    let cp_down = cp(&work.join("up.bin"), &local.path().join("cp-down.bin"))?;
    settle();
    let (secs, peak, grown) = peak_during(daemon, async {
        let t = Instant::now();
        client
            .fs()
            .download_file_to("up.bin", &dst)
            .await
            .map_err(|e| format!("download: {e}"))?;
        Ok(t.elapsed().as_secs_f64())
    })
    .await?;
    let (cp_down, floor) = floor_text(
        cp_down,
        cp(&work.join("up.bin"), &local.path().join("cp-down.bin"))?,
        bytes,
    );
    rows.push(Row::ratio(
        GROUP,
        format!("download of a {mib} MiB file through our client (`fs().download_file_to`)"),
        rate(bytes / secs),
        floor,
        cp_down / secs,
        Some((Better::Higher, 0.5)),
    ));
    rows.push(memory_row(&format!("our {mib} MiB download"), peak, grown));
    if !same_file(&src, &dst)? {
        return Err("the downloaded file differs from its source".into());
    }
    std::fs::remove_file(&dst)?;

    // The same through the official Python SDK.
    match python {
        None => rows.push(Row::not_measured(
            GROUP,
            "upload/download through the Python SDK",
            "no compat venv (`cargo xtask venv`)",
        )),
        Some(py) => {
            rows.extend(
                python_rows(daemon, py, &src, &local.path().join("py-down.bin"), sizes).await?,
            );
        }
    }
    let _ = std::fs::remove_file(work.join("up.bin"));
    let _ = std::fs::remove_file(work.join("py-up.bin"));

    rows.extend(listing(daemon, client, &work, sizes).await?);
    Ok(rows)
}

async fn python_rows(
    daemon: &Processd,
    py: &Path,
    src: &Path,
    dst: &Path,
    sizes: Sizes,
) -> Result<Vec<Row>, BoxError> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/sdk_fs.py");
    let mib = sizes.file_bytes >> 20;
    let bytes = sizes.file_bytes as f64;
    let run = |op: &'static str, a: PathBuf, b: PathBuf| {
        let (py, script, url) = (py.to_path_buf(), script.clone(), daemon.url.clone());
        async move {
            let out = tokio::process::Command::new(&py)
                .arg(&script)
                .arg(&url)
                .arg(op)
                .arg(&a)
                .arg(&b)
                .output()
                .await?;
            if !out.status.success() {
                return Err(format!(
                    "the Python SDK {op} failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                        .lines()
                        .last()
                        .unwrap_or("")
                )
                .into());
            }
            let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
            v["secs"]
                .as_f64()
                .ok_or_else(|| BoxError::from("no secs in the script's output"))
        }
    };
    let mut rows = Vec::new();
    let cp_up = cp(src, &dst.with_extension("cp"))?;
    settle();
    let (secs, peak, grown) = peak_during(
        daemon,
        run("upload", src.to_path_buf(), PathBuf::from("py-up.bin")),
    )
    .await?;
    let (cp_up, floor) = floor_text(cp_up, cp(src, &dst.with_extension("cp"))?, bytes);
    rows.push(Row::ratio(
        GROUP,
        format!(
            "upload of a {mib} MiB file through the Python SDK (`fs.upload_file(local_path, …)`)"
        ),
        rate(bytes / secs),
        floor,
        cp_up / secs,
        None,
    ));
    rows.push(memory_row(
        &format!("the Python SDK's {mib} MiB upload"),
        peak,
        grown,
    ));
    let cp_down = cp(src, &dst.with_extension("cp"))?;
    settle();
    let (secs, peak, grown) = peak_during(
        daemon,
        run("download", PathBuf::from("py-up.bin"), dst.to_path_buf()),
    )
    .await?;
    if !same_file(src, dst)? {
        return Err("the file downloaded by the Python SDK differs from its source".into());
    }
    std::fs::remove_file(dst)?;
    let (cp_down, floor) = floor_text(cp_down, cp(src, &dst.with_extension("cp"))?, bytes);
    rows.push(Row::ratio(
        GROUP,
        format!("download of a {mib} MiB file through the Python SDK (`fs.download_file(…, local_path)`)"),
        rate(bytes / secs),
        floor,
        cp_down / secs,
        None,
    ));
    rows.push(memory_row(
        &format!("the Python SDK's {mib} MiB download"),
        peak,
        grown,
    ));
    Ok(rows)
}

/// `list_files` of a directory of `sizes.entries` empty files vs `read_dir` + `stat` of each.
async fn listing(
    daemon: &Processd,
    client: &Client,
    work: &Path,
    sizes: Sizes,
) -> Result<Vec<Row>, BoxError> {
    let dir = work.join("list");
    std::fs::create_dir_all(&dir)?;
    for i in 0..sizes.entries {
        std::fs::File::create(dir.join(format!("entry-{i:05}.txt")))?;
    }
    let mut ours = Vec::new();
    let mut floor = Vec::new();
    let (mut peak, mut grown) = (0f64, 0f64);
    for _ in 0..sizes.list_n {
        let t = Instant::now();
        let mut names: Vec<(String, u64)> = Vec::new();
        for e in std::fs::read_dir(&dir)? {
            let e = e?;
            let md = std::fs::metadata(e.path())?;
            names.push((e.file_name().to_string_lossy().into_owned(), md.len()));
        }
        names.sort();
        floor.push(t.elapsed());
        let (n, p, g) = peak_during(daemon, async {
            let t = Instant::now();
            let list = client
                .fs()
                .list_files("list")
                .await
                .map_err(|e| format!("list_files: {e}"))?;
            Ok((list.len(), t.elapsed()))
        })
        .await?;
        if n.0 != sizes.entries {
            return Err(format!(
                "list_files returned {} entries, expected {}",
                n.0, sizes.entries
            )
            .into());
        }
        ours.push(n.1);
        (peak, grown) = (peak.max(p), grown.max(g));
    }
    let ours_s = summary(&ours)?;
    let floor_s = summary(&floor)?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(vec![
        Row::ratio(
            GROUP,
            format!(
                "`list_files` of a {}-entry directory p50 (n = {})",
                sizes.entries, ours_s.n
            ),
            micros(ours_s.p50),
            format!(
                "`read_dir` + `stat` of each entry, sorted (in process) {}",
                micros(floor_s.p50)
            ),
            ours_s.p50 / floor_s.p50,
            None,
        ),
        memory_row(&format!("a {}-entry listing", sizes.entries), peak, grown),
    ])
}

fn summary(samples: &[Duration]) -> Result<Summary, BoxError> {
    Summary::of_micros(samples).ok_or_else(|| "no samples".into())
}
