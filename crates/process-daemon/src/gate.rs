//! The spawn gate for any program: a process the daemon must move into its cgroup before it
//! runs anything of its own (a cold exec of another shell than bash, code-run's interpreters,
//! an interpreter worker, a session shell) is started through a trampoline that waits for the
//! move, without a `pre_exec` hook (std keeps `posix_spawn`, see `Cgroup::adopt`).
//!
//! The trampoline is `/bin/sh -c 'read -r g; …; exec "$@"' processd-gate /usr/bin/env [-u
//! NAME]… -- K=V… PROGRAM ARGS…`. Its own environment holds only the request's plain
//! variables that nothing reads at start-up, so nothing the request's environment holds can act
//! on it before the gate opens (no `LD_PRELOAD`, `LD_AUDIT`, `GLIBC_TUNABLES`, `BASH_ENV`,
//! `SHELLOPTS`, exported functions or `ENV` reaches the shell or its loader; a bash at
//! `/bin/sh` run as `sh` reads no start-up file). Those start-up variables, odd names and the
//! ones the shell rewrites (`PWD`, `IFS`, …) are set by `env` from its command line; the rest,
//! where tokens and keys live, never appear on a command line (world-readable in
//! `/proc/<pid>/cmdline`, while the environment is readable by its owner only). It
//! blocks in `read` on its stdin (a pipe, or the worker's control socket) until the daemon has
//! written the pid to `cgroup.procs` and then closed the pipe (or written one newline: `read`
//! takes bytes one at a time from a pipe or socket, so nothing after it is consumed). Then it
//! puts `/dev/null` on stdin (read-only, as std's `Stdio::null` opens it for stdin) when asked, and
//! `exec`s `env`, which drops what the shell added, sets the variables of its command line
//! (names `sh` could not carry, such as `BASH_FUNC_f%%`, and values of any bytes but NUL
//! included), so the program gets exactly the request's variables (in another order than
//! std's sorted one: an environment's order means nothing), and `exec`s it with `execvp`, searching the
//! request's `PATH` as std does. The pid stays the same through both `exec`s, so waits, kills
//! and start-time records are the program's.
//!
//! Cost: two more `exec`s (`sh`, `env`) on the spawn, about a millisecond; used only where the
//! daemon has cgroups. A program that cannot be found or is not executable fails the spawn
//! here, before the trampoline, as it would without it (not an exit code 127 from `env`).

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// What the trampoline leaves on the program's stdin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stdin {
    /// `/dev/null` (the gate pipe is closed to release it).
    Null,
    /// The descriptor it waited on (a control pipe or socket: the daemon releases it with one
    /// newline, which the trampoline consumes).
    Keep,
}

/// `$0` of the trampoline (shows in its `ps` line while it waits).
const NAME: &str = "processd-gate";
/// The trampoline's script for [`Stdin::Null`].
const TO_NULL: &str = "read -r g; exec 0</dev/null; exec \"$@\"";
/// The trampoline's script for [`Stdin::Keep`].
const KEEP: &str = "read -r g; exec \"$@\"";

/// The two programs the trampoline needs, found once.
#[derive(Debug)]
pub(crate) struct Trampoline {
    sh: PathBuf,
    env: PathBuf,
}

/// The trampoline of this system, `None` where `/bin/sh` or `env` is missing (then spawns are
/// moved after the fact, with the race that implies).
pub(crate) fn trampoline() -> Option<&'static Trampoline> {
    static FOUND: std::sync::OnceLock<Option<Trampoline>> = std::sync::OnceLock::new();
    FOUND
        .get_or_init(|| {
            let sh = PathBuf::from("/bin/sh");
            let env = ["/usr/bin/env", "/bin/env"]
                .into_iter()
                .map(PathBuf::from)
                .find(|p| executable(p))?;
            executable(&sh).then_some(Trampoline { sh, env })
        })
        .as_ref()
}

/// Variables a shell run as `sh` may add to or rewrite in what it exports (dash: `PWD`,
/// `IFS`, `OPTIND`, `PPID`; bash: also `SHLVL`, `OLDPWD`, `_`): `env` sets them from the
/// request or unsets them.
const SHELL_MANAGED: [&str; 8] = [
    "PWD", "OLDPWD", "IFS", "OPTIND", "PPID", "SHLVL", "_", "LINENO",
];

/// Variables the loader, libc or a shell reads at start-up (glibc's list of variables unsafe
/// for a privileged program, and the shells' start-up settings), besides every `LD_*` and
/// `BASH*` name.
const START_UP: [&str; 16] = [
    "ENV",
    "SHELLOPTS",
    "POSIXLY_CORRECT",
    "PS4",
    "CDPATH",
    "GLIBC_TUNABLES",
    "GCONV_PATH",
    "GETCONF_DIR",
    "HOSTALIASES",
    "LOCALDOMAIN",
    "LOCPATH",
    "MALLOC_TRACE",
    "NIS_PATH",
    "NLSPATH",
    "RESOLV_HOST_CONF",
    "RES_OPTIONS",
];

