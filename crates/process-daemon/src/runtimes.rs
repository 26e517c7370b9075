//! Language runtimes for code-run: the real Python interpreter (resolved once), the TypeScript
//! runtime (tsx, ts-node, or node ≥ 22.6 with type stripping), and the helper files the daemon
//! ships (the matplotlib chart-capture runner and the JavaScript argv fix).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use tokio::sync::OnceCell;

/// The matplotlib chart-capture runner (our own module, written to the state dir at start).
pub(crate) const CHART_CAPTURE_PY: &str = include_str!("../python/chart_capture.py");

/// Preloaded into node so that `process.argv` is `[node, ...argv]` (as with `node -`).
const ARGV_FIX_JS: &str = "process.argv.splice(1, 1);\n";

/// The message code-run answers for TypeScript when no runtime is installed.
pub(crate) const NO_TYPESCRIPT: &str =
    "typescript: no TypeScript runtime found: install tsx or ts-node \
on PATH (e.g. `npm install -g tsx`), or use node >= 22.6 (type stripping)";

/// A TypeScript runtime: program plus the arguments before ours.
#[derive(Debug, Clone)]
pub(crate) struct TsRuntime {
    /// The program.
    pub program: PathBuf,
    /// Leading arguments (e.g. `--experimental-strip-types`).
    pub args: Vec<OsString>,
}

/// Runtime discovery and shipped helper files.
#[derive(Debug)]
pub(crate) struct Runtimes {
    configured_python: Option<PathBuf>,
    python: OnceCell<PathBuf>,
    typescript: OnceCell<Option<TsRuntime>>,
    chart_runner: PathBuf,
    argv_fix: PathBuf,
}

impl Runtimes {
    /// Writes the helper files under `<state_dir>/runtime/`.
    pub(crate) fn new(state_dir: &Path, python: Option<PathBuf>) -> std::io::Result<Runtimes> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = state_dir.join("runtime");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        let chart_runner = dir.join("chart_capture.py");
        std::fs::write(&chart_runner, CHART_CAPTURE_PY)?;
        let argv_fix = dir.join("argv_fix.js");
        std::fs::write(&argv_fix, ARGV_FIX_JS)?;
        Ok(Runtimes {
            configured_python: python,
            python: OnceCell::new(),
            typescript: OnceCell::new(),
            chart_runner,
            argv_fix,
        })
    }

    /// The chart-capture runner's path.
    pub(crate) fn chart_runner(&self) -> &Path {
        &self.chart_runner
    }

    /// The node argv-fix preload's path.
    pub(crate) fn argv_fix(&self) -> &Path {
        &self.argv_fix
    }

    /// The Python interpreter: `--python`/`PROCESSD_PYTHON`, else `python3` from PATH resolved
    /// to its real executable (`sys.executable`, which skips pyenv-style shims), once.
    pub(crate) async fn python(&self) -> PathBuf {
        self.python
            .get_or_init(|| async {
                if let Some(p) = &self.configured_python {
                    return p.clone();
                }
                let out = tokio::process::Command::new("python3")
                    .args(["-c", "import sys; print(sys.executable)"])
                    .env_clear()
                    .envs(crate::proc::child_env([]))
                    .stdin(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .output()
                    .await;
                match out {
                    Ok(o) if o.status.success() => {
                        let path = String::from_utf8_lossy(&o.stdout).trim().to_owned();
                        if path.is_empty() {
                            PathBuf::from("python3")
                        } else {
                            tracing::info!(python = %path, "resolved the Python interpreter");
                            PathBuf::from(path)
                        }
                    }
                    _ => PathBuf::from("python3"),
                }
            })
            .await
            .clone()
    }

    /// The TypeScript runtime, found once: `tsx`, then `ts-node` on PATH, then node ≥ 22.6.
    pub(crate) async fn typescript(&self) -> Option<TsRuntime> {
        self.typescript
            .get_or_init(|| async {
                let path = std::env::var_os("PATH").unwrap_or_default();
                if let Some(p) = find_in_path("tsx", &path) {
                    return Some(TsRuntime {
                        program: p,
                        args: Vec::new(),
                    });
                }
                if let Some(p) = find_in_path("ts-node", &path) {
                    return Some(TsRuntime {
                        program: p,
                        args: vec!["-T".into()],
                    });
                }
                let node = find_in_path("node", &path)?;
                let out = tokio::process::Command::new(&node)
                    .arg("--version")
                    .stdin(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .output()
                    .await
                    .ok()?;
                let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                node_strips_types(&version).then(|| TsRuntime {
                    program: node,
                    args: vec![
                        "--experimental-strip-types".into(),
                        "--no-warnings=ExperimentalWarning".into(),
                    ],
                })
            })
            .await
            .clone()
    }
}

/// Whether a `node --version` string (`v22.6.0`) has `--experimental-strip-types` (≥ 22.6).
fn node_strips_types(version: &str) -> bool {
    let mut it = version.trim_start_matches('v').split('.');
    let major: u32 = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let minor: u32 = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    major > 22 || (major == 22 && minor >= 6)
}

/// The first executable `name` in the `PATH`-style list `path`.
pub(crate) fn find_in_path(name: &str, path: &std::ffi::OsStr) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path)
        .map(|dir| dir.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_versions_with_type_stripping() {
        assert!(!node_strips_types("v20.20.2"));
        assert!(!node_strips_types("v22.5.1"));
        assert!(node_strips_types("v22.6.0"));
        assert!(node_strips_types("v24.1.0"));
        assert!(!node_strips_types("garbage"));
    }

    #[test]
    fn finds_sh_on_a_path() {
        let p = find_in_path("sh", std::ffi::OsStr::new("/nonexistent:/bin:/usr/bin"));
        assert!(p.is_some());
        assert!(find_in_path("no-such-program-xyz", std::ffi::OsStr::new("/bin")).is_none());
    }
}
