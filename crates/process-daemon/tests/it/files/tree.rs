//! Listing, info, folders, deletes, moves (also across file systems) and permissions.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use http::{Method, StatusCode};
use serde_json::json;

use super::{code, write};
use crate::support::TestDaemon;

#[tokio::test]
async fn list_sorted_relative_paths_and_errors() {
    let d = TestDaemon::start().await;
    write(&d, "w/b.txt", b"bb");
    write(&d, "w/a.txt", b"a");
    write(&d, "w/sub/deep.txt", b"deep");
    std::os::unix::fs::symlink("/nonexistent/target", d.workdir.path().join("w/broken")).unwrap();
    for path in ["/files?path=w", "/files/?path=w"] {
        let r = d.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let v = r.json();
        let names: Vec<&str> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["a.txt", "b.txt", "sub"],
            "broken links are left out"
        );
        assert_eq!(v[0]["path"], "w/a.txt");
        assert_eq!(v[0]["size"], 1);
        assert_eq!(v[0]["isDir"], false);
        assert_eq!(v[2]["isDir"], true);
        assert!(v[2]["mode"].as_str().unwrap().starts_with("drwx"));
        assert_eq!(v[0]["owner"], nix::unistd::getuid().as_raw().to_string());
        assert!(v[0]["modifiedAt"].as_str().unwrap().ends_with('Z'));
        assert!(v[0]["modTime"].as_str().unwrap().ends_with("+0000 UTC"));
    }
    let deep = d.get("/files?path=w&depth=2").await.json();
    let paths: Vec<&str> = deep
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["w/a.txt", "w/b.txt", "w/sub", "w/sub/deep.txt"]);
    let r = d.get("/files?path=nope").await;
    assert_eq!(
        (r.status, code(&r)),
        (StatusCode::NOT_FOUND, "FILE_NOT_FOUND".into())
    );
    assert_eq!(r.json()["message"], "open nope: no such file or directory");
    let r = d.get("/files?path=w/a.txt").await;
    assert_eq!(
        (r.status, code(&r)),
        (StatusCode::BAD_REQUEST, "BAD_REQUEST".into())
    );
    let r = d.get("/files?path=w&depth=0").await;
    assert_eq!(
        r.json()["message"],
        "bad request: depth must be an integer >= 1"
    );
    // An empty directory is `[]`, never null.
    std::fs::create_dir(d.workdir.path().join("empty")).unwrap();
    assert_eq!(d.get("/files?path=empty").await.json(), json!([]));
}

