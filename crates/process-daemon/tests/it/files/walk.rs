//! `find`, `search` and `replace` over trees.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use http::StatusCode;
use serde_json::{json, Value};

use super::{code, write};
use crate::support::TestDaemon;

#[tokio::test]
async fn find_streams_matches_without_a_line_cliff() {
    let d = TestDaemon::start().await;
    write(&d, "src/a.py", b"x = 1\n# TODO: x&y\r\nlast TODO: x&y");
    let mut long = vec![b'-'; 200 * 1024];
    long.extend_from_slice(b"TODO: x&y\nafter TODO: x&y\n");
    write(&d, "src/long.txt", &long);
    write(&d, "src/bin", b"TODO: x&y\0");
    let r = d.get("/files/find?path=src&pattern=TODO%3A%20x%26y").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    let got: Vec<(String, u64)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["file"].as_str().unwrap().to_owned(),
                m["line"].as_u64().unwrap(),
            )
        })
        .collect();
    // Fault fixed: the original skipped the rest of a file after a line > 64 KiB.
    assert_eq!(
        got,
        [
            ("src/a.py".into(), 2),
            ("src/a.py".into(), 3),
            ("src/long.txt".into(), 1),
            ("src/long.txt".into(), 2)
        ]
    );
    assert_eq!(v[0]["content"], "# TODO: x&y", "CR dropped");
    assert_eq!(
        d.get("/files/find?path=missing&pattern=x").await.json(),
        json!([])
    );
    let r = d.get("/files/find?path=src").await;
    assert_eq!(
        r.json()["message"],
        "bad request: path and pattern are required"
    );
}

#[tokio::test]
async fn search_globs_names_and_relative_paths() {
    let d = TestDaemon::start().await;
    write(&d, "ws/a.py", b"");
    write(&d, "ws/src/deep/x.tsx", b"");
    write(&d, "ws/src/b.py", b"");
    let r = d.get("/files/search?path=ws&pattern=%2A.py").await;
    assert_eq!(r.json(), json!({"files": ["ws/a.py", "ws/src/b.py"]}));
    // Fault fixed (#3076): `**` and relative-path patterns.
    let r = d.get("/files/search?path=ws&pattern=%2A%2A/x.tsx").await;
    assert_eq!(r.json(), json!({"files": ["ws/src/deep/x.tsx"]}));
    assert_eq!(
        d.get("/files/search?path=ws&pattern=%5B").await.json(),
        json!({"files": []})
    );
    assert_eq!(
        d.get("/files/search?path=nope&pattern=%2A").await.json(),
        json!({"files": []})
    );
}

