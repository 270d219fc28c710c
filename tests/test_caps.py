"""Contact caps: the counter script on a real Redis, the worker's decisions with a fake
Exotel client (our ClientLike Protocol), refusal at enqueue (Python and HTTP)."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
from fastapi.testclient import TestClient

from dialer.caps import Capped, CapReachedError, ContactCaps, Rule, Slot
from dialer.dialing import DialContext, place_attempt
from dialer.errors import RateLimitedError, SettingsError
from dialer.exotel.client import Outcome, PostResult
from dialer.keys import Keys
from dialer.producer import Producer
from dialer.ratelimit import SlidingWindowLimiter
from dialer.settings import Settings
from dialer.store import NewCall, Store
from tests.test_dialing import FakeClient
from tests.units import ACCOUNT, store, unit_settings

__all__ = ["store"]

CUSTOMER, AGENT = "+919820000020", "+919810000010"
IST = ZoneInfo("Asia/Kolkata")


def caps_of(store: Store, **kw: Any) -> ContactCaps:
    return ContactCaps(store.r, store.keys, unit_settings(**kw))


def redis_now(store: Store) -> datetime:
    return datetime.fromtimestamp(store.now_ms() / 1000, UTC)


def flow_call(number: str = CUSTOMER, campaign: str = "", cap: dict[str, Any] | None = None
              ) -> dict[str, str]:
    return {"mode": "flow", "request": json.dumps({"From": number, "app_id": "1"}),
            "campaign_id": campaign, "policy": json.dumps({"cap": cap} if cap else {})}


# --- the counter ---------------------------------------------------------------------
def test_a_day_cap_takes_two_then_says_when_it_resets(store: Store, clean_env: Any) -> None:
    caps = caps_of(store, contact_cap_attempts=2)
    call = flow_call()
    assert isinstance(caps.take(call), Slot)
    assert isinstance(caps.take(call), Slot)
    capped = caps.take(call)
    assert isinstance(capped, Capped)
    assert (capped.period, capped.limit, capped.used, capped.zone) == ("day", 2, 2,
                                                                        "Asia/Kolkata")
    midnight = (redis_now(store).astimezone(IST) + timedelta(days=1)).replace(
        hour=0, minute=0, second=0, microsecond=0)
    assert capped.resets_at == midnight
    assert "2 of 2 dial attempts per day in Asia/Kolkata" in capped.message()
    assert "+91 98xxxx0020" in capped.message() and CUSTOMER not in capped.message()
    assert caps.check(CUSTOMER) == capped


def test_week_and_rolling_periods_reset_where_they_should(store: Store, clean_env: Any
                                                          ) -> None:
    week = caps_of(store, contact_cap_attempts=1, contact_cap_period="week")
    assert isinstance(week.take(flow_call()), Slot)
    capped = week.take(flow_call())
    assert isinstance(capped, Capped) and capped.period == "week"
    local = capped.resets_at.astimezone(IST)
    assert (local.weekday(), local.hour, local.minute) == (0, 0, 0)
    assert timedelta(0) < local - redis_now(store) <= timedelta(days=7)
    rolling = caps_of(store, contact_cap_attempts=1, contact_cap_period="rolling-24h")
    other = "+919820000021"
    slot = rolling.take(flow_call(other))
    assert isinstance(slot, Slot)
    capped = rolling.take(flow_call(other))
    assert isinstance(capped, Capped) and capped.reset_ms == slot.at_ms + 86_400_000


def test_a_refund_gives_the_slot_back(store: Store, clean_env: Any) -> None:
    caps = caps_of(store, contact_cap_attempts=1, contact_cap_period="rolling-24h")
    slot = caps.take(flow_call())
    assert isinstance(slot, Slot)
    caps.refund(slot)
    assert caps.check(CUSTOMER) is None
    assert isinstance(caps.take(flow_call()), Slot)
    assert isinstance(caps.take(flow_call()), Capped)


def test_every_attempt_is_counted_even_without_a_cap(store: Store, clean_env: Any) -> None:
    free = caps_of(store)
    for _ in range(3):
        assert isinstance(free.take(flow_call()), Slot)
    # a campaign's own cap of 2 sees the three single calls
    capped = free.take(flow_call(campaign="c1", cap={"attempts": 2}))
    assert isinstance(capped, Capped) and capped.used == 3
    assert caps_of(store, contact_counting=False).take(flow_call()) is None


def test_the_campaign_cap_and_the_account_cap_both_hold(store: Store, clean_env: Any
                                                        ) -> None:
    caps = caps_of(store, contact_cap_attempts=3)
    weekly = flow_call(campaign="c1", cap={"attempts": 1, "period": "week"})
    assert caps.rules_of(weekly) == [Rule(3, "day"), Rule(1, "week")]
    assert isinstance(caps.take(weekly), Slot)
    capped = caps.take(weekly)
    assert isinstance(capped, Capped) and capped.period == "week"
    assert isinstance(caps.take(flow_call()), Slot)  # the account's cap: 2 of 3 today
    assert caps.when_capped(weekly) == "wait" and caps.when_capped(flow_call()) == "end"
    ending = flow_call(campaign="c1", cap={"attempts": 1, "when_capped": "end"})
    assert caps.when_capped(ending) == "end"


def test_racing_threads_never_take_the_last_slot_twice(store: Store, redis_url: str,
                                                       clean_env: Any) -> None:
    settings = unit_settings(contact_cap_attempts=2)
    got: list[object] = []
    start = threading.Barrier(8)

    def worker() -> None:
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        caps = ContactCaps(client, Keys(), settings)
        start.wait()
        for _ in range(5):
            got.append(caps.take(flow_call()))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(isinstance(g, Slot) for g in got) == 2
    assert sum(isinstance(g, Capped) for g in got) == 38


# --- the worker's decisions ----------------------------------------------------------
def context(store: Store, client: FakeClient | None = None, **kw: Any) -> DialContext:
    s = unit_settings(**kw)
    return DialContext(s, store, SlidingWindowLimiter(store.r, 100, 60.0),
                       {"main": client or FakeClient()}, random.Random(1),
                       caps=ContactCaps(store.r, store.keys, s))


def new_call(store: Store, number: str = CUSTOMER, campaign: str = "",
             policy: dict[str, Any] | None = None) -> str:
    req = {"From": AGENT, "To": number, "CallerId": "08030752400"}
    (c,) = store.create_calls([NewCall("main", "connect", req, {}, campaign_id=campaign,
                                       policy=policy)], delay_ms=0)
    return c.attempt_id


def events(store: Store) -> list[dict[str, str]]:
    return [f for _, f in store.r.xrange(store.keys.events)]


def test_a_capped_single_call_ends_capped_and_says_why(store: Store, clean_env: Any) -> None:
    client = FakeClient()
    ctx = context(store, client, contact_cap_attempts=1)
    first, second = new_call(store), new_call(store, )
    assert place_attempt(ctx, first) == "placed"
    store.r.delete(store.keys.agent("main", AGENT))  # the agent is free again
    assert place_attempt(ctx, second) == "capped"
    assert len(client.sent) == 1
    call = store.get_call(second.rsplit("-", 1)[0])
    assert (call["state"], call["final_status"]) == ("capped", "capped")
    assert store.get_attempt(second)["detail"].startswith("contact cap: +91 98xxxx0020 had 1")
    kinds = [(e["type"], e["attempt_id"]) for e in events(store)]
    assert ("capped", second) in kinds and ("final", second) in kinds
    assert store.r.zcard(store.keys.agent("main", AGENT)) == 0  # the agent was freed


def test_a_capped_campaign_contact_waits_for_the_next_period(store: Store, clean_env: Any
                                                             ) -> None:
    ctx = context(store, contact_cap_attempts=1)
    assert isinstance(ctx.caps and ctx.caps.take(flow_call()), Slot)  # dialled elsewhere
    aid = new_call(store, campaign="c1")
    assert place_attempt(ctx, aid) == "waiting:cap"
    a = store.get_attempt(aid)
    assert a["state"] == "pending" and a["last_wait"].startswith("contact cap:")
    due = int(store.r.zscore(store.keys.due, aid) or 0)
    midnight = (redis_now(store).astimezone(IST) + timedelta(days=1)).replace(
        hour=0, minute=0, second=0, microsecond=0)
    assert due >= midnight.timestamp() * 1000
    waits = [e for e in events(store) if e["type"] == "waiting"]
    assert waits[-1]["detail"].startswith("contact cap:")
    ending = new_call(store, "+919820000020", campaign="c2",
                      policy={"cap": {"when_capped": "end"}})
    assert place_attempt(ctx, ending) == "capped"


def test_an_attempt_exotel_refused_gives_its_slot_back(store: Store, clean_env: Any) -> None:
    refused = FakeClient(PostResult(Outcome.NOT_PLACED, None, RateLimitedError("429")))
    ctx = context(store, refused, contact_cap_attempts=1)
    aid = new_call(store)
    assert place_attempt(ctx, aid) == "waiting:429"
    assert ctx.caps is not None and ctx.caps.check(CUSTOMER) is None
    store.r.delete(store.keys.ratelimit("main") + ":cooldown")
    ok = context(store, FakeClient(), contact_cap_attempts=1)
    assert place_attempt(ok, new_call(store, campaign="")) == "placed"
    assert ok.caps is not None and isinstance(ok.caps.check(CUSTOMER), Capped)


def test_quiet_hours_hold_single_calls_not_campaign_calls(store: Store, clean_env: Any
                                                          ) -> None:
    now = redis_now(store).astimezone(IST)
    closed = f"{(now + timedelta(hours=1)):%H:%M}-{(now + timedelta(hours=2)):%H:%M}"
    ctx = context(store, single_call_hours=closed)
    aid = new_call(store)
    assert place_attempt(ctx, aid) == "waiting:quiet-hours"
    a = store.get_attempt(aid)
    assert a["last_wait"] == f"quiet hours: single calls {closed} in Asia/Kolkata"
    due = int(store.r.zscore(store.keys.due, aid) or 0)
    assert due / 1000 >= now.timestamp() + 3000  # about an hour on
    assert place_attempt(ctx, new_call(store, "+919820000099", campaign="c1")) == "placed"


# --- refused at enqueue ---------------------------------------------------------------
def test_enqueue_refuses_a_capped_number_and_says_when(store: Store, clean_env: Any) -> None:
    settings = unit_settings(contact_cap_attempts=1)
    producer = Producer(store.r, settings)
    first = producer.enqueue({"from": AGENT, "to": CUSTOMER, "idempotency_key": "k1"})
    assert isinstance(producer.caps.take(store.get_call(first)), Slot)  # it was dialled
    with pytest.raises(CapReachedError, match=r"1 of 1 dial attempts per day .* resets at"):
        producer.enqueue({"from": AGENT, "to": CUSTOMER})
    refused = [e for e in events(store) if e["type"] == "refused"]
    assert refused and refused[-1]["detail"].startswith("contact cap:")
    assert producer.enqueue({"from": AGENT, "to": CUSTOMER, "idempotency_key": "k1"}) == first
    with pytest.raises(CapReachedError, match=r"^request 1: contact cap"):
        producer.enqueue_many([{"from": AGENT, "to": "+919820000055"},
                               {"from": AGENT, "to": CUSTOMER}])
    assert store.counts()["calls"] == 1  # nothing half-written
    waiting = Producer(store.r, unit_settings(contact_cap_attempts=1,
                                              contact_cap_single="wait"))
    assert waiting.enqueue({"from": AGENT, "to": CUSTOMER})


@pytest.fixture()
def tc(redis_url: str) -> Iterator[TestClient]:
    from dialer.publisher import CeleryPublisher, broker_app
    from dialer.web import create_app

    s = Settings(redis_url=redis_url, callback_secret="cb", api_token="api-token",
                 accounts=[ACCOUNT], contact_cap_attempts=1)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    with TestClient(create_app(s, client, CeleryPublisher(broker_app(redis_url)))) as c:
        yield c


def test_http_answers_409_naming_the_cap(tc: TestClient, store: Store) -> None:
    auth = {"Authorization": "Bearer api-token"}
    caps = ContactCaps(store.r, store.keys, unit_settings(contact_cap_attempts=1))
    assert isinstance(caps.take(flow_call()), Slot)
    res = tc.post("/v1/calls", json={"from": AGENT, "to": CUSTOMER}, headers=auth)
    assert res.status_code == 409, res.text
    text = res.text
    assert "contact cap" in text and "per day in Asia/Kolkata" in text and "resets at" in text
    assert CUSTOMER not in text


def test_bad_cap_settings_are_refused(clean_env: Any) -> None:
    for bad in ({"contact_cap_period": "month"}, {"contact_cap_attempts": -1},
                {"single_call_hours": "9-21"}, {"contact_cap_timezone": "Mars/Base"}):
        with pytest.raises(SettingsError, match="DIALER_"):
            unit_settings(**bad)
