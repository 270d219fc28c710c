"""Reconciliation end to end: callbacks lost, duplicated and reordered, polling as the
fallback — every call ends at the simulator's ground truth."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from dialer.keys import Keys
from dialer.producer import Producer
from dialer.publisher import CeleryPublisher, broker_app
from dialer.store import Store
from exotel_sim import SimConfig, Simulator
from tests.e2e import all_final, attempt_of, call_posts, call_states, posts_per_attempt
from tests.stack import Stack, wait_for

pytestmark = pytest.mark.slow

MIXED = {"answered": 0.7, "busy": 0.1, "no-answer": 0.1, "failed": 0.1}
MAX_RETRIES = 2


@pytest.fixture()
def sim() -> Iterator[Simulator]:
    with Simulator(SimConfig(time_scale=0.01, limit_calls=100_000, outcomes=MIXED,
                             seed=1234)) as s:
        yield s


def run(redis_url: str, sim: Simulator, tmp_path: Any, n: int) -> tuple[Store, list[str]]:
    stack = Stack(redis_url, sim.url, tmp_path, rate_limit_calls=100_000,
                  max_retries=MAX_RETRIES, poll_after_s=3.0, poll_interval_s=2.0)
    try:
        stack.start_web()
        stack.start_worker("w1", concurrency=8)
        stack.start_worker("w2", concurrency=8)
        stack.start_beat()
        settings = stack.settings()
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        producer = Producer(client, settings, CeleryPublisher(broker_app(redis_url)))
        ids = producer.enqueue_many(
            [{"from": f"+9198100{i:04d}0", "to": f"+9198200{i:04d}0"} for i in range(n)]
        )
        store = Store(client, Keys())
        try:
            wait_for(lambda: all_final(store, ids), 240, f"{n} calls final", interval_s=0.5)
            wait_for(lambda: durations_filled(store, ids), 60, "Duration and Price filled",
                     interval_s=0.5)
        except AssertionError:
            print(stack.dump())
            raise
        return store, ids
    finally:
        stack.stop()


def durations_filled(store: Store, ids: list[str]) -> bool:
    """Every answered attempt has Duration and Price (they arrive after the end)."""
    for cid in ids:
        for a in store.attempts_of(cid):
            if a["state"] == "completed" and not (a.get("duration_s") and a.get("price")):
                return False
    return True


def check_against_truth(sim: Simulator, store: Store, ids: list[str]) -> None:
    latest: dict[str, dict[str, Any]] = {}
    for c in sim.calls():
        aid = (c.get("custom_field") or "").split("|")[0]
        cid, n = aid.rsplit("-", 1)
        if cid not in latest or int(n) > latest[cid]["_n"]:
            latest[cid] = {**c, "_n": int(n)}
    states = call_states(store, ids)
    wrong = {cid: (states[cid], latest[cid]["status"]) for cid in ids
             if states[cid] != latest[cid]["status"]}
    assert wrong == {}
    per_call = Counter((attempt_of(p) or "").rsplit("-", 1)[0] for p in call_posts(sim))
    assert max(per_call.values()) <= 1 + MAX_RETRIES
    assert max(posts_per_attempt(sim).values()) == 1
    # our attempt records agree with what was posted
    for cid in ids[:50]:
        assert len(store.attempts_of(cid)) == per_call[cid]


def test_lossy_duplicated_reordered_callbacks_end_at_the_truth(
    redis_url: str, sim: Simulator, tmp_path: Any
) -> None:
    sim.configure(callback_drop_ratio=0.3, callback_duplicate_ratio=0.1, callback_reorder=True)
    store, ids = run(redis_url, sim, tmp_path, 250)
    check_against_truth(sim, store, ids)
    assert sum(c["callbacks_dropped"] for c in sim.calls()) > 0


def test_polling_alone_reaches_the_truth(redis_url: str, sim: Simulator, tmp_path: Any
                                         ) -> None:
    sim.configure(callback_drop_ratio=1.0)
    store, ids = run(redis_url, sim, tmp_path, 60)
    check_against_truth(sim, store, ids)
    assert sum(c["callbacks_sent"] for c in sim.calls()) == 0
