"""The dial pipeline end to end: real Redis, real Celery workers and beat, the web app
receiving the simulator's callbacks over HTTP."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from dialer.keys import Keys
from dialer.producer import Producer
from dialer.publisher import CeleryPublisher, broker_app
from dialer.store import Store
from exotel_sim import SimConfig, Simulator
from tests.e2e import (
    all_final,
    attempt_of,
    call_posts,
    call_states,
    max_in_window,
    posts_per_attempt,
    raw_celery_message,
)
from tests.stack import Stack, wait_for

pytestmark = pytest.mark.slow

FAST = {"time_scale": 0.01, "limit_calls": 100_000}


@pytest.fixture()
def sim() -> Iterator[Simulator]:
    with Simulator(SimConfig(**FAST)) as s:
        yield s


def producer_for(stack: Stack) -> Producer:
    settings = stack.settings()
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    return Producer(client, settings, CeleryPublisher(broker_app(settings.redis_url)))


def agent(i: int) -> str:
    """A distinct agent number; it ends in 0, so never in a simulator magic suffix."""
    return f"+9198100{i:04d}0"


def customer(i: int, suffix: str | None = None) -> str:
    number = f"+9198200{i:04d}0"
    return number[:-2] + suffix if suffix else number


def test_mixed_outcomes_reach_the_simulators_truth(redis_url: str, sim: Simulator,
                                                   stack_factory: Any) -> None:
    stack = stack_factory()
    stack.start_all()
    producer = producer_for(stack)
    suffixes = [None, "91", "92", "93"]  # answered, busy, no-answer, failed on leg 2
    ids = [producer.enqueue({"from": agent(i), "to": customer(i, suffixes[i % 4])})
           for i in range(20)]
    store = Store(redis.Redis.from_url(redis_url, decode_responses=True), Keys())
    wait_for(lambda: all_final(store, ids), 60, "all calls final")
    states = call_states(store, ids)
    truth = {c["custom_field"].split("|")[0].rsplit("-", 1)[0]: c for c in sim.calls()}
    for cid in ids:
        assert states[cid] == truth[cid]["status"], (cid, states[cid], truth[cid])
    assert set(posts_per_attempt(sim).values()) == {1}
    assert len(call_posts(sim)) == 20  # leg-2 failures are not retried by default


def test_first_leg_failures_retry_max_retries_times(redis_url: str, sim: Simulator,
                                                    stack_factory: Any) -> None:
    stack = stack_factory(max_retries=3)
    stack.start_all()
    producer = producer_for(stack)
    no_answer_leg1 = producer.enqueue({"from": agent(1)[:-2] + "92", "to": customer(1)})
    failed_leg1 = producer.enqueue({"from": agent(2)[:-2] + "93", "to": customer(2)})
    no_answer_leg2 = producer.enqueue({"from": agent(3), "to": customer(3, "92")})
    busy_leg1 = producer.enqueue({"from": agent(4)[:-2] + "91", "to": customer(4)})
    ids = [no_answer_leg1, failed_leg1, no_answer_leg2, busy_leg1]
    store = Store(redis.Redis.from_url(redis_url, decode_responses=True), Keys())
    wait_for(lambda: all_final(store, ids), 60, "all calls final")
    per_call: dict[str, int] = {}
    for post in call_posts(sim):
        aid = attempt_of(post)
        assert aid
        per_call[aid.rsplit("-", 1)[0]] = per_call.get(aid.rsplit("-", 1)[0], 0) + 1
    assert per_call[no_answer_leg1] == 4  # 1 + MaxRetries
    assert per_call[failed_leg1] == 4
    assert per_call[no_answer_leg2] == 1  # leg 2: not retried by default
    assert per_call[busy_leg1] == 1  # busy: not retried by default
    assert call_states(store, ids) == {
        no_answer_leg1: "no-answer", failed_leg1: "failed", no_answer_leg2: "no-answer",
        busy_leg1: "busy",
    }
    assert max(posts_per_attempt(sim).values()) == 1


def test_busy_is_retried_when_the_setting_says_so(redis_url: str, sim: Simulator,
                                                  stack_factory: Any) -> None:
    stack = stack_factory(max_retries=2, retry_on_busy="true")
    stack.start_all()
    busy = producer_for(stack).enqueue({"from": agent(5)[:-2] + "91", "to": customer(5)})
    store = Store(redis.Redis.from_url(redis_url, decode_responses=True), Keys())
    wait_for(lambda: all_final(store, [busy]), 60, "the call final")
    assert len(call_posts(sim)) == 3
    assert len(store.attempts_of(busy)) == 3


def test_limit_holds_across_two_worker_processes(redis_url: str, stack_factory: Any,
                                                 sim: Simulator) -> None:
    # a fifth of the callbacks lost: polls share the budget with the dials
    sim.configure(limit_calls=50, limit_window_s=5.0, callback_drop_ratio=0.2)
    # No margin: the limiter's entries move to the end of their request, so the limit
    # holds by the simulator's arrival times too.
    stack = stack_factory(rate_limit_calls=50, rate_limit_window_s=5.0,
                          rate_limit_margin_calls=0)
    stack.start_web()
    stack.start_worker("w1", concurrency=4)
    stack.start_worker("w2", concurrency=4)
    stack.start_beat()
    producer = producer_for(stack)
    ids = producer.enqueue_many([{"from": agent(i), "to": customer(i)} for i in range(300)])
    store = Store(redis.Redis.from_url(redis_url, decode_responses=True), Keys())
    wait_for(lambda: all_final(store, ids), 240, "300 calls final", interval_s=0.5)
    posts = call_posts(sim)
    accepted = [p["arrival_time"] for p in posts if p.get("status_code") == 200]
    assert len(accepted) == 300
    # Exotel counts every Voice API request: POSTs and the polls' / look-ups' GETs
    counted = sim.counted_requests()
    assert [r for r in counted if r.get("status_code") == 429] == []
    times = [r["arrival_time"] for r in counted]
    assert max_in_window(times, 5.0) <= 50
    gets = [r for r in counted if r.get("method") == "GET"]
    assert gets, "no poll or look-up ran"
    # and the limit is used: while the 300 calls were dialled, the windows were full of
    # POSTs and polls (the one look for Duration / Price waits for a quiet window)
    start, end = min(accepted), max(accepted)
    during = [t for t in times if start <= t <= end]
    assert end - start < 5.0 * (len(during) / 50) * 1.15, (end - start, len(during))
    assert set(call_states(store, ids).values()) == {"completed"}


def test_same_idempotency_key_from_five_threads_dials_once(redis_url: str, sim: Simulator,
                                                           stack_factory: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    stack = stack_factory()
    stack.start_all()
    producer = producer_for(stack)
    request = {"from": agent(7), "to": customer(7), "idempotency_key": "order-42"}
    with ThreadPoolExecutor(5) as pool:
        ids = list(pool.map(lambda _: producer.enqueue(request), range(10)))
    assert len(set(ids)) == 1
    store = Store(redis.Redis.from_url(redis_url, decode_responses=True), Keys())
    wait_for(lambda: all_final(store, ids[:1]), 60, "the call final")
    assert len(call_posts(sim)) == 1


def test_worker_killed_mid_run_posts_nothing_twice_and_loses_nothing(
    redis_url: str, sim: Simulator, stack_factory: Any
) -> None:
    stack = stack_factory(dialing_timeout_s=3.0, pending_redeliver_s=3.0,
                          sweep_interval_s=0.5, rate_limit_calls=10_000)
    stack.start_web()
    victim = stack.start_worker("victim", concurrency=8)
    stack.start_beat()
    producer = producer_for(stack)
    ids = producer.enqueue_many([{"from": agent(i), "to": customer(i)} for i in range(200)])
    wait_for(lambda: len(call_posts(sim)) >= 40, 60, "a part of the run to be posted")
    victim.kill(signal.SIGKILL)
    stack.start_worker("survivor", concurrency=8)
    store = Store(redis.Redis.from_url(redis_url, decode_responses=True), Keys())
    wait_for(lambda: all_final(store, ids), 120, "every call terminal or unknown",
             interval_s=0.5)
    counts = posts_per_attempt(sim)
    assert max(counts.values()) == 1, [a for a, n in counts.items() if n > 1]
    states = call_states(store, ids)
    assert set(states.values()) <= {"completed", "unknown"}
    assert list(states.values()).count("completed") >= 150


def test_accept_then_drop_is_unknown_and_not_redialled(redis_url: str, sim: Simulator,
                                                       stack_factory: Any) -> None:
    stack = stack_factory(poll_after_s=60.0)
    stack.start_all()
    producer = producer_for(stack)
    dropped = producer.enqueue({"from": agent(9), "to": customer(9, "95")})
    store = Store(redis.Redis.from_url(redis_url, decode_responses=True), Keys())
    wait_for(lambda: call_states(store, [dropped])[dropped] != "queued"
             and store.attempts_of(dropped)[0]["state"] != "dialing", 30,
             "the attempt's outcome")
    attempt = store.attempts_of(dropped)[0]
    # The simulator created the call and its callback may still tell us the truth; what
    # matters is that we did not dial again.
    assert attempt["state"] in {"unknown", "completed"}
    sim.wait_idle(10)
    assert len(call_posts(sim)) == 1
    assert len(store.attempts_of(dropped)) == 1


def test_one_agent_is_in_one_call_at_a_time(redis_url: str, sim: Simulator,
                                            stack_factory: Any) -> None:
    stack = stack_factory()
    stack.start_all()
    producer = producer_for(stack)
    ids = [producer.enqueue({"from": agent(11), "to": customer(20 + i)}) for i in range(4)]
    store = Store(redis.Redis.from_url(redis_url, decode_responses=True), Keys())
    wait_for(lambda: all_final(store, ids), 60, "all calls final")
    spans = sorted((c["created_at"], c["ended_at"]) for c in sim.calls())
    assert len(spans) == 4
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert start >= end, spans  # the next call began after the previous one ended
    waits = [e for _, e in store.r.xrange(store.keys.events) if e["detail"] == "agent busy"]
    assert waits  # the others waited in the due set


def test_state_changes_reach_a_consumer_group(redis_url: str, sim: Simulator,
                                              stack_factory: Any) -> None:
    stack = stack_factory()
    stack.start_all()
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.xgroup_create("dialer:events", "crm", id="0", mkstream=True)
    call_id = producer_for(stack).enqueue({"from": agent(12), "to": customer(12)})

    def seen_completed() -> bool:
        batch = client.xreadgroup("crm", "c1", {"dialer:events": ">"}, count=100, block=100)
        for _, entries in batch or []:
            for entry_id, fields in entries:
                client.xack("dialer:events", "crm", entry_id)
                if fields["call_id"] == call_id and fields["type"] == "completed":
                    return True
        return False

    wait_for(seen_completed, 60, "the completed event")


def test_a_raw_celery_message_from_another_language_enqueues_a_call(
    redis_url: str, sim: Simulator, stack_factory: Any
) -> None:
    """What a non-Python Celery client writes: protocol 2, JSON body, LPUSH on 'calls'."""
    stack = stack_factory()
    stack.start_all()
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    request = {"from": agent(13), "to": customer(13), "idempotency_key": "from-node-1"}
    client.lpush("calls", raw_celery_message("dialer.enqueue_call", {"request": request}))
    store = Store(client, Keys())

    def call_id() -> str | None:
        value = client.get(store.keys.idem("main", "from-node-1"))
        return str(value) if value else None

    cid = wait_for(call_id, 30, "the call to be created by dialer.enqueue_call")
    wait_for(lambda: all_final(store, [cid]), 60, "the call final")
    assert call_states(store, [cid])[cid] == "completed"
    assert len(call_posts(sim)) == 1
