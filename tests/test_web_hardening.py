"""The web app under bad conditions: Redis stopped or frozen, invalid Unicode, NaN, huge,
chunked and deeply nested bodies. Always a small JSON answer, never a 5xx but the 503 of
an unavailable Redis (with Retry-After), nothing written on refusal."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dialer.embedded import EmbeddedRedis, free_port
from dialer.publisher import RESULTS_QUEUE
from dialer.settings import Settings, load_settings
from dialer.web import create_app, web_publisher, web_redis
from dialer.webhooks import sign_attempt

API_TOKEN = "hard-api-token"
SECRET = "hard-callback-secret"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
JSON = {**AUTH, "Content-Type": "application/json"}
GOOD = {"from": "+919810000010", "to": "+919820000010"}
SPEC = {"name": "x", "mode": "flow", "app_id": "1"}


def settings_for(redis_url: str, **kw: Any) -> Settings:
    return load_settings(redis_url=redis_url, api_token=API_TOKEN, callback_secret=SECRET,
                         accounts=[{"name": "main", "sid": "AC1", "api_key": "k",
                                    "api_token": "t", "base_url": "http://127.0.0.1:9",
                                    "caller_id": "08030752400"}], **kw)


def app_for(settings: Settings) -> FastAPI:
    return create_app(settings, web_redis(settings), web_publisher(settings))


@pytest.fixture()
def tc(redis_url: str) -> Iterator[TestClient]:
    with TestClient(app_for(settings_for(redis_url)), raise_server_exceptions=False) as c:
        yield c


def callback_url(aid: str = "c1-1") -> str:
    return f"/v1/callbacks/exotel/{aid}?token={sign_attempt(SECRET, aid)}"


ROUTES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/v1/calls", {"json": GOOD}),
    ("POST", "/v1/calls", {"json": [GOOD, GOOD]}),
    ("GET", "/v1/calls/0123456789abcdef01234567", {}),
    ("GET", "/v1/calls?idempotency_key=k", {}),
    ("GET", "/healthz", {}),
    ("POST", "/v1/campaigns", {"json": SPEC}),
    ("POST", "/v1/campaigns", {"json": {**SPEC, "contacts": [{"number": "+919810000011"}]}}),
    ("GET", "/v1/campaigns", {}),
    ("GET", "/v1/campaigns/c1", {}),
    ("POST", "/v1/campaigns/c1/contacts", {"content": b"number\n+919810000011\n"}),
    ("POST", "/v1/campaigns/c1/start", {}),
    ("GET", "/v1/campaigns/c1/report.csv", {}),
    ("POST", "/v1/campaigns/c1/dnc", {"json": {"numbers": ["+919810000011"]}}),
    ("POST", "/v1/dnc", {"json": {"numbers": ["+919810000011"]}}),
    ("POST", callback_url(), {"content": b"CallSid=abc&Status=completed",
                              "headers": {"Content-Type":
                                          "application/x-www-form-urlencoded"}}),
    ("GET", callback_url() + "&CallSid=abc&Status=completed", {}),
]


@pytest.mark.parametrize(("method", "path", "kw"), ROUTES,
                         ids=[f"{m} {p.split('?')[0]}" for m, p, _ in ROUTES])
def test_with_redis_stopped_every_route_answers_a_json_503(
        method: str, path: str, kw: dict[str, Any]) -> None:
    settings = settings_for(f"redis://127.0.0.1:{free_port()}/0",
                            redis_connect_timeout_s=1.0)
    with TestClient(app_for(settings), raise_server_exceptions=False) as c:
        started = time.monotonic()
        resp = c.request(method, path, headers={**AUTH, **kw.pop("headers", {})}, **kw)
        elapsed = time.monotonic() - started
    assert resp.status_code == 503, resp.text[:300]
    assert resp.headers["content-type"].startswith("application/json")
    if path != "/healthz":
        assert resp.headers["retry-after"].isdigit()
        assert "Traceback" not in resp.text and "redis" in resp.text.lower()
    assert elapsed < 4.0


def test_with_redis_frozen_a_callback_answers_503_within_the_connect_timeout(
        tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path / "redis") as server:
        assert server.proc is not None
        settings = settings_for(server.url, redis_connect_timeout_s=1.0)
        with TestClient(app_for(settings), raise_server_exceptions=False) as c:
            form = {"Content-Type": "application/x-www-form-urlencoded"}
            ok = c.post(callback_url(), content=b"CallSid=a&Status=completed", headers=form)
            assert ok.status_code == 200, ok.text
            os.kill(server.proc.pid, signal.SIGSTOP)
            try:
                started = time.monotonic()
                resp = c.post(callback_url(), content=b"CallSid=a&Status=completed",
                              headers=form)
                elapsed = time.monotonic() - started
            finally:
                os.kill(server.proc.pid, signal.SIGCONT)
    assert resp.status_code == 503 and resp.headers["retry-after"], resp.text
    assert elapsed < 3.0


@pytest.mark.parametrize(("body", "field"), [
    (b'{"from": "+919810000010", "to": "+919820000010", "custom_field": "\\ud800"}',
     "custom_field"),
    (b'{"from": "+919810000010", "to": "+919820000010", "idempotency_key": "a\\udfffb"}',
     "idempotency_key"),
    (b'{"from": "+919810000010", "to": "+919820000010", "metadata": {"a": "\\ud800"}}',
     "metadata"),
    (b'{"from": "+919810000010", "to": "+919820000010", "metadata": {"\\ud800": 1}}',
     "metadata"),
    (b'{"from": "+919810000010", "to": "+919820000010", "metadata": {"a": NaN}}',
     "metadata"),
    (b'{"from": "+919810000010", "to": "+919820000010", "metadata": {"a": [Infinity]}}',
     "metadata"),
    (b'{"from": "+919810000010", "to": "\\ud800"}', "to"),
    (b'[{"from": "+919810000010", "to": "+919820000010", "metadata": {"a": -Infinity}}]',
     "metadata"),
])
def test_invalid_unicode_and_non_finite_numbers_get_422(
        tc: TestClient, r: redis.Redis, body: bytes, field: str) -> None:
    resp = tc.post("/v1/calls", content=body, headers=JSON)
    assert resp.status_code == 422, resp.text
    assert field in resp.text
    assert r.dbsize() == 0


def test_a_stored_surrogate_never_breaks_a_read(tc: TestClient, r: redis.Redis) -> None:
    call_id = tc.post("/v1/calls", json=GOOD, headers=AUTH).json()["call_id"]
    r.hset(f"dialer:call:{call_id}", "metadata", '{"a": "\\ud800"}')  # written before
    resp = tc.get(f"/v1/calls/{call_id}", headers=AUTH)
    assert resp.status_code == 200 and resp.json()["metadata"] == {"a": "\ufffd"} or \
        "\\ud800" in resp.text


@pytest.mark.parametrize("body", [
    b'{"CallSid": "\\ud800", "Status": "completed"}',
    b'{"CallSid": "abc", "Status": "completed", "CustomField": "x\\udfff"}',
])
def test_a_callback_with_invalid_unicode_is_refused_before_enqueueing(
        tc: TestClient, r: redis.Redis, body: bytes) -> None:
    resp = tc.post(callback_url(), content=body, headers={"Content-Type": "application/json"})
    assert resp.status_code in (400, 422), resp.text
    assert r.llen(RESULTS_QUEUE) == 0


def chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    yield b'[{"from": "+919810000010", "to": "+919820000010", "metadata": {"x": "'
    sent = 0
    while sent < total:
        yield b"a" * size
        sent += size
    yield b'"}}]'


@pytest.mark.parametrize("path", ["/v1/calls", "/v1/campaigns", "/v1/dnc", callback_url()])
def test_a_chunked_body_past_the_cap_gets_413(tc: TestClient, r: redis.Redis, path: str
                                              ) -> None:
    resp = tc.post(path, content=chunks(11 * 1024 * 1024), headers=JSON)
    assert resp.status_code == 413, resp.text[:300]
    assert len(resp.content) < 1000
    assert r.dbsize() == 0


def test_a_declared_body_past_the_cap_gets_a_small_413(tc: TestClient) -> None:
    resp = tc.post("/v1/calls", content=b"x" * (10 * 1024 * 1024), headers=JSON)
    assert resp.status_code == 413 and len(resp.content) < 1000


def test_a_422_never_echoes_a_large_input(tc: TestClient, r: redis.Redis) -> None:
    big = "9" * 100_000
    body = [{"from": big, "to": big, "metadata": {"x": "y" * 100}} for _ in range(4)]
    resp = tc.post("/v1/calls", json=body, headers=AUTH)
    assert resp.status_code == 422
    assert len(resp.content) < 20_000 and big[:1000] not in resp.text
    assert r.dbsize() == 0


@pytest.mark.parametrize("path", ["/v1/calls", "/v1/campaigns", "/v1/dnc",
                                  "/v1/campaigns/c1/dnc"])
def test_deeply_nested_json_gets_4xx(tc: TestClient, r: redis.Redis, path: str) -> None:
    resp = tc.post(path, content=b"[" * 200_000 + b"]" * 200_000, headers=JSON)
    assert resp.status_code in (400, 404, 422), resp.text[:300]
    assert r.dbsize() == 0
    nested = b'{"from": "+919810000010", "to": "+919820000010", "metadata": ' + \
        b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}"
    resp = tc.post("/v1/calls", content=nested, headers=JSON)
    assert resp.status_code in (400, 422) and r.dbsize() == 0


def test_refusals_are_small_json(tc: TestClient) -> None:
    resp = tc.post("/v1/calls", content=json.dumps({"from": "x" * 500_000}), headers=JSON)
    assert resp.status_code == 422 and len(resp.content) < 5000


@pytest.mark.parametrize("contacts", [b'[{"number": "+919810000011", "x": NaN}]',
                                      b'[{"number": "\\ud800"}]', b'{"contacts": [Infinity]}'])
def test_campaign_contacts_with_nan_or_surrogates_never_answer_5xx(
        tc: TestClient, r: redis.Redis, contacts: bytes) -> None:
    body = b'{"name": "x", "mode": "flow", "app_id": "1", "contacts": ' + contacts + b"}"
    resp = tc.post("/v1/campaigns", content=body, headers=JSON)
    assert resp.status_code < 500, resp.text
    if resp.status_code >= 400:
        assert r.dbsize() == 0
