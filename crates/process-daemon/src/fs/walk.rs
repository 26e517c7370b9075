//! Tree walks: `find` (text in files: literal by default, or a regex, case-insensitive), `search` (glob on names or relative paths) and
//! `replace` (literal, streaming). All run on a blocking thread and hand results to a sink as
//! they are found, so memory stays bounded on big trees: the edge streams them out as a JSON
//! array.

use std::io::{self, BufRead, Read, Write};
use std::path::Path;

use process_proto::wire::{FindOptions, Match, ReplaceResult};

use super::{errno_text, join, resolve, FsError};

/// Longest part of one line kept for a [`Match`]'s `content`; longer lines are still searched
/// to their end (no 64 KiB cliff, spec §8.4), their content is cut here.
pub(crate) const MAX_LINE_CONTENT: usize = 1024 * 1024;

/// Bytes inspected for a NUL to call a file binary (as the original).
const BINARY_SNIFF: usize = 512;

/// Walks `root` (not following symlinks, lexical order, unreadable entries skipped), calling
/// `visit(path_as_walked, entry)` until it returns false.
fn walk(workdir: &Path, path: &str, mut visit: impl FnMut(String, &walkdir::DirEntry) -> bool) {
    let abs = resolve(workdir, path);
    for entry in walkdir::WalkDir::new(&abs)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
    {
        let rel = entry.path().strip_prefix(&abs).unwrap_or(Path::new(""));
        let shown = if rel.as_os_str().is_empty() {
            path.to_owned()
        } else {
            join(path, &rel.to_string_lossy())
        };
        if !visit(shown, &entry) {
            return;
        }
    }
}

/// What `find` looks for in each line.
pub(crate) enum Needle {
    /// A literal, case-sensitive substring (the original's meaning): lines of any length are
    /// searched to their end.
    Literal(Box<memchr::memmem::Finder<'static>>),
    /// A regular expression (also a case-insensitive literal). A line longer than
    /// [`MAX_LINE_CONTENT`] is matched on its first [`MAX_LINE_CONTENT`] bytes only, which
    /// keeps memory bounded.
    Regex(regex::bytes::Regex),
}

/// Compiled-program limit of a find regex (bounds memory against hostile patterns).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

impl Needle {
    /// Compiles `pattern` with the flags of `opts`; the default is [`Needle::Literal`].
    pub(crate) fn new(pattern: &str, opts: &FindOptions) -> Result<Needle, FsError> {
        if !opts.regex && !opts.case_insensitive {
            return Ok(Needle::Literal(Box::new(
                memchr::memmem::Finder::new(pattern.as_bytes()).into_owned(),
            )));
        }
        let source = if opts.regex {
            pattern.to_owned()
        } else {
            regex::escape(pattern)
        };
        regex::bytes::RegexBuilder::new(&source)
            .case_insensitive(opts.case_insensitive)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map(Needle::Regex)
            .map_err(|e| FsError::BadRequest(format!("invalid regex: {e}")))
    }

    fn is_match(&self, hay: &[u8]) -> bool {
        match self {
            Needle::Literal(f) => f.find(hay).is_some(),
            Needle::Regex(r) => r.is_match(hay),
        }
    }
}

/// `GET /files/find`: every line of every regular text file under `path` matching `needle`.
/// Empty files and files with a NUL in their first 512 bytes are skipped; a missing `path`
/// finds nothing. `emit` returns false to stop.
pub(crate) fn find(
    workdir: &Path,
    path: &str,
    needle: &Needle,
    mut emit: impl FnMut(Match) -> bool,
) {
    walk(workdir, path, |shown, entry| {
        if !entry.file_type().is_file() {
            return true;
        }
        match std::fs::File::open(entry.path()) {
            Ok(file) => find_in_file(file, needle, &shown, &mut emit).unwrap_or(true),
            Err(_) => true,
        }
    });
}

/// Scans one file; `Ok(false)` when `emit` asked to stop.
fn find_in_file(
    file: std::fs::File,
    needle: &Needle,
    shown: &str,
    emit: &mut impl FnMut(Match) -> bool,
) -> io::Result<bool> {
    let mut reader = io::BufReader::with_capacity(64 * 1024, file);
    let head = reader.fill_buf()?;
    if head.is_empty() || memchr::memchr(0, &head[..head.len().min(BINARY_SNIFF)]).is_some() {
        return Ok(true);
    }
    // Only a literal is searched past the kept part of a long line (with an overlap tail).
    let literal = match needle {
        Needle::Literal(f) => Some(f),
        Needle::Regex(_) => None,
    };
    let overlap = literal.map_or(0, |f| f.needle().len().saturating_sub(1));
    let mut line: Vec<u8> = Vec::new();
    let mut overflow = false;
    let mut matched = false;
    let mut tail: Vec<u8> = Vec::new();
    let mut number = 0u64;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            if !line.is_empty() || overflow {
                number += 1;
                if !finish_line(&mut line, overflow, matched, needle, shown, number, emit) {
                    return Ok(false);
                }
            }
            return Ok(true);
        }
        let (segment, ends_line) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (&chunk[..i], true),
            None => (chunk, false),
        };
        let used = segment.len() + usize::from(ends_line);
        if !overflow && line.len() + segment.len() <= MAX_LINE_CONTENT {
            line.extend_from_slice(segment);
        } else {
            if !overflow {
                overflow = true;
                let room = MAX_LINE_CONTENT.saturating_sub(line.len());
                if literal.is_some() {
                    matched = needle.is_match(&line);
                    tail = line[line.len().saturating_sub(overlap)..].to_vec();
                }
                line.extend_from_slice(&segment[..room.min(segment.len())]);
                if literal.is_none() {
                    matched = needle.is_match(&line);
                }
            }
            if let (false, Some(f)) = (matched, literal) {
                tail.extend_from_slice(segment);
                matched = f.find(&tail).is_some();
                let keep = tail.len().saturating_sub(overlap);
                tail.drain(..keep);
            }
        }
        reader.consume(used);
        if ends_line {
            number += 1;
            if !finish_line(&mut line, overflow, matched, needle, shown, number, emit) {
                return Ok(false);
            }
            overflow = false;
            matched = false;
            tail.clear();
        }
    }
}

