"""`sandbox.fs` (sync and async) and the work/home dirs of the official SDK against processd:
every seed-003 file-system call, the typed errors the SDK raises from our codes (spec §3, §1.3),
and the original's faults we fix (§8.1 boundary in content, §8.2 atomic uploads)."""

import asyncio
import os
import uuid

import pytest
from daytona import (
    DaytonaBadRequestError,
    DaytonaConflictError,
    DaytonaError,
    DaytonaFileNotFoundError,
    FileDownloadRequest,
    FileUpload,
)
from daytona._async.sandbox import AsyncSandbox
from daytona._sync.sandbox import Sandbox

from conftest import AsyncToolbox


@pytest.fixture()
def rel():
    """A fresh directory name relative to the daemon's work dir."""
    return f"fs-{uuid.uuid4().hex[:8]}"


def test_work_and_home_dir(sandbox_info, workdir):
    assert Sandbox.get_work_dir(sandbox_info) == workdir
    home = Sandbox.get_user_home_dir(sandbox_info)
    assert os.path.isabs(home) and os.path.isdir(home)


def test_create_folder_list_and_info(fs, rel, workdir):
    fs.create_folder(f"{rel}/data", "755")
    fs.upload_file(b"content", f"{rel}/data/file.txt")
    # Relative paths resolve against the work dir (§1.3).
    assert os.path.isfile(os.path.join(workdir, rel, "data", "file.txt"))
    entries = fs.list_files(rel)
    assert [(e.name, e.is_dir) for e in entries] == [("data", True)]
    [entry] = fs.list_files(f"{rel}/data")
    assert entry.name == "file.txt" and entry.size == 7 and not entry.is_dir
    assert entry.mode.startswith("-") and len(entry.permissions) == 4
    assert entry.owner == str(os.getuid())
    info = fs.get_file_info(f"{rel}/data")
    assert info.is_dir and info.mode == "drwxr-xr-x" and info.permissions == "0755"
    deep = fs.list_files(rel, depth=2)
    assert [e.path for e in deep] == [f"{rel}/data", f"{rel}/data/file.txt"]


def test_upload_and_download_bytes(fs, rel):
    fs.upload_file(b"hello", f"{rel}/hello.txt")
    assert fs.download_file(f"{rel}/hello.txt") == b"hello"
    fs.upload_file(b"", f"{rel}/empty.bin")
    assert fs.download_file(f"{rel}/empty.bin") == b""
    # Overwrite in place keeps working (temp file + rename, §8.2).
    fs.upload_file(b"second", f"{rel}/hello.txt")
    assert fs.download_file(f"{rel}/hello.txt") == b"second"


def test_upload_and_download_streaming_through_local_paths(fs, rel, tmp_path):
    src = tmp_path / "local.bin"
    payload = os.urandom(3 * 1024 * 1024 + 17)
    src.write_bytes(payload)
    fs.upload_file(str(src), f"{rel}/large.bin")
    dst = tmp_path / "back.bin"
    fs.download_file(f"{rel}/large.bin", str(dst))
    assert dst.read_bytes() == payload
    # upload_file_stream (chunked, fresh client) and download_file_stream.
    sent = []
    with open(src, "rb") as f:
        fs.upload_file_stream(f, f"{rel}/streamed.bin", on_progress=lambda p: sent.append(p.bytes_sent))
    assert sent and sent[-1] == len(payload)
    assert b"".join(fs.download_file_stream(f"{rel}/streamed.bin")) == payload


def test_upload_files_and_download_files_with_a_missing_one(fs, rel, tmp_path):
    local = tmp_path / "f2.txt"
    local.write_bytes(b"0123456789")
    fs.upload_files([FileUpload(b"one", f"{rel}/f1.txt"), FileUpload(str(local), f"{rel}/f2.txt")])
    results = fs.download_files(
        [
            FileDownloadRequest(source=f"{rel}/f1.txt"),
            FileDownloadRequest(source=f"{rel}/missing.txt"),
            FileDownloadRequest(source=f"{rel}/f2.txt", destination=str(tmp_path / "out.txt")),
        ]
    )
    by_source = {r.source: r for r in results}
    assert by_source[f"{rel}/f1.txt"].result == b"one" and by_source[f"{rel}/f1.txt"].error is None
    assert (tmp_path / "out.txt").read_bytes() == b"0123456789"
    missing = by_source[f"{rel}/missing.txt"]
    assert missing.result is None and "not found" in missing.error
    assert missing.error_details.error_code == "FILE_NOT_FOUND"
    assert missing.error_details.status_code == 404


