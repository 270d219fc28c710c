"""Campaigns end to end: real Redis, real Celery workers and beat (the tick), the web app
receiving the simulator's callbacks over HTTP."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import redis

from dialer.campaigns.lifecycle import Lifecycle
from dialer.campaigns.report import contact_rows, summary
from exotel_sim import SimConfig, Simulator
from tests.campaigns.helpers import csv_of, number, settings_of_env, spec
from tests.e2e import call_posts, max_in_window, posts_per_attempt
from tests.stack import Proc, Stack, wait_for

pytestmark = pytest.mark.slow

STACK_DEFAULTS = {"campaign_tick_s": 0.5, "pump_interval_s": 0.2, "rate_limit_calls": 2000}


@pytest.fixture()
def sim() -> Iterator[Simulator]:
    with Simulator(SimConfig(time_scale=0.01, limit_calls=100_000)) as s:
        yield s


@pytest.fixture()
def stacks(stack_factory: Any) -> Any:
    return stack_factory


def life_of(stack: Stack) -> Lifecycle:
    settings = settings_of_env(stack.env)
    return Lifecycle.connect(redis.Redis.from_url(settings.redis_url, decode_responses=True),
                             settings)


def from_numbers(sim: Simulator) -> Counter[str]:
    """POSTs per From number (flow mode: the contact)."""
    froms = ((p.get("params") or {}).get("From") for p in call_posts(sim))
    return Counter(str(f) for f in froms if f)


def truth_by_call(sim: Simulator) -> dict[str, dict[str, Any]]:
    """call id → the simulator's record of that call's last attempt."""
    last: dict[str, tuple[int, dict[str, Any]]] = {}
    for c in sim.calls():
        aid = str(c["custom_field"]).split("|")[0]
        call_id, n = aid.rsplit("-", 1)
        if call_id not in last or int(n) > last[call_id][0]:
            last[call_id] = (int(n), c)
    return {k: v for k, (_, v) in last.items()}


def is_over(life: Lifecycle, cid: str) -> bool:
    return summary(life, cid)["state"] in ("completed", "cancelled")


def test_a_thousand_contacts_match_the_simulators_truth(stacks: Any, sim: Simulator) -> None:
    sim.configure(limit_calls=300, limit_window_s=5.0)
    stack = stacks(rate_limit_calls=300, rate_limit_window_s=5.0, rate_limit_margin_calls=10,
                   campaign_share=0.9)
    stack.start_web()
    stack.start_worker("w1", concurrency=8)
    stack.start_worker("w2", concurrency=8)
    stack.start_beat()
    life = life_of(stack)
    suffixes = ["10"] * 7 + ["91", "92", "93"]  # answered 70 %, busy, no-answer, failed
    numbers = [number(i, suffixes[i % 10]) for i in range(1000)]
    cid = life.create(spec(
        name="reminders", pacing={"calls_per_minute": 3000, "max_concurrent": 300},
        schedule={"window_start": "00:00", "window_end": "24:00"},
        retry={"max_retries": 1, "backoff_base_s": 0.2, "backoff_max_s": 0.5}))
    assert life.import_contacts(cid, csv_of(numbers)).imported == 1000
    life.start(cid)
    wait_for(lambda: is_over(life, cid), 400, "the campaign to complete", interval_s=0.5)
    s = summary(life, cid)
    assert s["state"] == "completed"
    assert s["by_status"] == {"completed": 700, "busy": 100, "no-answer": 100, "failed": 100}
    assert s["attempts"] == 1200 and s["answered_rate"] == 0.7
    posts = call_posts(sim)
    assert [p for p in posts if p.get("status_code") != 200] == []
    assert max_in_window([p["arrival_time"] for p in posts], 5.0) <= 300
    per_number = from_numbers(sim)
    for n in numbers:  # 92/93 fail on the first leg: one retry; the rest: one call
        assert per_number[n] == (2 if n[-2:] in ("92", "93") else 1), n
    truth = truth_by_call(sim)
    rows = list(contact_rows(life, cid))
    assert len(rows) == 1000
    for row in rows:
        assert row["status"] == truth[row["call_id"]]["status"], row
        assert row["attempts"] == per_number[row["number"]]
    assert max(posts_per_attempt(sim).values()) == 1


def ticks(life: Lifecycle) -> int:
    return int(life.store.r.get(life.repo.keys.ticks) or 0)


def wait_ticks(life: Lifecycle, n: int) -> None:
    """Let ``n`` more ticks run (each one a chance to dial)."""
    target = ticks(life) + n
    wait_for(lambda: ticks(life) >= target, 30, f"{n} more campaign ticks")


def test_the_window_opens_for_each_zone_on_its_own(stacks: Any, sim: Simulator) -> None:
    from zoneinfo import ZoneInfo

    stack = stacks()
    stack.start_all()
    life = life_of(stack)
    opens = (life.repo.clock() + timedelta(seconds=8)).replace(microsecond=0)
    local = opens.astimezone(ZoneInfo("Asia/Kolkata"))
    window = {"window_start": f"{local:%H:%M:%S}",
              "window_end": f"{local + timedelta(hours=2):%H:%M:%S}"}
    india = [number(i) for i in range(5)]
    karachi = [number(100 + i) for i in range(5)]  # 30 minutes behind India
    rows = [f"{n},Asia/Kolkata" for n in india] + [f"{n},Asia/Karachi" for n in karachi]
    cid = life.create(spec(schedule=window, pacing={"calls_per_minute": 600,
                                                     "max_concurrent": 20}))
    life.import_contacts(cid, ("number,timezone\n" + "\n".join(rows)).encode())
    life.start(cid)
    wait_ticks(life, 4)
    assert life.repo.clock() < opens, "the machine was too slow to see the closed window"
    assert call_posts(sim) == []
    wait_for(lambda: set(india) <= set(from_numbers(sim)), 30, "India's contacts dialled")
    assert min(p["arrival_time"] for p in call_posts(sim)) >= opens.timestamp()
    wait_for(lambda: summary(life, cid)["finished"] == 5, 30, "India's calls final")
    wait_ticks(life, 4)
    assert set(from_numbers(sim)) == set(india)  # Karachi's window is still closed
    stack.stop()
    later = stacks(campaign_clock_offset_s=1800)  # the campaigns' clock: 30 minutes on
    later.start_all()
    wait_for(lambda: is_over(life, cid), 60, "the campaign to complete")
    assert from_numbers(sim) == Counter({n: 1 for n in india + karachi})


def start_second_beat(stack: Stack, tmp_path: Path) -> Proc:
    return stack.start_beat("beat2")


def test_pause_resume_cancel_mid_run_with_two_beats(stacks: Any, sim: Simulator,
                                                    tmp_path: Path) -> None:
    sim.configure(talk_s=50.0)  # half a second of talk: calls stay live a while
    stack = stacks()
    stack.start_web()
    stack.start_worker("w1", concurrency=8)
    stack.start_beat()
    start_second_beat(stack, tmp_path)  # two beats: every tick is sent twice
    life = life_of(stack)
    cid = life.create(spec(pacing={"calls_per_minute": 1200, "max_concurrent": 20},
                           schedule={"window_start": "00:00", "window_end": "24:00"}))
    life.import_contacts(cid, csv_of([number(i) for i in range(400)]))
    life.start(cid)
    wait_for(lambda: len(call_posts(sim)) >= 40, 60, "40 calls placed")

    def settled() -> int:
        """Posts once no attempt is between its claim and its outcome."""
        wait_for(lambda: life.store.counts()["dialing"] == 0, 30, "no attempt dialing")
        return len(call_posts(sim))

    life.pause(cid)
    paused_at = settled()
    wait_ticks(life, 6)
    assert len(call_posts(sim)) == paused_at, "dialled while paused"
    assert summary(life, cid)["state"] == "paused"
    life.resume(cid)
    wait_for(lambda: len(call_posts(sim)) >= paused_at + 40, 60, "dialling to resume")
    life.cancel(cid)
    cancelled_at = settled()
    wait_ticks(life, 6)
    assert len(call_posts(sim)) == cancelled_at, "dialled after cancel"
    wait_for(lambda: cid not in life.repo.active_ids(), 60, "the campaign's calls to end")
    calls = cast(dict[str, str], life.store.r.hgetall(life.repo.keys.calls(cid)))
    states = Counter(life.store.get_call(c)["state"] for c in calls.values())
    assert set(states) <= {"completed", "cancelled"}, states
    assert states["completed"] == cancelled_at
    s = summary(life, cid)
    assert (s["state"], s["pending"], s["live"]) == ("cancelled", 0, 0)
    assert s["cancelled_before_dial"] + len(calls) == 400
    assert set(from_numbers(sim).values()) == {1}  # nobody dialled twice
    assert max(posts_per_attempt(sim).values()) == 1