fn finish_line(
    line: &mut Vec<u8>,
    overflow: bool,
    matched: bool,
    needle: &Needle,
    shown: &str,
    number: u64,
    emit: &mut impl FnMut(Match) -> bool,
) -> bool {
    if !overflow && line.last() == Some(&b'\r') {
        line.pop();
    }
    let hit = if overflow {
        matched
    } else {
        needle.is_match(line)
    };
    let keep_going = if hit {
        emit(Match {
            file: shown.to_owned(),
            line: number,
            content: String::from_utf8_lossy(line).into_owned(),
        })
    } else {
        true
    };
    line.clear();
    keep_going
}

/// How a search pattern is matched.
enum Glob {
    /// Against the base name (the original's `filepath.Match` meaning, e.g. `*.py`).
    Name(globset::GlobMatcher),
    /// Against the path relative to the root (our addition for patterns with `/` or `**`).
    Relative(globset::GlobMatcher),
}

fn compile(pattern: &str) -> Option<Glob> {
    let relative = pattern.contains('/') || pattern.contains("**");
    let glob = globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .ok()?
        .compile_matcher();
    Some(if relative {
        Glob::Relative(glob)
    } else {
        Glob::Name(glob)
    })
}

/// `GET /files/search`: paths under `path` (the root included, directories and symlinks
/// included, symlinks not followed) whose base name matches `pattern`; patterns with `/` or
/// `**` match the path relative to the root (`**/x.tsx`, `src/*.rs`), and `{a,b}` alternates
/// (both additions, spec §8.4). A malformed pattern or a missing root finds nothing.
pub(crate) fn search(
    workdir: &Path,
    path: &str,
    pattern: &str,
    mut emit: impl FnMut(String) -> bool,
) {
    let Some(glob) = compile(pattern) else {
        return;
    };
    let abs = resolve(workdir, path);
    walk(workdir, path, |shown, entry| {
        let hit = match &glob {
            Glob::Name(m) => m.is_match(entry.file_name()),
            Glob::Relative(m) => entry
                .path()
                .strip_prefix(&abs)
                .is_ok_and(|rel| !rel.as_os_str().is_empty() && m.is_match(rel)),
        };
        !hit || emit(shown)
    });
}

/// `POST /files/replace`: every occurrence of `pattern` (literal) in each file becomes
/// `new_value`, streaming (bounded memory) into a temp file that replaces the original
/// atomically and keeps its mode and owner. A file without an occurrence is left untouched
/// (the original rewrote it). Per-file failures are reported in the results.
pub(crate) fn replace(
    workdir: &Path,
    files: &[String],
    pattern: &str,
    new_value: &str,
) -> Vec<ReplaceResult> {
    files
        .iter()
        .map(
            |file| match replace_one(workdir, file, pattern.as_bytes(), new_value.as_bytes()) {
                Ok(()) => ReplaceResult {
                    file: file.clone(),
                    success: true,
                    error: None,
                },
                Err(e) => ReplaceResult {
                    file: file.clone(),
                    success: false,
                    error: Some(e.to_string()),
                },
            },
        )
        .collect()
}

