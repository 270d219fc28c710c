"""The dialer against the faithful simulator: retries decided on leg evidence, unknown
outcomes resolved from Exotel's bulk call details — real Redis, workers, beat and web."""

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

MAX_RETRIES = 2
STACK_DEFAULTS = {"max_retries": MAX_RETRIES, "poll_after_s": 2.0, "poll_interval_s": 1.0,
                  "evidence_delay_s": 0.3, "evidence_interval_s": 0.5}


@pytest.fixture()
def sim() -> Iterator[Simulator]:
    with Simulator(SimConfig(time_scale=0.01, limit_calls=100_000, seed=7)) as s:
        yield s


def producer_for(stack: Stack) -> Producer:
    settings = stack.settings()
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    return Producer(client, settings, CeleryPublisher(broker_app(settings.redis_url)))


def number(prefix: str, i: int, suffix: str = "10") -> str:
    return f"+91{prefix}{i:03d}{suffix}"


def posts_per_call(sim: Simulator) -> Counter[str]:
    return Counter(a.rsplit("-", 1)[0] for p in call_posts(sim) if (a := attempt_of(p)))


# customers who do not answer or fail (leg 2), agents who do not answer or fail (leg 1)
CASES = [("10", "92", 1, "no-answer"), ("10", "93", 1, "failed"),
         ("92", "10", 1 + MAX_RETRIES, "no-answer"), ("93", "10", 1 + MAX_RETRIES, "failed"),
         ("10", "10", 1, "completed")]


@pytest.mark.parametrize("mode", ["connect", "v3"])
@pytest.mark.parametrize("drop", [0.0, 0.3])
def test_only_a_first_leg_failure_is_retried(redis_url: str, sim: Simulator,
                                             stack_factory: Any, mode: str,
                                             drop: float) -> None:
    """Four-field v1 callbacks (no StatusCallbackEvents) and v3 callbacks carry no legs:
    the retry waits for the legs from a look-up."""
    sim.configure(callback_drop_ratio=drop)
    stack = stack_factory(subscribe_callback_events="false")
    stack.start_all()
    producer = producer_for(stack)
    ids: dict[str, tuple[int, str]] = {}
    for i, (agent_end, customer_end, posts, status) in enumerate(CASES * 2):
        request = {"from": number("98100", i, agent_end), "to": number("98200", i, customer_end)}
        if mode == "v3":
            request["mode"] = "v3"
        ids[producer.enqueue(request)] = (posts, status)
    store = Store(redis.Redis.from_url(redis_url, decode_responses=True), Keys())
    wait_for(lambda: all_final(store, list(ids)), 120, "all calls final", interval_s=0.3)
    counted = posts_per_call(sim)
    states = call_states(store, list(ids))
    for cid, (posts, status) in ids.items():
        assert counted[cid] == posts, (cid, status, store.attempts_of(cid))
        assert states[cid] == status
        last = store.attempts_of(cid)[-1]
        assert last["decision"] == "final", last
    assert max(posts_per_attempt(sim).values()) == 1
    callbacks = [c for c in sim.callbacks() if c.get("delivered", True)]
    if mode == "connect":  # the simulator sent the documented four fields, no legs
        bodies = [c.get("body") or {} for c in callbacks]
        assert bodies and all("Legs" not in str(b) for b in bodies)


def test_subscribed_callbacks_carry_the_legs_and_need_no_lookup(
    redis_url: str, sim: Simulator, stack_factory: Any
) -> None:
    # No look-up before 30 s: a callback delayed by a loaded machine past the module's
    # 2 s would draw one; the calls end (and their callbacks arrive) within a second.
    stack = stack_factory(poll_after_s=30.0, agent_poll_after_s=30.0)
    stack.start_all()
    producer = producer_for(stack)
    ids = [producer.enqueue({"from": number("98100", i, a), "to": number("98200", i, c)})
           for i, (a, c, _, _) in enumerate(CASES)]
    store = Store(redis.Redis.from_url(redis_url, decode_responses=True), Keys())
    wait_for(lambda: all_final(store, ids), 25, "all calls final", interval_s=0.3)
    assert [p for p in call_posts(sim) if "StatusCallbackEvents" not in str(p["params"])] == []
    gets = [r for r in sim.requests() if r.get("method") == "GET"]
    assert gets == []  # every decision came with its callback
    assert sorted(posts_per_call(sim).values()) == [1, 1, 1, 1 + MAX_RETRIES, 1 + MAX_RETRIES]


def test_unknown_outcomes_are_resolved_from_the_bulk_call_details(
    redis_url: str, sim: Simulator, stack_factory: Any
) -> None:
    """Accept-then-drop (suffix 95): Exotel created the call, the answer was lost; a 500
    (suffix 96): it created nothing. The first are found and take the call's real status;
    the others are reported at the horizon; nothing is dialled twice."""
    stack = stack_factory(unknown_deadline_s=8.0, unknown_match_window_s=30.0)
    stack.start_all()
    producer = producer_for(stack)
    dropped = [producer.enqueue({"from": number("98100", i), "to": number("98200", i, "95")})
               for i in range(4)]
    refused = [producer.enqueue({"from": number("98100", 10 + i),
                                 "to": number("98200", 10 + i, "96")}) for i in range(2)]
    store = Store(redis.Redis.from_url(redis_url, decode_responses=True), Keys())
    truth = {c["custom_field"].split("|")[0].rsplit("-", 1)[0]: c for c in sim.calls()}

    def resolved() -> bool:
        return all(store.attempts_of(cid)[0].get("call_sid") for cid in dropped) and all_final(
            store, dropped)

    wait_for(resolved, 60, "the dropped calls found", interval_s=0.3)
    truth = {c["custom_field"].split("|")[0].rsplit("-", 1)[0]: c for c in sim.calls()}
    for cid in dropped:
        attempt = store.attempts_of(cid)[0]
        assert attempt["call_sid"] == truth[cid]["sid"]
        assert call_states(store, [cid])[cid] == truth[cid]["status"]
        agent = store.keys.agent("main", number("98100", dropped.index(cid)))
        assert store.r.zcard(agent) == 0  # freed as soon as the call was found ended
    wait_for(lambda: len(store.unresolved()) == 2, 60, "the refused calls reported")
    assert {a.rsplit("-", 1)[0] for a, _ in store.unresolved()} == set(refused)
    assert max(posts_per_attempt(sim).values()) == 1
    assert len(call_posts(sim)) == 6
    bulk = [r for r in sim.requests()
            if r.get("method") == "GET" and r.get("path", "").rstrip("/").endswith(
                ("/Calls", "/Calls.json"))]
    assert bulk, "no bulk call details look-up was made"
