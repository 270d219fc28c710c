"""The events stream for other services: every event names its call, a ``final`` event
marks a call's end, a refused request from another language says why — read the way a
consumer would, with a consumer group."""

from __future__ import annotations

import sys
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
from tests.e2e import all_final, call_posts, raw_celery_message
from tests.stack import wait_for

pytestmark = pytest.mark.slow

STACK_DEFAULTS = {"max_retries": 1}


@pytest.fixture()
def sim() -> Iterator[Simulator]:
    with Simulator(SimConfig(time_scale=0.01, limit_calls=100_000)) as s:
        yield s


def consume(client: redis.Redis, group: str = "crm") -> list[dict[str, str]]:
    """What a consumer group reads (and acknowledges) from the start of the stream."""
    stream = Keys().events
    try:
        client.xgroup_create(stream, group, id="0", mkstream=True)
    except redis.ResponseError:  # BUSYGROUP: created by an earlier read
        pass
    out: list[dict[str, str]] = []
    while True:
        got = client.xreadgroup(group, "c1", {stream: ">"}, count=500)
        if not got:
            return out
        for _, entries in got:
            for entry_id, fields in entries:
                out.append(fields)
                client.xack(stream, group, entry_id)


def test_every_event_names_its_call_and_a_final_event_ends_it(
    redis_url: str, sim: Simulator, stack_factory: Any
) -> None:
    stack = stack_factory()
    stack.start_all()
    settings = stack.settings()
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    producer = Producer(client, settings, CeleryPublisher(broker_app(redis_url)))
    answered = producer.enqueue({"from": "+919810000110", "to": "+919820000110",
                                 "custom_field": "order-1", "idempotency_key": "k-1"})
    agent_away = producer.enqueue({"from": "+919810000292", "to": "+919820000210",
                                   "custom_field": "order-2", "idempotency_key": "k-2"})
    store = Store(client, Keys())
    wait_for(lambda: all_final(store, [answered, agent_away]), 60, "both calls final")
    wait_for(lambda: sum(e["type"] == "final" for e in consume(client, "probe")) >= 2, 30,
             "the final events")
    events = consume(client)
    assert consume(client) == []  # acknowledged: nothing is read twice
    for e in events:
        assert e["account"] == "main" and e["campaign_id"] == ""
        assert e["call_id"] in (answered, agent_away)
    mine = {cid: [e for e in events if e["call_id"] == cid] for cid in (answered, agent_away)}
    assert {e["custom_field"] for e in mine[answered]} == {"order-1"}
    assert {e["idempotency_key"] for e in mine[agent_away]} == {"k-2"}
    assert {e["attempt"] for e in mine[agent_away]} == {"1", "2"}
    (done,) = [e for e in mine[answered] if e["type"] == "final"]
    assert done["status"] == "completed" and done["attempts"] == "1"
    assert mine[answered][-1]["type"] == "final"  # nothing after the end
    (gave_up,) = [e for e in mine[agent_away] if e["type"] == "final"]
    assert gave_up["status"] == "no-answer" and gave_up["attempts"] == "2"
    kinds = [e["type"] for e in mine[agent_away]]
    assert kinds.index("retry-scheduled") < kinds.index("final")


def test_a_refused_request_from_another_language_is_an_event(
    redis_url: str, sim: Simulator, stack_factory: Any
) -> None:
    stack = stack_factory()
    stack.start_all()
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    request = {"from": "not a number", "to": "+919820000110", "idempotency_key": "node-7"}
    client.lpush("calls", raw_celery_message("dialer.enqueue_call", {"request": request}))

    def refused() -> list[dict[str, str]]:
        return [e for e in consume(client) if e["type"] == "refused"]

    (event,) = wait_for(refused, 30, "the refused event")
    assert event["idempotency_key"] == "node-7"
    assert "from" in event["detail"].lower() and "not a number" in event["detail"]
    assert client.get(Keys().idem("main", "node-7")) is None  # nothing written


def test_a_consumer_group_reads_every_final_event_once_across_kills(
    redis_url: str, sim: Simulator, stack_factory: Any
) -> None:
    """Two dialer workers (one killed -9 mid-run) and two consumer processes of one group
    (one killed -9 holding entries it read but never acknowledged): every call has one
    ``final`` entry, and the group acknowledges each exactly once — the survivor claims
    what the dead consumer held (XAUTOCLAIM). A worker's INFO log is about calls."""
    stack = stack_factory(dialing_timeout_s=3.0, pending_redeliver_s=3.0,
                          sweep_interval_s=0.5, poll_tick_s=0.5, unknown_deadline_s=15.0,
                          rate_limit_calls=10_000)
    stack.start_web()
    victim = stack.start_worker("victim", concurrency=4)
    survivor = stack.start_worker("survivor", concurrency=4)
    stack.start_beat()
    consumers = []
    for name, extra in (("c1", ["--stall-after", "3"]), ("c2", [])):
        c = stack.dev.start(f"consumer-{name}", [sys.executable, "-m", "tests.event_consumer",
                                                 redis_url, "crm", name, *extra])
        c.wait_output(f"consumer {name} ready", 30)
        consumers.append(c)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    producer = Producer(client, stack.settings(), CeleryPublisher(broker_app(redis_url)))
    ids = producer.enqueue_many([
        {"from": f"+91981{i:05d}{'92' if i % 5 == 0 else '10'}",
         "to": f"+91982{i:05d}10", "idempotency_key": f"kill-{i}"} for i in range(60)])
    wait_for(lambda: len(call_posts(sim)) >= 15, 60, "a part of the run posted")
    victim.kill()
    consumers[0].wait_output("consumer c1 stalled", 60)
    consumers[0].kill()
    stream = Keys().events

    def finals() -> dict[str, str]:
        entries = [(eid, f) for eid, f in client.xrange(stream) if f["type"] == "final"]
        calls = Counter(f["call_id"] for _, f in entries)
        assert max(calls.values(), default=1) == 1, calls.most_common(3)  # one end per call
        return {eid: f["call_id"] for eid, f in entries}

    wait_for(lambda: set(finals().values()) == set(ids), 120, "every call's final event",
             interval_s=0.5)
    ended = finals()

    def acks() -> list[tuple[str, str]]:
        return [(a[0], a[1]) for a in map(str.split, client.lrange("test:acked", 0, -1))]

    wait_for(lambda: set(ended) <= {eid for eid, _ in acks()}, 30,
             "the group to acknowledge every final entry")
    acked = [eid for eid, _ in acks()]
    assert len(acked) == len(set(acked))  # no entry acknowledged twice
    assert client.xpending(stream, "crm")["pending"] == 0
    handled = [line.split() for line in client.lrange("test:handled", 0, -1)]
    by_entry = Counter(eid for eid, _, _ in handled)
    assert set(by_entry) == set(ended)
    held = ({eid for eid, _, who in handled if who == "c1"}
            - {eid for eid, who in acks() if who == "c1"})
    assert held, "c1 died holding an entry"
    for eid, n in by_entry.items():  # handled twice only where c1 died before its ACK
        assert n == 1 or (n == 2 and eid in held), (eid, n)
    log = survivor.output
    assert "Task dialer.place_call[" in log  # calls at INFO ("received", "succeeded")
    for housekeeping in ("Task dialer.pump_due[", "Task dialer.sweep[",
                         "Task dialer.poll_calls[", "Task dialer.campaign_tick[",
                         "periodic dialer."):
        assert housekeeping not in log, housekeeping

