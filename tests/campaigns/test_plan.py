"""The plan's model (pure, table tests) and its reader, CLI and HTTP route (real Redis)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from click.testing import CliRunner
from fastapi.testclient import TestClient

from dialer.campaigns.plan import PlanInput, Rates, attempts_per_contact, plan
from dialer.campaigns.plan_state import fair_share, inputs
from dialer.campaigns.schedule import Window
from tests.campaigns.helpers import csv_of, life_for, number, spec

NOON_IST = datetime(2024, 1, 3, 6, 30, tzinfo=UTC)  # Wednesday 12:00 in Asia/Kolkata
ALL_DAY = Window.parse("00:00", "24:00")


def base(**kw: Any) -> PlanInput:
    values: dict[str, Any] = dict(
        zones={"Asia/Kolkata": 6000}, window=ALL_DAY, start=NOON_IST, pace_per_s=1.0,
        share_per_s=10.0, dial_limit_per_s=100.0, max_concurrent=1000, max_retries=0,
        rates=Rates(1, 0, 0, 0), call_s=10.0, latency_s=0.0, backoff_base_s=30.0,
        backoff_max_s=60.0)
    values.update(kw)
    return PlanInput(**values)


@pytest.mark.parametrize("kw, bound, per_minute", [
    ({}, "pace", 60.0),
    ({"share_per_s": 0.5}, "limit", 30.0),
    ({"dial_limit_per_s": 0.25}, "dials", 15.0),
    ({"max_concurrent": 5}, "concurrency", 30.0),  # 5 live / 10 s a contact
    ({"agents": 2}, "agents", 12.0),  # 2 agents / 10 s
])
def test_the_lowest_bound_sets_the_pace(kw: dict[str, Any], bound: str, per_minute: float
                                        ) -> None:
    p = plan(base(**kw))
    assert p.bound_by[0] == bound
    assert p.contacts_per_minute == pytest.approx(per_minute)
    flow_s = 6000 / (per_minute / 60)
    assert p.duration_s == pytest.approx(flow_s + 10.0, rel=1e-3)


@pytest.mark.parametrize("q, retries, expected", [
    (0.0, 3, 1.0), (0.5, 0, 1.0), (0.5, 1, 1.5), (0.5, 2, 1.75), (0.3, 2, 1.39), (1.0, 2, 3.0),
])
def test_attempts_per_contact(q: float, retries: int, expected: float) -> None:
    assert attempts_per_contact(q, retries) == pytest.approx(expected)


def test_retries_add_attempts_hold_contacts_live_and_lengthen_the_tail() -> None:
    rates = Rates(answered=0.6, busy=0.1, no_answer=0.2, failed=0.1)
    p = plan(base(rates=rates, max_retries=2, max_concurrent=10))
    assert p.retry_share == pytest.approx(0.3)
    assert p.attempts == pytest.approx(6000 * 1.39)
    live = 10 + 0.3 * (30 + 10) + 0.09 * (60 + 10)  # attempts and backoffs
    assert p.bounds_per_minute["concurrency"] == pytest.approx(10 / live * 60)
    assert "retries" in p.bound_by
    busy_too = plan(base(rates=rates, max_retries=2, retry_on_busy=True))
    assert busy_too.retry_share == pytest.approx(0.4)
    assert p.finish and p.finish_low and p.finish_high
    assert p.finish_low < p.finish < p.finish_high
    # 6000 contacts: some of the last ones need both retries (tail = 3 calls + backoffs)
    flow_end = NOON_IST + timedelta(seconds=6000 / (p.contacts_per_minute / 60))
    assert (p.finish - flow_end).total_seconds() == pytest.approx(10 + 40 + 70, rel=0.05)


def test_windows_split_the_work_by_day_and_zone() -> None:
    window = Window.parse("09:00", "21:00", "mon-fri")
    zones = {"Asia/Kolkata": 30_000, "Asia/Dubai": 10_000}  # Dubai: 1.5 h behind
    p = plan(base(zones=zones, window=window, pace_per_s=1.0))  # 43,200 a window of 12 h
    assert "windows" in p.bound_by
    first = p.windows[0]
    assert first["zone"] == "Asia/Dubai"  # drained first, in name order, as the tick does
    assert first["opens"] == "2024-01-03T10:30:00+04:00"  # the plan's start, 12:00 IST
    assert sum(w["contacts"] for w in p.windows) == pytest.approx(40_000)
    assert [d["date"] for d in p.days] == ["2024-01-03", "2024-01-04"]
    assert sum(d["attempts"] for d in p.days) == pytest.approx(40_000)
    assert p.finish is not None and p.finish.astimezone(UTC).date().isoformat() == "2024-01-04"


def test_a_weekend_and_end_at_are_respected() -> None:
    friday_evening = datetime(2024, 1, 5, 15, 0, tzinfo=UTC)  # 20:30 IST
    window = Window.parse("09:00", "21:00", "mon-fri")
    p = plan(base(zones={"Asia/Kolkata": 3600}, window=window, start=friday_evening))
    assert p.windows[1]["opens"] == "2024-01-08T09:00:00+05:30"  # Monday
    short = plan(base(zones={"Asia/Kolkata": 3600}, window=window, start=friday_evening,
                      end_at=friday_evening + timedelta(hours=1)))
    assert short.finish is None and "would not be dialled before end_at" in short.notes[0]


def test_a_cap_below_the_retries_is_named() -> None:
    p = plan(base(max_retries=3, cap_per_day=2))
    assert any("contact cap (2 per day)" in n for n in p.notes)


def test_bad_rates_are_refused() -> None:
    with pytest.raises(ValueError, match="rates"):
        Rates(0, 0, 0, 0)
    with pytest.raises(ValueError, match="rates"):
        Rates(-1, 1, 0, 0)


@pytest.mark.parametrize("total, mine, others, expected", [
    (10, 8, [], 8), (10, 8, [8], 5), (10, 8, [2], 8), (10, 8, [1, 1], 8), (9, 8, [8, 8], 3),
    (10, float("inf"), [], 10), (10, float("inf"), [2], 8), (10, float("inf"), [8, 8], 10 / 3),
])
def test_fair_share(total: float, mine: float, others: list[float], expected: float) -> None:
    assert fair_share(total, mine, others) == pytest.approx(expected)


# --- reading Redis ---------------------------------------------------------------------
def test_the_reader_takes_contacts_the_share_and_the_history(redis_url: str) -> None:
    life = life_for(redis_url, rate_limit_calls=120, rate_limit_margin_calls=0,
                    campaign_share=0.5, max_retries=1)  # 60 per minute for campaigns
    rows = "\n".join([f"{number(i)},Asia/Kolkata" for i in range(30)]
                     + [f"{number(100 + i)},Asia/Dubai" for i in range(10)])
    cid = life.create(spec(pacing={"calls_per_minute": 40, "max_concurrent": 5}))
    life.import_contacts(cid, f"number,timezone\n{rows}\n".encode())
    other = life.create(spec(name="other", pacing={"calls_per_minute": 40}))
    life.import_contacts(other, csv_of([number(500)]))
    life.start(other)
    life.repo.transition(other, "begin")  # running: it takes half the share
    inp = inputs(life, cid)
    assert inp.zones == {"Asia/Kolkata": 30, "Asia/Dubai": 10}
    assert inp.pace_per_s == pytest.approx(40 / 60)
    assert inp.share_per_s == pytest.approx(0.5)  # 60 per minute split in two
    assert inp.dial_limit_per_s == pytest.approx(2.0)
    assert (inp.rates.source, inp.call_s, inp.max_retries) == ("defaults", 45.0, 1)
    store = life.store
    for i, outcome in enumerate(["completed"] * 3 + ["no-answer"]):
        store.r.xadd(store.keys.events, {"type": outcome, "account": "main",
                                         "attempt_id": f"a{i}-1"})
        store.r.hset(store.keys.attempt(f"a{i}-1"), mapping={"claimed_at": 1000,
                                                             "terminal_at": 21_000})
    inp = inputs(life, cid)
    assert inp.rates.source == "history (4 attempts)"
    assert (inp.rates.answered, inp.rates.no_answer, inp.call_s) == (0.75, 0.25, 20.0)


@pytest.fixture()
def tc(redis_url: str) -> Iterator[tuple[TestClient, Any]]:
    from dialer.publisher import CeleryPublisher, broker_app
    from dialer.web import create_app

    life = life_for(redis_url, api_token="api-token", callback_secret="cb")
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    with TestClient(create_app(life.settings, client,
                               CeleryPublisher(broker_app(redis_url)))) as c:
        yield c, life


def test_http_and_cli_answer_the_same_plan(tc: tuple[TestClient, Any], redis_url: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    client, life = tc
    cid = life.create(spec(pacing={"calls_per_minute": 30, "max_concurrent": 50},
                           schedule={"window_start": "00:00", "window_end": "24:00"}))
    life.import_contacts(cid, csv_of([number(i) for i in range(90)]))
    auth = {"Authorization": "Bearer api-token"}
    res = client.get(f"/v1/campaigns/{cid}/plan",
                     params={"answered": 0.5, "no_answer": 0.5, "call_s": 20}, headers=auth)
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["contacts"] == 90 and body["rates"]["source"] == "given"
    assert body["bound_by"][0] == "pace" and body["contacts_per_minute"] == 30
    assert body["attempts"] == pytest.approx(90 * (1 + 0.5 + 0.25 + 0.125), abs=0.1)
    assert client.get("/v1/campaigns/nope/plan", headers=auth).status_code == 404
    bad = client.get(f"/v1/campaigns/{cid}/plan", params={"answered": -1}, headers=auth)
    assert bad.status_code == 422
    zero = client.get(f"/v1/campaigns/{cid}/plan", params={"answered": 0}, headers=auth)
    assert zero.status_code == 422 and "not all 0" in zero.text
    assert "/v1/campaigns/{cid}/plan" in client.get("/openapi.json").json()["paths"]

    from dialer.cli import main

    env = {"DIALER_REDIS_URL": redis_url,
           "DIALER_ACCOUNTS": json.dumps([{k: v for k, v in life.settings.accounts[0]
                                          .model_dump(mode="json").items() if v is not None}
                                         | {"api_token": "t"}])}
    runner = CliRunner()
    out = runner.invoke(main, ["campaign", "plan", cid, "--answered", "0.5", "--no-answer",
                               "0.5", "--call-s", "20", "--json"], env=env)
    assert out.exit_code == 0, out.output
    cli = json.loads(out.output)
    assert cli["attempts"] == body["attempts"] and cli["bound_by"] == body["bound_by"]
    text = runner.invoke(main, ["campaign", "plan", cid], env=env)
    assert text.exit_code == 0 and "contacts per minute" in text.output
    assert runner.invoke(main, ["campaign", "plan", "nope"], env=env).exit_code == 4


def test_replace_keeps_inputs_frozen() -> None:
    inp = base()
    assert replace(inp, pace_per_s=2.0).pace_per_s == 2.0 and inp.pace_per_s == 1.0
