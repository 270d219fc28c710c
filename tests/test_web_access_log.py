"""No token reaches the web app's access log, however the app is started: ``dialer web``
(compose, the Procfile) and ``uvicorn --factory dialer.web:app_from_env`` (the tests)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from dialer.access_log import RedactQueryFilter, redact_path
from dialer.embedded import free_port
from dialer.processes import Child
from dialer.webhooks import sign_attempt
from tests.stack import CALLBACK_SECRET, ROOT, Stack, wait_for

CLIENT_TOKEN = "client-SECRET-7777"


def start(kind: str, env: dict[str, str], port: int) -> Child:
    if kind == "dialer web":
        args = [sys.executable, "-m", "dialer.cli", "web", "--port", str(port)]
    else:
        args = [sys.executable, "-m", "uvicorn", "--factory", "dialer.web:app_from_env",
                "--host", "127.0.0.1", "--port", str(port), "--log-level", "info"]
    return Child(kind, args, env, ROOT)


@pytest.fixture(params=["dialer web", "uvicorn --factory"])
def web(request: pytest.FixtureRequest, redis_url: str, tmp_path: Path
        ) -> Iterator[tuple[Child, str]]:
    env = Stack(redis_url, "http://127.0.0.1:9", tmp_path).env
    port = free_port()
    child = start(request.param, env, port)
    url = f"http://127.0.0.1:{port}"

    try:
        wait_for(lambda: child.answers(f"{url}/healthz"), 30, f"{request.param} to answer")
        yield child, url
    finally:
        child.stop()


def test_tokens_never_reach_the_access_log(web: tuple[Child, str]) -> None:
    child, url = web
    aid = "0123456789abcdef01234567-1"
    token = sign_attempt(CALLBACK_SECRET, aid)
    assert requests.post(f"{url}/v1/callbacks/exotel/{aid}?token={token}&x=1",
                         data={"CallSid": "s1", "Status": "completed"},
                         timeout=5).status_code == 200
    requests.get(f"{url}/v1/callbacks/exotel/{aid}?CallSid=s&token={token}", timeout=5)
    for name in ("api_token", "token", "access_token", "Access_Token", "password"):
        requests.get(f"{url}/v1/calls?idempotency_key=k&{name}={CLIENT_TOKEN}", timeout=5)
    wait_for(lambda: child.output.count("GET /v1/calls?") >= 5, 10, "the access log lines")
    log = child.output
    assert token not in log and CLIENT_TOKEN not in log, log[-3000:]
    assert "token=***" in log and "idempotency_key=k" in log


def test_redact_path_keeps_what_is_not_secret() -> None:
    assert redact_path("/a?token=x&b=2") == "/a?token=***&b=2"
    assert redact_path("/a?b=2") == "/a?b=2" and redact_path("/a") == "/a"
    assert redact_path("/a?API_TOKEN=x&api%5Ftoken=y") == "/a?API_TOKEN=***&api%5Ftoken=***"
    assert isinstance(RedactQueryFilter(), RedactQueryFilter)


def test_the_port_is_free_again(web: tuple[Child, str]) -> None:
    assert free_port()  # smoke: the fixture starts and stops both ways cleanly
