"""PTY sessions through the official SDK (`Process.create_pty_session`, `connect_pty_session`,
`PtyHandle`, `list_pty_sessions`, `get_pty_session_info`, `resize_pty_session`,
`kill_pty_session`) against a real processd."""

from __future__ import annotations

import os
import time
import uuid

import pytest
from daytona.common.errors import (
    DaytonaConflictError,
    DaytonaError,
    DaytonaNotFoundError,
)
from daytona.common.pty import PtySize
from conftest import WithSharedSession


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture()
def home(workdir):
    """An empty HOME for the PTY shells (`bash -i -l`): the login profile of the machine's user
    must not run in them (e.g. pyenv's `rehash` blocks for 60 s on a lock file left behind by a
    shell killed during its start)."""
    path = os.path.join(workdir, "pty-home")
    os.makedirs(path, exist_ok=True)
    return {"HOME": path}


class Screen:
    """Collects a handle's output and waits for markers in it."""

    def __init__(self, handle):
        self.handle = handle
        self.data = b""

    def _take(self, chunk: bytes) -> None:
        self.data += chunk

    def text(self) -> str:
        return self.data.decode("utf-8", "replace")

    def wait_for(self, marker: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while marker not in self.text():
            assert time.monotonic() < deadline, f"no {marker!r} in {self.text()!r}"
            result = self.handle.wait(on_data=self._take, timeout=0.2)
            assert result.exit_code is None, f"exited {result} before {marker!r}: {self.text()!r}"

    def wait_exit(self, timeout: float = 20.0):
        result = self.handle.wait(on_data=self._take, timeout=timeout)
        assert result.exit_code is not None, f"no exit within {timeout}s: {self.text()!r}"
        return result


@pytest.fixture()
def subdir(workdir):
    path = os.path.join(workdir, _id("pty-cwd"))
    os.makedirs(path)
    return path


def test_create_with_size_envs_and_cwd(process, subdir, home):
    pid = _id("pty")
    handle = process.create_pty_session(
        id=pid,
        cwd=subdir,
        envs={"VAR": "value", "SPACED": "x y", **home},
        pty_size=PtySize(rows=24, cols=80),
    )
    screen = Screen(handle)
    handle.send_input('echo "V=[$VAR][$SPACED][$TERM]"; pwd; stty size; exit 0\n')
    result = screen.wait_exit()
    assert result.exit_code == 0
    assert result.error is None
    out = screen.text()
    assert "V=[value][x y][xterm-256color]" in out
    assert subdir in out
    assert "24 80" in out
    handle.disconnect()


def test_non_zero_exit_code_and_reason(process, home):
    handle = process.create_pty_session(id=_id("pty"), envs=home)
    handle.send_input("echo BYE_$((40+2)); exit 3\n")
    screen = Screen(handle)
    result = screen.wait_exit()
    assert (result.exit_code, result.error) == (3, "non-zero exit")
    assert "BYE_42" in screen.text()
    handle.disconnect()


def test_ctrl_c_interrupts_a_foreground_command(process, home):
    pid = _id("pty")
    handle = process.create_pty_session(id=pid, envs=home)
    screen = Screen(handle)
    handle.send_input("sleep 100; echo NO_$((9*9))\n")
    time.sleep(0.5)
    handle.send_input(b"\x03")
    handle.send_input("echo AFTER_$((2+3))\n")
    screen.wait_for("AFTER_5")
    assert "NO_81" not in screen.text()
    handle.kill()
    handle.disconnect()


def test_resize_through_handle_and_process(process, home):
    pid = _id("pty")
    handle = process.create_pty_session(id=pid, envs=home, pty_size=PtySize(rows=30, cols=100))
    screen = Screen(handle)
    info = handle.resize(PtySize(rows=40, cols=150))
    assert (info.cols, info.rows) == (150, 40)
    handle.send_input("stty size\n")
    screen.wait_for("40 150")
    info = process.resize_pty_session(pid, PtySize(rows=20, cols=60))
    assert (info.cols, info.rows) == (60, 20)
    handle.send_input("stty size; exit\n")
    screen.wait_exit()
    assert "20 60" in screen.text()
    handle.disconnect()


def test_connect_to_an_existing_session(process, home):
    pid = _id("pty")
    first = process.create_pty_session(id=pid, envs=home)
    one = Screen(first)
    first.send_input("echo EARLY_$((1+1))\n")
    one.wait_for("EARLY_2")
    second = process.connect_pty_session(pid)
    two = Screen(second)
    # The scrollback is replayed to the new client, then live output reaches both.
    two.wait_for("EARLY_2")
    second.send_input("echo LATE_$((3+4))\n")
    two.wait_for("LATE_7")
    one.wait_for("LATE_7")
    first.send_input("exit 0\n")
    assert one.wait_exit().exit_code == 0
    assert two.wait_exit().exit_code == 0
    first.disconnect()
    second.disconnect()


def test_list_and_info(process, workdir, home):
    pid = _id("pty")
    handle = process.create_pty_session(id=pid, envs={"K": "v", **home}, pty_size=PtySize(rows=25, cols=90))
    sessions = process.list_pty_sessions()
    mine = [s for s in sessions if s.id == pid]
    assert len(mine) == 1
    info = process.get_pty_session_info(pid)
    assert info.id == pid
    assert (info.cols, info.rows) == (90, 25)
    assert info.active is True
    assert info.lazy_start is False
    assert info.cwd == workdir
    assert info.envs == {"K": "v", "TERM": "xterm-256color", **home}
    assert info.created_at
    process.kill_pty_session(pid)
    assert pid not in [s.id for s in process.list_pty_sessions()]
    handle.disconnect()


def test_kill_reports_sigkill(process, home):
    pid = _id("pty")
    handle = process.create_pty_session(id=pid, envs=home)
    handle.send_input("sleep 300\n")
    time.sleep(0.3)
    handle.kill()
    result = Screen(handle).wait_exit()
    assert (result.exit_code, result.error) == (137, "SIGKILL")
    with pytest.raises(DaytonaNotFoundError):
        process.get_pty_session_info(pid)
    handle.disconnect()


def test_session_is_gone_after_exit(process, home):
    pid = _id("pty")
    handle = process.create_pty_session(id=pid, envs=home)
    handle.send_input("exit\n")
    assert Screen(handle).wait_exit().exit_code == 0
    handle.disconnect()
    with pytest.raises(DaytonaNotFoundError):
        process.get_pty_session_info(pid)
    with pytest.raises(DaytonaError, match="not found"):
        process.connect_pty_session(pid)


def test_errors(process, home):
    pid = _id("pty")
    handle = process.create_pty_session(id=pid, envs=home)
    with pytest.raises(DaytonaConflictError):
        process.create_pty_session(id=pid)
    with pytest.raises(DaytonaNotFoundError):
        process.kill_pty_session(_id("missing"))
    with pytest.raises(DaytonaNotFoundError):
        process.get_pty_session_info(_id("missing"))
    with pytest.raises(DaytonaError):
        process.resize_pty_session(_id("missing"), PtySize(rows=10, cols=10))
    process.kill_pty_session(pid)
    handle.disconnect()



def test_async_sdk_create_send_resize_exit(async_toolbox_client, subdir, home):
    """The async SDK (aiohttp WebSocket, AsyncPtyHandle) against the same endpoints."""
    import asyncio

    from daytona._async.process import AsyncProcess
    from daytona_toolbox_api_client_async import ProcessApi

    async def scenario():
        process = AsyncProcess("python", ProcessApi(WithSharedSession(async_toolbox_client)))
        try:
            # The first REST call opens the aiohttp session the WebSockets then share.
            await process.list_pty_sessions()
            pid = _id("apty")
            chunks: list[bytes] = []
            handle = await process.create_pty_session(
                id=pid,
                on_data=chunks.append,
                cwd=subdir,
                envs={"AV": "async", **home},
                pty_size=PtySize(rows=22, cols=70),
            )
            info = await handle.resize(PtySize(rows=33, cols=111))
            assert (info.cols, info.rows) == (111, 33)
            second: list[bytes] = []
            other = await process.connect_pty_session(pid, on_data=second.append)
            await handle.send_input('echo "A=$AV"; pwd; stty size; exit 5\n')
            result = await asyncio.wait_for(handle.wait(), 20)
            other_result = await asyncio.wait_for(other.wait(), 20)
            out = b"".join(chunks).decode("utf-8", "replace")
            assert (result.exit_code, result.error) == (5, "non-zero exit")
            assert (other_result.exit_code, other_result.error) == (5, "non-zero exit")
            assert "A=async" in out and subdir in out and "33 111" in out
            assert "A=async" in b"".join(second).decode("utf-8", "replace")
            sessions = await process.list_pty_sessions()
            assert pid not in [s.id for s in sessions]
            await handle.disconnect()
            await other.disconnect()
        finally:
            await async_toolbox_client.close()

    asyncio.run(scenario())
