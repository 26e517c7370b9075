//! `client.fs()` against a real daemon: streamed uploads and downloads (multi-MiB files cross
//! many body frames, so the multipart decoder's frame edges are exercised), bulk transfers
//! with per-file errors, and the file operations' answers and error kinds.

use process::{ErrorKind, FileUpload, FindOptions, Permissions};

use crate::support::{Fixture, Kind};

crate::both_transports!(
    a_large_file_goes_up_and_down_intact,
    bulk_transfers_keep_each_files_result,
    a_file_containing_delimiter_look_alikes_survives,
    file_operations_answer_and_fail_with_kinds,
    find_flags_and_cap_through_the_facade,
);

/// Deterministic, non-repeating-looking content of `len` bytes.
fn content(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect()
}

async fn a_large_file_goes_up_and_down_intact(kind: Kind) {
    let f = Fixture::start(kind).await;
    let local = tempfile::tempdir().unwrap();
    // Not a multiple of any chunk size: 5 MiB + 12345 bytes.
    let data = content(5 * 1024 * 1024 + 12_345, 1);
    let src = local.path().join("src.bin");
    std::fs::write(&src, &data).unwrap();
    let up = f
        .client
        .fs()
        .upload_file_from_path(&src, "dir/up.bin")
        .await
        .unwrap();
    assert_eq!(up.bytes, data.len() as u64);
    assert!(std::fs::read(f.workdir().join("dir/up.bin")).unwrap() == data);

    let dst = local.path().join("back.bin");
    let n = f
        .client
        .fs()
        .download_file_to("dir/up.bin", &dst)
        .await
        .unwrap();
    assert_eq!(n, data.len() as u64);
    assert!(
        std::fs::read(&dst).unwrap() == data,
        "downloaded file differs"
    );
    // Written beside and renamed: no temp file is left next to it.
    let names: Vec<_> = std::fs::read_dir(local.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    let whole = f.client.fs().download_file("dir/up.bin").await.unwrap();
    assert!(whole == data, "in-memory download differs");
}

async fn bulk_transfers_keep_each_files_result(kind: Kind) {
    let f = Fixture::start(kind).await;
    let (a, b) = (content(70_000, 2), content(3, 3));
    let written = f
        .client
        .fs()
        .upload_files(vec![
            FileUpload::bytes(a.clone(), "a.bin"),
            FileUpload::reader(std::io::Cursor::new(b.clone()), "sub/b.bin"),
            FileUpload::bytes(Vec::new(), "empty"),
        ])
        .await
        .unwrap();
    let sizes: Vec<u64> = written.iter().map(|w| w.bytes).collect();
    assert_eq!(sizes, [70_000, 3, 0]);

    let got = f
        .client
        .fs()
        .download_files(&["a.bin", "missing.bin", "sub/b.bin", "empty"])
        .await
        .unwrap();
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(got[0].1.as_ref().unwrap()[..] == a[..]);
    let missing = got[1].1.as_ref().unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound, "{missing}");
    assert_eq!(&got[2].1.as_ref().unwrap()[..], &b[..]);
    assert!(got[3].1.as_ref().unwrap().is_empty());

    let err = f
        .client
        .fs()
        .download_file("missing.bin")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

async fn a_file_containing_delimiter_look_alikes_survives(kind: Kind) {
    let f = Fixture::start(kind).await;
    // The original's fixed boundary, CRLF-dashes runs and a lone CR at the very end: every
    // place where a decoder could take content for framing.
    let mut data = Vec::new();
    for i in 0..20_000 {
        data.extend_from_slice(b"\r\n--DAYTONA-FILE-BOUNDARY\r\n\r\n--");
        data.extend_from_slice(&content(i % 97, i as u32));
    }
    data.push(b'\r');
    f.client
        .fs()
        .upload_file(data.clone(), "tricky")
        .await
        .unwrap();
    let back = f.client.fs().download_file("tricky").await.unwrap();
    assert!(
        back == data,
        "{} bytes back, {} sent",
        back.len(),
        data.len()
    );
}

async fn file_operations_answer_and_fail_with_kinds(kind: Kind) {
    let f = Fixture::start(kind).await;
    let fs = f.client.fs();
    fs.create_folder("proj/src", "755").await.unwrap();
    fs.upload_file("fn main() {}\n// TODO: more\n", "proj/src/main.rs")
        .await
        .unwrap();
    let info = fs.get_file_info("proj/src/main.rs").await.unwrap();
    assert_eq!((info.size, info.is_dir), (27, false));
    let listed: Vec<String> = fs
        .list_files("proj/src")
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(listed, ["main.rs"]);

    let hits = fs.find_files("proj", "TODO").await.unwrap();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(
        (hits[0].line, hits[0].content.as_str()),
        (2, "// TODO: more")
    );
    let found = fs.search_files("proj", "*.rs").await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].ends_with("main.rs"), "{found:?}");
    fs.replace_in_files(&["proj/src/main.rs"], "TODO", "DONE")
        .await
        .unwrap();
    let text = fs.download_file("proj/src/main.rs").await.unwrap();
    assert_eq!(&text[..], b"fn main() {}\n// DONE: more\n");

    fs.set_file_permissions("proj/src/main.rs", &Permissions::mode("600"))
        .await
        .unwrap();
    let info = fs.get_file_info("proj/src/main.rs").await.unwrap();
    assert_eq!(info.permissions, "0600");
    fs.move_files("proj/src/main.rs", "proj/lib.rs")
        .await
        .unwrap();
    assert!(f.workdir().join("proj/lib.rs").is_file());
    assert!(!f.workdir().join("proj/src/main.rs").exists());

    let gone = fs.get_file_info("proj/src/main.rs").await.unwrap_err();
    assert_eq!(gone.kind(), ErrorKind::NotFound, "{gone}");
    fs.delete_file("proj", true).await.unwrap();
    assert!(!f.workdir().join("proj").exists());
    let again = fs.delete_file("proj", true).await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::NotFound, "{again}");
}

