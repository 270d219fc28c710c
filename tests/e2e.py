"""Helpers shared by the end-to-end tests: the simulator's truth against our records."""

from __future__ import annotations

from collections import Counter
from typing import Any

import redis
import requests

from dialer import status
from dialer.keys import Keys
from dialer.store import CALL_DEFAULTS, Store
from exotel_sim import Simulator, inspect
from tests.stack import API_TOKEN, Stack

# final, or unknown (never redialled blindly): what an end-to-end test waits for
FINAL_CALL_STATES = status.SETTLED_CALL_STATES


def store_for(redis_url: str) -> Store:
    return Store(redis.Redis.from_url(redis_url, decode_responses=True), Keys())


def call_states(store: Store, call_ids: list[str]) -> dict[str, str]:
    pipe = store.r.pipeline(transaction=False)
    for cid in call_ids:
        pipe.hget(store.keys.call(cid), "state")
    # a call waiting for its first attempt has no state yet (dialer.store): queued
    return dict(zip(call_ids, (str(s or CALL_DEFAULTS["state"]) for s in pipe.execute()),
                    strict=True))


def all_final(store: Store, call_ids: list[str]) -> bool:
    return all(s in FINAL_CALL_STATES for s in call_states(store, call_ids).values())


def call_posts(sim: Simulator) -> list[dict[str, Any]]:
    """Every call-creating POST the simulator received."""
    return inspect.call_posts(sim.requests())


attempt_of = inspect.attempt_of
max_in_window = inspect.max_in_window


def posts_per_attempt(sim: Simulator) -> Counter[str]:
    return Counter(a for p in call_posts(sim) if (a := attempt_of(p)))


def raw_celery_message(task: str, kwargs: dict[str, Any], queue: str = "calls") -> str:
    """What a non-Python Celery client LPUSHes: protocol 2, a base64 JSON body."""
    import base64
    import json
    import uuid

    body = json.dumps([[], kwargs, {"callbacks": None, "errbacks": None, "chain": None,
                                    "chord": None}])
    task_id = str(uuid.uuid4())
    return json.dumps({
        "body": base64.b64encode(body.encode()).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {"lang": "js", "task": task, "id": task_id, "root_id": task_id,
                    "parent_id": None, "group": None, "retries": 0, "argsrepr": "()",
                    "kwargsrepr": json.dumps(kwargs)},
        "properties": {"correlation_id": task_id, "reply_to": "", "delivery_mode": 2,
                       "delivery_tag": str(uuid.uuid4()), "body_encoding": "base64",
                       "delivery_info": {"exchange": queue, "routing_key": queue},
                       "priority": 0},
    })


def mixed_requests(n: int) -> list[dict[str, str]]:
    """Answered, busy / no-answer / failed on leg 2 (not retried), failed on leg 1
    (retried once), no-answer on leg 1 (retried once)."""
    out = []
    for i in range(n):
        agent, customer = f"+9198100{i:04d}0", f"+9198200{i:04d}0"
        kind = i % 6
        if kind in (1, 2, 3):
            customer = customer[:-2] + ("91", "92", "93")[kind - 1]
        elif kind == 4:
            agent = agent[:-2] + "93"
        elif kind == 5:
            agent = agent[:-2] + "92"
        out.append({"from": agent, "to": customer})
    return out


def enqueue_http(stack: Stack, calls: list[dict[str, str]]) -> list[str]:
    """POST ``calls`` to the stack's HTTP API as one list; their call ids."""
    resp = requests.post(f"{stack.web_url}/v1/calls", json=calls,
                         headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=30)
    assert resp.status_code == 202, resp.text
    return list(resp.json()["call_ids"])
