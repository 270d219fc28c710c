"""The customer's cap slot taken by the script before the POST (dialer.lua_dispatch.PREPARE):
the worker's own reckoning agrees with it, two round trips once the zone of the number's
country is known, and every path where the worker disagrees or does not dial gives the
script's slot back. A real Redis, a fake Exotel client (our ClientLike Protocol)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest
import redis

from dialer.caps import Capped, ContactCaps, Slot, calling_code, shared_offset_ms
from dialer.dialing import DialContext, dial_terms, place_attempt
from dialer.store import Store, call_id_of
from dialer.store_worker import new_claim_token
from tests.test_caps import AGENT, CUSTOMER, context, new_call
from tests.test_dialing import CountingConnection, WatchingClient
from tests.units import store

__all__ = ["store"]

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
IST_MS = 19_800_000


def counters(store: Store, number: str = CUSTOMER) -> dict[str, str]:
    return store.r.hgetall(f"{store.keys.prefix}:contact:{number}")


def learned(ctx: DialContext, number: str = CUSTOMER) -> ContactCaps:
    assert ctx.caps is not None
    ctx.caps.learn(number)
    return ctx.caps


def counted_context(store: Store, **kw: Any) -> tuple[DialContext, Store]:
    """A context whose Redis connection counts the requests it sends."""
    ckw = store.r.connection_pool.connection_kwargs
    pool = redis.ConnectionPool(connection_class=CountingConnection, host=ckw["host"],
                                port=ckw["port"], db=ckw.get("db", 0), decode_responses=True)
    counted = Store(redis.Redis(connection_pool=pool))
    return context(counted, **kw), counted


def free_agent(store: Store) -> None:
    store.r.delete(store.keys.agent("main", AGENT))


# --- which numbers a script may count --------------------------------------------------
def test_calling_codes() -> None:
    assert calling_code("+919820000020") == "91"
    assert calling_code("+12025550123") == "1"
    assert calling_code("+447911123456") == "44"
    assert calling_code("+8613800138000") == "86"
    assert calling_code("919820000020") is None
    assert calling_code("+") is None and calling_code("") is None
    assert calling_code("+999") is None  # not assigned


def test_a_country_shares_one_offset_only_with_the_default_zone() -> None:
    assert shared_offset_ms("91", "Asia/Kolkata", NOW) == IST_MS
    assert shared_offset_ms("91", "Europe/London", NOW) is None  # an unknown +91 number
    assert shared_offset_ms("1", "America/New_York", NOW) is None  # several zones
    assert shared_offset_ms("44", "Asia/Kolkata", NOW) is None
    assert shared_offset_ms("44", "Europe/London", NOW) == 0  # December: GMT
    summer = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert shared_offset_ms("44", "Europe/London", summer) == 3_600_000


def test_the_script_counts_only_numbers_of_the_learned_country(store: Store,
                                                               clean_env: Any) -> None:
    caps = ContactCaps(store.r, store.keys, context(store).settings)
    assert caps.script_terms()[1] == ""  # nothing learned: every number goes the long way
    caps.learn("+12025550123")  # several zones: not learned
    assert caps.script_terms()[1] == ""
    caps.learn(CUSTOMER)
    prefix, offset = caps.script_terms()[1:3]
    assert (prefix, offset) == ("+91", str(IST_MS))


# --- two round trips, the same counters -------------------------------------------------
def test_once_learned_a_counted_call_takes_two_round_trips(store: Store,
                                                           clean_env: Any) -> None:
    ctx, _ = counted_context(store)
    assert place_attempt(ctx, new_call(store, "+12025550123")) == "placed"  # scripts loaded
    free_agent(store)
    first = new_call(store)
    CountingConnection.sent = 0
    assert place_attempt(ctx, first) == "placed"
    long_way = CountingConnection.sent
    free_agent(store)
    second = new_call(store, "+919820000099")
    CountingConnection.sent = 0
    assert place_attempt(ctx, second) == "placed"
    assert (long_way, CountingConnection.sent) == (3, 2)
    for number in (CUSTOMER, "+919820000099"):
        got = counters(store, number)
        assert got["d"].endswith(":1") and got["w"].endswith(":1"), got
        assert len(got["r"].split(",")) == 1


def test_a_number_of_a_country_with_several_zones_goes_the_long_way(
        store: Store, clean_env: Any) -> None:
    ctx, _ = counted_context(store)
    learned(ctx)
    assert place_attempt(ctx, new_call(store, "+919820000099")) == "placed"  # scripts loaded
    free_agent(store)
    us = "+12025550123"
    aid = new_call(store, us)
    CountingConnection.sent = 0
    assert place_attempt(ctx, aid) == "placed"
    assert CountingConnection.sent == 3
    assert counters(store, us)["d"].endswith(":1")
    assert ctx.caps is not None and ctx.caps.script_terms()[1] == "+91"  # kept


@pytest.mark.parametrize("settings", [
    {}, {"contact_cap_attempts": 3}, {"contact_cap_attempts": 2, "contact_cap_period": "week"},
    {"contact_cap_attempts": 4, "contact_cap_period": "rolling-24h"},
    {"contact_counting": False}, {"contact_counting": False, "contact_cap_attempts": 2},
])
@pytest.mark.parametrize("policy", [
    None, {}, {"cap": None}, {"cap": {}}, {"cap": {"attempts": 1}},
    {"cap": {"attempts": 2, "period": "week", "when_capped": "end"}},
    {"cap": {"attempts": 5, "period": "rolling-24h"}}, {"cap": {"attempts": 0}},
    {"cap": {"attempts": 2.0, "period": None}}, {"window": {"start": "09:00"}},
])
def test_the_script_and_the_worker_reckon_the_same_take(
        store: Store, clean_env: Any, settings: dict[str, Any], policy: dict[str, Any] | None
) -> None:
    """Every mix of account and campaign caps: what the script counted is what the
    worker would have taken (or neither counts), so the worker never takes again."""
    ctx = context(store, **settings)
    caps = learned(ctx)
    for campaign in ("", "c1"):
        aid = new_call(store, campaign=campaign, policy=policy if campaign else None)
        claim = new_claim_token()
        prep = store.prepare_dial(aid, claim, dial_terms(ctx), caps=caps.script_terms(),
                                  member="m-" + aid)
        assert prep.what == "go", prep
        call = store.get_call(call_id_of(aid))
        terms = caps.take_terms(call)
        if terms is None:
            assert (prep.detail, prep.cap) == ("marked", [])
        else:
            assert prep.detail in ("marked", "capped") and prep.cap, prep
            got, verdict, agreed = caps.checked(call, prep.cap)
            assert agreed and got == terms, (prep.cap, terms)
            assert isinstance(verdict, Slot) == (prep.detail == "marked")
        free_agent(store)


def test_a_cap_the_script_finds_reached_ends_the_attempt_unmarked(
        store: Store, clean_env: Any) -> None:
    first, second = new_call(store), new_call(store)
    client = WatchingClient(store, first)
    ctx = context(store, client, contact_cap_attempts=1)  # type: ignore[arg-type]
    learned(ctx)
    assert place_attempt(ctx, first) == "placed"
    free_agent(store)
    client.aid, client.marks = second, []
    assert place_attempt(ctx, second) == "capped"
    assert client.marks == [("prepare", "0")] and len(client.sent) == 1
    assert not store.get_attempt(second).get("posting_at")
    assert counters(store)["d"].endswith(":1")


def test_with_the_slot_taken_first_the_mark_comes_before_the_build(
        store: Store, clean_env: Any) -> None:
    """The one round trip saved moves the posting mark before the request's build (in
    memory, no I/O); a worker killed there leaves an attempt the sweeper calls unknown
    (looked up, never redialled blindly), counted once."""
    aid = new_call(store)

    def killed() -> None:
        raise SystemExit("SIGKILL")

    client = WatchingClient(store, aid, on_prepare=killed)
    ctx = context(store, client)  # type: ignore[arg-type]
    learned(ctx)
    with pytest.raises(SystemExit):
        place_attempt(ctx, aid)
    assert client.marks == [("prepare", "1")] and client.sent == []
    store.sweep(0, 10**9)
    assert store.get_attempt(aid)["state"] == "unknown"
    assert counters(store)["d"].endswith(":1")


# --- the script's slot given back -------------------------------------------------------
class WrongLimits(ContactCaps):
    """Tells the script the account has no cap (the worker's own reckoning says 1 a day):
    a reckoning that differs, as a bug in one of the two would."""

    def script_terms(self) -> list[str]:
        terms = super().script_terms()
        return [*terms[:3], "0", "0", "0", *terms[6:]]


def wrong_context(store: Store, client: Any = None) -> DialContext:
    ctx = context(store, client, contact_cap_attempts=1)
    assert ctx.caps is not None
    ctx.caps = WrongLimits(store.r, store.keys, ctx.settings)
    ctx.caps.learn(CUSTOMER)
    return ctx


def test_a_take_the_worker_disagrees_with_is_given_back_and_taken_again(
        store: Store, clean_env: Any, caplog: pytest.LogCaptureFixture) -> None:
    ctx = wrong_context(store)
    aid = new_call(store)
    with caplog.at_level(logging.WARNING, "dialer.dialing"):
        assert place_attempt(ctx, aid) == "placed"
    assert "differs from the worker's reckoning" in caplog.text
    got = counters(store)
    assert got["d"].endswith(":1") and len(got["r"].split(",")) == 1
    free_agent(store)
    # the script would take a second slot (no cap, it was told): the worker's cap holds
    assert place_attempt(ctx, new_call(store)) == "capped"
    assert counters(store)["d"].endswith(":1")


def test_a_claim_lost_after_the_script_took_the_slot_gives_it_back(
        store: Store, clean_env: Any) -> None:
    aid = new_call(store)
    akey = store.keys.attempt(aid)
    client = WatchingClient(store, aid,
                            on_prepare=lambda: store.r.hset(akey, "claim", "someone-else"))
    ctx = wrong_context(store, client)
    assert place_attempt(ctx, aid) == "skipped:lost-claim"
    assert client.sent == []
    assert counters(store)["d"].endswith(":0")


def test_a_request_that_cannot_be_built_gives_the_script_slot_back(
        store: Store, clean_env: Any) -> None:
    ctx = context(store)
    learned(ctx)
    (c,) = store.create_calls([_invalid_call()], delay_ms=0)
    assert place_attempt(ctx, c.attempt_id) == "rejected:invalid"
    assert counters(store)["d"].endswith(":0")


def test_quiet_hours_leave_single_calls_to_the_worker(store: Store, clean_env: Any) -> None:
    ctx = context(store, single_call_hours="00:00-23:59")
    caps = learned(ctx)
    single, campaign = new_call(store), new_call(store, "+919820000099", campaign="c1")
    for aid, detail in ((single, "unmarked"), (campaign, "marked")):
        prep = store.prepare_dial(aid, new_claim_token(), dial_terms(ctx),
                                  caps=caps.script_terms(), member="m-" + aid)
        assert prep.detail == detail
        free_agent(store)


def test_a_capped_verdict_says_which_cap(store: Store, clean_env: Any) -> None:
    ctx = context(store, contact_cap_attempts=1)
    caps = learned(ctx)
    assert isinstance(caps.take(store.get_call(call_id_of(new_call(store)))), Slot)
    free_agent(store)
    aid = new_call(store)
    prep = store.prepare_dial(aid, new_claim_token(), dial_terms(ctx),
                              caps=caps.script_terms(), member="m-" + aid)
    assert prep.detail == "capped"
    _, verdict, agreed = caps.checked(store.get_call(call_id_of(aid)), prep.cap)
    assert agreed and isinstance(verdict, Capped)
    assert (verdict.period, verdict.limit, verdict.used, verdict.zone) == (
        "day", 1, 1, "Asia/Kolkata")


def _invalid_call() -> Any:
    from dialer.store import NewCall

    return NewCall("main", "connect", {"From": AGENT, "To": CUSTOMER,
                                       "CallerId": "08030752400", "TimeLimit": 10**9}, {})
