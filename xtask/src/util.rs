//! Helpers shared by the subcommands: running commands, locating the workspace, the venv.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (the parent of `xtask/`).
pub(crate) fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map_or(manifest.clone(), Path::to_path_buf)
}

/// Runs `cmd` in the workspace root, echoing it, and fails if it fails.
pub(crate) fn sh(cmd: &mut Command) -> Result<(), String> {
    if cmd.get_current_dir().is_none() {
        cmd.current_dir(root());
    }
    eprintln!("$ {}", display(cmd));
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {}: {e}", display(cmd)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed with {status}", display(cmd)))
    }
}

fn display(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// `cargo` as invoked by the user (respects `$CARGO`).
pub(crate) fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Makes `cmd` independent of the user's dotfiles: `HOME` becomes `target/test-home`, so the
/// login shells that tests start (PTYs run `bash -i -l`) read no `~/.bashrc`; a shell killed
/// mid-way through someone's rc file (e.g. a pyenv rehash holding its lock) cannot stall later
/// tests. Cargo and rustup keep finding their real homes.
pub(crate) fn hermetic_home(cmd: &mut Command) -> Result<&mut Command, String> {
    let real_home = std::env::var_os("HOME").map(PathBuf::from);
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| real_home.as_ref().map(|h| h.join(".cargo")));
    let rustup_home = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .or_else(|| real_home.as_ref().map(|h| h.join(".rustup")));
    let home = root().join("target").join("test-home");
    std::fs::create_dir_all(&home).map_err(|e| format!("cannot create {}: {e}", home.display()))?;
    cmd.env("HOME", &home);
    if let Some(dir) = cargo_home {
        cmd.env("CARGO_HOME", dir);
    }
    if let Some(dir) = rustup_home {
        cmd.env("RUSTUP_HOME", dir);
    }
    Ok(cmd)
}

/// Builds `bin` of `package` (debug) and returns its path.
pub(crate) fn built_binary(package: &str, bin: &str) -> Result<PathBuf, String> {
    sh(cargo().args(["build", "--quiet", "-p", package, "--bin", bin]))?;
    let target =
        std::env::var("CARGO_TARGET_DIR").map_or_else(|_| root().join("target"), Into::into);
    Ok(target.join("debug").join(bin))
}

/// Creates `target/compat-venv` with `tests/compat/requirements.txt` installed (once; again
/// when the requirements change) and returns its Python interpreter.
pub(crate) fn ensure_venv() -> Result<PathBuf, String> {
    ensure_venv_at(
        "compat-venv",
        &root().join("tests").join("compat").join("requirements.txt"),
    )
}

/// Creates `target/NAME` with the pinned requirements file `reqs` installed (once; again when
/// the file changes) and returns its Python interpreter.
pub(crate) fn ensure_venv_at(name: &str, reqs: &Path) -> Result<PathBuf, String> {
    let venv = root().join("target").join(name);
    let python = venv.join("bin").join("python");
    let stamp = venv.join(".requirements.installed");
    let wanted = std::fs::read_to_string(reqs)
        .map_err(|e| format!("cannot read {}: {e}", reqs.display()))?;
    if python.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(python);
    }
    let base = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    sh(Command::new(base).args(["-m", "venv"]).arg(&venv))?;
    sh(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(reqs))?;
    std::fs::write(&stamp, wanted).map_err(|e| format!("cannot write {}: {e}", stamp.display()))?;
    Ok(python)
}

/// Installs the TypeScript runtimes code-run is tested with (`tsx`, `ts-node` + `typescript`,
/// pinned in `tests/ts-runtime/package.json`) into `target/ts-runtime` with npm, once, and returns its
/// `node_modules/.bin`. Without npm on the machine it says so and returns `None`: TypeScript
/// code-run then answers its "no TypeScript runtime found" error, which the tests also cover.
pub(crate) fn ensure_ts_runtime() -> Result<Option<PathBuf>, String> {
    let root = root();
    let prefix = root.join("target").join("ts-runtime");
    let bin = prefix.join("node_modules").join(".bin");
    let manifest = root.join("tests").join("ts-runtime").join("package.json");
    let wanted = std::fs::read_to_string(&manifest)
        .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
    let stamp = prefix.join(".installed");
    if bin.join("tsx").exists()
        && bin.join("ts-node").exists()
        && std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str())
    {
        return Ok(Some(bin));
    }
    let npm_works = Command::new("npm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !npm_works {
        eprintln!("xtask: npm not found: TypeScript code-run is tested without a runtime");
        return Ok(None);
    }
    std::fs::create_dir_all(&prefix)
        .map_err(|e| format!("cannot create {}: {e}", prefix.display()))?;
    std::fs::copy(&manifest, prefix.join("package.json"))
        .map_err(|e| format!("cannot copy {}: {e}", manifest.display()))?;
    sh(Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&prefix))?;
    std::fs::write(&stamp, wanted).map_err(|e| format!("cannot write {}: {e}", stamp.display()))?;
    Ok(Some(bin))
}

/// `PATH` with `dir` in front (for the TypeScript runtime), or the current `PATH`.
pub(crate) fn path_with(dir: Option<&Path>) -> std::ffi::OsString {
    let current = std::env::var_os("PATH").unwrap_or_default();
    let Some(dir) = dir else { return current };
    let mut parts = vec![dir.to_path_buf()];
    parts.extend(std::env::split_paths(&current));
    std::env::join_paths(parts).unwrap_or(current)
}
