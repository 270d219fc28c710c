"""Bulk validation (Producer.enqueue_many) gives exactly what validating one by one gives.

enqueue_many reuses the result of a request validated before for the next ones that differ
only in their numbers and per-call values (dialer.producer.validate_like); every request
of a varied batch — all three modes, several accounts and parameters, custom fields,
metadata, idempotency keys, numbers good and bad from the phone corpus — must come out
the same as through ``validate`` alone: the same NewCall, or the same error.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
import redis

from dialer.errors import ValidationError
from dialer.producer import Producer, parse_request, validate, validate_like, validate_plain
from dialer.settings import Settings
from dialer.store import NewCall
from tests.phone_corpus import corpus

ACCOUNT = {"name": "main", "sid": "AC1", "api_key": "k", "api_token": "t",
           "base_url": "http://127.0.0.1:9", "caller_id": "08030752400"}
SETTINGS = Settings(accounts=[ACCOUNT, {**ACCOUNT, "name": "second", "caller_id": None},
                              {**ACCOUNT, "name": "third", "caller_id": "+912241499102"}])


def outcome(fn: Any, req: Any) -> tuple[str, Any]:
    try:
        new: NewCall = fn(req)
    except ValidationError as exc:
        return "refused", (type(exc).__name__, exc.field, str(exc))
    return "ok", new


def batch(seed: int, size: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    numbers = corpus()[::37]
    good = ["+919876543210", "09810000010", "9820000010", "+14155550100", "080 3075 2400"]
    shapes: list[dict[str, Any]] = [
        {}, {"mode": "connect"}, {"account": "third"}, {"account": "second"},
        {"account": "second", "caller_id": "08030752401"}, {"account": "nope"},
        {"params": {"TimeLimit": 60}}, {"params": {"TimeLimit": 60, "Record": True}},
        {"params": {"TimeLimit": "60"}}, {"params": {"TimeLimit": 20000}},
        {"params": {"StatusCallbackEvents": ["terminal"]}}, {"params": {"Bogus": 1}},
        {"params": {"TimeLimit": True}}, {"mode": "flow", "app_id": "123"},
        {"mode": "flow", "app_id": "abc"}, {"mode": "flow"}, {"mode": "v3"},
        {"mode": "v3", "params": {"max_time_limit": 30}}, {"caller_id": "12ab"},
        # plain connect requests (validate_plain's shape) and near misses
        {}, {}, {}, {"account": "main"}, {"account": ""}, {"caller_id": ""},
        {"caller_id": "+912241499102"}, {"from_": "+919876543210"}, {"to": None},
        {"account": None}, {"caller_id": "0" * 65},
    ]

    def pick() -> str:
        return rng.choice(good) if rng.random() < 0.7 else rng.choice(numbers)

    out = []
    for i in range(size):
        req: dict[str, Any] = {**rng.choice(shapes)}
        req["from"] = pick() if rng.random() < 0.95 else rng.choice(["sip:agent@pbx", ""])
        if rng.random() < 0.9:
            req["to"] = pick()
        if rng.random() < 0.3:
            req["custom_field"] = rng.choice(["order-1", "x" * 100, "x" * 101, "", "ü|ü",
                                              "a\ud800", None, 7])
        if rng.random() < 0.3:
            req["metadata"] = {"i": i, "tag": rng.choice(["a", "b"])}
        if rng.random() < 0.2:
            req["idempotency_key"] = rng.choice([f"key-{i}", f"key {i}", f"ключ-{i}", "",
                                                 f"key-{i}\n", "k" * 129])
        if rng.random() < 0.2:
            req["max_retries"] = rng.choice([0, 3, 20])
        out.append(req)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bulk_validation_is_validate_one_by_one(seed: int) -> None:
    templates: dict[tuple[Any, ...], NewCall] = {}
    items = batch(seed, 3000)
    fast = [outcome(lambda d: (validate_plain(d, SETTINGS, templates)
                               or validate_like(parse_request(d), SETTINGS, templates)), item)
            for item in items]
    plain = sum(validate_plain(d, SETTINGS, templates) is not None for d in items)
    slow = [outcome(lambda d: validate(parse_request(d), SETTINGS), item) for item in items]
    assert fast == slow
    accepted = sum(1 for kind, _ in fast if kind == "ok")
    assert accepted > 500
    assert len(templates) < accepted / 10  # most were answered from a template
    assert plain > 100  # and many of them without building their request model
    # the wire request is the same down to its JSON (key order included)
    for (kind, got), (_, want) in zip(fast, slow, strict=True):
        if kind == "ok":
            assert json.dumps(got.request) == json.dumps(want.request)


def test_a_bad_number_after_a_good_one_of_the_same_shape_names_its_field() -> None:
    templates: dict[tuple[Any, ...], NewCall] = {}
    first = parse_request({"from": "09810000010", "to": "09820000010"})
    validate_like(first, SETTINGS, templates)
    bad = parse_request({"from": "12ab", "to": "0982"})
    kind, (cls, field, message) = outcome(lambda r: validate_like(r, SETTINGS, templates), bad)
    assert (kind, cls, field) == ("refused", "InvalidNumberError", "From, To")
    assert "'12ab'" in message and "'0982'" in message


def test_enqueue_many_refuses_the_first_bad_request_and_writes_nothing(r: redis.Redis) -> None:
    producer = Producer(r, SETTINGS)
    good = {"from": "09810000010", "to": "09820000010"}
    with pytest.raises(ValidationError, match=r"^request 2: To: '0982' is not a valid"):
        producer.enqueue_many([good, good, {**good, "to": "0982"}, {"from": "x"}])
    assert r.dbsize() == 0
    ids = producer.enqueue_many([good, {**good, "to": "+91 98200 00011"}])
    requests = [json.loads(r.hget(f"dialer:call:{i}", "request")) for i in ids]
    assert [q["To"] for q in requests] == ["+919820000010", "+919820000011"]
