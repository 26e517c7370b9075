"""The official Python SDK (daytona==0.226.1, sync and async) against a real sandboxd, configured
ONLY with api_url and api_key: the seed-003 lifecycle example, the sandbox-side calls of its
snippet, and the process seed examples through daytona.create()."""

import asyncio
import os
import time

import pytest
from daytona import (
    AsyncDaytona,
    CreateSandboxFromImageParams,
    Daytona,
    DaytonaConfig,
    DaytonaNotFoundError,
    ListSandboxesQuery,
    Resources,
    SessionExecuteRequest,
)

API_URL = os.environ["SANDBOXD_API_URL"]
API_KEY = os.environ["SANDBOXD_API_KEY_FOR_TESTS"]
IMAGE = os.environ.get("SANDBOXD_TEST_IMAGE", "debian:12.9")


def config():
    return DaytonaConfig(api_url=API_URL, api_key=API_KEY)


def seed_params():
    return CreateSandboxFromImageParams(
        image=IMAGE,
        env_vars={"DEBUG": "true"},
        auto_stop_interval=15,
        resources=Resources(cpu=2, memory=4),
    )


def test_seed003_lifecycle_sync():
    daytona = Daytona(config())
    started = time.monotonic()
    sandbox = daytona.create(seed_params())
    # No poll interval hidden in create: sandboxd answers `started` at once.
    assert time.monotonic() - started < 30
    assert sandbox.state == "started"
    assert (sandbox.cpu, sandbox.memory) == (2, 4)
    assert sandbox.env["DEBUG"] == "true"
    assert sandbox.process.exec("echo $DEBUG").result == "true\n"
    daytona.start(sandbox)
    assert sandbox.state == "started"
    daytona.stop(sandbox)
    assert sandbox.state == "stopped"
    daytona.start(sandbox)
    assert sandbox.process.exec("echo again").result == "again\n"
    daytona.delete(sandbox)
    with pytest.raises(DaytonaNotFoundError):
        daytona.get(sandbox.id)


def test_seed003_sandbox_calls_sync():
    daytona = Daytona(config())
    created = daytona.create(seed_params())
    try:
        sandbox = daytona.get(created.id)
        sandbox.refresh_data()
        assert sandbox.state == "started"
        sandbox.set_autostop_interval(60)
        sandbox.refresh_data()
        assert sandbox.auto_stop_interval == 60
        sandbox.resize(Resources(cpu=1, memory=8))
        assert (sandbox.cpu, sandbox.memory) == (1, 8)
        home = sandbox.get_user_home_dir()
        assert home and home.startswith("/")
        assert sandbox.get_work_dir()
        labels = sandbox.set_labels({"team": "x"})
        assert labels["team"] == "x"
        assert [s.id for s in daytona.list(ListSandboxesQuery(labels={"team": "x"}))] == [sandbox.id]
    finally:
        daytona.delete(created)


def test_process_seed_examples_through_create():
    daytona = Daytona(config())
    sandbox = daytona.create()
    try:
        p = sandbox.process
        sandbox.fs.create_folder("workspace/src", "755")
        r = p.exec("ls; pwd", cwd="workspace/src", timeout=10)
        assert r.exit_code == 0 and r.artifacts.stdout.strip().endswith("workspace/src")
        assert p.code_run("print(sum([1,2,3]))").result.strip() == "6"
        p.create_session("my-session")
        p.execute_session_command("my-session", SessionExecuteRequest(command="cd /tmp"))
        out = p.execute_session_command("my-session", SessionExecuteRequest(command="pwd"))
        assert out.stdout.strip() == "/tmp" and out.exit_code == 0
        cmd = p.execute_session_command(
            "my-session",
            SessionExecuteRequest(command="echo out; sleep 0.2; echo err >&2", run_async=True),
        )
        seen = {"out": "", "err": ""}
        asyncio.run(
            p.get_session_command_logs_async(
                "my-session",
                cmd.cmd_id,
                lambda s: seen.__setitem__("out", seen["out"] + s),
                lambda s: seen.__setitem__("err", seen["err"] + s),
            )
        )
        assert seen == {"out": "out\n", "err": "err\n"}
        p.delete_session("my-session")
        data = []
        pty = p.create_pty_session(id="term")
        pty.send_input("echo pty-$((40+2)); exit 0\n")
        result = pty.wait(on_data=data.append, timeout=20)
        assert b"pty-42" in b"".join(data)
        assert result.exit_code == 0
        r = sandbox.code_interpreter.run_code("x = 100")
        assert r.error is None
        out = []
        sandbox.code_interpreter.run_code("print(x + 1)", on_stdout=lambda m: out.append(m.output))
        assert "".join(out).strip() == "101"
    finally:
        daytona.delete(sandbox)


def test_seed003_lifecycle_async():
    async def main():
        async with AsyncDaytona(config()) as daytona:
            sandbox = await daytona.create(seed_params())
            assert sandbox.state == "started"
            r = await sandbox.process.exec("echo $DEBUG")
            assert r.result == "true\n"
            await daytona.start(sandbox)
            await daytona.stop(sandbox)
            assert sandbox.state == "stopped"
            await daytona.delete(sandbox)
            with pytest.raises(DaytonaNotFoundError):
                await daytona.get(sandbox.id)

    asyncio.run(main())


def test_errors_map_to_sdk_exceptions():
    from daytona import DaytonaError

    daytona = Daytona(config())
    with pytest.raises(DaytonaNotFoundError):
        daytona.get("no-such-sandbox")
    with pytest.raises(DaytonaError) as err:
        daytona.create(
            CreateSandboxFromImageParams(image=IMAGE, resources=Resources(cpu=10_000))
        )
    assert "cpu" in str(err.value)
