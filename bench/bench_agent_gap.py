"""Agent idle gap: from an agent's call ending to that agent's next POST, and occupancy.

    .venv/bin/python -m bench.bench_agent_gap [--agents 4] [--seconds 60]
        [--lossy-seconds 150] [--before-lossy-seconds 240]

An agent-mode (connect) campaign, one call per agent, on the simulator: every call
answered on both legs and about 4 s long (``time_scale`` 0.1), Duration and Price in the
callback (no fill polls), the account's real limit (200 per 60 s), DEFAULT dialer settings
(tick 2 s, pump 1 s, poll after 180 s, poller every 5 s). Each scenario is a fresh Redis,
simulator, web app, worker (threads x 8) and beat:

* ``before``: main's behaviour, reproduced by settings — ``DIALER_CAMPAIGN_HANDOFF=false``
  (the tick counts the call and frees the agent, the pump sends the next call) and
  ``DIALER_AGENT_POLL_AFTER_S=180`` / ``DIALER_AGENT_POLL_INTERVAL_S=60`` (agent-mode calls
  polled like any call);
* ``after``: the defaults (the hand-off; agent-mode calls looked up 10 s after placement
  and every 15 s);

each with every callback delivered, and with 30 % of them lost (the simulator's
``callback_drop_ratio``). A gap is measured from the simulator's end of a call to the
creation of that agent's next call (its POST), both on this machine's clock; a gap still
open when the run stops counts with the length it had (a lower bound: ``open_gaps``).
Occupancy is the agents' time in calls over their time, from the first call's end on.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import client, private_redis, report_rows
from bench.harness import Fleet, dialer_env
from bench.measure import percentile
from dialer.campaigns.lifecycle import Lifecycle
from dialer.embedded import free_port
from dialer.processes import wait_for
from dialer.settings import settings_from_env
from exotel_sim import SimConfig, Simulator

BEFORE = {"campaign_handoff": "false", "agent_poll_after_s": 180, "agent_poll_interval_s": 60}
TIME_SCALE = 0.1  # a connect call: 1 s dial + 5 s ring + 5 s ring + 30 s talk = ~4 s


def agents(n: int) -> list[str]:
    return [f"+91981{i:05d}10" for i in range(n)]


def contacts(n: int) -> bytes:
    return ("number\n" + "\n".join(f"+9197{i:06d}10" for i in range(n)) + "\n").encode()


def gaps(calls: list[dict[str, Any]], stopped: float) -> tuple[list[float], int, float]:
    """(gaps, how many were still open at ``stopped``, occupancy) over every agent."""
    by_agent: dict[str, list[dict[str, Any]]] = {}
    for c in calls:
        by_agent.setdefault(str(c["from"]), []).append(c)
    out: list[float] = []
    still_open = 0
    busy = span = 0.0
    first_end = min((c["ended_at"] for c in calls if c.get("ended_at")), default=stopped)
    for own in by_agent.values():
        own.sort(key=lambda c: c["created_at"])
        for prev, nxt in zip(own, own[1:], strict=False):
            if prev.get("ended_at"):
                out.append(nxt["created_at"] - prev["ended_at"])
        last = own[-1]
        if last.get("ended_at"):
            out.append(stopped - last["ended_at"])
            still_open += 1
        for c in own:
            start, end = max(c["created_at"], first_end), min(c.get("ended_at") or stopped,
                                                              stopped)
            busy += max(0.0, end - start)
        span += stopped - first_end
    return out, still_open, busy / span if span else 0.0


def scenario(name: str, n_agents: int, seconds: float, lost: float,
             settings: dict[str, Any]) -> dict[str, Any]:
    port = free_port()
    sim_config = SimConfig(time_scale=TIME_SCALE, duration_fill_delay_s=0.0,
                           callback_drop_ratio=lost, seed=7)
    with private_redis() as url, Simulator(sim_config) as sim, \
            tempfile.TemporaryDirectory() as tmp:
        env = dialer_env(url, sim.url, f"http://127.0.0.1:{port}", fast=False, **settings)
        life = Lifecycle.connect(client(url), settings_from_env(env))
        with Fleet(env, Path(tmp)) as fleet:
            fleet.web(port)
            fleet.worker("w1")
            fleet.beat()
            cid = life.create({
                "name": "agents", "mode": "connect", "agents": agents(n_agents),
                "pacing": {"calls_per_minute": 120, "max_concurrent": n_agents},
                "schedule": {"window_start": "00:00", "window_end": "24:00"}})
            life.import_contacts(cid, contacts(5000))
            life.start(cid)
            wait_for(lambda: sim.calls(), 60, "the first call")
            time.sleep(seconds)  # the measured run: the campaign dials on its own
            stopped = time.time()
            calls = [c for c in sim.calls() if c["created_at"] <= stopped]
            life.pause(cid)
    values, still_open, occupancy = gaps(calls, stopped)
    ms = 1000.0
    return {"scenario": name, "callbacks_lost": f"{lost:.0%}", "seconds": seconds,
            "calls": len(calls), "gaps": len(values), "open_gaps": still_open,
            "gap_p50_ms": round(percentile(values, 50) * ms),
            "gap_p95_ms": round(percentile(values, 95) * ms),
            "gap_max_ms": round(max(values) * ms) if values else 0,
            "occupancy": round(occupancy, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="run length with every callback delivered")
    parser.add_argument("--lossy-seconds", type=float, default=150.0,
                        help="run length after the change, 30 %% of callbacks lost")
    parser.add_argument("--before-lossy-seconds", type=float, default=240.0,
                        help="run length before the change, 30 %% lost (polls after 180 s)")
    args = parser.parse_args()
    rows = [
        scenario("before", args.agents, args.seconds, 0.0, BEFORE),
        scenario("after", args.agents, args.seconds, 0.0, {}),
        scenario("before", args.agents, args.before_lossy_seconds, 0.3, BEFORE),
        scenario("after", args.agents, args.lossy_seconds, 0.3, {}),
    ]
    report_rows("agent_gap", rows, agents=args.agents, call_s=round(41 * TIME_SCALE, 1),
                settings="defaults (tick 2 s, pump 1 s, poll after 180 s)")


if __name__ == "__main__":
    main()
