"""Sanity checks of the compat harness itself: the daemon is up and enforces its token."""

import httpx

from conftest import _headers


def test_daemon_answers_health(daemon_url):
    resp = httpx.get(f"{daemon_url}/health", headers=_headers(), timeout=10)
    assert resp.status_code == 200


def test_daemon_rejects_requests_without_the_token(daemon_url):
    headers = {k: v for k, v in _headers().items() if k != "Authorization"}
    resp = httpx.get(f"{daemon_url}/process/session", headers=headers, timeout=10)
    assert resp.status_code == 401
    assert resp.json()["statusCode"] == 401
