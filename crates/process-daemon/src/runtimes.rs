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

/// The same fix for ts-node, which sets `process.argv` only after its `--require` preloads ran:
/// applied when node loads the main module (after it resolved the script from `argv[1]`).
const ARGV_FIX_DEFERRED_JS: &str = "\
const Module = require('module');
const load = Module._load;
Module._load = function (request, parent, isMain) {
  if (isMain) {
    Module._load = load;
    process.argv.splice(1, 1);
  }
  return load.apply(this, arguments);
};
";

/// The message code-run answers for TypeScript when no runtime is installed.
pub(crate) const NO_TYPESCRIPT: &str =
    "typescript: no TypeScript runtime found: install tsx or ts-node \
on PATH (e.g. `npm install -g tsx`), or use node >= 22.6 (type stripping)";

/// The compiler options ts-node gets, so plain scripts run whatever TypeScript it finds: without
/// them, ts-node 10 with TypeScript ≥ 5.x and no tsconfig picks `module: node16`-style defaults
/// that TypeScript rejects (TS5109, `moduleResolution` must match); TypeScript 4.8 (Debian's)
/// accepts the same options.
pub(crate) const TS_NODE_COMPILER_OPTIONS: &str =
    r#"{"module":"commonjs","moduleResolution":"node","target":"es2022","esModuleInterop":true}"#;

/// Which TypeScript runtime a program is (by its file name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TsKind {
    /// `tsx`: runs `.ts` files as they are.
    Tsx,
    /// `ts-node` 10: transpile-only, no project file, explicit compiler options.
    TsNode,
    /// `node` ≥ 22.6 with `--experimental-strip-types`.
    Node,
}

impl TsKind {
    /// The kind a program's file name says (`tsx`, `ts-node*`, `node`/`nodejs`); others run
    /// like `tsx` (program then file).
    fn of(program: &Path) -> TsKind {
        let name = program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with("ts-node") {
            TsKind::TsNode
        } else if name == "node" || name == "nodejs" {
            TsKind::Node
        } else {
            TsKind::Tsx
        }
    }
}

/// A TypeScript runtime: program, the arguments before ours, and extra module search paths.
#[derive(Debug, Clone)]
pub(crate) struct TsRuntime {
    /// The program.
    pub program: PathBuf,
    /// Which runtime it is.
    pub kind: TsKind,
    /// Leading arguments (e.g. `--experimental-strip-types`).
    pub args: Vec<OsString>,
    /// A directory to add to `NODE_PATH`: where ts-node's own packages live (Debian installs
    /// them under `/usr/share/nodejs`, which only Debian's node searches by default).
    pub node_path: Option<PathBuf>,
}

impl TsRuntime {
    /// The runtime for `program` of the given kind.
    pub(crate) fn new(program: PathBuf, kind: TsKind) -> TsRuntime {
        let (args, node_path): (Vec<OsString>, _) = match kind {
            TsKind::Tsx => (Vec::new(), None),
            TsKind::TsNode => (
                vec![
                    "--transpile-only".into(),
                    "--skip-project".into(),
                    "--compiler-options".into(),
                    TS_NODE_COMPILER_OPTIONS.into(),
                ],
                package_root(&program, "ts-node"),
            ),
            TsKind::Node => (
                vec![
                    "--experimental-strip-types".into(),
                    "--no-warnings=ExperimentalWarning".into(),
                ],
                None,
            ),
        };
        TsRuntime {
            program,
            kind,
            args,
            node_path,
        }
    }

    /// The arguments that run `script` with `preload` required first and `argv` after it.
    pub(crate) fn command_args(
        &self,
        preload: &Path,
        script: &Path,
        argv: impl IntoIterator<Item = OsString>,
    ) -> Vec<OsString> {
        let mut args = self.args.clone();
        args.push("--require".into());
        args.push(preload.into());
        args.push(script.into());
        args.extend(argv);
        args
    }

    /// `NODE_PATH` for the run: the caller's value (if any) with ours appended.
    pub(crate) fn node_path_env(&self, current: Option<&str>) -> Option<String> {
        let ours = self.node_path.as_ref()?.to_string_lossy().into_owned();
        Some(match current.filter(|c| !c.is_empty()) {
            Some(c) => format!("{c}:{ours}"),
            None => ours,
        })
    }
}

