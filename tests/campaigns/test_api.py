"""``/v1/campaigns…`` through the real web app (FastAPI TestClient, real Redis)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient

from dialer.campaigns.lifecycle import Lifecycle
from dialer.campaigns.tick import tick
from dialer.publisher import CeleryPublisher, broker_app
from dialer.web import create_app
from tests.campaigns.helpers import IST_NOON, csv_of, number, settings_for, spec

TOKEN = "api-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture()
def life(redis_url: str) -> Lifecycle:
    settings = settings_for(redis_url, api_token=TOKEN)
    return Lifecycle.connect(redis.Redis.from_url(redis_url, decode_responses=True), settings)


@pytest.fixture()
def client(life: Lifecycle, redis_url: str) -> Iterator[TestClient]:
    app = create_app(life.settings, life.store.r, CeleryPublisher(broker_app(redis_url)))
    with TestClient(app) as c:
        yield c


def test_the_campaign_api_end_to_end(client: TestClient, life: Lifecycle) -> None:
    body = {**spec(name="api"), "contacts": [{"number": number(1), "name": "A"},
                                             {"number": "nope"}]}
    created = client.post("/v1/campaigns", json=body, headers=AUTH)
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    assert created.json()["state"] == "draft"
    assert created.json()["import"]["problems"][0]["line"] == 2
    imported = client.post(f"/v1/campaigns/{cid}/contacts", headers={**AUTH,
                           "Content-Type": "text/csv"}, content=csv_of([number(2), "123"]))
    assert imported.status_code == 200
    assert (imported.json()["imported"], imported.json()["invalid"]) == (1, 1)
    dnc = client.post(f"/v1/campaigns/{cid}/dnc", json={"numbers": [number(3)]}, headers=AUTH)
    assert dnc.json() == {"added": 1}
    assert client.post("/v1/dnc", json={"numbers": ["x"]}, headers=AUTH).status_code == 422
    assert client.post(f"/v1/campaigns/{cid}/start", headers=AUTH).json() == {
        "id": cid, "state": "scheduled"}
    conflict = client.post(f"/v1/campaigns/{cid}/resume", headers=AUTH)
    assert conflict.status_code == 409 and "cannot resume" in conflict.json()["detail"]
    tick(life.store, life.settings, IST_NOON)
    listed = client.get("/v1/campaigns", headers=AUTH).json()
    assert [c["id"] for c in listed] == [cid] and listed[0]["state"] == "running"
    shown = client.get(f"/v1/campaigns/{cid}", headers=AUTH).json()
    assert (shown["contacts"], shown["live"], shown["invalid_rows"]) == (2, 2, 2)
    report = client.get(f"/v1/campaigns/{cid}/report.csv", headers=AUTH)
    assert report.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(report.text)))
    assert {r["number"]: r["status"] for r in rows} == {number(1): "queued",
                                                        number(2): "queued"}
    assert client.post(f"/v1/campaigns/{cid}/cancel", headers=AUTH).json()["state"] == \
        "cancelled"


def test_errors_and_the_token(client: TestClient) -> None:
    assert client.get("/v1/campaigns").status_code == 401
    assert client.get("/v1/campaigns", headers={"Authorization": "Bearer wrong"}
                      ).status_code == 401
    missing = client.get("/v1/campaigns/nope", headers=AUTH)
    assert missing.status_code == 404 and "'nope'" in missing.json()["detail"]
    for path in ("/v1/campaigns/nope/pause", "/v1/campaigns/nope/contacts"):
        assert client.post(path, headers=AUTH, content=b"number\n+919800000110\n"
                           ).status_code == 404
    assert client.get("/v1/campaigns/nope/report.csv", headers=AUTH).status_code == 404
    assert client.post("/v1/campaigns/x/explode", headers=AUTH).status_code == 404
    bad = client.post("/v1/campaigns", json={"name": "x", "mode": "flow"}, headers=AUTH)
    assert bad.status_code == 422 and "app_id" in bad.json()["detail"]
    empty = client.post("/v1/campaigns", json=spec(), headers=AUTH).json()["id"]
    unreadable = client.post(f"/v1/campaigns/{empty}/contacts", headers=AUTH, content=b"")
    assert unreadable.status_code == 422 and "empty" in unreadable.json()["detail"]
    huge = client.post(f"/v1/campaigns/{empty}/contacts", headers={
        **AUTH, "Content-Length": str(64 * 1024 * 1024)}, content=b"x")
    assert huge.status_code in (413, 400)
