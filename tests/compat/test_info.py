"""`sandbox.update_env` (toolbox I6 `POST /env`, process spec §8.6) through the official SDK:
processes started afterwards see the change, the daemon answers the SDK's shapes."""

import types
import uuid

import pytest
from daytona import DaytonaBadRequestError
from daytona._sync.sandbox import Sandbox


@pytest.fixture()
def sandbox_server(toolbox_client):
    from daytona_toolbox_api_client import ServerApi

    return types.SimpleNamespace(_server_api=ServerApi(toolbox_client))


def test_update_env_reaches_new_processes(sandbox_server, process):
    name = f"COMPAT_{uuid.uuid4().hex[:8].upper()}"
    Sandbox.update_env(sandbox_server, {name: "from update_env"})
    assert process.exec(f'printf %s "${name}"').result == "from update_env"
    Sandbox.update_env(sandbox_server, {}, unset=[name])
    assert process.exec(f'printf %s "${{{name}-unset}}"').result == "unset"


def test_update_env_refuses_a_bad_name(sandbox_server):
    with pytest.raises(DaytonaBadRequestError):
        Sandbox.update_env(sandbox_server, {"A=B": "x"})
