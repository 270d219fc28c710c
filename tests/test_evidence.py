"""Leg evidence before a retry, unknown outcomes resolved, one request budget — the
poller's decisions, with a real Redis and a fake Exotel client (our PollClient Protocol)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import redis

from dialer.errors import RateLimitedError
from dialer.models import AttemptState, CallUpdate
from dialer.polling import agent_poll_interval_ms, agent_poll_kind, first_poll_ms, poll_due
from dialer.ratelimit import SlidingWindowLimiter
from dialer.reconcile import reconcile
from dialer.settings import Settings
from dialer.store import NewCall, Store
from tests.units import store, unit_settings

__all__ = ["store"]  # the fixture
from tests.stack import wait_for

AGENT, CUSTOMER = "+919810000010", "+919820000020"
IST = timezone(timedelta(minutes=330))


@dataclass
class Legs:
    leg1_status: str | None
    leg2_status: str | None


@dataclass
class Listed:
    sid: str
    date_created: datetime | None
    custom_field: str | None
    update: CallUpdate


@dataclass
class FakeExotel:
    """Answers like Exotel would, and records every request it was asked to make."""

    details: dict[str, CallUpdate] = field(default_factory=dict)
    legs: dict[str, Legs] = field(default_factory=dict)
    listed: list[Listed] = field(default_factory=list)
    fail_with: Exception | None = None
    seen: list[tuple[str, Any]] = field(default_factory=list)

    def _answer(self, what: str, arg: Any) -> None:
        self.seen.append((what, arg))
        if self.fail_with is not None:
            raise self.fail_with

    def get_call(self, call_sid: str, *, details: bool = True) -> CallUpdate:
        self._answer("details", call_sid)
        return self.details[call_sid]

    def get_call_v3(self, call_sid: str) -> CallUpdate:
        self._answer("v3", call_sid)
        return self.details[call_sid]

    def get_legs_v3(self, call_sid: str) -> Legs:
        self._answer("legs", call_sid)
        return self.legs[call_sid]

    def list_calls_page(self, **filters: Any) -> tuple[list[Listed], str | None]:
        self._answer("list", filters)
        return list(self.listed), None


def settings(**kw: Any) -> Settings:
    values: dict[str, Any] = {"evidence_delay_s": 0,
                              "retry_backoff_base_s": 0, "retry_jitter_ratio": 0,
                              "poll_after_s": 0.001, "fill_poll_after_s": 3600}
    values.update(kw)
    return unit_settings(**values)


def budget(r: redis.Redis, s: Settings) -> SlidingWindowLimiter:
    return SlidingWindowLimiter(r, s.rate_limit_admitted, s.rate_limit_window_s,
                                lookup_max=s.lookup_max, lookup_reserve=s.lookup_reserve)


def placed(store: Store, mode: str = "connect", sid: str = "CA1",
           outcome: AttemptState = AttemptState.PLACED) -> tuple[str, str]:
    request = ({"from_contact_uri": AGENT, "to_contact_uri": CUSTOMER} if mode == "v3"
               else {"From": AGENT, "To": CUSTOMER})
    (c,) = store.create_calls([NewCall("main", mode, request, {})], delay_ms=0)
    token, _ = store.claim(c.attempt_id)
    assert token and store.mark_posting(c.attempt_id, token)
    store.agent_acquire("main", AGENT, c.attempt_id, 1, 900_000)
    store.record_outcome(c.attempt_id, token, outcome, call_sid=sid, check_after_ms=0)
    return c.call_id, c.attempt_id


def four_field(status: str, sid: str = "CA1") -> CallUpdate:
    return CallUpdate(source="callback", call_sid=sid, status=status,
                      date_updated="2026-12-01 10:00:00")


def tick(store: Store, s: Settings, exotel: FakeExotel) -> Any:
    return poll_due(store, s, {"main": exotel}, budget(store.r, s))  # type: ignore[dict-item]


@pytest.mark.parametrize(("leg1", "leg2", "retried", "reason"), [
    ("completed", "no-answer", False, "leg 2 no-answer: not retried"),
    ("completed", "failed", False, "leg 2 failed: not retried"),
    ("no-answer", None, True, "leg 1 no-answer: retry"),
    ("failed", None, True, "leg 1 failed: retry"),
])
def test_a_four_field_callback_waits_for_the_legs(
    store: Store, clean_env: Any, leg1: str, leg2: str | None, retried: bool, reason: str
) -> None:
    s = settings()
    cid, aid = placed(store)
    applied = reconcile(store, s, aid, four_field("no-answer"))
    assert applied.became_terminal and applied.awaiting_evidence and not applied.retried
    assert store.get_call(cid)["state"] == "awaiting-evidence"
    assert store.get_attempt(aid)["decision"] == "pending"
    assert store.r.zscore(store.keys.agent("main", AGENT), aid) is None  # the call ended

    exotel = FakeExotel(details={"CA1": CallUpdate(source="poll", call_sid="CA1",
                                                   status="no-answer", leg1_status=leg1,
                                                   leg2_status=leg2)})
    report = tick(store, s, exotel)
    assert exotel.seen == [("details", "CA1")] and report.evidence == 1
    attempt = store.get_attempt(aid)
    assert attempt["decision"] == ("retry" if retried else "final")
    assert attempt["decision_reason"] == reason
    call = store.get_call(cid)
    assert call["attempts"] == ("2" if retried else "1")
    assert call["state"] == ("retry-wait" if retried else "no-answer")
    assert store.r.zcard(store.keys.evidence) == 0
    assert tick(store, s, exotel).polled == 0  # nothing left to ask


def test_a_callback_with_legs_decides_at_once(store: Store, clean_env: Any) -> None:
    s = settings()
    cid, aid = placed(store)
    update = four_field("no-answer").model_copy(
        update={"leg1_status": "completed", "leg2_status": "no-answer", "event": "terminal"})
    applied = reconcile(store, s, aid, update)
    assert applied.became_terminal and not applied.awaiting_evidence
    assert store.get_call(cid)["state"] == "no-answer"
    assert store.r.zcard(store.keys.evidence) == 0


def test_a_late_callback_with_legs_takes_the_pending_decision(store: Store,
                                                              clean_env: Any) -> None:
    s = settings()
    cid, aid = placed(store)
    reconcile(store, s, aid, four_field("no-answer"))
    late = four_field("no-answer").model_copy(update={"leg1_status": "no-answer"})
    reconcile(store, s, aid, late)
    assert store.get_attempt(aid)["decision"] == "retry"
    assert store.get_call(cid)["attempts"] == "2"
    reconcile(store, s, aid, late)  # a duplicate decides nothing more
    assert store.get_call(cid)["attempts"] == "2"
    assert not store.r.exists(store.keys.attempt(f"{cid}-3"))


def test_v3_evidence_comes_from_the_legs_api(store: Store, clean_env: Any) -> None:
    s = settings()
    cid, aid = placed(store, mode="v3", sid="V3SID")
    v3_callback = CallUpdate(source="callback", call_sid="V3SID", status="no-answer",
                             event="terminal")
    assert reconcile(store, s, aid, v3_callback).awaiting_evidence
    exotel = FakeExotel(legs={"V3SID": Legs("completed", "no-answer")})
    tick(store, s, exotel)
    assert exotel.seen == [("legs", "V3SID")]
    assert store.get_attempt(aid)["decision_reason"] == "leg 2 no-answer: not retried"
    assert store.get_call(cid)["state"] == "no-answer"


def test_no_evidence_by_the_deadline_is_no_retry(store: Store, clean_env: Any) -> None:
    s = settings(evidence_deadline_s=0.001)
    cid, aid = placed(store)
    reconcile(store, s, aid, four_field("failed"))
    ended = int(store.get_attempt(aid)["terminal_at"])
    wait_for(lambda: store.now_ms() > ended + 1, 5, "the deadline to pass")
    exotel = FakeExotel()
    report = tick(store, s, exotel)
    assert report.no_evidence == 1 and exotel.seen == []
    attempt = store.get_attempt(aid)
    assert attempt["decision"] == "final"
    assert "no leg evidence in 0.001s: not retried" in attempt["decision_reason"]
    assert store.get_call(cid)["final_status"] == "failed"
    events = [f for _, f in store.r.xrange(store.keys.events)]
    assert any(e["type"] == "decided" and "no leg evidence" in e["detail"] for e in events)


def test_evidence_that_says_nothing_keeps_waiting(store: Store, clean_env: Any) -> None:
    s = settings()
    cid, aid = placed(store)
    reconcile(store, s, aid, four_field("no-answer"))
    exotel = FakeExotel(details={"CA1": CallUpdate(source="poll", call_sid="CA1",
                                                   status="no-answer")})
    tick(store, s, exotel)
    assert store.get_attempt(aid)["decision"] == "pending"
    assert store.r.zscore(store.keys.evidence, aid) is not None  # looked up again later
    assert store.get_call(cid)["state"] == "awaiting-evidence"


def test_the_decision_is_taken_once(store: Store, clean_env: Any) -> None:
    s = settings()
    cid, aid = placed(store)
    reconcile(store, s, aid, four_field("no-answer"))
    late = four_field("no-answer").model_copy(update={"leg1_status": "no-answer"})
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: reconcile(store, s, aid, late), range(16)))
    assert store.get_call(cid)["attempts"] == "2"
    kinds = [f["type"] for _, f in store.r.xrange(store.keys.events)]
    assert kinds.count("retry-scheduled") == 1 and kinds.count("decided") == 1


def listed(aid: str | None, sid: str, status: str = "completed",
           created: datetime | None = None) -> Listed:
    update = CallUpdate(source="poll", call_sid=sid, status=status, duration_s=12,
                        price="0.50")
    return Listed(sid, created or datetime.now(IST), aid, update)


def test_an_unknown_attempt_is_found_in_the_bulk_call_details(store: Store,
                                                              clean_env: Any) -> None:
    s = settings()
    cid, aid = placed(store, sid="", outcome=AttemptState.UNKNOWN)
    exotel = FakeExotel(listed=[listed("someone-else-1", "OTHER"),
                                listed(f"{aid}|order-1", "FOUND")])
    report = tick(store, s, exotel)
    assert report.resolved_unknown == 1
    (what, filters), = exotel.seen
    assert what == "list" and filters["from_"] == AGENT and filters["to"] == CUSTOMER
    assert filters["created_to"] - filters["created_from"] == timedelta(seconds=240)
    assert filters["created_from"].utcoffset() == timedelta(minutes=330)
    attempt = store.get_attempt(aid)
    assert attempt["call_sid"] == "FOUND" and attempt["state"] == "completed"
    assert store.attempt_for_sid("FOUND") == aid
    assert store.get_call(cid)["final_status"] == "completed"
    assert store.r.zcard(store.keys.agent("main", AGENT)) == 0  # the agent is free again


def test_without_custom_field_the_closest_unowned_call_matches(store: Store,
                                                               clean_env: Any) -> None:
    s = settings()
    placed(store, sid="MINE-BEFORE")
    cid, aid = placed(store, sid="", outcome=AttemptState.UNKNOWN)
    posted = datetime.fromtimestamp(int(store.get_attempt(aid)["posting_at"]) / 1000, IST)
    exotel = FakeExotel(details={"MINE-BEFORE": CallUpdate(source="poll", status="ringing")},
                        listed=[
        listed(None, "MINE-BEFORE", created=posted),  # another attempt's call
        listed(None, "FAR", created=posted + timedelta(seconds=90)),
        listed(None, "NEAR", created=posted + timedelta(seconds=2)),
    ])
    tick(store, s, exotel)
    assert store.get_attempt(aid)["call_sid"] == "NEAR"


def test_an_unknown_attempt_not_listed_stays_unknown_until_the_horizon(
    store: Store, clean_env: Any
) -> None:
    s = settings(unknown_deadline_s=3600)
    _, aid = placed(store, sid="", outcome=AttemptState.UNKNOWN)
    exotel = FakeExotel()
    tick(store, s, exotel)
    assert store.get_attempt(aid)["state"] == "unknown"
    assert store.r.zscore(store.keys.unknown, aid) is not None
    assert store.unresolved() == []


@pytest.mark.parametrize("redial", [False, True])
def test_at_the_horizon_an_absent_call_is_reported_or_dialled_again(
    store: Store, clean_env: Any, redial: bool
) -> None:
    s = settings(unknown_deadline_s=0.001, redial_proven_absent=redial)
    cid, aid = placed(store, sid="", outcome=AttemptState.UNKNOWN)
    since = int(store.get_attempt(aid)["outcome_at"])
    wait_for(lambda: store.now_ms() > since + 1, 5, "the horizon to pass")
    tick(store, s, FakeExotel())
    kinds = [f["type"] for _, f in store.r.xrange(store.keys.events)]
    if redial:
        assert store.get_attempt(aid)["state"] == "absent"
        assert store.get_call(cid)["attempts"] == "2"
        assert "absent" in kinds and "retry-scheduled" in kinds
    else:
        assert store.get_attempt(aid)["state"] == "unknown"
        assert [a for a, _ in store.unresolved()] == [aid]
        assert "unresolved" in kinds and "retry-scheduled" not in kinds


def test_lookups_wait_for_a_slot_of_the_account_budget(store: Store, clean_env: Any) -> None:
    s = settings(rate_limit_calls=4, rate_limit_margin_calls=0, lookup_max_share=0.5)
    limiter = budget(store.r, s)
    key = store.keys.ratelimit("main")
    assert limiter.acquire(key, "dial").admitted and limiter.acquire(key, "dial").admitted
    assert limiter.acquire(key, "lookup").admitted and limiter.acquire(key, "lookup").admitted
    _, aid = placed(store)
    reconcile(store, s, aid, four_field("no-answer"))
    exotel = FakeExotel(details={"CA1": CallUpdate(source="poll", status="no-answer",
                                                   leg1_status="no-answer")})
    report = poll_due(store, s, {"main": exotel}, limiter)  # type: ignore[dict-item]
    assert exotel.seen == [] and report.deferred == 1  # the window is full: not sent
    assert store.get_attempt(aid)["decision"] == "pending"


def test_a_429_on_a_lookup_cools_the_whole_account_down(store: Store, clean_env: Any) -> None:
    s = settings()
    _, aid = placed(store)
    reconcile(store, s, aid, four_field("no-answer"))
    exotel = FakeExotel(fail_with=RateLimitedError("slow down", retry_after_s=30))
    limiter = budget(store.r, s)
    report = poll_due(store, s, {"main": exotel}, limiter)  # type: ignore[dict-item]
    assert report.deferred == 1 and store.get_attempt(aid)["decision"] == "pending"
    denied = limiter.acquire(store.keys.ratelimit("main"), "dial")
    assert not denied.admitted and 25 < denied.wait_s <= 30
    due = store.r.zscore(store.keys.evidence, aid)
    assert due is not None and due > store.now_ms() + 25_000


def test_every_request_is_counted_once(store: Store, clean_env: Any) -> None:
    s = settings()
    _, aid = placed(store)
    reconcile(store, s, aid, four_field("no-answer"))
    exotel = FakeExotel(details={"CA1": CallUpdate(source="poll", status="no-answer",
                                                   leg1_status="completed",
                                                   leg2_status="no-answer")})
    tick(store, s, exotel)
    key = store.keys.ratelimit("main")
    assert store.r.zcard(key) == 1 and store.r.zcard(f"{key}:lookups") == 1
    assert json.loads(json.dumps(store.counts()))["evidence"] == 0


def test_an_unlisted_unknown_frees_its_agent_once_no_call_can_still_be_going_on(
    store: Store, clean_env: Any
) -> None:
    s = settings()
    (c,) = store.create_calls([NewCall("main", "connect", {"From": AGENT, "To": CUSTOMER,
                                                           "TimeOut": 1, "TimeLimit": 1}, {})],
                              delay_ms=0)
    token, _ = store.claim(c.attempt_id)
    assert token and store.mark_posting(c.attempt_id, token)
    store.agent_acquire("main", AGENT, c.attempt_id, 1, 900_000)
    store.record_outcome(c.attempt_id, token, AttemptState.UNKNOWN, check_after_ms=0)
    agent = store.keys.agent("main", AGENT)
    tick(store, s, FakeExotel())
    assert store.r.zcard(agent) == 1  # the call may still be going on (63 s at most)
    store.r.hset(store.keys.attempt(c.attempt_id), "posting_at", store.now_ms() - 64_000)
    store.push_back(store.keys.unknown, c.attempt_id, 0)
    tick(store, s, FakeExotel())
    assert store.r.zcard(agent) == 0
    assert store.get_attempt(c.attempt_id)["state"] == "unknown"  # still reported, not redialled


def test_an_agent_mode_call_is_looked_up_early_and_often() -> None:
    s = settings(poll_after_s=180, poll_interval_s=60, agent_poll_after_s=10,
                 agent_poll_interval_s=15)
    assert first_poll_ms(s, {"mode": "connect"}) == first_poll_ms(s, {"mode": "v3"}) == 10_000
    assert first_poll_ms(s, {"mode": "flow"}) == 180_000  # no agent waits for it
    assert agent_poll_interval_ms(s) == 15_000
    # before the regular polls, and between them: background; a regular one: a look-up
    kinds = {age: agent_poll_kind(s, age) for age in (10, 170, 185, 200, 239, 245, 300)}
    assert kinds == {10: "background", 170: "background", 185: "lookup", 200: "background",
                     239: "background", 245: "lookup", 300: "lookup"}
    # set no shorter than the regular schedule, they are exactly the regular polls
    slow = settings(poll_after_s=180, poll_interval_s=60, agent_poll_after_s=180,
                    agent_poll_interval_s=60)
    assert first_poll_ms(slow, {"mode": "connect"}) == 180_000
    assert {agent_poll_kind(slow, age) for age in (180, 200, 241, 1000)} == {"lookup"}


def test_an_early_look_never_takes_a_slot_a_dial_could_use(store: Store,
                                                            clean_env: Any) -> None:
    s = settings(poll_after_s=180, poll_interval_s=60, agent_poll_interval_s=15,
                 rate_limit_calls=20, rate_limit_margin_calls=0)
    _, aid = placed(store)  # an agent-mode call, no callback yet
    going_on = CallUpdate(source="poll", call_sid="CA1", status="in-progress")
    exotel = FakeExotel(details={"CA1": going_on})
    limiter = budget(store.r, s)
    key = store.keys.ratelimit("main")
    for _ in range(10):  # dials fill half the window
        assert limiter.acquire(key, "dial").admitted
    report = poll_due(store, s, {"main": exotel}, limiter)  # type: ignore[dict-item]
    assert exotel.seen == [] and report.deferred == 1
    store.r.delete(key)  # the window empties
    store.r.zadd(store.keys.active, {aid: 0})
    poll_due(store, s, {"main": exotel}, limiter)  # type: ignore[dict-item]
    assert exotel.seen == [("details", "CA1")]
    due = store.r.zscore(store.keys.active, aid)
    assert due is not None and 10_000 < due - store.now_ms() <= 15_000  # soon again
    # the call ended and its callback was lost: the next look frees the agent
    exotel.details["CA1"] = CallUpdate(source="poll", call_sid="CA1", status="completed",
                                       leg1_status="completed", leg2_status="completed")
    store.r.zadd(store.keys.active, {aid: 0})
    ended: list[dict[str, str]] = []
    poll_due(store, s, {"main": exotel}, limiter, ended.append)  # type: ignore[dict-item]
    assert store.get_attempt(aid)["state"] == "completed"
    assert store.r.zcard(store.keys.agent("main", AGENT)) == 0
    assert [c["id"] for c in ended] == [aid.rsplit("-", 1)[0]]  # the hand-off was called
