"""The attempt state machine: atomic claims, forward-only updates, exactly-once retries."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from dialer.models import AttemptState, CallUpdate
from dialer.policy import Decision
from dialer.store import NewCall, Store


@pytest.fixture()
def store(r: redis.Redis) -> Store:
    return Store(r)


def new(store: Store, idem: str = "") -> tuple[str, str]:
    (c,) = store.create_calls([NewCall("main", "connect", {"From": "+919810000010"}, {},
                                       idem_key=idem)], delay_ms=0)
    return c.call_id, c.attempt_id


def test_only_one_of_many_concurrent_claims_wins(store: Store) -> None:
    _, aid = new(store)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: store.claim(aid), range(32)))
    winners = [tok for tok, _ in results if tok]
    assert len(winners) == 1
    assert {state for tok, state in results if not tok} == {"dialing"}


def test_posting_needs_the_current_claim(store: Store) -> None:
    _, aid = new(store)
    token, _ = store.claim(aid)
    assert token
    assert not store.mark_posting(aid, "stale-token")
    assert store.mark_posting(aid, token)


def test_release_spends_no_retry_and_returns_to_the_due_set(store: Store) -> None:
    cid, aid = new(store)
    token, _ = store.claim(aid)
    assert token and store.release(aid, token, 1000, "rate limit")
    assert store.get_attempt(aid)["state"] == "pending"
    assert store.r.zscore(store.keys.due, aid) is not None
    assert store.get_call(cid)["attempts"] == "1"


def test_sweeper_resets_unposted_and_marks_posted_unknown(store: Store) -> None:
    _, unposted = new(store)
    _, posted = new(store)
    t1, _ = store.claim(unposted)
    t2, _ = store.claim(posted)
    assert t1 and t2 and store.mark_posting(posted, t2)
    result = store.sweep(dialing_timeout_ms=0, pending_redeliver_ms=10**9)
    assert result["reset"] == 1 and result["unknown"] == 1
    assert store.get_attempt(unposted)["state"] == "pending"
    assert store.get_attempt(posted)["state"] == "unknown"
    # the slow worker that lost its claim cannot post any more
    assert not store.mark_posting(unposted, t1)


def terminal(status: str, **kw: str) -> CallUpdate:
    return CallUpdate(call_sid="CA1", status=status, **kw)


def placed(store: Store) -> tuple[str, str]:
    cid, aid = new(store)
    token, _ = store.claim(aid)
    assert token and store.mark_posting(aid, token)
    store.record_outcome(aid, token, AttemptState.PLACED, call_sid="CA1")
    return cid, aid


def test_terminal_status_is_never_undone_and_retry_happens_once(store: Store) -> None:
    cid, aid = placed(store)
    retry = Decision(True, 0.5, "leg 1 no-answer: retry")
    update = terminal("no-answer", leg1_status="no-answer")
    results = [store.apply_update(aid, update, AttemptState.NO_ANSWER, retry) for _ in range(5)]
    assert [r.retried for r in results] == [True, False, False, False, False]
    late = store.apply_update(aid, terminal("completed"), AttemptState.COMPLETED, None)
    assert not late.became_terminal
    a = store.get_attempt(aid)
    assert a["state"] == "no-answer" and a["status"] == "no-answer"
    assert store.get_call(cid)["attempts"] == "2"
    assert store.get_attempt(f"{cid}-2")["state"] == "pending"


def test_missing_fields_never_overwrite_and_late_values_fill_in(store: Store) -> None:
    cid, aid = placed(store)
    first = CallUpdate(call_sid="CA1", status="completed", recording_url="http://r/1.mp3",
                       leg1_status="completed", leg2_status="completed")
    store.apply_update(aid, first, AttemptState.COMPLETED, Decision(False, 0, "ok"))
    store.apply_update(aid, CallUpdate(call_sid="CA1", status="completed", recording_url=None),
                       AttemptState.COMPLETED, None)
    store.apply_update(aid, CallUpdate(call_sid="CA1", duration_s=42, price="0.75",
                                       source="poll"), None, None)
    a = store.get_attempt(aid)
    assert a["recording_url"] == "http://r/1.mp3"
    assert a["duration_s"] == "42" and a["price"] == "0.75"
    assert store.get_call(cid)["state"] == "completed"


def test_answered_after_completed_is_ignored(store: Store) -> None:
    _, aid = placed(store)
    store.apply_update(aid, terminal("completed", leg1_status="completed"),
                       AttemptState.COMPLETED, Decision(False, 0, "ok"))
    store.apply_update(aid, CallUpdate(call_sid="CA1", status="in-progress", event="answered",
                                       leg1_status="in-progress"), None, None)
    a = store.get_attempt(aid)
    assert a["status"] == "completed" and a["leg1_status"] == "completed"


def test_callback_before_the_post_returns_is_kept(store: Store) -> None:
    cid, aid = new(store)
    token, _ = store.claim(aid)
    assert token and store.mark_posting(aid, token)
    store.apply_update(aid, terminal("completed"), AttemptState.COMPLETED,
                       Decision(False, 0, "ok"))
    ok, state = store.record_outcome(aid, token, AttemptState.PLACED, call_sid="CA1")
    assert not ok and state == "completed"
    assert store.get_call(cid)["state"] == "completed"


def test_unknown_attempt_is_resolved_by_an_update(store: Store) -> None:
    cid, aid = new(store)
    token, _ = store.claim(aid)
    assert token and store.mark_posting(aid, token)
    store.record_outcome(aid, token, AttemptState.UNKNOWN, detail="read timeout")
    assert store.r.zscore(store.keys.unknown, aid) is not None
    store.apply_update(aid, terminal("busy", leg1_status="busy"), AttemptState.BUSY,
                       Decision(False, 0, "busy"))
    assert store.get_attempt(aid)["state"] == "busy"
    assert store.r.zscore(store.keys.unknown, aid) is None
    assert store.attempt_for_sid("CA1") == aid


def test_updates_for_pending_or_missing_attempts_change_nothing(store: Store) -> None:
    _, aid = new(store)
    applied = store.apply_update(aid, terminal("completed"), AttemptState.COMPLETED, None)
    assert not applied.changed and store.get_attempt(aid)["state"] == "pending"
    assert store.apply_update("nope-1", terminal("completed"), None, None).state == "missing"


def test_cancel_pending_only_before_dialling(store: Store) -> None:
    cid, aid = new(store)
    assert store.cancel_pending(aid, "campaign cancelled")
    assert store.get_call(cid)["state"] == "cancelled"
    _, other = new(store)
    store.claim(other)
    assert not store.cancel_pending(other, "too late")


def test_agent_is_held_by_one_call_at_a_time(store: Store) -> None:
    assert store.agent_acquire("main", "+919810000010", "a-1", 1, 60_000)
    assert store.agent_acquire("main", "+919810000010", "a-1", 1, 60_000)  # re-entrant
    assert not store.agent_acquire("main", "+919810000010", "b-1", 1, 60_000)
    store.agent_release("main", "+919810000010", "a-1")
    assert store.agent_acquire("main", "+919810000010", "b-1", 1, 60_000)


def test_given_up_unknown_attempts_are_reported(store: Store) -> None:
    _, aid = new(store)
    token, _ = store.claim(aid)
    assert token and store.mark_posting(aid, token)
    store.record_outcome(aid, token, AttemptState.UNKNOWN, detail="read timeout")
    store.give_up_unknown(aid, "no callback")
    assert [a for a, _ in store.unresolved()] == [aid]
    assert store.get_attempt(aid)["state"] == "unknown"
    assert store.r.zscore(store.keys.unknown, aid) is None