def test_download_of_a_file_holding_the_originals_boundary_line(fs, rel):
    # §8.1: the original framed every response with the fixed DAYTONA-FILE-BOUNDARY, so this
    # content broke the download ("No source path found for this file"); ours is random.
    content = b"head\r\n--DAYTONA-FILE-BOUNDARY\r\nContent-Disposition: x\r\n\r\ntail--\r\n"
    fs.upload_file(content, f"{rel}/tricky.bin")
    assert fs.download_file(f"{rel}/tricky.bin") == content
    [resp] = fs.download_files([FileDownloadRequest(source=f"{rel}/tricky.bin")])
    assert resp.result == content


def test_find_search_and_replace(fs, rel):
    fs.upload_files(
        [
            FileUpload(b"x = 1\n# TODO: fix\nTODO: x&y here\r\n", f"{rel}/src/a.py"),
            FileUpload(b"nothing\n", f"{rel}/src/b.py"),
            FileUpload(b"\x00binary TODO: x&y", f"{rel}/src/c.bin"),
            FileUpload(b"old old\n", f"{rel}/r1.txt"),
        ]
    )
    matches = fs.find_files(f"{rel}/src", "TODO: x&y")
    assert [(m.file, m.line, m.content) for m in matches] == [(f"{rel}/src/a.py", 3, "TODO: x&y here")]
    found = fs.search_files(rel, "*.py")
    assert sorted(found.files) == [f"{rel}/src/a.py", f"{rel}/src/b.py"]
    assert fs.find_files(f"{rel}/nope", "x") == []
    results = fs.replace_in_files([f"{rel}/r1.txt", f"{rel}/missing.txt"], "old", "new")
    assert [(r.file, r.success) for r in results] == [(f"{rel}/r1.txt", True), (f"{rel}/missing.txt", False)]
    assert results[1].error
    assert fs.download_file(f"{rel}/r1.txt") == b"new new\n"


def test_move_permissions_and_delete(fs, rel, workdir):
    fs.upload_file(b"#!/bin/sh\necho hi\n", f"{rel}/old name.txt")
    fs.create_folder(f"{rel}/new", "755")
    fs.move_files(f"{rel}/old name.txt", f"{rel}/new/名前.sh")
    assert fs.download_file(f"{rel}/new/名前.sh") == b"#!/bin/sh\necho hi\n"
    fs.upload_file(b"x", f"{rel}/other.txt")
    with pytest.raises(DaytonaConflictError):
        fs.move_files(f"{rel}/other.txt", f"{rel}/new/名前.sh")
    fs.set_file_permissions(f"{rel}/new/名前.sh", mode="755")
    assert fs.get_file_info(f"{rel}/new/名前.sh").permissions == "0755"
    assert os.stat(os.path.join(workdir, rel, "new", "名前.sh")).st_mode & 0o777 == 0o755
    uid = str(os.getuid())
    fs.set_file_permissions(f"{rel}/other.txt", owner=uid, group=str(os.getgid()))
    assert fs.get_file_info(f"{rel}/other.txt").owner == uid
    with pytest.raises(DaytonaBadRequestError):
        fs.delete_file(f"{rel}/new")
    fs.delete_file(f"{rel}/new", recursive=True)
    fs.delete_file(f"{rel}/other.txt")
    assert [e.name for e in fs.list_files(rel)] == []


def test_typed_errors(fs, rel):
    with pytest.raises(DaytonaFileNotFoundError) as info:
        fs.get_file_info(f"{rel}/nope")
    assert str(info.value).startswith("Failed to get file info: ")
    with pytest.raises(DaytonaFileNotFoundError):
        fs.list_files(f"{rel}/nope")
    with pytest.raises(DaytonaFileNotFoundError):
        fs.delete_file(f"{rel}/nope")
    with pytest.raises(DaytonaFileNotFoundError):
        fs.move_files(f"{rel}/nope", f"{rel}/x")
    with pytest.raises(DaytonaFileNotFoundError):
        fs.set_file_permissions(f"{rel}/nope", mode="644")
    with pytest.raises(DaytonaBadRequestError):
        fs.create_folder(rel, "u+x")
    with pytest.raises(DaytonaError) as info:
        fs.download_file(f"{rel}/nope")
    assert "not found" in str(info.value)


