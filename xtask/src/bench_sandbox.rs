//! Figure 10 of `cargo xtask bench`: sandboxes through `sandboxd` on runc. Builds `sandboxd`
//! (release for the full run; the dev build CI already has for `--quick`) and runs
//! `bench sandbox`, which needs root, runc and the default image (`SANDBOXD_TEST_IMAGE_DIR`,
//! else `target/sandbox-images`; it is not built here: `sandboxd image build` or any sandbox
//! test builds it). Without them the rows say why.

use std::path::Path;
use std::process::Command;

use crate::util::{cargo, sh};

pub(crate) fn rows(
    bench_bin: &Path,
    target: &Path,
    python: Option<&Path>,
    quick: bool,
) -> Result<Vec<serde_json::Value>, String> {
    let (profile, dir) = if quick {
        ("dev", "debug")
    } else {
        ("release", "release")
    };
    let image_dir = std::env::var_os("SANDBOXD_TEST_IMAGE_DIR")
        .map_or_else(|| target.join("sandbox-images"), Into::into);
    let mut missing = sh(cargo().args([
        "build",
        "--profile",
        profile,
        "-p",
        "sandbox-daemon",
        "--bin",
        "sandboxd",
    ]))
    .err()
    .map(|e| format!("sandboxd did not build ({e})"));
    if missing.is_none() && !image_dir.join("default").exists() {
        missing = Some(format!(
            "no default image in {} (build it with `sandboxd image build --image-dir …`)",
            image_dir.display()
        ));
    }
    let mut cmd = Command::new(bench_bin);
    cmd.arg("sandbox")
        .arg("--sandboxd")
        .arg(target.join(dir).join("sandboxd"))
        .arg("--image-dir")
        .arg(&image_dir);
    if quick {
        cmd.args(["--quick", "--debug-sandboxd"]);
    }
    if let Some(py) = python {
        cmd.arg("--python").arg(py);
    }
    if let Some(why) = &missing {
        cmd.args(["--missing", why]);
    }
    crate::bench::collect_rows(&mut cmd)
}
