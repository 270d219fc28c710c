"""A waiting call is written lean (no attempt hash, no empty fields) and reads as before;
one definition of the terminal states and one clock prelude for every script."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import redis

from dialer.lua_prelude import STATES
from dialer.models import EXOTEL_TERMINAL_STATUSES, TERMINAL_ATTEMPT_STATES
from dialer.status import call_view
from dialer.store import NewCall, Store, is_terminal

ROOT = Path(__file__).resolve().parents[1]
REQUEST = {"From": "+919810000010", "To": "+919820000010", "CallerId": "08030752400",
           "CallType": "trans"}


@pytest.fixture()
def store(r: redis.Redis) -> Store:
    return Store(r)


def waiting(store: Store, **kw: str) -> tuple[str, str]:
    (c,) = store.create_calls([NewCall("main", "connect", REQUEST, {}, **kw)],
                              delay_ms=3_600_000)
    return c.call_id, c.attempt_id


def test_a_waiting_call_holds_only_what_its_request_says(store: Store) -> None:
    call_id, aid = waiting(store)
    raw = store.r.hgetall(store.keys.call(call_id))
    assert set(raw) == {"account", "mode", "request", "created_at"}
    assert json.loads(raw["request"]) == {k: v for k, v in REQUEST.items() if k != "CallType"}
    assert not store.r.exists(store.keys.attempt(aid))
    assert store.r.object("encoding", store.keys.call(call_id)) == "ziplist"  # compact
    assert not store.r.exists(store.keys.calls) and store.counts()["calls"] == 1


def test_a_waiting_call_reads_as_queued_with_its_pending_attempt(store: Store) -> None:
    call_id, aid = waiting(store, custom_field="order-7")
    call = store.get_call(call_id)
    assert (call["id"], call["state"], call["attempts"], call["current_attempt"]) == (
        call_id, "queued", "1", aid)
    assert call["custom_field"] == "order-7" and call["idem_key"] == ""
    attempt = store.get_attempt(aid)
    assert (attempt["id"], attempt["n"], attempt["state"]) == (aid, "1", "pending")
    assert attempt["created_at"] == call["created_at"]
    view = call_view(store, call_id)
    assert view["state"] == "queued" and [a["state"] for a in view["attempts"]] == ["pending"]
    assert view["metadata"] == {} and view["custom_field"] == "order-7"


def test_the_first_claim_writes_the_attempt(store: Store) -> None:
    call_id, aid = waiting(store)
    token, state = store.claim(aid)
    assert token and state == "dialing"
    attempt = store.r.hgetall(store.keys.attempt(aid))
    assert attempt["state"] == "dialing" and attempt["call_id"] == call_id
    assert attempt["n"] == "1" and attempt["account"] == "main"
    call = store.r.hgetall(store.keys.call(call_id))
    assert call["state"] == "dialing" and call["current_attempt"] == aid
    assert store.claim(aid) == (None, "dialing")


def test_cancel_and_sweep_see_the_unwritten_attempt_as_pending(store: Store) -> None:
    _, aid = waiting(store)
    assert store.cancel_pending(aid, "stopped")
    assert store.get_attempt(aid)["state"] == "cancelled"
    assert store.get_call(aid.rsplit("-", 1)[0])["final_status"] == "cancelled"
    assert not store.cancel_pending(aid, "again")
    (sent,) = store.create_calls([NewCall("main", "connect", REQUEST, {})], delay_ms=-1)
    assert store.sweep(10**9, 0)["redelivered"] == 1  # its message was lost: due again
    assert store.r.zscore(store.keys.due, sent.attempt_id) is not None


def test_a_missing_attempt_is_not_mistaken_for_an_unwritten_one(store: Store) -> None:
    call_id, aid = waiting(store)
    store.claim(aid)
    assert store.claim(f"{call_id}-2") == (None, "missing")
    assert store.claim("0" * 24 + "-1") == (None, "missing")


def test_the_lua_states_are_the_python_ones(r: redis.Redis) -> None:
    names = r.eval(STATES + """
local t, e = {}, {}
for k in pairs(TERMINAL) do t[#t + 1] = k end
for k in pairs(EXOTEL_FINAL) do e[#e + 1] = k end
return {t, e}""", 0)
    assert {n.decode() if isinstance(n, bytes) else n for n in names[0]} == {
        s.value for s in TERMINAL_ATTEMPT_STATES}
    assert {n.decode() if isinstance(n, bytes) else n for n in names[1]} == set(
        EXOTEL_TERMINAL_STATUSES)
    assert all(is_terminal(s.value) for s in TERMINAL_ATTEMPT_STATES)
    assert not is_terminal("placed")


def test_one_clock_prelude_and_no_terminal_sets_in_lua() -> None:
    sources = {p: p.read_text() for p in (ROOT / "dialer").rglob("*.py")}
    clocks = [p.name for p, text in sources.items() if "redis.call('TIME')" in text]
    assert clocks == ["lua_prelude.py"]
    sets = [p.name for p, text in sources.items()
            if re.search(r"local (TERMINAL|FINAL|EXOTEL_FINAL) = \{", text)]
    assert sets == []  # generated from dialer.models by dialer.lua_prelude.lua_set
