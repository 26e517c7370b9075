"""The SDK's CodeInterpreter (sync and async) against processd's interpreter contexts (spec §7)."""

from __future__ import annotations

import asyncio

import pytest

from daytona.common.errors import DaytonaError, DaytonaTimeoutError
from conftest import WithSharedSession


def test_seed_example_contexts_callbacks_and_persistent_state(code_interpreter):
    out, err, errors = [], [], []
    result = code_interpreter.run_code(
        "x = 100",
        on_stdout=lambda msg: out.append(msg.output),
        on_stderr=lambda msg: err.append(msg.output),
        on_error=lambda e: errors.append(e),
        timeout=10,
    )
    assert result.error is None
    assert (result.stdout, result.stderr) == ("", "")

    ctx = code_interpreter.create_context()
    assert ctx.language == "python"
    assert ctx.active
    code_interpreter.run_code("x = 100", context=ctx)
    result = code_interpreter.run_code("print(x)", context=ctx)
    assert result.stdout == "100\n"
    assert result.error is None

    listed = [c.id for c in code_interpreter.list_contexts()]
    assert ctx.id in listed
    assert "default" not in listed

    code_interpreter.delete_context(ctx)
    assert ctx.id not in [c.id for c in code_interpreter.list_contexts()]


def test_seed_style_indented_code_runs_in_a_context(code_interpreter):
    """Code pasted indented inside a triple-quoted string, as the seeds print it."""
    ctx = code_interpreter.create_context()
    result = code_interpreter.run_code('''
    x = 10
    y = 20
    print(f"Sum: {x + y}")
''', context=ctx)
    assert result.error is None, result.error
    assert result.stdout == "Sum: 30\n"
    result = code_interpreter.run_code("print(x)", context=ctx)
    assert result.stdout == "10\n"
    code_interpreter.delete_context(ctx)


def test_callbacks_see_stdout_stderr_and_the_error(code_interpreter):
    out, err, errors = [], [], []
    code = "import sys\nprint('hello')\nsys.stderr.write('warn\\n')\nraise ValueError('bad value')"
    result = code_interpreter.run_code(
        code,
        on_stdout=lambda msg: out.append(msg.output),
        on_stderr=lambda msg: err.append(msg.output),
        on_error=lambda e: errors.append(e),
    )
    assert "".join(out) == "hello\n" == result.stdout
    assert "".join(err) == "warn\n" == result.stderr
    assert len(errors) == 1
    assert result.error is not None
    assert (result.error.name, result.error.value) == ("ValueError", "bad value")
    assert "raise ValueError('bad value')" in result.error.traceback


def test_contexts_are_isolated(code_interpreter):
    a = code_interpreter.create_context()
    b = code_interpreter.create_context()
    try:
        code_interpreter.run_code("only_in_a = 1", context=a)
        result = code_interpreter.run_code("print(only_in_a)", context=b)
        assert result.error is not None and result.error.name == "NameError"
    finally:
        code_interpreter.delete_context(a)
        code_interpreter.delete_context(b)


def test_timeout_raises_the_sdk_timeout_error_and_keeps_state(code_interpreter):
    ctx = code_interpreter.create_context()
    try:
        code_interpreter.run_code("survivor = 'still here'", context=ctx)
        with pytest.raises(DaytonaTimeoutError):
            code_interpreter.run_code("import time\ntime.sleep(30)", context=ctx, timeout=1)
        result = code_interpreter.run_code("print(survivor)", context=ctx)
        assert result.stdout == "still here\n"
    finally:
        code_interpreter.delete_context(ctx)


def test_envs_and_fd_level_output(code_interpreter):
    code = "import os\nprint(os.environ['COMPAT_VAR'])\nos.system('echo from-shell-$COMPAT_VAR')"
    result = code_interpreter.run_code(code, envs={"COMPAT_VAR": "v1"})
    assert result.stdout == "v1\nfrom-shell-v1\n"
    result = code_interpreter.run_code("import os\nprint(os.environ.get('COMPAT_VAR'))")
    assert result.stdout == "None\n"


def test_large_output_without_newline(code_interpreter):
    result = code_interpreter.run_code("import sys\nsys.stdout.write('y' * (5 * 1024 * 1024))")
    assert len(result.stdout) == 5 * 1024 * 1024


def test_deleting_unknown_and_default_contexts_fails(code_interpreter):
    ctx = code_interpreter.create_context()
    code_interpreter.delete_context(ctx)
    with pytest.raises(DaytonaError) as info:
        code_interpreter.delete_context(ctx)
    assert "not found" in str(info.value)

    from daytona_toolbox_api_client import InterpreterContext

    default = InterpreterContext(id="default", cwd="/", created_at="", active=True, language="python")
    with pytest.raises(DaytonaError) as info:
        code_interpreter.delete_context(default)
    assert "cannot delete default context" in str(info.value)


def test_matplotlib_show_does_not_disturb_the_sdk(code_interpreter):
    pytest.importorskip("matplotlib")
    code = (
        "import matplotlib.pyplot as plt\n"
        "plt.plot([1, 2, 3], [1, 4, 9], label='sq')\n"
        "plt.title('squares')\n"
        "plt.show()\n"
        "print('shown')"
    )
    result = code_interpreter.run_code(code, timeout=120)
    assert result.error is None, result.error
    assert result.stdout.endswith("shown\n")



def test_async_interpreter_with_aiohttp(async_toolbox_client):
    from daytona._async.code_interpreter import AsyncCodeInterpreter
    from daytona_toolbox_api_client_async import InterpreterApi

    async def scenario():
        interp = AsyncCodeInterpreter(InterpreterApi(WithSharedSession(async_toolbox_client)))
        try:
            ctx = await interp.create_context()
            chunks = []
            await interp.run_code("n = 5", context=ctx)
            result = await interp.run_code(
                "print(n * 2)\nprint('z' * (2 * 1024 * 1024), end='')",
                context=ctx,
                on_stdout=lambda m: chunks.append(m.output),
            )
            assert result.stdout.startswith("10\n")
            assert len(result.stdout) == 3 + 2 * 1024 * 1024
            assert "".join(chunks) == result.stdout
            with pytest.raises(DaytonaTimeoutError):
                await interp.run_code("import time\ntime.sleep(30)", context=ctx, timeout=1)
            await interp.delete_context(ctx)
        finally:
            await async_toolbox_client.close()

    asyncio.run(scenario())
