"""Helpers shared by the end-to-end tests: the simulator's truth against our records."""

from __future__ import annotations

from collections import Counter
from typing import Any

import redis

from dialer.keys import Keys
from dialer.store import Store
from exotel_sim import Simulator, inspect

FINAL_CALL_STATES = {"completed", "busy", "no-answer", "failed", "rejected", "cancelled",
                     "unknown"}


def store_for(redis_url: str) -> Store:
    return Store(redis.Redis.from_url(redis_url, decode_responses=True), Keys())


def call_states(store: Store, call_ids: list[str]) -> dict[str, str]:
    pipe = store.r.pipeline(transaction=False)
    for cid in call_ids:
        pipe.hget(store.keys.call(cid), "state")
    return dict(zip(call_ids, (str(s) for s in pipe.execute()), strict=True))


def all_final(store: Store, call_ids: list[str]) -> bool:
    return all(s in FINAL_CALL_STATES for s in call_states(store, call_ids).values())


def call_posts(sim: Simulator) -> list[dict[str, Any]]:
    """Every call-creating POST the simulator received."""
    return inspect.call_posts(sim.requests())


attempt_of = inspect.attempt_of
max_in_window = inspect.max_in_window


def posts_per_attempt(sim: Simulator) -> Counter[str]:
    return Counter(a for p in call_posts(sim) if (a := attempt_of(p)))
