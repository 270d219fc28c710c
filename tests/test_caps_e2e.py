"""Contact caps end to end: real Redis, two Celery worker processes of two threads each,
beat (the campaign tick), the web app receiving the simulator's callbacks over HTTP.

Five customer numbers, each a contact of three campaigns and the customer of two single
calls (one from Python, one sent as a raw Celery message by "another language"), under
the account's cap of 2 attempts per day: each number is POSTed exactly twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis

from dialer.campaigns.lifecycle import Lifecycle
from dialer.producer import Producer
from dialer.publisher import CeleryPublisher, broker_app
from dialer.store import Store
from exotel_sim import SimConfig, Simulator
from tests.campaigns.helpers import csv_of, number, spec
from tests.e2e import call_posts, raw_celery_message
from tests.stack import wait_for

pytestmark = pytest.mark.slow

STACK_DEFAULTS = {"campaign_tick_s": 0.3, "pump_interval_s": 0.2, "rate_limit_calls": 2000,
                  "contact_cap_attempts": 2, "contact_cap_period": "day", "max_retries": 0}
CUSTOMERS = [number(i, "10") for i in range(5)]


@pytest.fixture()
def sim() -> Iterator[Simulator]:
    with Simulator(SimConfig(time_scale=0.01, limit_calls=100_000)) as s:
        yield s


def posts_per_customer(sim: Simulator) -> Counter[str]:
    """Flow calls: the customer is From."""
    froms = ((p.get("params") or {}).get("From") for p in call_posts(sim))
    return Counter(str(f) for f in froms if f)


def cap_decisions(client: redis.Redis) -> list[dict[str, str]]:
    """Every event that says a cap kept a call from being dialled."""
    out = []
    for _, e in client.xrange("dialer:events"):
        capped = e["type"] in ("capped", "refused", "waiting")
        if capped and e["detail"].startswith("contact cap:"):
            out.append(e)
    return out


def test_five_sources_racing_dial_each_number_exactly_twice(
        stack_factory: Any, sim: Simulator, redis_url: str) -> None:
    stack = stack_factory()
    stack.start_web()
    stack.start_worker("w1", concurrency=2)
    stack.start_worker("w2", concurrency=2)
    stack.start_beat()
    settings = stack.settings()
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    life = Lifecycle.connect(client, settings)
    whole_day = {"window_start": "00:00", "window_end": "24:00"}
    campaigns = []
    for i, caps in enumerate([{}, {}, {"when_capped": "end"}]):
        cid = life.create(spec(name=f"c{i}", schedule=whole_day, caps=caps,
                               pacing={"calls_per_minute": 1200, "max_concurrent": 50}))
        assert life.import_contacts(cid, csv_of(CUSTOMERS)).imported == 5
        campaigns.append(cid)
    producer = Producer(client, settings, CeleryPublisher(broker_app(redis_url)))
    for cid in campaigns:
        life.start(cid)
    for n in CUSTOMERS:
        producer.enqueue({"mode": "flow", "from": n, "app_id": "12345",
                          "custom_field": f"py-{n[-4:]}"})
        request = {"mode": "flow", "from": n, "app_id": "12345",
                   "custom_field": f"raw-{n[-4:]}"}
        client.lpush("calls", raw_celery_message("dialer.enqueue_call", {"request": request}))

    # 25 sources: 10 dialled, 15 kept back by the cap (each says so on the stream)
    wait_for(lambda: len({e["call_id"] or e["custom_field"] for e in cap_decisions(client)}
                         ) >= 15, 90, "15 cap decisions", interval_s=0.2)
    wait_for(lambda: len(call_posts(sim)) >= 10, 60, "10 POSTs", interval_s=0.2)
    store = Store(client)
    wait_for(lambda: store.counts()["dialing"] == 0 and store.counts()["active"] == 0, 60,
             "no attempt dialing or placed", interval_s=0.2)
    ticks = int(client.get("dialer:campaign-ticks") or 0)
    wait_for(lambda: int(client.get("dialer:campaign-ticks") or 0) >= ticks + 5, 30,
             "five more campaign ticks")

    assert posts_per_customer(sim) == Counter({n: 2 for n in CUSTOMERS})
    decisions = cap_decisions(client)
    kinds = Counter(e["type"] for e in decisions)
    # campaigns 0 and 1 wait for tomorrow; campaign 2 and the single calls do not wait
    assert kinds["waiting"] + kinds["capped"] + kinds["refused"] >= 15, kinds
    waiting = {e["call_id"] for e in decisions if e["type"] == "waiting"}
    tomorrow = (datetime.now(UTC).astimezone(ZoneInfo("Asia/Kolkata")) + timedelta(days=1)
                ).replace(hour=0, minute=0, second=0, microsecond=0)
    for call_id in waiting:
        call = store.get_call(call_id)
        assert call["campaign_id"] in campaigns[:2]
        aid = call["current_attempt"]
        assert store.get_attempt(aid)["state"] == "pending"
        assert int(client.zscore("dialer:due", aid) or 0) >= tomorrow.timestamp() * 1000
    ended = {e["call_id"] for e in decisions if e["type"] == "capped"}
    for call_id in ended:
        call = store.get_call(call_id)
        assert call["final_status"] == "capped"
        assert call["campaign_id"] in ("", campaigns[2])
    for n in CUSTOMERS:
        usage = producer.caps.usage(n)
        assert usage["d"].endswith(":2"), usage
