"""`Process.exec` of the official SDK against processd (spec §2 endpoint 1, §8.1)."""

import time
import uuid

import pytest
from daytona import (
    DaytonaBadRequestError,
    DaytonaProcessExecutionTimeoutError,
    DaytonaTimeoutError,
)


def test_exec_hello(process):
    response = process.exec("echo 'Hello'")
    assert response.exit_code == 0
    assert response.result == "Hello\n"
    assert response.artifacts.stdout == "Hello\n"
    assert response.artifacts.charts == []


def test_exec_with_cwd_env_and_timeout(process, workdir):
    response = process.exec("pwd; echo $FOO", cwd="/tmp", env={"FOO": "bar"}, timeout=5)
    assert response.exit_code == 0
    assert response.result == "/tmp\nbar\n"
    response = process.exec("pwd")
    assert response.result.strip() == workdir


def test_exec_result_interleaves_stdout_and_stderr(process):
    response = process.exec("echo out; echo err >&2; echo out2; echo err2 >&2; exit 3")
    assert response.exit_code == 3
    # One pipe for both streams, as the original daemon: exact write order.
    assert response.result == "out\nerr\nout2\nerr2\n"
    # The split fields are ours and only sent on request ("splitOutput": true).
    assert "stdout" not in response.additional_properties


def test_exec_exit_code_conventions(process):
    assert process.exec("no-such-command-xyz").exit_code == 127
    assert process.exec("/etc").exit_code == 126
    assert process.exec("kill -9 $$").exit_code == 137


def test_exec_timeout_raises_the_timeout_error(process):
    started = time.monotonic()
    with pytest.raises(DaytonaProcessExecutionTimeoutError) as info:
        process.exec("echo partial; sleep 30", timeout=1)
    assert isinstance(info.value, DaytonaTimeoutError)
    assert time.monotonic() - started < 15


def test_exec_background_process_does_not_block(process):
    # The background child's pid goes to a file of this test's own, so the cleanup kills
    # exactly that process (never, by name, whatever else on the machine is sleeping).
    pidfile = f"/tmp/compat-bg-{uuid.uuid4().hex}.pid"
    started = time.monotonic()
    response = process.exec(f"sleep 30 & echo $! > {pidfile}; echo hi")
    assert response.result == "hi\n"
    assert time.monotonic() - started < 15
    process.exec(f"kill $(cat {pidfile}); rm -f {pidfile}")


def test_exec_reading_stdin_does_not_swallow_the_script(process):
    response = process.exec("head -n1\necho second\necho third")
    assert response.result == "second\nthird\n"


def test_exec_invalid_env_name_is_a_bad_request(process):
    with pytest.raises(DaytonaBadRequestError):
        process.exec("true", env={"A-B": "1"})
