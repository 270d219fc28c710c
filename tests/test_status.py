"""The call view: typed, every time ISO 8601 with its offset."""

from __future__ import annotations

from datetime import datetime

import redis

from dialer.models import AttemptState, CallUpdate
from dialer.policy import Decision
from dialer.status import CallView, call_view, exotel_time
from dialer.store import NewCall, Store


def test_numbers_are_numbers_and_times_carry_their_offset(r: redis.Redis) -> None:
    store = Store(r)
    (c,) = store.create_calls([NewCall("main", "connect",
                                       {"From": "+919810000010", "To": "+919820000020"},
                                       {"order": 7}, idem_key="k")], delay_ms=0)
    token, _ = store.claim(c.attempt_id)
    assert token and store.mark_posting(c.attempt_id, token)
    store.record_outcome(c.attempt_id, token, AttemptState.PLACED, call_sid="CA9")
    update = CallUpdate(status="completed", leg1_status="completed", leg2_status="completed",
                        start_time="2026-12-01 15:30:00", end_time="2026-12-01 15:31:05",
                        duration_s=65, price="1.50", recording_url="https://r.example/a.mp3")
    store.apply_update(c.attempt_id, update, AttemptState.COMPLETED,
                       Decision(False, 0, "succeeded"))
    view = call_view(store, c.call_id)
    CallView.model_validate(view)  # what OpenAPI documents
    assert view["from_number"] == "+919810000010" and view["to_number"] == "+919820000020"
    assert view["duration_s"] == 65 and view["price"] == 1.5
    assert view["recording_url"] == "https://r.example/a.mp3"
    (a,) = view["attempts"]
    assert a["n"] == 1 and a["http_429"] == 0 and a["duration_s"] == 65
    assert a["start_time"] == "2026-12-01T15:30:00+05:30"  # Exotel's IST
    for key in ("created_at", "claimed_at", "posting_at", "terminal_at"):
        assert datetime.fromisoformat(a[key]).utcoffset() is not None, key
    assert datetime.fromisoformat(view["ended_at"]).utcoffset() is not None
    assert view["metadata"] == {"order": 7} and view["idempotency_key"] == "k"
    assert view["waiting_for"] is None and view["state"] == "completed"


def test_a_waiting_call_says_why(r: redis.Redis) -> None:
    store = Store(r)
    (c,) = store.create_calls([NewCall("main", "connect", {"From": "+919810000010"}, {})],
                              delay_ms=0)
    token, _ = store.claim(c.attempt_id)
    assert token and store.release(c.attempt_id, token, 1000, "agent busy")
    assert call_view(store, c.call_id)["waiting_for"] == "agent busy"


def test_exotel_times() -> None:
    assert exotel_time("2022-11-03 22:54:40+05:30") == exotel_time("2022-11-03 17:24:40Z")
    assert exotel_time("junk") is None and exotel_time("") is None