/// Whether a request variable may be in the trampoline shell's own environment: a plain name
/// that neither the loader nor the shell acts on before the gate opens. The others are set by
/// `env` from its command line: start-up settings, not secrets. Everything else (tokens,
/// keys) must never be on a command line, which every user of the host can read in
/// `/proc/<pid>/cmdline` (an environment only its owner can).
fn inheritable(name: &str) -> bool {
    let plain = name
        .bytes()
        .next()
        .is_some_and(|b| b == b'_' || b.is_ascii_alphabetic())
        && name.bytes().all(|b| b == b'_' || b.is_ascii_alphanumeric());
    plain
        && !SHELL_MANAGED.contains(&name)
        && !START_UP.contains(&name)
        && !name.starts_with("LD_")
        && !name.starts_with("BASH")
}

/// Whether `path` is a regular file this process may execute.
fn executable(path: &Path) -> bool {
    path.is_file() && nix::unistd::access(path, nix::unistd::AccessFlags::X_OK).is_ok()
}

/// Fails like `execvp` would for `program` with the `PATH` of `env`: not found, or not
/// executable. A relative path with a slash is left to the spawn (it depends on the cwd).
fn check_program(program: &Path, env: &HashMap<String, String>) -> std::io::Result<()> {
    let missing = || std::io::Error::from(ErrorKind::NotFound);
    let bytes = program.as_os_str().as_bytes();
    if bytes.is_empty() {
        return Err(missing());
    }
    if program.is_absolute() {
        if !program.exists() {
            return Err(missing());
        }
        if !executable(program) {
            return Err(std::io::Error::from(ErrorKind::PermissionDenied));
        }
        return Ok(());
    }
    if bytes.contains(&b'/') {
        return Ok(());
    }
    let Some(path) = env.get("PATH") else {
        return Ok(());
    };
    let found = path
        .split(':')
        .map(|dir| if dir.is_empty() { "." } else { dir })
        .any(|dir| executable(&Path::new(dir).join(program)));
    if found {
        Ok(())
    } else {
        Err(missing())
    }
}

impl Trampoline {
    /// A command that runs `program` with `args` and exactly the environment `env` once the
    /// gate opens (see the module docs); the caller sets the cwd, the process group and the
    /// descriptors (stdin: the gate). `Ok(None)` when the program's name holds a `=` (`env`
    /// would take it for a variable); an error when the program cannot be run (as its own
    /// spawn would fail).
    pub(crate) fn command(
        &self,
        program: &Path,
        args: &[OsString],
        env: &HashMap<String, String>,
        stdin: Stdin,
    ) -> std::io::Result<Option<tokio::process::Command>> {
        if program.as_os_str().as_bytes().contains(&b'=') {
            return Ok(None);
        }
        check_program(program, env)?;
        let (inherited, named): (Vec<_>, Vec<_>) =
            env.iter().partition(|(name, _)| inheritable(name));
        let mut named: Vec<(&String, &String)> = named;
        named.sort_unstable();
        let mut cmd = tokio::process::Command::new(&self.sh);
        cmd.arg("-c")
            .arg(match stdin {
                Stdin::Null => TO_NULL,
                Stdin::Keep => KEEP,
            })
            .arg(NAME)
            .arg(&self.env);
        // What the shell may have added or rewritten and the request does not set goes.
        for name in SHELL_MANAGED {
            if !env.contains_key(name) {
                cmd.args(["-u", name]);
            }
        }
        cmd.arg("--")
            .args(named.into_iter().map(|(k, v)| format!("{k}={v}")))
            .arg(program)
            .args(args)
            .env_clear()
            .envs(inherited);
        Ok(Some(cmd))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_that_cannot_run_fail_before_the_trampoline() {
        let env: HashMap<String, String> = [("PATH".to_owned(), "/usr/bin:/bin".to_owned())]
            .into_iter()
            .collect();
        assert!(check_program(Path::new("/bin/sh"), &env).is_ok());
        assert!(check_program(Path::new("sh"), &env).is_ok());
        assert_eq!(
            check_program(Path::new("/nonexistent/x"), &env).map_err(|e| e.kind()),
            Err(ErrorKind::NotFound)
        );
        assert_eq!(
            check_program(Path::new("no-such-program-here"), &env).map_err(|e| e.kind()),
            Err(ErrorKind::NotFound)
        );
        assert_eq!(
            check_program(Path::new("/proc/self/status"), &env).map_err(|e| e.kind()),
            Err(ErrorKind::PermissionDenied)
        );
    }

    #[test]
    fn only_start_up_settings_and_odd_names_go_on_the_command_line() {
        for name in ["TOKEN", "AWS_SECRET_ACCESS_KEY", "PATH", "HOME", "_x", "a1"] {
            assert!(inheritable(name), "{name}");
        }
        for name in [
            "LD_PRELOAD",
            "LD_LIBRARY_PATH",
            "BASH_ENV",
            "BASH_FUNC_f%%",
            "ENV",
            "SHELLOPTS",
            "GLIBC_TUNABLES",
            "PWD",
            "IFS",
            "_",
            "A B",
            "1A",
            "",
        ] {
            assert!(!inheritable(name), "{name}");
        }
    }

    #[test]
    fn a_program_with_an_equals_sign_is_not_trampolined() {
        let Some(t) = trampoline() else { return };
        let cmd = t
            .command(Path::new("/a=b/c"), &[], &HashMap::new(), Stdin::Null)
            .expect("checked");
        assert!(cmd.is_none());
    }
}
