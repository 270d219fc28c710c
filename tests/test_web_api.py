"""The HTTP API and `dialer status`: enqueue with a bearer token, read a call back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from click.testing import CliRunner
from fastapi.testclient import TestClient

from dialer.cli import main
from dialer.publisher import CALLS_QUEUE, CeleryPublisher, broker_app
from dialer.settings import Settings
from dialer.web import create_app

ACCOUNTS = [{"name": "main", "sid": "AC1", "api_key": "k", "api_token": "tok-SECRET",
             "caller_id": "08030752400"}]
AUTH = {"Authorization": "Bearer api-token"}


@pytest.fixture()
def tc(redis_url: str) -> Iterator[TestClient]:
    s = Settings(redis_url=redis_url, callback_secret="cb", api_token="api-token",
                 accounts=ACCOUNTS)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    with TestClient(create_app(s, client, CeleryPublisher(broker_app(redis_url)))) as c:
        yield c


def test_post_and_get_a_call(tc: TestClient, r: redis.Redis) -> None:
    res = tc.post("/v1/calls", json={"from": "09810000010", "to": "09820000010",
                                     "idempotency_key": "k1"}, headers=AUTH)
    assert res.status_code == 202, res.text
    call_id = res.json()["call_id"]
    again = tc.post("/v1/calls", json={"from": "09810000010", "to": "09820000010",
                                       "idempotency_key": "k1"}, headers=AUTH)
    assert again.json()["call_id"] == call_id
    assert r.llen(CALLS_QUEUE) == 1
    found = tc.get("/v1/calls", params={"idempotency_key": "k1"}, headers=AUTH).json()
    assert found["id"] == call_id
    assert tc.get("/v1/calls", params={"idempotency_key": "nope"}, headers=AUTH
                  ).status_code == 404
    view = tc.get(f"/v1/calls/{call_id}", headers=AUTH).json()
    assert view["state"] == "queued" and view["attempts"][0]["state"] == "pending"
    assert view["request"]["To"] == "+919820000010"


def test_batch_post(tc: TestClient, r: redis.Redis) -> None:
    body = [{"from": f"0981000001{i}", "to": "09820000010"} for i in range(3)]
    res = tc.post("/v1/calls", json=body, headers=AUTH)
    assert res.status_code == 202 and len(res.json()["call_ids"]) == 3


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": "api-token"}])
def test_bearer_token_is_required(tc: TestClient, headers: dict[str, str]) -> None:
    assert tc.post("/v1/calls", json={"from": "1"}, headers=headers).status_code == 401
    assert tc.get("/v1/calls/abc", headers=headers).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [({"from": "bad", "to": "09820000010"}, "From"),
     ({"from": "09810000010", "to": "09820000010", "params": {"TimeLimit": 20000}},
      "TimeLimit"),
     ({"to": "09820000010"}, "from")],
)
def test_bad_body_is_a_422_naming_the_field(tc: TestClient, r: redis.Redis,
                                            body: dict[str, Any], field: str) -> None:
    res = tc.post("/v1/calls", json=body, headers=AUTH)
    assert res.status_code == 422
    assert field in res.text
    assert r.dbsize() == 0


def test_unknown_call_is_404(tc: TestClient) -> None:
    assert tc.get("/v1/calls/nope", headers=AUTH).status_code == 404


def test_healthz(tc: TestClient) -> None:
    assert tc.get("/healthz").json() == {"redis": "ok"}


def test_cli_status_shows_the_call(tc: TestClient, redis_url: str,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    call_id = tc.post("/v1/calls", json={"from": "09810000010", "to": "09820000010"},
                      headers=AUTH).json()["call_id"]
    monkeypatch.setenv("DIALER_REDIS_URL", redis_url)
    monkeypatch.setenv("DIALER_ACCOUNTS", json.dumps(ACCOUNTS))
    runner = CliRunner()
    res = runner.invoke(main, ["status", call_id, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["id"] == call_id
    table = runner.invoke(main, ["status", call_id])
    assert table.exit_code == 0 and "pending" in table.output
    missing = runner.invoke(main, ["status", "nope"])
    assert missing.exit_code == 4 and "unknown call id" in missing.output
    assert "tok-SECRET" not in res.output + table.output + missing.output


def test_cli_unknown_lists_calls_given_up_on(redis_url: str, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    from dialer.models import AttemptState
    from dialer.store import NewCall, Store

    store = Store(redis.Redis.from_url(redis_url, decode_responses=True))
    (c,) = store.create_calls([NewCall("main", "connect", {"From": "+919810000010"}, {})],
                              delay_ms=0)
    token, _ = store.claim(c.attempt_id)
    assert token and store.mark_posting(c.attempt_id, token)
    store.record_outcome(c.attempt_id, token, AttemptState.UNKNOWN, detail="read timeout")
    store.give_up_unknown(c.attempt_id, "no callback")
    monkeypatch.setenv("DIALER_REDIS_URL", redis_url)
    monkeypatch.setenv("DIALER_ACCOUNTS", json.dumps(ACCOUNTS))
    monkeypatch.setenv("COLUMNS", "200")
    res = CliRunner().invoke(main, ["unknown"])
    assert res.exit_code == 0, res.output
    assert c.call_id in res.output and "given up" in res.output
