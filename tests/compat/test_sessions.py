"""Sessions through the official SDK: lifecycle, sync/async exec, command records, logs (plain
and streamed with callbacks), input, entrypoint errors and exception classes (spec §2, §4)."""

import asyncio
import time
import uuid

import pytest
from daytona import (
    DaytonaBadRequestError,
    DaytonaConflictError,
    DaytonaNotFoundError,
    DaytonaProcessNotFoundError,
    SessionExecuteRequest,
)
from daytona.common.errors import DaytonaCommandAlreadyCompletedError
from conftest import WithSharedSession


@pytest.fixture()
def session_id(process):
    sid = f"compat-{uuid.uuid4().hex[:8]}"
    process.create_session(sid)
    yield sid
    try:
        process.delete_session(sid)
    except DaytonaNotFoundError:
        pass


def wait_exit(process, sid, cid, limit=15.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        cmd = process.get_session_command(sid, cid)
        if cmd.exit_code is not None:
            return cmd.exit_code
        time.sleep(0.05)
    raise AssertionError(f"command {cid} did not finish")


def test_create_get_list_delete(process, session_id):
    session = process.get_session(session_id)
    assert session.session_id == session_id
    assert session.commands == []
    assert session_id in [s.session_id for s in process.list_sessions()]
    with pytest.raises(DaytonaConflictError):
        process.create_session(session_id)
    process.delete_session(session_id)
    with pytest.raises(DaytonaProcessNotFoundError):
        process.get_session(session_id)
    assert session_id not in [s.session_id for s in process.list_sessions()]


def test_state_persists_between_commands(process, session_id):
    process.execute_session_command(session_id, SessionExecuteRequest(command="cd /tmp"))
    process.execute_session_command(session_id, SessionExecuteRequest(command="echo 'Hello' > compat-test.txt"))
    result = process.execute_session_command(session_id, SessionExecuteRequest(command="cat compat-test.txt; pwd"))
    assert result.exit_code == 0
    assert result.stdout == "Hello\n/tmp\n"
    assert result.stderr == ""
    assert result.output == "\x01\x01\x01Hello\n/tmp\n"
    session = process.get_session(session_id)
    assert [c.command for c in session.commands][-1] == "cat compat-test.txt; pwd"
    assert all(c.exit_code == 0 for c in session.commands)


def test_sync_exec_splits_streams(process, session_id):
    result = process.execute_session_command(
        session_id, SessionExecuteRequest(command="echo out; sleep 0.1; echo err >&2; exit 2")
    )
    assert result.exit_code == 2
    assert (result.stdout, result.stderr) == ("out\n", "err\n")
    # The session survives `exit`.
    result = process.execute_session_command(session_id, SessionExecuteRequest(command="echo still here"))
    assert result.stdout == "still here\n"


def test_async_exec_command_and_logs(process, session_id):
    response = process.execute_session_command(
        session_id,
        SessionExecuteRequest(command="echo one; sleep 0.5; echo two >&2; sleep 0.3", run_async=True),
    )
    cid = response.cmd_id
    assert cid
    assert response.exit_code is None
    assert response.stdout == "" and response.stderr == ""
    cmd = process.get_session_command(session_id, cid)
    assert cmd.id == cid
    assert cmd.command == "echo one; sleep 0.5; echo two >&2; sleep 0.3"
    assert wait_exit(process, session_id, cid) == 0
    logs = process.get_session_command_logs(session_id, cid)
    assert logs.stdout == "one\n"
    assert logs.stderr == "two\n"
    assert logs.output == "\x01\x01\x01one\n\x02\x02\x02two\n"


def test_streamed_logs_with_callbacks(process, session_id):
    response = process.execute_session_command(
        session_id,
        SessionExecuteRequest(
            command="for i in 1 2 3; do echo out$i; echo err$i >&2; sleep 0.2; done", run_async=True
        ),
    )
    out, err = [], []
    asyncio.run(
        asyncio.wait_for(
            process.get_session_command_logs_async(session_id, response.cmd_id, out.append, err.append),
            timeout=20,
        )
    )
    assert "".join(out) == "out1\nout2\nout3\n"
    assert "".join(err) == "err1\nerr2\nerr3\n"
    # A late subscriber (after the end) gets the full replay.
    out2, err2 = [], []
    asyncio.run(process.get_session_command_logs_async(session_id, response.cmd_id, out2.append, err2.append))
    assert ("".join(out2), "".join(err2)) == ("".join(out), "".join(err))



def test_async_process_streams_logs(async_toolbox_client, session_id):
    from daytona._async.process import AsyncProcess
    from daytona_toolbox_api_client_async import ProcessApi

    async def main():
        process = AsyncProcess("python", ProcessApi(WithSharedSession(async_toolbox_client)))
        try:
            response = await process.execute_session_command(
                session_id, SessionExecuteRequest(command="echo a; sleep 0.3; echo b >&2", run_async=True)
            )
            out, err = [], []

            async def on_out(text):
                out.append(text)

            await asyncio.wait_for(
                process.get_session_command_logs_async(session_id, response.cmd_id, on_out, err.append),
                timeout=20,
            )
            logs = await process.get_session_command_logs(session_id, response.cmd_id)
            return "".join(out), "".join(err), logs
        finally:
            await async_toolbox_client.close()

    out, err, logs = asyncio.run(main())
    assert (out, err) == ("a\n", "b\n")
    assert (logs.stdout, logs.stderr) == ("a\n", "b\n")


def test_send_input(process, session_id):
    response = process.execute_session_command(
        session_id,
        SessionExecuteRequest(command='read name; echo "hello $name"', run_async=True),
    )
    process.send_session_command_input(session_id, response.cmd_id, "world")
    assert wait_exit(process, session_id, response.cmd_id) == 0
    logs = process.get_session_command_logs(session_id, response.cmd_id)
    assert logs.stdout == "world\nhello world\n"
    with pytest.raises(DaytonaCommandAlreadyCompletedError):
        process.send_session_command_input(session_id, response.cmd_id, "again")


def test_suppress_input_echo(process, session_id):
    response = process.execute_session_command(
        session_id,
        SessionExecuteRequest(command='read pw; echo "len ${#pw}"', run_async=True, suppress_input_echo=True),
    )
    process.send_session_command_input(session_id, response.cmd_id, "secret")
    wait_exit(process, session_id, response.cmd_id)
    assert process.get_session_command_logs(session_id, response.cmd_id).stdout == "len 6\n"


def test_errors_map_to_sdk_exceptions(process, session_id):
    with pytest.raises(DaytonaProcessNotFoundError):
        process.get_session("no-such-session")
    with pytest.raises(DaytonaNotFoundError):
        process.get_session_command(session_id, "no-such-command")
    with pytest.raises(DaytonaNotFoundError):
        process.execute_session_command("no-such-session", SessionExecuteRequest(command="true"))
    with pytest.raises(DaytonaBadRequestError):
        process.create_session("entrypoint")
    with pytest.raises(DaytonaBadRequestError):
        process.delete_session("entrypoint")


def test_entrypoint_not_found(process):
    with pytest.raises(DaytonaNotFoundError):
        process.get_entrypoint_session()
    with pytest.raises(DaytonaNotFoundError):
        process.get_entrypoint_logs()
