//! Removing the common leading indent of Python code that could only fail as given.
//!
//! The SDK documentation prints code inside an indented triple-quoted string
//! (`code_run('''\n    x = 10\n    …''')`); sent as is, every line carries the same indent and
//! Python rejects the first one (`IndentationError: unexpected indent`). When every non-blank
//! line shares a leading indent and at least one of them is code (not only comments), the code
//! cannot compile as given, so the common indent is removed first, with `textwrap.dedent`
//! semantics: blank (spaces/tabs only) lines do not count and become empty, tabs and spaces are
//! compared literally, and line structure (hence traceback line numbers) is kept. Code that
//! could run as given is returned unchanged.

use std::borrow::Cow;

/// The line's content without its terminator (`\n` or `\r\n`).
fn content(line: &str) -> &str {
    let line = line.strip_suffix('\n').unwrap_or(line);
    line.strip_suffix('\r').unwrap_or(line)
}

/// Whether a line holds only spaces and tabs (or nothing).
fn is_blank(line: &str) -> bool {
    content(line).bytes().all(|b| b == b' ' || b == b'\t')
}

/// The leading spaces and tabs of `line`.
fn indent(line: &str) -> &str {
    let c = content(line);
    let end = c
        .bytes()
        .position(|b| b != b' ' && b != b'\t')
        .unwrap_or(c.len());
    &c[..end]
}

/// The longest common prefix of two indents (byte-wise: tabs and spaces are not equal).
fn common<'a>(a: &'a str, b: &str) -> &'a str {
    let n = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    &a[..n]
}

/// `code` without the indent that all its non-blank lines share, when that indent makes it
/// fail as given (see the module docs); otherwise `code` itself.
pub(crate) fn python(code: &str) -> Cow<'_, str> {
    let mut margin: Option<&str> = None;
    let mut has_code = false;
    for line in code.split_inclusive('\n') {
        if is_blank(line) {
            continue;
        }
        let ind = indent(line);
        if !content(line)[ind.len()..].starts_with('#') {
            has_code = true;
        }
        margin = Some(margin.map_or(ind, |m| common(m, ind)));
        if margin == Some("") {
            return Cow::Borrowed(code);
        }
    }
    let Some(margin) = margin.filter(|m| !m.is_empty() && has_code) else {
        return Cow::Borrowed(code);
    };
    let mut out = String::with_capacity(code.len());
    for line in code.split_inclusive('\n') {
        if is_blank(line) {
            // textwrap.dedent: whitespace-only lines keep only their terminator.
            out.push_str(&line[content(line).len()..]);
        } else {
            out.push_str(&line[margin.len()..]);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::python;
    use proptest::prelude::*;

    #[test]
    fn the_seed_snippet_loses_its_indent() {
        // 001_33f4345e71fa771b.txt, exactly as printed inside `code_run('''…''')`.
        let seed = "\n    x = 10\n    y = 20\n    print(f\"Sum: {x + y}\")\n";
        assert_eq!(python(seed), "\nx = 10\ny = 20\nprint(f\"Sum: {x + y}\")\n");
    }

    #[test]
    fn nested_blocks_keep_their_relative_indent() {
        let code = "    def f():\n        return 1\n\n  \t\n    print(f())\n";
        assert_eq!(python(code), "def f():\n    return 1\n\n\nprint(f())\n");
    }

    #[test]
    fn valid_code_is_never_changed() {
        for code in [
            "x = 1\n",
            "def f():\n    return 1\n",
            "\n\nx = 1\n    \n",
            // Only comments are indented: valid Python, left alone.
            "    # just a comment\n    # another\n",
            "",
            "   \n\t\n",
            // Mixed tabs and spaces share no common prefix.
            "\tx = 1\n    y = 2\n",
        ] {
            assert!(
                matches!(python(code), std::borrow::Cow::Borrowed(_)),
                "{code:?} changed"
            );
        }
    }

    #[test]
    fn crlf_and_a_last_line_without_newline() {
        assert_eq!(python("  a = 1\r\n  b = 2"), "a = 1\r\nb = 2");
        assert_eq!(python("  a\r\n   \r\n  b\r\n"), "a\r\n\r\nb\r\n");
    }

    #[test]
    fn comments_count_for_the_margin() {
        assert_eq!(python("  # c\n    x = 1\n"), "# c\n  x = 1\n");
    }

    proptest! {
        /// Indenting valid code uniformly and dedenting gives the code back (blank lines
        /// normalised), as `textwrap.dedent(textwrap.indent(code, pad))` does.
        #[test]
        fn dedent_inverts_a_uniform_indent(
            lines in proptest::collection::vec("[a-z=1 ]{0,6}", 1..8),
            pad in "[ \t]{1,4}",
        ) {
            let lines: Vec<String> = lines.iter().map(|l| l.trim_start().to_owned()).collect();
            prop_assume!(lines.iter().any(|l| !l.trim().is_empty()));
            let code: String = lines.iter().flat_map(|l| [l.as_str(), "\n"]).collect();
            let indented: String = lines
                .iter()
                .map(|l| if l.trim().is_empty() { "\n".to_owned() } else { format!("{pad}{l}\n") })
                .collect();
            let normalised: String = lines
                .iter()
                .map(|l| if l.trim().is_empty() { "\n".to_owned() } else { format!("{l}\n") })
                .collect();
            prop_assert_eq!(python(&indented).into_owned(), normalised);
            // Code whose first non-blank line starts at column 0 is never touched.
            prop_assert!(matches!(python(&code), std::borrow::Cow::Borrowed(_)));
        }
    }
}
