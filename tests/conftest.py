"""Shared fixtures: a real Redis for the whole session, a dedicated database per test.

``DIALER_TEST_REDIS_URL`` points the suite at an existing server; otherwise the bundled
redis-server is started on a free loopback port and stopped at the end of the session.
Every test gets database ``DIALER_TEST_REDIS_DB`` (default 15), flushed before and after.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from dialer.embedded import EmbeddedRedis, check_redis

pytest_plugins = ["tests.exotel_sim.sim_fixtures"]

TEST_DB = int(os.environ.get("DIALER_TEST_REDIS_DB", "15"))


@pytest.fixture(scope="session")
def redis_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (no database) of the session's Redis server."""
    url = os.environ.get("DIALER_TEST_REDIS_URL", "")
    if url:
        check_redis(url)
        yield url.rsplit("/", 1)[0] if url.count("/") > 2 else url
        return
    with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as server:
        yield f"redis://{server.host}:{server.port}"


@pytest.fixture()
def redis_url(redis_server_url: str) -> Iterator[str]:
    """URL of the test's dedicated database, flushed around the test."""
    url = f"{redis_server_url}/{TEST_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@pytest.fixture()
def r(redis_url: str) -> Iterator[redis.Redis]:
    """A client on the test's flushed database (decode_responses=True)."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture()
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No DIALER_* variables from the caller's shell, and a cwd without a .env file."""
    for key in list(os.environ):
        if key.startswith("DIALER_") and not key.startswith("DIALER_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Expose each phase's report on the item (``item.rep_call``) for fixtures."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


@pytest.fixture()
def stack_factory(redis_url: str, tmp_path: Path, request: pytest.FixtureRequest
                  ) -> Iterator[Any]:
    """Make end-to-end stacks (workers, beat, web) against the module's ``sim`` fixture.

    A module's ``STACK_DEFAULTS`` dict sets its settings; each stack is stopped after the
    test, and its processes' output printed when the test failed.
    """
    from tests.stack import Stack

    sim = request.getfixturevalue("sim")
    defaults = getattr(request.module, "STACK_DEFAULTS", {})
    made: list[Stack] = []

    def factory(**settings: Any) -> Stack:
        stack = Stack(redis_url, sim.url, tmp_path, **{**defaults, **settings})
        made.append(stack)
        return stack

    yield factory
    failed = getattr(request.node, "rep_call", None)
    for stack in made:
        stack.stop()
        if failed is not None and failed.failed:
            print(stack.dump())
