"""Monitoring without a browser: masked labels, the events fold against the store's own
Lua transitions (real Redis), /metrics, /v1/monitor/status, /status and offline /docs."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from dialer.keys import Keys
from dialer.models import AttemptState, CallUpdate
from dialer.monitor.fold import Folder
from dialer.monitor.labels import Labeler, call_label, mask_number, place_call_repr
from dialer.policy import Decision
from dialer.publisher import CeleryPublisher, broker_app
from dialer.ratelimit import SlidingWindowLimiter
from dialer.settings import Settings
from dialer.store import NewCall, Store
from dialer.web import create_app

ACCOUNTS = [{"name": "main", "sid": "AC1", "api_key": "k", "api_token": "tok-SECRET",
             "caller_id": "08030752400"}]
AUTH = {"Authorization": "Bearer api-token"}


@pytest.mark.parametrize(("raw", "shown"), [
    ("+919812343210", "+91 98xxxx3210"),
    ("09812343210", "+91 98xxxx3210"),
    ("+14155550123", "+1 41xxxx0123"),
    ("08030752400", "+91 80xxxx2400"),
    ("12345", "+91 xxx45"),
    ("sip:agent7@example.com", "sip:xxxx@example.com"),
    ("", "?"),
    (None, "?"),
])
def test_numbers_are_masked(raw: str | None, shown: str) -> None:
    assert mask_number(raw) == shown


def test_a_call_label_names_account_campaign_customer_and_attempt() -> None:
    call = {"account": "main", "campaign_id": "c1f3a9", "mode": "connect",
            "request": '{"From": "+919810000010", "To": "+919812343210"}',
            "policy": '{"max_retries": 2}'}
    assert call_label(call, 2, 5) == "main · c1f3a9 · +91 98xxxx3210 · 2/3"
    flow = {"account": "main", "mode": "flow", "request": '{"From": "+919812343210"}'}
    assert call_label(flow, 1, 3) == "main · - · +91 98xxxx3210 · 1/4"
    assert "9812343210" not in place_call_repr("x-1", call_label(call, 1, 5))


def _new(to: str, campaign: str = "") -> NewCall:
    return NewCall(account="main", mode="connect",
                   request={"From": "+919810000010", "To": to}, metadata={},
                   campaign_id=campaign)


def _end(store: Store, aid: str, state: AttemptState, decision: Decision | None) -> None:
    update = CallUpdate(source="callback", status=state.value)
    store.apply_update(aid, update, state, decision)


def test_the_fold_counts_each_event_once_and_calls_by_their_end(r: redis.Redis) -> None:
    store = Store(r, Keys())
    made = store.create_calls([_new("+919820000010"), _new("+919820000020", "c1"),
                               _new("+919820000030"), _new("+919820000040")])
    a, b, c, d = (m.attempt_id for m in made)
    for aid in (a, b, c):
        claim, _ = store.claim(aid)
        assert claim and store.mark_posting(aid, claim)
        store.record_outcome(aid, claim, AttemptState.PLACED, call_sid=f"sid-{aid}")
    _end(store, a, AttemptState.COMPLETED, Decision(False, 0, "done"))
    _end(store, b, AttemptState.FAILED, Decision(True, 0, "leg 1 failed: retry"))
    _end(store, c, AttemptState.NO_ANSWER, Decision(False, 0, "?", needs_evidence=True))
    folder = Folder(r, store.keys)
    # two processes scraping at once: every event is folded once
    threads = [threading.Thread(target=folder.fold, kwargs={"batch": 3}) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts = folder.counters()
    assert counts[("created", "main", "")] == 3
    assert counts[("created", "main", "c1")] == 1
    assert counts[("attempt", "main", "", "placed")] == 2
    assert counts[("attempt", "main", "c1", "failed")] == 1
    assert counts[("retry", "main", "c1")] == 1
    assert counts[("call", "main", "", "completed")] == 1
    assert ("call", "main", "c1", "failed") not in counts  # retried: the call goes on
    assert ("call", "main", "", "no-answer") not in counts  # waits for leg evidence
    assert counts[("delay_count", "main")] == 3
    store.decide(c, Decision(False, 0, "no leg evidence"))
    claim, _ = store.claim(d)
    assert claim
    store.release(d, claim, 0, "exotel 429", counter="http_429")
    store.cancel_pending(d, "test")
    retry = f"{b.rsplit('-', 1)[0]}-2"
    claim, _ = store.claim(retry)
    assert claim
    store.record_outcome(retry, claim, AttemptState.REJECTED, detail="400")
    counts = folder.counters()
    assert counts[("call", "main", "", "no-answer")] == 1
    assert counts[("call", "main", "", "cancelled")] == 1
    assert counts[("call", "main", "c1", "rejected")] == 1
    assert counts[("wait", "main", "exotel-429")] == 1
    assert sum(v for k, v in counts.items() if k[0] == "call") == 4  # every call ended once
    assert folder.fold() == 0


def test_the_limiter_counts_admissions_and_429s(r: redis.Redis) -> None:
    limiter = SlidingWindowLimiter(r, 3, 60.0)
    key = Keys().ratelimit("main")
    for kind in ("dial", "dial", "lookup", "dial"):
        limiter.acquire(key, kind)  # type: ignore[arg-type]
    limiter.cool_down(key, 0.01)
    assert r.hgetall(f"{key}:counts") == {"dial": "2", "lookup": "1", "429": "1"}


@pytest.fixture()
def tc(redis_url: str) -> Iterator[TestClient]:
    s = Settings(redis_url=redis_url, callback_secret="cb", api_token="api-token",
                 accounts=ACCOUNTS)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    with TestClient(create_app(s, client, CeleryPublisher(broker_app(redis_url)))) as c:
        yield c


def test_metrics_need_the_token_and_read_redis(tc: TestClient, r: redis.Redis) -> None:
    assert tc.get("/metrics").status_code == 401
    res = tc.post("/v1/calls", json={"from": "09810000010", "to": "09820000010"},
                  headers=AUTH)
    assert res.status_code == 202, res.text
    SlidingWindowLimiter(r, 10, 60.0).acquire(Keys().ratelimit("main"), "lookup")
    text = tc.get("/metrics", headers=AUTH).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    values = {(s.name, tuple(sorted(s.labels.items()))): s.value
              for f in families.values() for s in f.samples}
    assert values[("dialer_calls_created_total",
                   (("account", "main"), ("campaign", "none")))] == 1
    assert values[("dialer_exotel_requests_total",
                   (("account", "main"), ("kind", "lookup")))] == 1
    assert values[("dialer_ratelimit_window_requests",
                   (("account", "main"), ("kind", "lookup")))] == 1
    assert values[("dialer_ratelimit_limit", (("account", "main"),))] == 195
    assert values[("dialer_attempts_in_set", (("set", "pending"),))] == 1
    assert values[("dialer_celery_queue_length", (("queue", "calls"),))] == 1
    assert "tok-SECRET" not in text and "api-token" not in text


def test_the_status_json_matches_the_metrics(tc: TestClient) -> None:
    assert tc.get("/v1/monitor/status").status_code == 401
    tc.post("/v1/calls", json={"from": "09810000010", "to": "09820000010"}, headers=AUTH)
    s = tc.get("/v1/monitor/status", headers=AUTH).json()
    assert s["calls"]["created"] == 1 and s["calls"]["in_flight"] == 1
    assert s["accounts"][0]["name"] == "main" and s["accounts"][0]["limit"] == 195
    assert s["sets"]["pending"] == 1


def test_the_page_and_the_docs_ship_their_assets(tc: TestClient) -> None:
    page = tc.get("/status")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    docs = tc.get("/docs").text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text + docs)
    assert assets and all(a.startswith("/") for a in assets), assets  # no CDN
    for asset in assets:
        assert tc.get(asset).status_code == 200, asset
    assert "swagger-ui-bundle.js" in docs
    assert "token" not in " ".join(assets)
    assert tc.get("/monitor/static/../web.py").status_code == 404


def test_a_labeler_names_calls_from_their_records(r: redis.Redis) -> None:
    store = Store(r, Keys())
    (made,) = store.create_calls([_new("+919812343210", "c9")])
    labels = Labeler(r, store.keys, 3).labels([made.attempt_id, "missing-1"])
    assert labels == {made.attempt_id: "main · c9 · +91 98xxxx3210 · 1/4"}


def test_the_grafana_dashboard_uses_only_metrics_that_exist(tc: TestClient) -> None:
    import json
    from pathlib import Path

    text = tc.get("/metrics", headers=AUTH).text
    served = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    served |= {f"{f.name}" for f in text_string_to_metric_families(text)}
    dash = json.loads((Path(__file__).parents[2] / "config" / "grafana-dialer.json")
                      .read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\bdialer_[a-z0-9_]+", e)}
    families = {f.name for f in text_string_to_metric_families(text)}
    missing = {m for m in used if m not in served and not any(
        m == f + suffix for f in families for suffix in ("_bucket", "_count", "_sum", "_total"))}
    assert not missing, missing
