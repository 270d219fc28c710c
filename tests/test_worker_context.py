"""A worker's per-thread dial context (``workers.context.dial``): each pool thread dials
on a Redis connection of its own, taken once from the process's pool."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from redis.sentinel import SentinelConnectionPool

from dialer.dialing import place_attempt
from dialer.store import NewCall
from tests.units import unit_settings
from workers import context


@pytest.fixture()
def app(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(context, "_ctx", None)
    return SimpleNamespace(dialer_settings=unit_settings(redis_url=redis_url))


def test_each_thread_has_its_own_context_on_one_connection(app: Any) -> None:
    mine = context.dial(app)
    assert context.dial(app) is mine  # made once per thread
    others: list[Any] = []
    thread = threading.Thread(target=lambda: others.append(context.dial(app)))
    thread.start()
    thread.join(10)
    (other,) = others
    assert other is not mine and other.store is not mine.store
    shared = context.get(app)
    for dial in (mine, other):
        client: redis.Redis = dial.store.r
        assert client.connection is not None  # single_connection_client
        assert client.connection_pool is shared.redis.connection_pool
        assert dial.limiter.client is client
        assert dial.caps is not None and dial.caps.r is client
        assert dial.clients is shared.dial.clients and dial.gate is shared.dial.gate
    assert mine.store.r.connection is not other.store.r.connection


def test_its_commands_keep_to_its_connection(app: Any) -> None:
    dial = context.dial(app)
    conn = dial.store.r.connection
    pool = context.get(app).redis.connection_pool
    ids = {dial.store.r.client_id() for _ in range(5)}
    assert len(ids) == 1 and dial.store.r.connection is conn
    assert conn not in pool._available_connections  # held for the thread, not returned


def test_a_new_process_context_gives_the_thread_a_new_dial(app: Any,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    first = context.dial(app)
    monkeypatch.setattr(context, "_ctx", None)  # as after a fork (worker_process_init)
    assert context.dial(app) is not first


def test_a_call_is_placed_through_it(app: Any) -> None:
    """The thread's context places a call (its scripts run on its own connection); the
    POST goes to an address where nothing listens: not placed, back to wait."""
    dial = context.dial(app)
    (call,) = dial.store.create_calls(
        [NewCall("main", "connect", {"From": "+919876543210", "To": "+919812345678",
                                     "CallerId": "08030752400"}, {})], delay_ms=0)
    assert dial.store.take_due(1) == [call.attempt_id]
    assert place_attempt(dial, call.attempt_id) == "waiting:transport"
    assert dial.store.get_attempt(call.attempt_id)["state"] == "pending"


def test_through_sentinel_the_thread_uses_the_pooled_client(monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """A held connection would stay on a demoted primary after a failover: with Sentinel
    the thread's context takes a connection per command, as the process's client does."""
    monkeypatch.setattr(context, "_ctx", None)
    app = SimpleNamespace(dialer_settings=unit_settings(
        redis_url="sentinel://127.0.0.1:1;sentinel://127.0.0.1:2/0"))
    dial = context.dial(app)  # nothing connects until a command runs
    shared = context.get(app)
    assert isinstance(shared.redis.connection_pool, SentinelConnectionPool)
    assert dial.store.r is shared.redis and dial.store.r.connection is None
    assert dial is not shared.dial and dial.clients is shared.dial.clients
