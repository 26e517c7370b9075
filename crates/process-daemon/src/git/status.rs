//! Parsing `git status --porcelain=v2 --branch -z` into [`GitStatus`]: stable order (git's),
//! works before the first commit (the unborn branch's name; the original answered 404).

use process_proto::wire::{FileStatus, GitFileState, GitStatus};

fn state(c: u8) -> GitFileState {
    match c {
        b'M' | b'T' => GitFileState::Modified,
        b'A' => GitFileState::Added,
        b'D' => GitFileState::Deleted,
        b'R' => GitFileState::Renamed,
        b'C' => GitFileState::Copied,
        b'U' => GitFileState::UpdatedButUnmerged,
        b'?' => GitFileState::Untracked,
        _ => GitFileState::Unmodified,
    }
}

/// Parses porcelain v2 output (`-z`, with `--branch`).
pub(crate) fn parse_porcelain_v2(out: &[u8]) -> GitStatus {
    let mut st = GitStatus::default();
    let mut upstream = None;
    let mut records = out.split(|&b| b == 0).peekable();
    while let Some(rec) = records.next() {
        if rec.is_empty() {
            continue;
        }
        let text = String::from_utf8_lossy(rec);
        if let Some(h) = text.strip_prefix("# branch.head ") {
            if h == "(detached)" {
                "HEAD".clone_into(&mut st.current_branch);
                st.detached = Some(true);
            } else {
                h.clone_into(&mut st.current_branch);
                st.detached = Some(false);
            }
        } else if let Some(u) = text.strip_prefix("# branch.upstream ") {
            upstream = Some(u.to_owned());
        } else if let Some(ab) = text.strip_prefix("# branch.ab ") {
            let mut it = ab.split_whitespace();
            st.ahead = it
                .next()
                .and_then(|a| a.trim_start_matches('+').parse().ok())
                .unwrap_or(0);
            st.behind = it
                .next()
                .and_then(|b| b.trim_start_matches('-').parse().ok())
                .unwrap_or(0);
            st.branch_published = true;
        } else if let Some(path) = text.strip_prefix("? ") {
            st.file_status.push(FileStatus {
                name: path.to_owned(),
                extra: String::new(),
                staging: GitFileState::Untracked,
                worktree: GitFileState::Untracked,
            });
        } else if text.starts_with("1 ") || text.starts_with("2 ") || text.starts_with("u ") {
            let kind = rec[0];
            // Fields before the path: 1 → 8, 2 → 9, u → 10.
            let fields = match kind {
                b'1' => 8,
                b'2' => 9,
                _ => 10,
            };
            let parts: Vec<&[u8]> = rec.splitn(fields + 1, |&b| b == b' ').collect();
            let (Some(xy), Some(path)) = (parts.get(1), parts.get(fields)) else {
                continue;
            };
            let (x, y) = (
                xy.first().copied().unwrap_or(b'.'),
                xy.get(1).copied().unwrap_or(b'.'),
            );
            let extra = if kind == b'2' {
                records
                    .next()
                    .map(|o| String::from_utf8_lossy(o).into_owned())
                    .unwrap_or_default()
            } else {
                String::new()
            };
            let (staging, worktree) = if kind == b'u' {
                (
                    GitFileState::UpdatedButUnmerged,
                    GitFileState::UpdatedButUnmerged,
                )
            } else {
                (state(x), state(y))
            };
            st.file_status.push(FileStatus {
                name: String::from_utf8_lossy(path).into_owned(),
                extra,
                staging,
                worktree,
            });
        }
    }
    st.upstream = upstream;
    st
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn porcelain_v2_records() {
        let out = b"# branch.oid (initial)\0# branch.head main\0# branch.upstream origin/main\0# branch.ab +2 -1\0\
1 M. N... 100644 100644 100644 abc abc src/a.rs\0\
2 R. N... 100644 100644 100644 abc abc R100 new name.txt\0old.txt\0\
u UU N... 100644 100644 100644 100644 a b c conflict.txt\0? untracked dir/f\0";
        let st = parse_porcelain_v2(out);
        assert_eq!(st.current_branch, "main");
        assert_eq!((st.ahead, st.behind, st.branch_published), (2, 1, true));
        assert_eq!(st.upstream.as_deref(), Some("origin/main"));
        assert_eq!(st.file_status.len(), 4);
        assert_eq!(st.file_status[0].staging, GitFileState::Modified);
        assert_eq!(st.file_status[0].worktree, GitFileState::Unmodified);
        assert_eq!(
            (
                st.file_status[1].name.as_str(),
                st.file_status[1].extra.as_str()
            ),
            ("new name.txt", "old.txt")
        );
        assert_eq!(st.file_status[2].staging, GitFileState::UpdatedButUnmerged);
        assert_eq!(st.file_status[3].name, "untracked dir/f");
    }
}
