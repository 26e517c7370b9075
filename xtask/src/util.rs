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

/// Creates `target/compat-venv` with `tests/compat/requirements.txt` installed (once; again
/// when the requirements change) and returns its Python interpreter.
pub(crate) fn ensure_venv() -> Result<PathBuf, String> {
    let root = root();
    let venv = root.join("target").join("compat-venv");
    let python = venv.join("bin").join("python");
    let reqs = root.join("tests").join("compat").join("requirements.txt");
    let stamp = venv.join(".requirements.installed");
    let wanted = std::fs::read_to_string(&reqs)
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
        .arg(&reqs))?;
    std::fs::write(&stamp, wanted).map_err(|e| format!("cannot write {}: {e}", stamp.display()))?;
    Ok(python)
}
