"""Helpers shared by the end-to-end tests: the simulator's truth against our records."""

from __future__ import annotations

from collections import Counter
from typing import Any

import redis

from dialer.keys import Keys
from dialer.simulator import Simulator
from dialer.store import Store

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
    return [r for r in sim.requests()
            if r.get("method") == "POST" and ("/Calls/connect" in r.get("path", "")
                                              or r.get("path", "").endswith("/calls"))]


def attempt_of(post: dict[str, Any]) -> str | None:
    params = post.get("params") or {}
    custom = params.get("CustomField") or params.get("custom_field")
    return str(custom).split("|", 1)[0] if custom else None


def posts_per_attempt(sim: Simulator) -> Counter[str]:
    return Counter(a for p in call_posts(sim) if (a := attempt_of(p)))


def max_in_window(times: list[float], window_s: float) -> int:
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window_s:  # half-open window (t - window, t]
            j += 1
        best = max(best, i - j + 1)
    return best
