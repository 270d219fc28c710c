"""The StatusCallback endpoint: signed per-attempt URLs, nothing changes without a valid
token, and no payload makes it answer 5xx or the result path crash or regress."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialer.models import AttemptState, CallUpdate
from dialer.publisher import RESULTS_QUEUE, CeleryPublisher, broker_app
from dialer.reconcile import reconcile
from dialer.settings import Settings
from dialer.store import NewCall, Store
from dialer.web import create_app
from dialer.webhooks import ValidationError, parse_callback, sign_attempt

SECRET = "cb-secret"


@pytest.fixture()
def env(redis_url: str) -> Iterator[tuple[TestClient, Store, Settings]]:
    s = Settings(redis_url=redis_url, callback_secret=SECRET, api_token="api",
                 accounts=[{"name": "main", "sid": "AC1", "api_key": "k", "api_token": "t",
                            "caller_id": "08030752400"}])
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    app = create_app(s, client, CeleryPublisher(broker_app(redis_url)))
    with TestClient(app) as tc:
        yield tc, Store(client), s


def placed_attempt(store: Store) -> str:
    (c,) = store.create_calls([NewCall("main", "connect", {"From": "+919810000010"}, {})],
                              delay_ms=0)
    token, _ = store.claim(c.attempt_id)
    assert token and store.mark_posting(c.attempt_id, token)
    store.record_outcome(c.attempt_id, token, AttemptState.PLACED, call_sid="CA1")
    return c.attempt_id


BODY = {"CallSid": "CA1", "Status": "completed", "Legs": [{"Status": "completed"}]}


def test_valid_token_hands_the_update_to_a_result_task(env: Any) -> None:
    tc, store, _ = env
    aid = placed_attempt(store)
    res = tc.post(f"/v1/callbacks/exotel/{aid}?token={sign_attempt(SECRET, aid)}", json=BODY)
    assert res.status_code == 200
    assert store.r.llen(RESULTS_QUEUE) == 1
    message = json.loads(store.r.lindex(RESULTS_QUEUE, 0))
    assert message["headers"]["task"] == "dialer.reconcile"


@pytest.mark.parametrize("token", [None, "", "forged", sign_attempt(SECRET, "other-1"),
                                   sign_attempt("wrong-secret", "x")])
def test_missing_or_forged_token_is_refused_and_changes_nothing(env: Any, token: str | None
                                                                ) -> None:
    tc, store, _ = env
    aid = placed_attempt(store)
    before = store.get_attempt(aid)
    url = f"/v1/callbacks/exotel/{aid}" + (f"?token={token}" if token is not None else "")
    for res in (tc.post(url, json=BODY), tc.get(url, params={"Status": "completed"})):
        assert 400 <= res.status_code < 500
    assert store.get_attempt(aid) == before
    assert store.r.llen(RESULTS_QUEUE) == 0


def test_oversized_body_is_refused(env: Any) -> None:
    tc, store, _ = env
    aid = placed_attempt(store)
    res = tc.post(f"/v1/callbacks/exotel/{aid}?token={sign_attempt(SECRET, aid)}",
                  content=b"x" * (70 * 1024), headers={"content-type": "application/json"})
    assert res.status_code == 413
    assert store.r.llen(RESULTS_QUEUE) == 0


json_value = st.recursive(
    st.none() | st.booleans() | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=50)
    | st.sampled_from(["null", "", "completed", "no-answer", "busy", "failed", "answered",
                       "terminal", "in-progress", "exploded"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10),
                                                                     children, max_size=3),
    max_leaves=10,
)
payloads = st.dictionaries(
    st.sampled_from(["CallSid", "Status", "RecordingUrl", "DateUpdated", "CustomField",
                     "EventType", "Legs", "Duration", "Price", "ConversationDuration",
                     "event_details", "call_details", "StartTime", "EndTime", "Digits"]),
    json_value, max_size=8)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(payload=payloads, as_form=st.booleans())
def test_no_payload_gives_a_5xx(env: Any, payload: dict[str, Any], as_form: bool) -> None:
    tc, store, _ = env
    aid = placed_attempt(store)
    url = f"/v1/callbacks/exotel/{aid}?token={sign_attempt(SECRET, aid)}"
    if as_form:
        res = tc.post(url, data={k: json.dumps(v) if not isinstance(v, str) else v
                                 for k, v in payload.items()})
    else:
        res = tc.post(url, json=payload)
    assert res.status_code < 500


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(first=payloads, second=payloads)
def test_result_path_never_crashes_or_regresses(env: Any, first: dict[str, Any],
                                                second: dict[str, Any]) -> None:
    _, store, s = env
    aid = placed_attempt(store)
    states = []
    for payload in (first, {"CallSid": "CA1", "Status": "completed"}, second):
        try:
            update = parse_callback("POST", "application/json", json.dumps(payload).encode(), [])
        except ValidationError:
            continue
        reconcile(store, s, aid, CallUpdate.model_validate(update.model_dump()))
        states.append(store.get_attempt(aid)["state"])
    terminal = {"completed", "busy", "no-answer", "failed"}
    seen_terminal = False
    for state in states:
        if seen_terminal:
            assert state in terminal  # never back from a final state
        seen_terminal = seen_terminal or state in terminal
    assert states[-1] in terminal
