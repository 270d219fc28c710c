"""The events stream for other services: every event names its call, a ``final`` event
marks a call's end, a refused request from another language says why — read the way a
consumer would, with a consumer group."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from dialer.keys import Keys
from dialer.producer import Producer
from dialer.publisher import CeleryPublisher, broker_app
from dialer.store import Store
from exotel_sim import SimConfig, Simulator
from tests.e2e import all_final, raw_celery_message
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
