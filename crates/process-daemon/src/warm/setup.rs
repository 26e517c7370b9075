//! The setup line a warm shell evaluates before its command (see the parent module): the
//! environment changes, stdin and stderr, and the exec of a lone program in place of the shell;
//! which variables matter at start-up (those send a request down the cold path) and bash's
//! ANSI-C quoting. Pure text, no IO.

use std::collections::HashMap;

use crate::proc;

/// The setup line for one command: `None` when the difference between the environment the
/// shell started with (`started`) and the one the request needs (`wanted`) touches a variable
/// that matters at start-up, or a value has a NUL.
pub(super) fn setup_line(
    command: &str,
    started: &HashMap<String, String>,
    wanted: &HashMap<String, String>,
    split: bool,
) -> Option<String> {
    use std::fmt::Write;
    let mut line = String::with_capacity(command.len() + 96);
    line.push_str("BASH_EXECUTION_STRING=");
    line.push_str(&ansi_quote(command));
    line.push_str("; ");
    let mut set: Vec<(&String, &String)> = wanted
        .iter()
        .filter(|(k, v)| started.get(*k) != Some(*v))
        .collect();
    set.sort();
    for (k, v) in set {
        if matters_at_startup(k) || !valid_name(k) || v.contains('\0') {
            return None;
        }
        line.push_str("export ");
        line.push_str(k);
        line.push('=');
        line.push_str(&ansi_quote(v));
        line.push_str("; ");
    }
    let mut unset: Vec<&String> = started
        .keys()
        .filter(|k| !wanted.contains_key(*k))
        .collect();
    unset.sort();
    for k in unset {
        if matters_at_startup(k) || !valid_name(k) {
            return None;
        }
        line.push_str("unset -v ");
        line.push_str(k);
        line.push_str("; ");
    }
    line.push_str(if split {
        "exec 0</dev/null; SECONDS=0"
    } else {
        "exec 0</dev/null 2>&1; SECONDS=0"
    });
    if let Some(program) = lone_program(command) {
        // As a fresh `bash -c` would, run it in place of the shell when the program exists
        // (else the `eval` after the setup line reports "command not found" word for word),
        // with `_` in its environment set to its path, as bash sets it for a program it runs.
        // `if` keeps the line's status 0 when it does not exist, so BOOT goes on to that
        // `eval`.
        let (test, path) = if program.contains('/') {
            (
                format!("[ -f {program} ] && [ -x {program} ]"),
                program.to_owned(),
            )
        } else {
            (
                format!("hash -- {program} 2>/dev/null"),
                format!("\\${{BASH_CMDS[{program}]}}"),
            )
        };
        let _ = write!(
            line,
            "; if {test}; then eval \"_={path} exec -- $BASH_EXECUTION_STRING\"; fi"
        );
    }
    Some(line)
}

/// The program `command` runs when it is one simple command that bash would exec in place of a
/// `bash -c` shell: plain words and quoted strings with nothing for the shell to expand,
/// redirect, chain or pipe, whose first word is a plain name (letters, digits, `_./+-`) that
/// is not a bash builtin or reserved word. Conservative: `None` sends anything else to `eval`.
fn lone_program(command: &str) -> Option<&str> {
    /// A byte that stands for itself anywhere in an unquoted word.
    fn plain(b: u8) -> bool {
        b.is_ascii_alphanumeric() || b"_./:,+@%=^-".contains(&b)
    }
    let command = command.trim_matches([' ', '\t']);
    let end = command.find([' ', '\t']).unwrap_or(command.len());
    let program = &command[..end];
    // A name that is a plain word, an array subscript and a test operand alike.
    let name_byte = |b: u8| b.is_ascii_alphanumeric() || b"_./+-".contains(&b);
    if program.is_empty() || !program.bytes().all(name_byte) || BASH_BUILTINS.contains(&program) {
        return None;
    }
    let mut rest = command[end..].bytes();
    while let Some(b) = rest.next() {
        match b {
            // Single quotes: everything up to the next one is literal.
            b'\'' => while rest.next()? != b'\'' {},
            // Double quotes: literal unless something in them expands or escapes.
            b'"' => loop {
                match rest.next()? {
                    b'"' => break,
                    b'$' | b'`' | b'\\' | b'!' => return None,
                    _ => {}
                }
            },
            b' ' | b'\t' => {}
            b if plain(b) => {}
            _ => return None,
        }
    }
    Some(program)
}

