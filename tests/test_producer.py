"""Enqueueing: validated before anything is written, idempotent, pipelined in bulk."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis

from dialer.errors import InvalidNumberError, ValidationError
from dialer.producer import Producer
from dialer.settings import Settings
from dialer.store import Store

ACCOUNT = {"name": "main", "sid": "AC1", "api_key": "k", "api_token": "t",
           "base_url": "http://127.0.0.1:9", "caller_id": "08030752400"}


class RecordingPublisher:
    """Stands in for Celery's broker (outside the project): records what was published."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def publish(self, attempt_ids: Any) -> None:
        self.sent.extend(attempt_ids)


def make(r: redis.Redis, publisher: RecordingPublisher | None = None, **kw: Any) -> Producer:
    settings = Settings(accounts=[ACCOUNT, {**ACCOUNT, "name": "second", "caller_id": None}],
                        **kw)
    return Producer(r, settings, publisher)


GOOD = {"from": "09810000010", "to": "+91 98200 00010"}


def test_enqueue_writes_the_call_and_publishes_one_message(r: redis.Redis) -> None:
    pub = RecordingPublisher()
    call_id = make(r, pub).enqueue(GOOD)
    call = Store(r).get_call(call_id)  # a waiting call is stored lean: read it as a call
    assert call["state"] == "queued" and call["account"] == "main"
    request = json.loads(call["request"])
    assert request["From"] == "+919810000010" and request["To"] == "+919820000010"
    assert request["CallerId"] == "08030752400"
    assert pub.sent == [f"{call_id}-1"]
    assert r.zscore("dialer:pending", f"{call_id}-1") is not None
    assert r.xlen("dialer:events") == 1


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        ({"from": "12ab", "to": "09820000010"}, "From"),
        ({"from": "09810000010", "to": "0982"}, "To"),
        ({**GOOD, "account": "second"}, "caller_id"),  # no caller id anywhere
        ({**GOOD, "params": {"TimeLimit": 20000}}, "TimeLimit"),
        ({**GOOD, "custom_field": "x" * 200}, "custom_field"),
        ({**GOOD, "account": "nope"}, "account"),
        ({"to": "09820000010"}, "from"),
        ({"from": "09810000010"}, "to"),
        ({**GOOD, "mode": "flow"}, "app_id"),
        ({**GOOD, "mode": "teleport"}, "mode"),
        ({**GOOD, "params": {"StatusCallback": "http://x"}}, "params"),
        ({**GOOD, "params": {"RecordingChannels": "stereo"}}, "RecordingChannels"),
        ({**GOOD, "metadata": {"blob": "x" * 5000}}, "metadata"),
        ({**GOOD, "surprise": 1}, "surprise"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(
    r: redis.Redis, request_: dict[str, Any], field: str
) -> None:
    pub = RecordingPublisher()
    with pytest.raises(ValidationError) as info:
        make(r, pub).enqueue(request_)
    assert field in str(info.value), str(info.value)
    assert r.dbsize() == 0
    assert pub.sent == []


def test_malformed_number_is_an_invalid_number_error(r: redis.Redis) -> None:
    with pytest.raises(InvalidNumberError, match="12ab"):
        make(r).enqueue({"from": "12ab", "to": "09820000010"})


def test_custom_field_travels_after_the_attempt_id(r: redis.Redis) -> None:
    call_id = make(r).enqueue({**GOOD, "custom_field": "order-7"})
    assert r.hget(f"dialer:call:{call_id}", "custom_field") == "order-7"


def test_same_idempotency_key_from_five_threads_gives_one_call(r: redis.Redis) -> None:
    pub = RecordingPublisher()
    producer = make(r, pub)
    request = {**GOOD, "idempotency_key": "order-42"}
    with ThreadPoolExecutor(5) as pool:
        ids = list(pool.map(lambda _: producer.enqueue(request), range(10)))
    assert len(set(ids)) == 1
    assert pub.sent == [f"{ids[0]}-1"]
    assert Store(r).counts()["calls"] == 1


def test_bulk_is_all_or_nothing_and_names_the_bad_index(r: redis.Redis) -> None:
    producer = make(r)
    batch = [GOOD, GOOD, {"from": "bad", "to": "09820000010"}]
    with pytest.raises(ValidationError, match="request 2"):
        producer.enqueue_many(batch)
    assert r.dbsize() == 0
    ids = producer.enqueue_many([GOOD] * 50)
    assert len(set(ids)) == 50
    assert r.zcard("dialer:due") == 50  # the pump feeds them to the workers


def test_flow_and_v3_requests_validate(r: redis.Redis) -> None:
    producer = make(r)
    flow = producer.enqueue({"mode": "flow", "from": "09820000010", "app_id": "12345"})
    v3 = producer.enqueue({"mode": "v3", "from": "sip:agent7", "to": "09820000010",
                           "params": {"recording": {"record": True, "channels": "dual"}}})
    assert json.loads(r.hget(f"dialer:call:{flow}", "request"))["app_id"] in ("12345", 12345)
    stored = json.loads(r.hget(f"dialer:call:{v3}", "request"))
    assert stored["from_contact_uri"] == "sip:agent7"
