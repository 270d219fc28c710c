"""The campaign plan against reality: plan a campaign, run it on the simulator at
accelerated time, compare (``bench.bench_campaign_plan`` and
``tests/campaigns/test_plan_e2e.py`` share this).

The run: a scaled limit (``limit`` requests per ``window_s``), simulated calls 100x faster
(a few hundred ms each), seeded outcome odds (answered / busy / no-answer / failed) for
the customer's leg, two zones whose windows are seconds apart: Asia/Kathmandu (15 min
ahead of India) is open from the start for ``kathmandu_open_s``, Asia/Kolkata opens
``kolkata_opens_s`` after the start. The plan is taken with the same rates, from the
campaign's real state, just before it starts; the run's finish is the campaign's
``ended_at`` (the tick marks it completed), its attempts the simulator's POSTs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import redis

from dialer.campaigns.lifecycle import Lifecycle
from dialer.campaigns.plan import Rates
from dialer.campaigns.plan_state import campaign_plan
from dialer.devstack import DevStack, stack_env
from dialer.embedded import free_port
from dialer.processes import wait_for
from dialer.settings import settings_from_env
from exotel_sim import SimConfig, Simulator, inspect

ODDS = {"answered": 0.6, "busy": 0.1, "no-answer": 0.2, "failed": 0.1}
CALL_S = 0.45  # an attempt at time_scale 0.01: dial, ring/talk, callback, reconcile


@dataclass(frozen=True)
class Check:
    contacts: int = 600
    kathmandu_share: float = 0.15
    cpm: float = 900.0
    limit: int = 300
    window_s: float = 5.0
    max_retries: int = 2
    kathmandu_open_s: float = 20.0
    kolkata_opens_s: float = 10.0
    lead_s: float = 4.0  # the campaign starts this long after it is planned
    workers: int = 2
    concurrency: int = 8
    seed: int = 7
    timeout_s: float = 600.0


def _numbers(n: int, offset: int = 0) -> list[str]:
    """Mobile numbers ending in 10: no magic suffix of the simulator (91–96), so the
    seeded odds decide every outcome."""
    return [f"+9197{offset + i:06d}10" for i in range(n)]


def run(redis_url: str, tmp: Path, check: Check = Check()) -> dict[str, Any]:
    """Plan, run and compare one campaign; returns the figures."""
    config = SimConfig(time_scale=0.01, limit_calls=check.limit, limit_window_s=check.window_s,
                       leg1_outcomes=ODDS, seed=check.seed)
    with Simulator(config) as sim:
        web_port = free_port()
        env = stack_env(redis_url, sim.url, f"http://127.0.0.1:{web_port}",
                        rate_limit_calls=check.limit, rate_limit_window_s=check.window_s,
                        rate_limit_margin_calls=max(1, check.limit // 30), campaign_share=0.9,
                        campaign_tick_s=0.3, max_retries=check.max_retries)
        settings = settings_from_env(env)
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        life = Lifecycle.connect(client, settings)
        with DevStack(env, tmp) as dev:
            dev.web(web_port)
            for i in range(check.workers):
                dev.worker(f"w{i + 1}", concurrency=check.concurrency)
            dev.beat()
            return _run(life, sim, check)


def _run(life: Lifecycle, sim: Simulator, check: Check) -> dict[str, Any]:
    start = (life.repo.clock() + timedelta(seconds=check.lead_s)).replace(microsecond=0)
    opens = (start + timedelta(seconds=check.kolkata_opens_s)).astimezone(
        ZoneInfo("Asia/Kolkata"))
    closes = opens + timedelta(minutes=15, seconds=check.kathmandu_open_s
                               - check.kolkata_opens_s)
    n_k = int(check.contacts * check.kathmandu_share)
    rows = ([f"{n},Asia/Kathmandu" for n in _numbers(n_k)]
            + [f"{n},Asia/Kolkata" for n in _numbers(check.contacts - n_k, 500_000)])
    cid = life.create({
        "name": "plan check", "mode": "flow", "app_id": "12345",
        "pacing": {"calls_per_minute": check.cpm, "max_concurrent": 500},
        "schedule": {"start_at": start.isoformat(), "window_start": f"{opens:%H:%M:%S}",
                     "window_end": f"{closes:%H:%M:%S}"},
        "retry": {"max_retries": check.max_retries},
    })
    life.import_contacts(cid, ("number,timezone\n" + "\n".join(rows) + "\n").encode())
    rates = Rates(ODDS["answered"], ODDS["busy"], ODDS["no-answer"], ODDS["failed"],
                  source="given")
    planned = campaign_plan(life, cid, rates=rates, call_s=CALL_S)
    ticks_key = life.repo.keys.ticks
    ticks_before = int(life.store.r.get(ticks_key) or 0)
    life.start(cid)
    began = time.monotonic()
    wait_for(lambda: life.repo.get(cid).state.value == "completed", check.timeout_s,
             "the campaign to complete", 0.5)
    c = life.repo.get(cid)
    ended = c.time("ended_at")
    assert ended is not None
    actual_s = (ended - start).total_seconds()
    posts = len(inspect.call_posts(sim.requests()))
    ticks = int(life.store.r.get(ticks_key) or 0) - ticks_before
    from dialer.campaigns.plan_state import history

    measured = history(life, c.spec.account or "main")
    plan_s = float(planned["duration_s"] or 0)
    return {
        "contacts": check.contacts, "zones": {"Asia/Kathmandu": n_k,
                                              "Asia/Kolkata": check.contacts - n_k},
        "cpm": check.cpm, "limit": f"{check.limit} per {check.window_s:g} s",
        "planned_s": round(plan_s, 1), "actual_s": round(actual_s, 1),
        "finish_error": round(abs(plan_s - actual_s) / actual_s, 4),
        "planned_range_s": [round((_t(planned["finish_low"]) - start.timestamp()), 1),
                            round((_t(planned["finish_high"]) - start.timestamp()), 1)],
        "planned_attempts": planned["attempts"], "actual_attempts": posts,
        "attempts_error": round(abs(planned["attempts"] - posts) / posts, 4),
        "counted_attempts": c.count("attempts"), "bound_by": planned["bound_by"],
        "by_status": c.final_counts, "wall_s": round(time.monotonic() - began, 1),
        "call_s_given": CALL_S,
        "tick_period_s": round((time.monotonic() - began) / max(1, ticks), 3),
        "call_s_measured": round(measured.call_s, 3) if measured.call_s else None,
    }


def _t(iso: str | None) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp() if iso else float("nan")