def test_failed_upload_reports_per_file_errors_and_writes_the_others(fs, rel):
    fs.upload_file(b"a file", f"{rel}/blocker")
    with pytest.raises(DaytonaError) as info:
        fs.upload_files([FileUpload(b"ok", f"{rel}/ok.txt"), FileUpload(b"no", f"{rel}/blocker/x.txt")])
    assert "400" in str(info.value) and f"{rel}/blocker/x.txt" in str(info.value)
    assert fs.download_file(f"{rel}/ok.txt") == b"ok"


def test_async_filesystem_seed_calls(daemon_url, rel, tmp_path, workdir):
    local = tmp_path / "local.txt"
    payload = os.urandom(2 * 1024 * 1024 + 5)
    local.write_bytes(payload)

    async def main():
        async with AsyncToolbox(daemon_url) as tb:
            fs = tb.fs
            assert await AsyncSandbox.get_work_dir(tb.info) == workdir
            assert os.path.isdir(await AsyncSandbox.get_user_home_dir(tb.info))
            await fs.create_folder(f"{rel}/data", "755")
            await fs.upload_file(b"content", f"{rel}/tmp/file.txt")
            await fs.upload_file(str(local), f"{rel}/tmp/large.txt")
            assert await fs.download_file(f"{rel}/tmp/file.txt") == b"content"
            await fs.download_file(f"{rel}/tmp/large.txt", str(tmp_path / "back.txt"))
            assert (tmp_path / "back.txt").read_bytes() == payload

            async def chunks():
                yield b"abc"
                yield b"def"

            await fs.upload_file_stream(chunks(), f'{rel}/x y"z.bin')
            streamed = b""
            async for chunk in await fs.download_file_stream(f'{rel}/x y"z.bin'):
                streamed += chunk
            assert streamed == b"abcdef"
            await fs.upload_files([FileUpload(b"one", f"{rel}/f1.txt"), FileUpload(str(local), f"{rel}/f2.txt")])
            got = await fs.download_files(
                [FileDownloadRequest(source=f"{rel}/f1.txt"), FileDownloadRequest(source=f"{rel}/missing")]
            )
            assert got[0].result == b"one" and got[1].error_details.error_code == "FILE_NOT_FOUND"
            names = sorted(e.name for e in await fs.list_files(rel))
            assert names == ["data", "f1.txt", "f2.txt", "tmp", 'x y"z.bin']
            assert (await fs.get_file_info(f"{rel}/f1.txt")).size == 3
            await fs.upload_file(b"TODO: fix\nold\n", f"{rel}/src/a.py")
            assert [m.line for m in await fs.find_files(f"{rel}/src", "TODO:")] == [1]
            assert (await fs.search_files(rel, "*.py")).files == [f"{rel}/src/a.py"]
            [res] = await fs.replace_in_files([f"{rel}/src/a.py"], "old", "new")
            assert res.success and await fs.download_file(f"{rel}/src/a.py") == b"TODO: fix\nnew\n"
            await fs.move_files(f"{rel}/f1.txt", f"{rel}/moved.txt")
            with pytest.raises(DaytonaConflictError):
                await fs.move_files(f"{rel}/moved.txt", f"{rel}/f2.txt")
            await fs.set_file_permissions(f"{rel}/moved.txt", mode="700")
            assert (await fs.get_file_info(f"{rel}/moved.txt")).permissions == "0700"
            await fs.delete_file(f"{rel}/moved.txt")
            with pytest.raises(DaytonaFileNotFoundError):
                await fs.get_file_info(f"{rel}/moved.txt")
            with pytest.raises(DaytonaBadRequestError):
                await fs.delete_file(f"{rel}/tmp")
            await fs.delete_file(f"{rel}/tmp", recursive=True)

    asyncio.run(main())
