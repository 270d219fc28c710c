"""A script on a thread's held connection (:mod:`dialer.held_script`): the same answers
and errors as redis-py's ``Script``, on the held connection, through a dropped
connection and a server that forgot its scripts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from dialer import held_script

ECHO = "redis.call('INCR', KEYS[1]) return {KEYS[1], ARGV[1], tonumber(ARGV[2]) + 1}"
FAILS = "return redis.error_reply('BAD thing: ' .. ARGV[1])"


@pytest.fixture()
def held(redis_url: str) -> Iterator[redis.Redis]:
    pool = redis.ConnectionPool.from_url(redis_url, decode_responses=True)
    client = redis.Redis(connection_pool=pool, single_connection_client=True)
    yield client
    client.close()
    pool.disconnect()


def test_the_answer_is_the_scripts_own(held: redis.Redis, r: redis.Redis) -> None:
    script = held.register_script(ECHO)
    assert held_script.run(script, held, ["k"], ["x", 41]) == script(keys=["k"], args=["x", 41])
    assert held_script.run(script, held, ["k"], ["x", 41]) == ["k", "x", 42]
    assert r.get("k") == "3"


def test_it_runs_on_the_held_connection(held: redis.Redis) -> None:
    script = held.register_script(ECHO)
    conn = held.connection
    sent: list[tuple[object, ...]] = []
    send = conn.send_command

    def spy(*args: object, **kwargs: object) -> None:
        sent.append(args)
        send(*args, **kwargs)

    conn.send_command = spy  # type: ignore[method-assign]
    for _ in range(3):
        held_script.run(script, held, ["k"], ["x", 1])
    assert [a[:3] for a in sent] == [("EVALSHA", script.sha, 1)] * 3
    assert held.connection is conn


def test_a_pooled_client_runs_it_the_usual_way(r: redis.Redis) -> None:
    assert r.connection is None
    script = r.register_script(ECHO)
    assert held_script.run(script, r, ["k"], ["y", 1]) == ["k", "y", 2]


def test_a_server_that_forgot_its_scripts_gets_it_loaded(held: redis.Redis,
                                                         r: redis.Redis) -> None:
    script = held.register_script(ECHO)
    held_script.run(script, held, ["k"], ["x", 1])
    r.script_flush()
    assert r.script_exists(script.sha) == [False]
    assert held_script.run(script, held, ["k"], ["x", 1]) == ["k", "x", 2]
    assert r.script_exists(script.sha) == [True]
    assert r.get("k") == "2"  # ran once per call, not twice


def test_a_dropped_connection_is_retried_by_the_connections_policy(redis_url: str,
                                                                    r: redis.Redis) -> None:
    pool = redis.ConnectionPool.from_url(redis_url, decode_responses=True,
                                         retry=Retry(NoBackoff(), 1))
    held = redis.Redis(connection_pool=pool, single_connection_client=True)
    script = held.register_script(ECHO)
    held_script.run(script, held, ["k"], ["x", 1])
    r.client_kill_filter(_id=held.client_id())
    assert held_script.run(script, held, ["k"], ["x", 1]) == ["k", "x", 2]
    assert r.get("k") == "2"
    held.close()
    pool.disconnect()


def test_without_retries_a_dropped_connection_raises_as_the_script_does_and_reconnects(
        held: redis.Redis, r: redis.Redis) -> None:
    script = held.register_script(ECHO)
    held_script.run(script, held, ["k"], ["x", 1])
    r.client_kill_filter(_id=held.client_id())
    with pytest.raises(redis.ConnectionError):
        held_script.run(script, held, ["k"], ["x", 1])
    r.client_kill_filter(_id=held.client_id())
    with pytest.raises(redis.ConnectionError):
        script(keys=["k"], args=["x", 1])  # redis-py's own path: the same
    assert held_script.run(script, held, ["k"], ["x", 1]) == ["k", "x", 2]


def test_a_script_error_is_raised_and_the_connection_stays_usable(held: redis.Redis) -> None:
    script = held.register_script(FAILS)
    with pytest.raises(redis.ResponseError, match="BAD thing: why"):
        held_script.run(script, held, [], ["why"])
    conn = held.connection
    assert held.ping() is True and held.connection is conn
