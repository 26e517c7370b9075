"""Fixtures wiring the official Daytona Python SDK (daytona==0.226.1) to a running processd.

`cargo xtask compat` starts processd on 127.0.0.1 with a token and sets:
  PROCESSD_URL      base URL of the daemon (http://127.0.0.1:PORT)
  PROCESSD_TOKEN_FOR_TESTS  the bearer token it requires
  PROCESSD_WORKDIR  the daemon's default working directory

The SDK normally reaches a sandbox's toolbox through Daytona's proxy, which adds a
`/{sandboxId}` path prefix and strips it again. We talk to the daemon directly, so the
generated toolbox clients get the daemon URL as their host, with the same default headers
`Daytona.__init__` sets (Authorization, X-Daytona-Source, X-Daytona-SDK-Version).
"""

from __future__ import annotations

import os

import httpx
import pytest

SDK_VERSION = "0.226.1"


def _headers() -> dict[str, str]:
    headers = {
        "X-Daytona-Source": "sdk-python",
        "X-Daytona-SDK-Version": SDK_VERSION,
    }
    token = os.environ.get("PROCESSD_TOKEN_FOR_TESTS")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


@pytest.fixture(scope="session")
def daemon_url() -> str:
    url = os.environ.get("PROCESSD_URL")
    if not url:
        pytest.fail("PROCESSD_URL is not set: run the suite with `cargo xtask compat`")
    return url


@pytest.fixture(scope="session")
def workdir() -> str:
    return os.environ.get("PROCESSD_WORKDIR", "/tmp")


@pytest.fixture(scope="session")
def toolbox_client(daemon_url):
    from daytona_toolbox_api_client import ApiClient, Configuration

    client = ApiClient(Configuration(host=daemon_url))
    client.default_headers.update(_headers())
    return client


@pytest.fixture(scope="session")
def http_client():
    with httpx.Client(headers=_headers(), timeout=None) as client:
        yield client


@pytest.fixture()
def process(toolbox_client, http_client):
    """The SDK's sync `Process`, exactly as `Sandbox.process` builds it (language python)."""
    from daytona._sync.process import Process
    from daytona_toolbox_api_client import ProcessApi

    return Process("python", ProcessApi(toolbox_client), http_client=http_client)


@pytest.fixture()
def code_interpreter(toolbox_client, http_client):
    """The SDK's sync `CodeInterpreter`, as `Sandbox.code_interpreter` builds it."""
    from daytona._sync.code_interpreter import CodeInterpreter
    from daytona_toolbox_api_client import InterpreterApi

    return CodeInterpreter(InterpreterApi(toolbox_client), http_client=http_client)


@pytest.fixture()
def async_toolbox_client(daemon_url):
    from daytona_toolbox_api_client_async import ApiClient, Configuration

    client = ApiClient(Configuration(host=daemon_url))
    client.default_headers.update(_headers())
    return client


class WithSharedSession:
    """What `Sandbox` hands the async SDK: the generated async ApiClient plus `http_session`,
    the aiohttp session its REST client opened (the SDK's ToolboxApiClientProxy adds it; the
    async WebSocket methods use it). Make one REST call before the first WebSocket."""

    def __init__(self, client):
        object.__setattr__(self, "_client", client)

    def __getattr__(self, name):
        return getattr(self._client, name)

    @property
    def http_session(self):
        return self._client.rest_client.pool_manager


@pytest.fixture()
def async_process(async_toolbox_client):
    """The SDK's `AsyncProcess` (use inside `asyncio.run`)."""
    from daytona._async.process import AsyncProcess
    from daytona_toolbox_api_client_async import ProcessApi

    return AsyncProcess("python", ProcessApi(WithSharedSession(async_toolbox_client)))



@pytest.fixture()
def fs(toolbox_client, http_client):
    """The SDK's sync `FileSystem`, as `Sandbox.fs` builds it (shared pooled httpx client)."""
    from daytona._sync.filesystem import FileSystem
    from daytona_toolbox_api_client import FileSystemApi

    return FileSystem(FileSystemApi(toolbox_client), http_client=http_client)


@pytest.fixture()
def git(toolbox_client):
    """The SDK's sync `Git`, as `Sandbox.git` builds it."""
    from daytona._sync.git import Git
    from daytona_toolbox_api_client import GitApi

    return Git(GitApi(toolbox_client))


@pytest.fixture()
def sandbox_info(toolbox_client):
    """An object carrying what `Sandbox.get_user_home_dir`/`get_work_dir` use (`_info_api`), so
    the SDK's own unbound methods run unchanged: `Sandbox.get_work_dir(sandbox_info)`."""
    import types

    from daytona_toolbox_api_client import InfoApi

    return types.SimpleNamespace(_info_api=InfoApi(toolbox_client))


class AsyncToolbox:
    """What `AsyncSandbox` builds from one async ApiClient: `fs`, `git` and the info API.
    Use as `async with AsyncToolbox(url) as tb:` inside `asyncio.run`; it makes one REST call
    first so the shared aiohttp session exists (as `AsyncDaytona.create/get` would)."""

    def __init__(self, url):
        self._url = url

    async def __aenter__(self):
        import types

        from daytona._async.filesystem import AsyncFileSystem
        from daytona._async.git import AsyncGit
        from daytona_toolbox_api_client_async import (
            ApiClient,
            Configuration,
            FileSystemApi,
            GitApi,
            InfoApi,
        )

        self.client = ApiClient(Configuration(host=self._url))
        self.client.default_headers.update(_headers())
        self.client.default_headers["X-Daytona-Source"] = "sdk-python-async"
        shared = WithSharedSession(self.client)
        self.fs = AsyncFileSystem(FileSystemApi(shared))
        self.git = AsyncGit(GitApi(shared))
        self.info = types.SimpleNamespace(_info_api=InfoApi(shared))
        await self.info._info_api.get_work_dir()
        return self

    async def __aexit__(self, *exc):
        await self.client.close()


@pytest.fixture(scope="session")
def git_http():
    """`git http-backend` behind a tiny HTTP server on 127.0.0.1 requiring Basic auth
    (user `alice`, password `s3cret pass`); `.root` is the directory of its bare repos."""
    from git_server import GitHttpServer

    with GitHttpServer(user="alice", password="s3cret pass") as server:
        yield server