/// `find_files_with`: the daemon's find extension (regex, case-insensitive, capped with
/// `truncated`); default options give exactly `find_files`'s answer.
async fn find_flags_and_cap_through_the_facade(kind: Kind) {
    let f = Fixture::start(kind).await;
    let fs = f.client.fs();
    fs.upload_file("todo a\nTODO b\nFixMe 12\n", "p/x.txt")
        .await
        .unwrap();
    let lines = |r: &process::FindResponse| r.matches.iter().map(|m| m.line).collect::<Vec<_>>();
    let plain = fs
        .find_files_with("p", "TODO", &FindOptions::default())
        .await
        .unwrap();
    assert_eq!((lines(&plain), plain.truncated), (vec![2], false));
    assert_eq!(plain.matches, fs.find_files("p", "TODO").await.unwrap());
    let ci = FindOptions {
        case_insensitive: true,
        ..FindOptions::default()
    };
    let all = fs.find_files_with("p", "todo", &ci).await.unwrap();
    assert_eq!(lines(&all), [1, 2]);
    let re = FindOptions {
        regex: true,
        case_insensitive: true,
        limit: Some(1),
    };
    let capped = fs
        .find_files_with("p", r"^(todo|fixme) ", &re)
        .await
        .unwrap();
    assert_eq!((lines(&capped), capped.truncated), (vec![1], true));
    let re3 = FindOptions {
        limit: Some(3),
        ..re
    };
    let whole = fs
        .find_files_with("p", r"^(todo|fixme) ", &re3)
        .await
        .unwrap();
    assert_eq!((lines(&whole), whole.truncated), (vec![1, 2, 3], false));
    let bad = fs
        .find_files_with(
            "p",
            "(",
            &FindOptions {
                regex: true,
                ..FindOptions::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(bad.kind(), ErrorKind::BadRequest, "{bad}");
}