fn replace_one(workdir: &Path, file: &str, pattern: &[u8], new: &[u8]) -> Result<(), FsError> {
    let abs = resolve(workdir, file);
    let real = std::fs::canonicalize(&abs).map_err(|e| FsError::io("open", Path::new(file), &e))?;
    let src = std::fs::File::open(&real).map_err(|e| FsError::io("open", Path::new(file), &e))?;
    let md = src
        .metadata()
        .map_err(|e| FsError::io("stat", Path::new(file), &e))?;
    if md.is_dir() {
        return Err(FsError::BadRequest(format!("read {file}: is a directory")));
    }
    let mut temp = super::transfer::TempFile::beside(&real)
        .map_err(|e| FsError::io("create temp file for", Path::new(file), &e))?;
    let out = temp
        .file_mut()
        .map_err(|e| FsError::io("write temp file for", Path::new(file), &e))?;
    let count = stream_replace(
        io::BufReader::new(src),
        &mut io::BufWriter::new(out),
        pattern,
        new,
    )
    .map_err(|e| FsError::BadRequest(format!("replace in {file}: {}", errno_text(&e))))?;
    if count == 0 {
        return Ok(()); // nothing to change: the temp file is dropped
    }
    temp.commit(&real, Some(&md))
        .map_err(|e| FsError::io("rename", Path::new(file), &e))
}