#[tokio::test]
async fn replace_in_band_errors_and_untouched_files() {
    let d = TestDaemon::start().await;
    write(&d, "f1.py", b"old old");
    write(&d, "f3.py", b"nothing here");
    std::fs::set_permissions(
        d.workdir.path().join("f1.py"),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    let before = std::fs::metadata(d.workdir.path().join("f3.py")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let r = d
        .post(
            "/files/replace",
            &json!({"files": ["f1.py", "f2.py", "f3.py"], "newValue": "new", "pattern": "old"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    assert_eq!(v[0], json!({"file": "f1.py", "success": true}));
    assert_eq!(v[1]["success"], false);
    assert!(
        v[1]["error"]
            .as_str()
            .unwrap()
            .contains("no such file or directory"),
        "{v}"
    );
    assert_eq!(
        std::fs::read(d.workdir.path().join("f1.py")).unwrap(),
        b"new new"
    );
    assert_eq!(
        std::fs::metadata(d.workdir.path().join("f1.py"))
            .unwrap()
            .mode()
            & 0o777,
        0o700,
        "mode kept"
    );
    // Fault fixed: the original rewrote files without a match (mtime changed).
    let after = std::fs::metadata(d.workdir.path().join("f3.py")).unwrap();
    assert_eq!(
        (before.mtime(), before.mtime_nsec()),
        (after.mtime(), after.mtime_nsec())
    );
    let r = d
        .post(
            "/files/replace",
            &json!({"files": ["f1.py"], "newValue": "", "pattern": ""}),
        )
        .await;
    assert_eq!(code(&r), "INVALID_REQUEST_BODY");
}

/// Fault fixed (#3076 / PR #3157): `{a,b}` alternation, and a pattern with `/` (no `**`)
/// matched against the path relative to the root, where `*` does not cross a `/`.
#[tokio::test]
async fn search_alternation_and_slash_patterns_over_http() {
    let d = TestDaemon::start().await;
    for f in [
        "ws/a.py",
        "ws/b.tsx",
        "ws/c.rs",
        "ws/src/lib.rs",
        "ws/src/deep/mod.rs",
        "ws/other/src/x.rs",
    ] {
        write(&d, f, b"");
    }
    let files = |v: Value| -> Vec<String> {
        v["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_owned())
            .collect()
    };
    let r = d
        .get("/files/search?path=ws&pattern=%2A.%7Bpy%2Ctsx%7D")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(files(r.json()), ["ws/a.py", "ws/b.tsx"]);
    let r = d.get("/files/search?path=ws&pattern=src/%2A.rs").await;
    assert_eq!(
        files(r.json()),
        ["ws/src/lib.rs"],
        "`*` stays inside one segment"
    );
    let r = d
        .get("/files/search?path=ws&pattern=%7Bsrc%2Cother%2Fsrc%7D/%2A.rs")
        .await;
    assert_eq!(files(r.json()), ["ws/other/src/x.rs", "ws/src/lib.rs"]);
}

/// Our find extension (spec §8.4): `regex` and `caseInsensitive` flags and a `limit` with a
/// `truncated` signal; without them the answer is the SDKs' literal, case-sensitive array.
#[tokio::test]
async fn find_regex_case_flags_and_capped_results() {
    let d = TestDaemon::start().await;
    write(&d, "t/a.txt", b"TODO one\ntodo two\nFIXME 3\nTo.Do\n");
    write(&d, "t/b.txt", b"todo four\nTODO 55\n");
    let lines = |v: &Value| -> Vec<(String, u64)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["file"].as_str().unwrap().to_owned(),
                    m["line"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let in_a = |n| ("t/a.txt".to_owned(), n);
    let in_b = |n| ("t/b.txt".to_owned(), n);
    // Default: literal and case-sensitive, `.` is not a metacharacter.
    let r = d.get("/files/find?path=t&pattern=TODO").await;
    assert_eq!(lines(&r.json()), [in_a(1), in_b(2)]);
    assert_eq!(
        lines(&d.get("/files/find?path=t&pattern=To.Do").await.json()),
        [in_a(4)]
    );
    let r = d
        .get("/files/find?path=t&pattern=todo&caseInsensitive=true")
        .await;
    assert_eq!(lines(&r.json()), [in_a(1), in_a(2), in_b(1), in_b(2)]);
    let r = d
        .get("/files/find?path=t&pattern=%5E%28TODO%7CFIXME%29%20%5Cd%2B%24&regex=true")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(lines(&r.json()), [in_a(3), in_b(2)], "^(TODO|FIXME) \\d+$");
    let r = d
        .get("/files/find?path=t&pattern=to.%3Fdo&regex=true&caseInsensitive=1")
        .await;
    assert_eq!(
        lines(&r.json()),
        [in_a(1), in_a(2), in_a(4), in_b(1), in_b(2)]
    );
    // A cap: an object with `truncated`, the walk stops there.
    let r = d
        .get("/files/find?path=t&pattern=todo&caseInsensitive=true&limit=3")
        .await;
    let v = r.json();
    assert_eq!(v["truncated"], true, "{v}");
    assert_eq!(lines(&v["matches"]), [in_a(1), in_a(2), in_b(1)]);
    let v = d
        .get("/files/find?path=t&pattern=todo&caseInsensitive=true&limit=4")
        .await
        .json();
    assert_eq!(
        (
            v["truncated"].as_bool(),
            v["matches"].as_array().unwrap().len()
        ),
        (Some(false), 4)
    );
    let v = d
        .get("/files/find?path=none&pattern=x&limit=1")
        .await
        .json();
    assert_eq!(v, json!({"matches": [], "truncated": false}));
    // Clear errors.
    for (q, msg) in [
        ("pattern=%28&regex=true", "bad request: invalid regex"),
        (
            "pattern=x&limit=0",
            "bad request: limit must be an integer >= 1",
        ),
        (
            "pattern=x&regex=yes",
            "bad request: regex must be true or false",
        ),
    ] {
        let r = d.get(&format!("/files/find?path=t&{q}")).await;
        assert_eq!(
            (r.status, code(&r)),
            (StatusCode::BAD_REQUEST, "BAD_REQUEST".into()),
            "{q}"
        );
        assert!(
            r.json()["message"].as_str().unwrap().starts_with(msg),
            "{q}: {}",
            r.text()
        );
    }
}
