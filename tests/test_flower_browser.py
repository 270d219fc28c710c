"""Flower's tasks page in headless Chromium after a run of mixed outcomes.

The stack runs at the tests' housekeeping cadence (pump every 0.2 s, poller 0.5 s, sweeper
1 s), so the share of Flower rows that are housekeeping is measured on a busy beat. The
page must name each call (account, campaign, masked customer, attempt n of N) and show
its outcome as the result; no secret and no full customer number anywhere on it.
"""

from __future__ import annotations

import ast
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from dialer.embedded import free_port
from dialer.keys import Keys
from dialer.publisher import CALLS_QUEUE, PLACE_CALL, broker_app
from dialer.store import Store
from exotel_sim import SimConfig, Simulator
from tests.browser import DOCS, browser_page  # noqa: F401 (a fixture)
from tests.e2e import all_final, enqueue_http, mixed_requests
from tests.stack import API_TOKEN, CALLBACK_SECRET, Proc, wait_for

pytestmark = pytest.mark.slow
DIALER = str(Path(sys.executable).with_name("dialer"))
HOUSEKEEPING = {"dialer.pump_due", "dialer.sweep", "dialer.poll_calls", "dialer.campaign_tick"}
PROBE = "flower-probe"


@pytest.fixture()
def sim() -> Iterator[Simulator]:
    with Simulator(SimConfig(time_scale=0.01, limit_calls=100_000)) as s:
        yield s


def tasks(flower_url: str) -> list[dict[str, Any]]:
    data = requests.get(f"{flower_url}/api/tasks", timeout=10).json()
    return [{**t, "kwargs": ast.literal_eval(t["kwargs"] or "{}")} for t in data.values()]


def housekeeping_share(flower_url: str) -> tuple[float, Counter[str]]:
    names = Counter(t["name"] for t in tasks(flower_url)
                    if t["kwargs"].get("attempt_id", "") != PROBE)
    total = sum(names.values())
    return (sum(names[n] for n in HOUSEKEEPING) / total if total else 0.0), names


def test_flower_tasks_page_names_calls_and_shows_outcomes(
        browser_page: Any, redis_url: str, sim: Simulator,  # noqa: F811
        stack_factory: Any, tmp_path: Path) -> None:
    page = browser_page
    stack = stack_factory()
    stack.start_all()
    port = free_port()
    env = dict(stack.env, FLOWER_UNAUTHENTICATED_API="true")  # loopback only, for /api/tasks
    flower = Proc("flower", [DIALER, "flower", "--port", str(port)], env, tmp_path)
    stack.procs.append(flower)
    url = f"http://127.0.0.1:{port}"

    wait_for(lambda: flower.answers(f"{url}/healthcheck"), 30, "Flower to answer")
    app = broker_app(stack.settings().redis_url)

    def flower_sees_events() -> bool:  # a harmless message: its attempt does not exist
        app.send_task(PLACE_CALL, kwargs={"attempt_id": PROBE}, queue=CALLS_QUEUE)
        try:
            return bool(wait_for(lambda: any(t["kwargs"].get("attempt_id") == PROBE
                                             for t in tasks(url)), 1.0, "the probe"))
        except AssertionError:
            return False

    wait_for(flower_sees_events, 30, "Flower's event receiver", interval_s=0.1)
    ids = enqueue_http(stack, mixed_requests(12))
    store = Store(redis.Redis.from_url(redis_url, decode_responses=True), Keys())
    wait_for(lambda: all_final(store, ids), 90, "all calls final", interval_s=0.2)

    def reconciled() -> bool:
        done = {t["kwargs"].get("attempt_id", "").rsplit("-", 1)[0] for t in tasks(url)
                if t["name"] == "dialer.reconcile" and t["state"] == "SUCCESS"
                and "final" in (t.get("result") or "")}
        return set(ids) <= done

    try:
        wait_for(reconciled, 60, "Flower to list every call's final reconcile", interval_s=0.5)
    except AssertionError:  # say what Flower and the store hold for the calls missing
        for t in tasks(url):
            print(t["name"], t["state"], t["kwargs"].get("attempt_id"), t.get("result"))
        for cid in ids:
            print(cid, store.r.hgetall(store.keys.call(cid)))
        raise
    share, names = housekeeping_share(url)
    print(f"Flower rows: {dict(names)}; housekeeping share {share:.1%}")
    assert share < 0.05, names
    for t in tasks(url):
        if t["name"] == "dialer.place_call" and t["kwargs"].get("attempt_id") != PROBE:
            assert t["kwargs"]["call"].startswith("main · - · +91 98xxxx"), t["kwargs"]

    page.goto(f"{url}/tasks")
    page.wait_for_selector("table#tasks-table tbody tr td", timeout=20_000)
    length = page.query_selector("select[name='tasks-table_length']")
    if length is not None:
        page.select_option("select[name='tasks-table_length']", "50")
    page.wait_for_function(
        "document.querySelectorAll('table#tasks-table tbody tr').length >= 20", timeout=20_000)
    text = str(page.text_content("body"))
    assert "+91 98xxxx" in text and "· final" in text and "retry scheduled" in text
    for secret in (API_TOKEN, CALLBACK_SECRET, "sim_token", "token="):
        assert secret not in text
    for call in mixed_requests(12):
        assert call["to"][3:] not in text  # the customer's full national number
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS / "flower-tasks.png"), full_page=False)