/// The directory that holds package `name` for the program (following symlinks): for
/// `/usr/bin/ts-node` → `/usr/share/nodejs/ts-node/dist/bin.js`, `/usr/share/nodejs`.
fn package_root(program: &Path, name: &str) -> Option<PathBuf> {
    let real = std::fs::canonicalize(program).ok()?;
    real.ancestors()
        .find(|dir| {
            dir.file_name().is_some_and(|n| n == name) && dir.join("package.json").is_file()
        })
        .and_then(Path::parent)
        .map(Path::to_path_buf)
}

/// The one rule for the Python interpreter, shared by code-run and interpreter contexts and
/// applied once per daemon: `Config::python` if set, else the real executable behind `python3`
/// (then `python`) on `PATH` (`sys.executable`, so a pyenv-style shim is paid for once), else
/// plain `python3`.
#[derive(Debug, Clone)]
pub(crate) struct Python {
    configured: Option<PathBuf>,
    resolved: std::sync::Arc<OnceCell<PathBuf>>,
}

impl Python {
    /// A resolver that prefers `configured`.
    pub(crate) fn new(configured: Option<PathBuf>) -> Python {
        Python {
            configured,
            resolved: std::sync::Arc::default(),
        }
    }

    /// The interpreter, resolved on first use.
    pub(crate) async fn get(&self) -> PathBuf {
        self.resolved
            .get_or_init(|| resolve_python(self.configured.as_deref()))
            .await
            .clone()
    }

    /// The interpreter if it has been resolved already.
    pub(crate) fn resolved(&self) -> Option<PathBuf> {
        self.resolved.get().cloned()
    }
}

/// Applies [`Python`]'s rule (the probe is tracked by the reaper registry and bounded).
async fn resolve_python(configured: Option<&Path>) -> PathBuf {
    if let Some(path) = configured {
        return path.to_path_buf();
    }
    for name in ["python3", "python"] {
        let mut cmd = tokio::process::Command::new(name);
        cmd.args(["-c", "import sys; print(sys.executable)"])
            .env_clear()
            .envs(crate::proc::child_env([]))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        let Ok((child, _tracked)) = crate::reaper::spawn(&mut cmd) else {
            continue;
        };
        let probe = child.wait_with_output();
        if let Ok(Ok(out)) = tokio::time::timeout(std::time::Duration::from_secs(30), probe).await {
            let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if out.status.success() && !path.is_empty() {
                tracing::info!(python = %path, "resolved the Python interpreter");
                return PathBuf::from(path);
            }
        }
    }
    PathBuf::from("python3")
}

/// Runtime discovery and shipped helper files.
#[derive(Debug)]
pub(crate) struct Runtimes {
    configured_typescript: Option<PathBuf>,
    python: Python,
    typescript: OnceCell<Option<TsRuntime>>,
    chart_runner: PathBuf,
    argv_fix: PathBuf,
    argv_fix_deferred: PathBuf,
}