/// bash's builtins and reserved words made of plain bytes (5.2's `compgen -b` and `compgen -k`,
/// checked by a test against the bash on the machine): a command starting with one runs in the
/// shell, never exec'd.
const BASH_BUILTINS: &[&str] = &[
    ".",
    ":",
    "alias",
    "bg",
    "bind",
    "break",
    "builtin",
    "caller",
    "case",
    "cd",
    "command",
    "compgen",
    "complete",
    "compopt",
    "continue",
    "coproc",
    "declare",
    "dirs",
    "disown",
    "do",
    "done",
    "echo",
    "elif",
    "else",
    "enable",
    "esac",
    "eval",
    "exec",
    "exit",
    "export",
    "false",
    "fc",
    "fg",
    "fi",
    "for",
    "function",
    "getopts",
    "hash",
    "help",
    "history",
    "if",
    "in",
    "jobs",
    "kill",
    "let",
    "local",
    "logout",
    "mapfile",
    "popd",
    "printf",
    "pushd",
    "pwd",
    "read",
    "readarray",
    "readonly",
    "return",
    "select",
    "set",
    "shift",
    "shopt",
    "source",
    "suspend",
    "test",
    "then",
    "time",
    "times",
    "trap",
    "true",
    "type",
    "typeset",
    "ulimit",
    "umask",
    "unalias",
    "unset",
    "until",
    "wait",
    "while",
];

