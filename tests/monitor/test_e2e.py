"""Monitoring end to end: real workers, beat and web against the simulator.

* every counter in ``/metrics`` equals what the simulator saw (its calls, its requests,
  its 429s) after a run of mixed outcomes;
* the live page, in headless Chromium, shows the figures the API reports and updates.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
import requests
from prometheus_client.parser import text_string_to_metric_families

from dialer.keys import Keys
from dialer.store import Store
from exotel_sim import SimConfig, Simulator
from tests.browser import DOCS, browser_page  # noqa: F401 (a fixture)
from tests.e2e import all_final, call_posts, call_states, enqueue_http, mixed_requests
from tests.stack import API_TOKEN, Stack, wait_for

pytestmark = pytest.mark.slow
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
# Exotel's limit is lower than the dialer's: some POSTs and GETs are answered 429.
STACK_DEFAULTS = {"rate_limit_calls": 40, "rate_limit_window_s": 2.0, "max_retries": 1}


@pytest.fixture()
def sim() -> Iterator[Simulator]:
    with Simulator(SimConfig(time_scale=0.01, limit_calls=8, limit_window_s=1.0)) as s:
        yield s


def scrape(web_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    resp = requests.get(f"{web_url}/metrics", headers=AUTH, timeout=10)
    assert resp.status_code == 200, resp.text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(resp.text) for s in f.samples}


def by(metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
       label: str) -> dict[str, int]:
    """The samples of ``name`` summed by one label."""
    out: Counter[str] = Counter()
    for (n, labels), value in metrics.items():
        if n == name:
            out[dict(labels)[label]] += int(value)
    return dict(out)


def truth_mismatches(stack: Stack, sim: Simulator, store: Store,
                     ids: list[str]) -> list[str]:
    """What ``/metrics`` says against the simulator's truth; [] when every counter agrees."""
    m = scrape(stack.web_url)
    reqs = sim.requests()
    sim_calls = sim.calls()
    last: dict[str, tuple[int, str]] = {}  # call id → (attempt n, status) of its last call
    for c in sim_calls:
        aid = c["custom_field"].split("|")[0]
        cid, n = aid.rsplit("-", 1)
        if int(n) > last.get(cid, (0, ""))[0]:
            last[cid] = (int(n), c["status"])
    ours = call_states(store, ids)
    truth = {
        "calls created": (len(ids), sum(by(m, "dialer_calls_created_total", "account")
                                        .values())),
        "calls by final status": (dict(Counter(s for _, s in last.values())),
                                  by(m, "dialer_calls_finished_total", "outcome")),
        "calls by final status (our records)": (dict(Counter(ours.values())),
                                                by(m, "dialer_calls_finished_total",
                                                   "outcome")),
        "attempts placed": (len(sim_calls),
                            by(m, "dialer_attempts_total", "outcome").get("placed", 0)),
        "attempts by final status": (
            dict(Counter(c["status"] for c in sim_calls)),
            {k: v for k, v in by(m, "dialer_attempts_total", "outcome").items()
             if k != "placed"}),
        "POSTs": (len(call_posts(sim)),
                  by(m, "dialer_exotel_requests_total", "kind").get("dial", 0)),
        "GETs": (sum(1 for r in reqs if r.get("method") == "GET"),
                 by(m, "dialer_exotel_requests_total", "kind").get("lookup", 0)),
        "429s": (sum(1 for r in reqs if r.get("status_code") == 429),
                 sum(by(m, "dialer_exotel_429_total", "account").values())),
        "retries": (len(sim_calls) - len(ids),
                    sum(by(m, "dialer_retries_total", "account").values())),
        "POST → final observed": (len(sim_calls), int(sum(
            v for (n, _), v in m.items() if n == "dialer_post_to_final_seconds_count"))),
        "unknown now": (0, by(m, "dialer_attempts_in_set", "set").get("unknown", 0)),
        "in flight": (0, len(ids) - sum(by(m, "dialer_calls_finished_total", "outcome")
                                        .values())),
    }
    return [f"{what}: truth {want!r}, /metrics {got!r}" for what, (want, got) in truth.items()
            if want != got]


