"""A worker outlives its broker: Redis restarts while a dial is in flight.

Celery 5.7.0 alone dies here ("Unrecoverable error: AttributeError: 'NoneType' object has
no attribute 'hostname'", raised while it restores the unacknowledged message of the task
still running), so the dialling stopped until someone restarted the worker; the worker's
consumer (workers/consumer.py) keeps it alive, and this test keeps any release honest.

Real processes only: a private bundled redis-server (the test stops and restarts it), a
real Celery worker and beat, the simulator over HTTP with a latency that holds the POST in flight.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from dialer.embedded import EmbeddedRedis, free_port
from dialer.keys import Keys
from dialer.producer import Producer
from dialer.store import Store
from exotel_sim import SimConfig, Simulator
from tests.e2e import all_final, call_posts, posts_per_attempt
from tests.stack import Stack, wait_for


@pytest.fixture()
def private_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis(tmp_path / "redis", port=free_port()) as server:
        yield server


def _in_flight(sim: Simulator) -> list[dict[str, object]]:
    return [p for p in call_posts(sim) if p["answered_at"] is None]


@pytest.mark.slow
def test_the_worker_keeps_dialling_after_redis_restarts_under_a_task(
        private_redis: EmbeddedRedis, tmp_path: Path) -> None:
    with Simulator(SimConfig(time_scale=0.01, latency_s=2.0)) as sim:
        stack = Stack(private_redis.url, sim.url, tmp_path)
        try:
            worker = stack.start_worker("w1", concurrency=2)
            stack.start_beat()  # the due calls reach the queue by the periodic pump
            client = redis.Redis.from_url(private_redis.url, decode_responses=True)
            settings = stack.settings()
            first = Producer(client, settings).enqueue_many(
                [{"from": "+919810000010", "to": "+919820000010"}])
            wait_for(lambda: _in_flight(sim), 30, "the first POST to be in flight")

            private_redis.stop()  # the broker goes while the task waits on Exotel
            private_redis.start()  # same port, same AOF
            sim.configure(latency_s=0.0)

            client = redis.Redis.from_url(private_redis.url, decode_responses=True)
            second = Producer(client, settings).enqueue_many(
                [{"from": "+919810000020", "to": "+919820000020"}])
            wait_for(lambda: len(call_posts(sim)) >= 2, 60,
                     "the worker to dial again after the restart")
            assert worker.proc.poll() is None, "the worker died with its broker"
            assert "Unrecoverable error" not in worker.output
            store = Store(client, Keys())
            wait_for(lambda: all_final(store, first + second), 120,
                     "both calls final or unknown")
            counts = posts_per_attempt(sim)
            assert max(counts.values()) == 1, counts  # nothing POSTed twice
        except BaseException:
            print(stack.dump())
            raise
        finally:
            stack.stop()
