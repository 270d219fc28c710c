"""Fixtures of the ``dialer.exotel`` tests: a scripted Exotel on loopback and a client of it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dialer.exotel.client import ExotelClient
from tests.exotel.loopback import READ_TIMEOUT_S, ScriptedExotel, make_account


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture()
def server() -> Iterator[ScriptedExotel]:
    with ScriptedExotel() as srv:
        yield srv


@pytest.fixture()
def client(server: ScriptedExotel) -> Iterator[ExotelClient]:
    with ExotelClient(make_account(server.url), connect_timeout_s=1.0,
                      read_timeout_s=READ_TIMEOUT_S, get_backoff_s=0.01) as c:
        yield c