impl Runtimes {
    /// Writes the helper files under `<state_dir>/runtime/`.
    pub(crate) fn new(
        state_dir: &Path,
        python: Option<PathBuf>,
        typescript: Option<PathBuf>,
    ) -> std::io::Result<Runtimes> {
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
        let argv_fix_deferred = dir.join("argv_fix_deferred.js");
        std::fs::write(&argv_fix_deferred, ARGV_FIX_DEFERRED_JS)?;
        Ok(Runtimes {
            configured_typescript: typescript,
            python: Python::new(python),
            typescript: OnceCell::new(),
            chart_runner,
            argv_fix,
            argv_fix_deferred,
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

    /// The argv-fix preload that suits a TypeScript runtime of `kind`.
    pub(crate) fn argv_fix_for(&self, kind: TsKind) -> &Path {
        match kind {
            TsKind::TsNode => &self.argv_fix_deferred,
            TsKind::Tsx | TsKind::Node => &self.argv_fix,
        }
    }

    /// The Python interpreter code-run and interpreter contexts use (see [`Python`]).
    pub(crate) async fn python(&self) -> PathBuf {
        self.python.get().await
    }

    /// The shared resolver (the interpreter registry holds a clone).
    pub(crate) fn python_resolver(&self) -> Python {
        self.python.clone()
    }

    /// The TypeScript runtime, found once: the configured one (its kind by file name), else
    /// `tsx`, then `ts-node` on PATH, then node ≥ 22.6.
    pub(crate) async fn typescript(&self) -> Option<TsRuntime> {
        self.typescript
            .get_or_init(|| async {
                if let Some(p) = &self.configured_typescript {
                    return Some(TsRuntime::new(p.clone(), TsKind::of(p)));
                }
                let path = std::env::var_os("PATH").unwrap_or_default();
                if let Some(p) = find_in_path("tsx", &path) {
                    return Some(TsRuntime::new(p, TsKind::Tsx));
                }
                if let Some(p) = find_in_path("ts-node", &path) {
                    return Some(TsRuntime::new(p, TsKind::TsNode));
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
                node_strips_types(&version).then(|| TsRuntime::new(node, TsKind::Node))
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
    fn kinds_by_file_name() {
        assert_eq!(TsKind::of(Path::new("/x/.bin/tsx")), TsKind::Tsx);
        assert_eq!(TsKind::of(Path::new("/usr/bin/ts-node")), TsKind::TsNode);
        assert_eq!(
            TsKind::of(Path::new("ts-node-transpile-only")),
            TsKind::TsNode
        );
        assert_eq!(TsKind::of(Path::new("/opt/node/bin/node")), TsKind::Node);
    }

    #[test]
    fn each_runtime_gets_the_arguments_it_needs() {
        let preload = Path::new("/s/argv_fix.js");
        let script = Path::new("/s/main.ts");
        let args = |kind| {
            TsRuntime::new(PathBuf::from("/nonexistent/bin/prog"), kind)
                .command_args(preload, script, ["a b".into()])
                .into_iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            args(TsKind::Tsx),
            ["--require", "/s/argv_fix.js", "/s/main.ts", "a b"]
        );
        // node >= 22.6 cannot be installed on this machine (node 20): this path is unit-tested.
        assert_eq!(
            args(TsKind::Node),
            [
                "--experimental-strip-types",
                "--no-warnings=ExperimentalWarning",
                "--require",
                "/s/argv_fix.js",
                "/s/main.ts",
                "a b"
            ]
        );
        let ts_node = args(TsKind::TsNode);
        assert_eq!(
            ts_node[..4],
            [
                "--transpile-only",
                "--skip-project",
                "--compiler-options",
                TS_NODE_COMPILER_OPTIONS
            ]
        );
        let options: serde_json::Value = serde_json::from_str(TS_NODE_COMPILER_OPTIONS).unwrap();
        assert_eq!(options["module"], "commonjs");
        assert_eq!(options["moduleResolution"], "node");
    }

    #[test]
    fn ts_node_packages_are_found_through_symlinks() {
        let root = tempfile::tempdir().unwrap();
        let pkg = root.path().join("share/nodejs/ts-node");
        std::fs::create_dir_all(pkg.join("dist")).unwrap();
        std::fs::write(pkg.join("package.json"), "{}").unwrap();
        std::fs::write(pkg.join("dist/bin.js"), "").unwrap();
        std::fs::create_dir_all(root.path().join("bin")).unwrap();
        let link = root.path().join("bin/ts-node");
        std::os::unix::fs::symlink(pkg.join("dist/bin.js"), &link).unwrap();
        let rt = TsRuntime::new(link, TsKind::TsNode);
        let want = std::fs::canonicalize(root.path().join("share/nodejs")).unwrap();
        assert_eq!(rt.node_path.as_deref(), Some(want.as_path()));
        let ours = want.display().to_string();
        assert_eq!(rt.node_path_env(None), Some(ours.clone()));
        assert_eq!(rt.node_path_env(Some("/a")), Some(format!("/a:{ours}")));
        assert_eq!(
            TsRuntime::new("/x/tsx".into(), TsKind::Tsx).node_path_env(Some("/a")),
            None
        );
    }

    #[test]
    fn finds_sh_on_a_path() {
        let p = find_in_path("sh", std::ffi::OsStr::new("/nonexistent:/bin:/usr/bin"));
        assert!(p.is_some());
        assert!(find_in_path("no-such-program-xyz", std::ffi::OsStr::new("/bin")).is_none());
    }
}