def test_every_counter_equals_the_simulators_truth(redis_url: str, sim: Simulator,
                                                   stack_factory: Any) -> None:
    stack = stack_factory()
    stack.start_all()
    ids = enqueue_http(stack, mixed_requests(24))
    store = Store(redis.Redis.from_url(redis_url, decode_responses=True), Keys())
    wait_for(lambda: all_final(store, ids), 120, "all calls final", interval_s=0.2)
    sim.wait_idle(10)
    found: list[list[str]] = []

    def agree() -> bool:
        found.append(truth_mismatches(stack, sim, store, ids))
        return not found[-1]

    try:  # late look-ups (Duration / Price) may still run: wait until the figures settle
        wait_for(agree, 60, "/metrics to agree with the simulator", interval_s=0.5)
    except AssertionError:
        raise AssertionError("\n".join(found[-1])) from None
    m = scrape(stack.web_url)
    outcomes = by(m, "dialer_calls_finished_total", "outcome")
    assert {"completed", "busy", "no-answer", "failed"} <= set(outcomes), outcomes
    assert sum(by(m, "dialer_exotel_429_total", "account").values()) > 0  # the run had 429s
    assert by(m, "dialer_waits_total", "reason").get("exotel-429", 0) > 0


def _closed_window_now() -> tuple[str, str]:
    """A calling window (Asia/Kolkata) that is closed now and opens in about two hours."""
    now = datetime.now(UTC).astimezone(ZoneInfo("Asia/Kolkata"))
    start, end = now + timedelta(hours=2), now + timedelta(hours=3)
    return f"{start:%H}:00", f"{end:%H}:00"


def test_the_live_page_shows_the_figures_and_updates(
        browser_page: Any, redis_url: str, sim: Simulator,  # noqa: F811
        stack_factory: Any) -> None:
    page = browser_page
    sim.configure(limit_calls=100_000)
    stack = stack_factory(campaign_tick_s=0.5)
    stack.start_all()
    start, end = _closed_window_now()
    campaign = {"name": "Renewals", "mode": "flow", "app_id": "12345", "start": True,
                "schedule": {"window_start": start, "window_end": end},
                "contacts": [{"number": f"+9198300{i:04d}0"} for i in range(5)]}
    resp = requests.post(f"{stack.web_url}/v1/campaigns", json=campaign, headers=AUTH,
                         timeout=10)
    assert resp.status_code == 201, resp.text
    cid = resp.json()["id"]
    ids = enqueue_http(stack, mixed_requests(12))
    store = Store(redis.Redis.from_url(redis_url, decode_responses=True), Keys())
    wait_for(lambda: all_final(store, ids), 90, "all calls final", interval_s=0.2)

    page.goto(f"{stack.web_url}/status")
    assert page.url.endswith("/status")
    page.fill("#token", API_TOKEN)
    page.click("#login button")
    page.wait_for_selector('[data-figure="calls.created"]', timeout=15_000)
    assert API_TOKEN not in page.url

    def figure(name: str) -> str:
        return str(page.text_content(f'[data-figure="{name}"]') or "").strip()

    def shown_equals_api() -> bool:
        api = requests.get(f"{stack.web_url}/v1/monitor/status", headers=AUTH,
                           timeout=10).json()
        want = {"calls.created": api["calls"]["created"],
                "calls.in_flight": api["calls"]["in_flight"],
                "dials.main": api["accounts"][0]["dials_total"],
                "lookups.main": api["accounts"][0]["lookups_total"],
                **{f"calls.finished.{k}": v for k, v in api["calls"]["finished"].items()}}
        return all(figure(k) == str(v) for k, v in want.items())

    wait_for(shown_equals_api, 20, "the page to show the API's figures", interval_s=0.3)
    assert figure("calls.created") == "12"
    waiting = figure(f"waiting.{cid}")
    assert waiting.startswith(f"window closed until {start} Asia/Kolkata"), waiting
    polls = int(page.get_attribute("#updated", "data-polls") or 0)
    wait_for(lambda: int(page.get_attribute("#updated", "data-polls") or 0) >= polls + 2, 20,
             "the page to update")
    points = int(page.get_attribute('svg[data-chart="main"]', "data-points") or 0)
    assert points >= 3
    more = enqueue_http(stack, mixed_requests(3))
    wait_for(lambda: figure("calls.created") == "15", 20, "the page to count new calls")
    wait_for(lambda: all_final(store, more), 60, "the new calls final")
    wait_for(shown_equals_api, 20, "the page to show the new figures", interval_s=0.3)
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS / "status-page.png"), full_page=True)
    # a reload keeps the token in the tab; a wrong token is refused and forgotten
    page.reload()
    page.wait_for_selector('[data-figure="calls.created"]', timeout=15_000)
    page.evaluate("sessionStorage.setItem('dialer.apiToken', 'wrong')")
    page.reload()
    page.wait_for_selector("#login-error:has-text('refused')", timeout=15_000)
    assert page.evaluate("sessionStorage.getItem('dialer.apiToken')") is None
    # /docs renders Swagger UI from the package's own assets (no CDN needed)
    page.goto(f"{stack.web_url}/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=60_000)
    assert "exotel-dialer" in str(page.text_content(".swagger-ui .info .title"))