/// A shell variable name (only those can be exported or unset by name).
fn valid_name(k: &str) -> bool {
    let mut chars = k.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Variables that bash, the dynamic loader or the C library read when the shell starts (or
/// that bash manages itself): changing one after start-up is not the same as starting with it,
/// so such a request takes the cold path.
fn matters_at_startup(k: &str) -> bool {
    const EXACT: &[&str] = &[
        "_",
        "ENV",
        "PWD",
        "OLDPWD",
        "SHLVL",
        "IFS",
        "PS0",
        "PS1",
        "PS2",
        "PS4",
        "SHELLOPTS",
        "POSIXLY_CORRECT",
        "POSIX_PEDANTIC",
        "LANG",
        "LANGUAGE",
        "LOCPATH",
        "NLSPATH",
        "GCONV_PATH",
        "TZ",
        "TZDIR",
        "TERM",
        "TERMCAP",
        "TERMINFO",
        "COLUMNS",
        "LINES",
        "TEXTDOMAIN",
        "TEXTDOMAINDIR",
        "HOSTFILE",
        "HOSTALIASES",
        "RES_OPTIONS",
        "LOCALDOMAIN",
        "IGNOREEOF",
        "MAIL",
        "MAILCHECK",
        "MAILPATH",
        "OPTERR",
        "OPTIND",
        "OPTARG",
        "FUNCNEST",
        "GLOBIGNORE",
        "GLOBSORT",
        "EXECIGNORE",
        "FIGNORE",
        "INPUTRC",
        "CHILD_MAX",
        "PROMPT_COMMAND",
        "PROMPT_DIRTRIM",
        "TMOUT",
        "SECONDS",
        "RANDOM",
        "SRANDOM",
        "LINENO",
        "GROUPS",
        "EPOCHREALTIME",
        "EPOCHSECONDS",
        "DIRSTACK",
        "PIPESTATUS",
        "UID",
        "EUID",
        "PPID",
        "HOSTNAME",
        "HOSTTYPE",
        "OSTYPE",
        "MACHTYPE",
        "SHELL",
        "REPLY",
        "MAPFILE",
        "COPROC",
        "auto_resume",
        "histchars",
        proc::RUN_ID_ENV,
    ];
    const PREFIXES: &[&str] = &[
        "BASH",
        "LC_",
        "LD_",
        "HIST",
        "COMP",
        "GLIBC_",
        "MALLOC_",
        "READLINE_",
    ];
    EXACT.contains(&k) || PREFIXES.iter().any(|p| k.starts_with(p))
}

/// `s` as a bash ANSI-C quoted word (`$'...'`) of printable ASCII only: every other byte is
/// `\xHH`, so the setup line is ASCII and `read -N` counts its bytes in any locale.
pub(crate) fn ansi_quote(s: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(s.len() + 3);
    out.push_str("$'");
    for b in s.bytes() {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\'' => out.push_str("\\'"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_setup_line_changes_only_what_differs() {
        let started = env(&[("A", "1"), ("B", "2"), ("GONE", "x")]);
        let wanted = env(&[("A", "1"), ("B", "3"), ("NEW", "it's")]);
        let line = setup_line("echo hi", &started, &wanted, false).unwrap();
        assert_eq!(
            line,
            "BASH_EXECUTION_STRING=$'echo hi'; export B=$'3'; export NEW=$'it\\'s'; \
             unset -v GONE; exec 0</dev/null 2>&1; SECONDS=0"
        );
        let split = setup_line("echo x", &started, &started, true).unwrap();
        assert!(split.ends_with("exec 0</dev/null; SECONDS=0"), "{split}");
    }

    #[test]
    fn start_up_variables_and_nuls_take_the_cold_path() {
        let started = env(&[("PATH", "/bin")]);
        for key in [
            "BASH_ENV",
            "ENV",
            "SHELLOPTS",
            "LD_PRELOAD",
            "LC_ALL",
            "LANG",
            "_",
        ] {
            let mut wanted = started.clone();
            wanted.insert(key.to_owned(), "x".to_owned());
            assert!(
                setup_line("true", &started, &wanted, false).is_none(),
                "{key}"
            );
        }
        let mut nul = started.clone();
        nul.insert("A".to_owned(), "a\0b".to_owned());
        assert!(setup_line("true", &started, &nul, false).is_none());
        // PATH may change: bash's command hash is empty at start.
        let path = env(&[("PATH", "/usr/bin")]);
        assert!(setup_line("true", &started, &path, false).is_some());
    }

    #[test]
    fn lone_programs_are_recognised_conservatively() {
        for (command, program) in [
            ("python3 main.py", "python3"),
            ("  ./build.sh --release -j4  ", "./build.sh"),
            ("python3 -c 'import os; print(\"$HOME\")'", "python3"),
            ("ls -la \"my dir\" a=b x,y:z@1%2+3^4", "ls"),
            ("sh -c 'kill -9 $$'", "sh"),
            ("/usr/bin/env", "/usr/bin/env"),
        ] {
            assert_eq!(lone_program(command), Some(program), "{command}");
        }
        for command in [
            "",
            "echo hi",
            "true",
            "cd /tmp",
            "A=1 env",
            "ls; ls",
            "ls && ls",
            "ls | wc",
            "ls > out",
            "ls &",
            "ls $HOME",
            "ls \"$HOME\"",
            "ls `pwd`",
            "ls *.rs",
            "ls ~",
            "ls {a,b}",
            "ls # comment",
            "ls\nls",
            "'ls' -l",
            "ls 'unterminated",
            "ls \"unterminated",
            "ls a\\ b",
            "(ls)",
            "ls é",
            "user@host ls",
        ] {
            assert_eq!(lone_program(command), None, "{command:?}");
        }
    }

    #[test]
    fn every_builtin_and_reserved_word_of_this_bash_is_known() {
        let out = std::process::Command::new("bash")
            .args(["-c", "compgen -b; compgen -k"])
            .output()
            .unwrap();
        let names = String::from_utf8(out.stdout).unwrap();
        let plain = |n: &str| {
            n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_./:,+@%^-".contains(&b))
        };
        for name in names.lines().filter(|n| plain(n)) {
            assert!(BASH_BUILTINS.contains(&name), "{name} is missing");
        }
    }

    #[test]
    fn a_lone_program_is_execed_when_it_exists() {
        let env = env(&[("PATH", "/bin")]);
        let line = setup_line("python3 x.py", &env, &env, true).unwrap();
        assert!(
            line.ends_with(
                "; if hash -- python3 2>/dev/null; then \
                 eval \"_=\\${BASH_CMDS[python3]} exec -- $BASH_EXECUTION_STRING\"; fi"
            ),
            "{line}"
        );
        let line = setup_line("./run", &env, &env, true).unwrap();
        assert!(
            line.ends_with(
                "; if [ -f ./run ] && [ -x ./run ]; then \
                 eval \"_=./run exec -- $BASH_EXECUTION_STRING\"; fi"
            ),
            "{line}"
        );
        let line = setup_line("echo hi", &env, &env, true).unwrap();
        assert!(line.ends_with("SECONDS=0"), "{line}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn ansi_quoting_is_ascii_and_round_trips_through_bash(s in "[^\0]{0,40}") {
            let quoted = ansi_quote(&s);
            prop_assert!(quoted.bytes().all(|b| (0x20..=0x7e).contains(&b)));
            let out = std::process::Command::new("bash")
                .arg("-c")
                .arg(format!("printf %s {quoted}"))
                .env("LC_ALL", "C.UTF-8")
                .output()
                .unwrap();
            prop_assert_eq!(out.stdout, s.as_bytes());
        }
    }
}