#[tokio::test]
async fn info_follows_links_and_reports_formats() {
    let d = TestDaemon::start().await;
    write(&d, "a+b&c=d.txt", b"hello");
    std::fs::set_permissions(
        d.workdir.path().join("a+b&c=d.txt"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    let r = d.get("/files/info?path=a%2Bb%26c%3Dd.txt").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    assert_eq!(v["name"], "a+b&c=d.txt");
    assert_eq!(v["permissions"], "0640");
    assert_eq!(v["mode"], "-rw-r-----");
    assert!(v.get("path").is_none());
    let r = d.get("/files/info?path=missing").await;
    assert_eq!(code(&r), "FILE_NOT_FOUND");
    let r = d.get("/files/info").await;
    assert_eq!(r.json()["message"], "bad request: path is required");
}

#[tokio::test]
async fn create_folder_modes_and_special_bits() {
    let d = TestDaemon::start().await;
    let r = d
        .call(Method::POST, "/files/folder?path=x/y&mode=750", None, &[])
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let md = std::fs::metadata(d.workdir.path().join("x/y")).unwrap();
    assert!(md.is_dir());
    // Fault fixed: the original silently dropped setuid/setgid/sticky digits.
    let r = d
        .call(
            Method::POST,
            "/files/folder?path=shared&mode=1777",
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let mode = std::fs::metadata(d.workdir.path().join("shared"))
        .unwrap()
        .mode();
    assert_eq!(mode & 0o1000, 0o1000, "sticky bit kept: {mode:o}");
    // Existing directory: success, unchanged.
    let r = d
        .call(Method::POST, "/files/folder?path=x/y&mode=700", None, &[])
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    for bad in ["0o755", "u%2Bx", "8"] {
        let r = d
            .call(
                Method::POST,
                &format!("/files/folder?path=z&mode={bad}"),
                None,
                &[],
            )
            .await;
        assert_eq!(
            r.json()["message"],
            "bad request: invalid mode format",
            "{bad}"
        );
    }
}

#[tokio::test]
async fn delete_files_and_directories() {
    let d = TestDaemon::start().await;
    write(&d, "old file.txt", b"x");
    write(&d, "dir/inner.txt", b"x");
    let r = d.delete("/files?path=old%20file.txt&recursive=false").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert!(!d.workdir.path().join("old file.txt").exists());
    let r = d.delete("/files?path=dir&recursive=false").await;
    assert_eq!(
        r.json()["message"],
        "bad request: cannot delete directory without recursive flag"
    );
    let r = d.delete("/files/?path=dir&recursive=true").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(!d.workdir.path().join("dir").exists());
    let r = d.delete("/files?path=dir").await;
    assert_eq!(code(&r), "FILE_NOT_FOUND");
}

#[tokio::test]
async fn move_renames_refuses_existing_and_own_subtree() {
    let d = TestDaemon::start().await;
    write(&d, "old name.txt", b"x");
    std::fs::create_dir(d.workdir.path().join("new")).unwrap();
    let r = d
        .call(
            Method::POST,
            "/files/move?source=old%20name.txt&destination=new/%E5%90%8D%E5%89%8D.txt",
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        std::fs::read(d.workdir.path().join("new/名前.txt")).unwrap(),
        b"x"
    );
    write(&d, "a", b"1");
    write(&d, "b", b"2");
    let r = d
        .call(
            Method::POST,
            "/files/move?source=a&destination=b",
            None,
            &[],
        )
        .await;
    assert_eq!(
        (r.status, r.json()["message"].as_str().unwrap()),
        (StatusCode::CONFLICT, "conflict: destination already exists")
    );
    // Fault fixed: the original copied a directory into its own subtree.
    let r = d
        .call(
            Method::POST,
            "/files/move?source=new&destination=new/inner",
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let r = d
        .call(
            Method::POST,
            "/files/move?source=missing&destination=c",
            None,
            &[],
        )
        .await;
    assert_eq!(code(&r), "FILE_NOT_FOUND");
    let r = d
        .call(
            Method::POST,
            "/files/move?source=a&destination=nodir/c",
            None,
            &[],
        )
        .await;
    assert_eq!(code(&r), "FILE_NOT_FOUND");
}

#[tokio::test]
async fn permissions_mode_owner_and_errors() {
    let d = TestDaemon::start().await;
    write(&d, "s.sh", b"#!/bin/sh\n");
    let r = d
        .call(
            Method::POST,
            "/files/permissions?path=s.sh&mode=755",
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        std::fs::metadata(d.workdir.path().join("s.sh"))
            .unwrap()
            .mode()
            & 0o7777,
        0o755
    );
    let r = d
        .call(
            Method::POST,
            "/files/permissions?path=s.sh&mode=4755",
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        std::fs::metadata(d.workdir.path().join("s.sh"))
            .unwrap()
            .mode()
            & 0o7777,
        0o4755,
        "setuid kept"
    );
    let uid = nix::unistd::getuid().as_raw().to_string();
    let r = d
        .call(
            Method::POST,
            &format!(
                "/files/permissions?path=s.sh&owner={uid}&group={}",
                nix::unistd::getgid()
            ),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = d
        .call(
            Method::POST,
            "/files/permissions?path=s.sh&owner=no-such-user-xyz",
            None,
            &[],
        )
        .await;
    assert_eq!(r.json()["message"], "bad request: user not found");
    let r = d
        .call(
            Method::POST,
            "/files/permissions?path=gone&mode=644",
            None,
            &[],
        )
        .await;
    assert_eq!(code(&r), "FILE_NOT_FOUND");
}

#[tokio::test]
async fn relative_paths_resolve_against_the_work_dir_not_the_cwd() {
    let d = TestDaemon::start().await;
    let r = d.get("/work-dir").await;
    assert_eq!(r.json()["dir"], d.workdir.path().to_string_lossy().as_ref());
    write(&d, "rel.txt", b"r");
    let r = d.get("/files/info?path=rel.txt").await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "the test process cwd is not the work dir: {}",
        r.text()
    );
}

/// Fault fixed (spec §8.5): a move across file systems (`rename` fails with `EXDEV`) copies,
/// keeping symlinks as links (a dangling one too) and the modes of files and directories,
/// then deletes the source. The source is on `/dev/shm` (tmpfs), the work dir on the disk.
#[tokio::test]
async fn move_across_file_systems_keeps_symlinks_and_modes() {
    let d = TestDaemon::start().await;
    let shm = tempfile::tempdir_in("/dev/shm").expect("/dev/shm (a tmpfs) is needed");
    assert_ne!(
        std::fs::metadata(shm.path()).unwrap().dev(),
        std::fs::metadata(d.workdir.path()).unwrap().dev(),
        "the test needs /dev/shm and the work dir on different file systems"
    );
    let src = shm.path().join("tree");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("run.sh"), b"#!/bin/sh\n").unwrap();
    std::fs::set_permissions(src.join("run.sh"), std::fs::Permissions::from_mode(0o751)).unwrap();
    std::fs::write(src.join("sub/data"), b"data").unwrap();
    std::fs::set_permissions(src.join("sub/data"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink("../run.sh", src.join("sub/link")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/dangling", src.join("dangling")).unwrap();
    std::fs::set_permissions(src.join("sub"), std::fs::Permissions::from_mode(0o710)).unwrap();
    let q = |p: &std::path::Path| {
        form_urlencoded::byte_serialize(p.to_str().unwrap().as_bytes()).collect::<String>()
    };
    let r = d
        .call(
            Method::POST,
            &format!("/files/move?source={}&destination=moved", q(&src)),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(!src.exists(), "the source is deleted after the copy");
    let dst = d.workdir.path().join("moved");
    let mode = |p: &str| std::fs::symlink_metadata(dst.join(p)).unwrap().mode() & 0o7777;
    assert_eq!(
        (mode("run.sh"), mode("sub"), mode("sub/data")),
        (0o751, 0o710, 0o600)
    );
    assert_eq!(std::fs::read(dst.join("sub/data")).unwrap(), b"data");
    for (link, target) in [
        ("sub/link", "../run.sh"),
        ("dangling", "/nonexistent/dangling"),
    ] {
        let md = std::fs::symlink_metadata(dst.join(link)).unwrap();
        assert!(md.file_type().is_symlink(), "{link} is still a symlink");
        assert_eq!(
            std::fs::read_link(dst.join(link)).unwrap(),
            std::path::Path::new(target)
        );
    }
    // A single file across file systems too.
    std::fs::write(shm.path().join("one"), b"1").unwrap();
    std::fs::set_permissions(
        shm.path().join("one"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    let r = d
        .call(
            Method::POST,
            &format!(
                "/files/move?source={}&destination=one",
                q(&shm.path().join("one"))
            ),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(mode("../one"), 0o640);
    assert!(!shm.path().join("one").exists());
}