/// Copies `src` to `dst` replacing every `pattern` with `new` (non-overlapping, left to
/// right, as `strings.ReplaceAll`); returns the number of replacements.
pub(crate) fn stream_replace(
    mut src: impl Read,
    dst: &mut impl Write,
    pattern: &[u8],
    new: &[u8],
) -> io::Result<u64> {
    let finder = memchr::memmem::Finder::new(pattern);
    let keep = pattern.len().saturating_sub(1);
    let mut carry: Vec<u8> = Vec::with_capacity(128 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    let mut count = 0;
    loop {
        let n = src.read(&mut chunk)?;
        carry.extend_from_slice(&chunk[..n]);
        let mut pos = 0;
        while let Some(i) = finder.find(&carry[pos..]) {
            dst.write_all(&carry[pos..pos + i])?;
            dst.write_all(new)?;
            pos += i + pattern.len();
            count += 1;
        }
        if n == 0 {
            dst.write_all(&carry[pos..])?;
            dst.flush()?;
            return Ok(count);
        }
        let flush_to = pos.max(carry.len().saturating_sub(keep));
        dst.write_all(&carry[pos..flush_to])?;
        carry.drain(..flush_to);
    }
}

/// Helper for tests and callers that want a path list.
#[allow(dead_code)]
pub(crate) fn search_all(workdir: &Path, path: &str, pattern: &str) -> Vec<String> {
    let mut out = Vec::new();
    search(workdir, path, pattern, |p| {
        out.push(p);
        true
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replaced(input: &[u8], pattern: &[u8], new: &[u8]) -> (Vec<u8>, u64) {
        let mut out = Vec::new();
        let n = stream_replace(input, &mut out, pattern, new).unwrap();
        (out, n)
    }

    #[test]
    fn replace_matches_std_replace() {
        assert_eq!(replaced(b"aaaa", b"aa", b"b"), (b"bb".to_vec(), 2));
        assert_eq!(replaced(b"xoldyold", b"old", b""), (b"xy".to_vec(), 2));
        assert_eq!(replaced(b"none", b"zz", b"q"), (b"none".to_vec(), 0));
    }

    proptest::proptest! {
        #[test]
        fn streaming_replace_equals_one_shot(
            text in proptest::collection::vec(proptest::sample::select(b"ab\n".to_vec()), 0..200_000),
            pattern in proptest::collection::vec(proptest::sample::select(b"ab".to_vec()), 1..5),
            new in proptest::collection::vec(proptest::sample::select(b"xy".to_vec()), 0..3),
        ) {
            let expected = String::from_utf8(text.clone()).unwrap()
                .replace(std::str::from_utf8(&pattern).unwrap(), std::str::from_utf8(&new).unwrap());
            let (out, _) = replaced(&text, &pattern, &new);
            proptest::prop_assert_eq!(out, expected.into_bytes());
        }
    }

    #[test]
    fn find_has_no_line_cliff_and_skips_binary() {
        let dir = tempfile::tempdir().unwrap();
        let mut long = vec![b'x'; 3 * MAX_LINE_CONTENT];
        long.extend_from_slice(b"NEEDLE\nsecond NEEDLE\r\n");
        std::fs::write(dir.path().join("long.txt"), &long).unwrap();
        std::fs::write(dir.path().join("bin.dat"), b"NEEDLE\0").unwrap();
        std::fs::write(dir.path().join("empty"), b"").unwrap();
        let mut found = Vec::new();
        let literal = Needle::new("NEEDLE", &FindOptions::default()).unwrap();
        find(dir.path(), ".", &literal, |m| {
            found.push(m);
            true
        });
        assert_eq!(
            found.len(),
            2,
            "{:?}",
            found.iter().map(|m| (&m.file, m.line)).collect::<Vec<_>>()
        );
        assert_eq!(found[0].file, "long.txt");
        assert_eq!(found[0].content.len(), MAX_LINE_CONTENT);
        assert_eq!(
            (found[1].line, found[1].content.as_str()),
            (2, "second NEEDLE")
        );
    }

    fn found(dir: &Path, pattern: &str, opts: FindOptions) -> Vec<(String, u64)> {
        let needle = Needle::new(pattern, &opts).unwrap();
        let mut out = Vec::new();
        find(dir, ".", &needle, |m| {
            out.push((m.file, m.line));
            true
        });
        out
    }

    proptest::proptest! {
        /// The case-insensitive literal (an escaped regex) finds exactly what a lowercase
        /// substring test finds, whatever metacharacters the pattern holds (ASCII, where
        /// Unicode case folding adds nothing).
        #[test]
        fn case_insensitive_literal_is_an_escaped_substring(
            pattern in "[a-cA-C.*+?()\\[\\]{}|^$\\\\ -]{1,6}",
            line in "[a-cA-C.*+?()\\[\\]{}|^$\\\\ -]{0,40}",
        ) {
            let ci = FindOptions { case_insensitive: true, ..FindOptions::default() };
            let needle = Needle::new(&pattern, &ci).unwrap();
            let expected = line.to_ascii_lowercase().contains(&pattern.to_ascii_lowercase());
            proptest::prop_assert_eq!(needle.is_match(line.as_bytes()), expected);
            let literal = Needle::new(&pattern, &FindOptions::default()).unwrap();
            proptest::prop_assert_eq!(literal.is_match(line.as_bytes()), line.contains(&pattern));
        }
    }

    #[test]
    fn find_regex_and_case_flags_on_long_lines() {
        let dir = tempfile::tempdir().unwrap();
        // Line 1: past the kept part, a regex is not searched; a literal is.
        let mut long = vec![b'x'; 2 * MAX_LINE_CONTENT];
        long.extend_from_slice(b"Todo: 42\n");
        // Line 2: within the kept part of a long line, a regex finds it.
        long.extend_from_slice(b"TODO: 7");
        long.extend_from_slice(&vec![b'y'; 2 * MAX_LINE_CONTENT]);
        long.extend_from_slice(b"\nplain todo: x\r\n");
        std::fs::write(dir.path().join("f.txt"), &long).unwrap();
        let ci = FindOptions {
            case_insensitive: true,
            ..FindOptions::default()
        };
        let re = FindOptions {
            regex: true,
            ..FindOptions::default()
        };
        assert_eq!(
            found(dir.path(), "Todo: 42", FindOptions::default()),
            [("f.txt".into(), 1)]
        );
        assert_eq!(
            found(dir.path(), "todo: ", ci),
            [("f.txt".into(), 2), ("f.txt".into(), 3)]
        );
        assert_eq!(found(dir.path(), r"^TODO: \d+", re), [("f.txt".into(), 2)]);
        assert_eq!(
            found(dir.path(), r"todo: x$", re),
            [("f.txt".into(), 3)],
            "CR dropped"
        );
        // Without `regex`, metacharacters are literal.
        assert_eq!(found(dir.path(), r"\d+", ci), []);
        assert!(matches!(
            Needle::new("(", &re),
            Err(FsError::BadRequest(m)) if m.starts_with("invalid regex")
        ));
        let huge = FindOptions {
            regex: true,
            ..FindOptions::default()
        };
        assert!(Needle::new("a{1000}{1000}", &huge).is_err(), "size limit");
    }

    #[test]
    fn search_by_name_and_relative_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src/deep")).unwrap();
        std::fs::write(dir.path().join("src/deep/x.tsx"), b"").unwrap();
        std::fs::write(dir.path().join("a.py"), b"").unwrap();
        assert_eq!(search_all(dir.path(), ".", "*.py"), vec!["a.py"]);
        assert_eq!(
            search_all(dir.path(), ".", "**/x.tsx"),
            vec!["src/deep/x.tsx"]
        );
        assert_eq!(
            search_all(dir.path(), ".", "*.{py,tsx}"),
            vec!["a.py", "src/deep/x.tsx"]
        );
        assert!(search_all(dir.path(), ".", "[").is_empty());
        assert!(search_all(dir.path(), "missing", "*").is_empty());
    }
}
