"""Production hardening of call requests: what a request may not carry, and what a bad
one gets (a ValidationError / 422 naming the field, nothing written)."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from dialer.campaigns.lifecycle import Lifecycle
from dialer.errors import ValidationError
from dialer.producer import Producer
from dialer.settings import Settings
from tests.campaigns.helpers import settings_for, spec

ACCOUNT = {"name": "main", "sid": "AC1", "api_key": "k", "api_token": "t",
           "base_url": "http://127.0.0.1:9", "caller_id": "08030752400"}
V3 = {"mode": "v3", "from": "+919810000010", "to": "+919820000010"}
CONNECT = {"mode": "connect", "from": "+919810000010", "to": "+919820000010"}
FLOW = {"mode": "flow", "from": "+919810000010", "app_id": "123"}


def producer(r: redis.Redis) -> Producer:
    return Producer(r, Settings(accounts=[ACCOUNT]), None)


@pytest.mark.parametrize(("base", "params", "field"), [
    (V3, {"from": {"contact_uri": "+919899999991"}}, "from"),
    (V3, {"from": "+919899999991"}, "from"),
    (V3, {"to": {"contact_uri": "+919899999991"}}, "to"),
    (V3, {"to": "+919899999991"}, "to"),
    (V3, {"from_contact_uri": "+919899999991"}, "from_contact_uri"),
    (V3, {"to_contact_uri": "+919899999991"}, "to_contact_uri"),
    (V3, {"virtual_number": "08030752499"}, "virtual_number"),
    (V3, {"status_callback": [{"event": "terminal", "url": "http://evil.example/cb"}]},
     "status_callback"),
    (V3, {"custom_field": "x"}, "custom_field"),
    (CONNECT, {"From": "+919899999991"}, "From"),
    (CONNECT, {"To": "+919899999991"}, "To"),
    (CONNECT, {"CallerId": "08030752499"}, "CallerId"),
    (CONNECT, {"from_number": "+919899999991"}, "from_number"),
    (FLOW, {"app_id": "999"}, "app_id"),
    (FLOW, {"Url": "http://evil.example/flow"}, "Url"),
])
def test_params_cannot_replace_what_the_request_was_validated_with(
        r: redis.Redis, base: dict[str, Any], params: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        producer(r).enqueue({**base, "params": params})
    assert field in str(info.value)
    assert r.dbsize() == 0


def test_v3_params_still_take_the_documented_options(r: redis.Redis) -> None:
    call_id = producer(r).enqueue({**V3, "params": {"max_time_limit": 600,
                                                    "recording": {"record": True}}})
    request = r.hget(f"dialer:call:{call_id}", "request") or ""
    assert "+919810000010" in request and "+919820000010" in request


def test_a_campaign_v3_spec_cannot_override_from_or_to(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    life = Lifecycle.connect(client, settings_for(redis_url))
    for params in ({"from": {"contact_uri": "+919899999991"}}, {"to": "+919899999991"},
                   {"virtual_number": "08030752499"}):
        with pytest.raises(ValidationError) as info:
            life.create(spec(mode="v3", app_id=None, agents=["+919810000010"],
                             params=params))
        assert next(iter(params)) in str(info.value)
    assert client.dbsize() == 0


@pytest.mark.parametrize(("change", "field"), [
    ({"custom_field": "a\ud800b"}, "custom_field"),
    ({"idempotency_key": "k\udfff"}, "idempotency_key"),
    ({"metadata": {"note": "\ud800"}}, "metadata"),
    ({"metadata": {"\ud800": 1}}, "metadata"),
    ({"params": {"TimeLimit": "\ud800"}}, "params"),
    ({"from": "\ud800"}, "from"),
    ({"metadata": {"x": float("nan")}}, "metadata"),
    ({"metadata": {"x": [float("inf")]}}, "metadata"),
    ({"metadata": {"x": float("-inf")}}, "metadata"),
])
def test_lone_surrogates_and_non_finite_numbers_are_refused(
        r: redis.Redis, change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        producer(r).enqueue({**CONNECT, **change})
    assert field in str(info.value)
    assert r.dbsize() == 0
