"""The scenarios: each places ``calls`` calls while something breaks, then measures.

A scenario's ``disturb(world, progress)`` runs while the calls are being placed;
``progress()`` is the number of call-creating POSTs the simulator has seen so far.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis

from chaos.explain import explain, stream
from chaos.truth import Figures, final_or_unknown, measure
from chaos.world import LIMIT, MAX_RETRIES, WINDOW_S, World, world
from dialer.processes import wait_for
from dialer.store import Store

Progress = Callable[[], int]
# calls shown on stderr after a scenario, with their attempt, Exotel's truth and callbacks
EXPLAINED = {"unknown", "queued", "dialing", "in-progress", "retry-wait"}


@dataclass
class Scenario:
    name: str
    what: str
    disturb: Callable[[World, Progress, list[str]], str]
    sim: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    ha: bool = False  # primary + replica + 3 sentinels, two schedulers


def requests_for(count: int, seed: int) -> list[dict[str, str]]:
    """Distinct agents and customers; numbers end in 0 (no simulator magic)."""
    return [{"from": f"+9198{seed % 10}{i:06d}0", "to": f"+9197{seed % 10}{i:06d}0"}
            for i in range(count)]


def _wait_posts(progress: Progress, n: int, timeout_s: float = 120.0) -> None:
    wait_for(lambda: progress() >= n, timeout_s, f"{n} POSTs", 0.1)


def nothing(w: World, progress: Progress, ids: list[str]) -> str:
    return "no fault (control)"


def kill_workers(w: World, progress: Progress, ids: list[str], kills: int = 10) -> str:
    """SIGKILL a worker (its whole process group) every few seconds; start a new one."""
    _wait_posts(progress, 50)
    during = 0
    for _ in range(kills):
        time.sleep(1.5)
        victim = w.workers.pop(0)
        if progress() < len(ids):
            during += 1
        victim.kill()
        w.add_worker()  # waits until it consumes
    return f"{kills} kills, {during} while calls were still being posted"


def restart_redis(w: World, progress: Progress, ids: list[str], crash: bool = False) -> str:
    """Stop Redis for 3 s at a third of the run, then start it on the same port and data."""
    _wait_posts(progress, len(ids) // 3)
    at = progress()
    w.restart_redis(3.0, crash=crash)
    how = "SIGKILL" if crash else "SIGTERM"
    return f"Redis stopped ({how}) for 3 s after {at} POSTs"


def storm_429(w: World, progress: Progress, ids: list[str]) -> str:
    """Exotel's limit drops to 5 per window for 10 s: most POSTs answer 429."""
    _wait_posts(progress, len(ids) // 4)
    w.sim.configure(limit_calls=5)
    time.sleep(10.0)
    w.sim.configure(limit_calls=LIMIT)
    return f"simulator limit {LIMIT} -> 5 per {WINDOW_S:g} s for 10 s"


def _posts_after(w: World, t: float) -> list[float]:
    return sorted(float(r["arrival_time"]) for r in list(w.sim.engine.state.requests)
                  if r.get("method") == "POST" and float(r["arrival_time"]) > t)


def failovers(w: World, progress: Progress, ids: list[str], kills: int = 3) -> str:
    """SIGKILL the primary at 1/4, 2/4 and 3/4 of the POSTs; the sentinels promote the
    replica; the old primary restarts and rejoins as a replica. Reports, per failover, when
    the replica was promoted and when the first POST after the promotion arrived."""
    cluster = w.cluster
    if cluster is None:
        raise RuntimeError("the failover scenario needs ha=True")
    figures = []
    for i in range(1, kills + 1):
        _wait_posts(progress, len(ids) * i // (kills + 1), 300)
        old = cluster.kill_primary()
        killed = time.time()
        new = cluster.wait_failover(old)
        promoted = time.time()
        cluster.restart(old)
        try:
            wait_for(lambda p=promoted: _posts_after(w, p), 60, "a POST after the failover", 0.05)
            resumed = _posts_after(w, promoted)[0] - killed
        except TimeoutError:
            resumed = float("nan")
        figures.append(f"{old.port}→{new.port}: promoted after {promoted - killed:.1f} s, "
                       f"dialling again {resumed:.1f} s after the kill")
    return f"primary SIGKILLed {kills}×; " + "; ".join(figures)


SCENARIOS = [
    Scenario("control", "no fault", nothing),
    Scenario("kill -9 workers", "SIGKILL a worker 10 times, restart each time", kill_workers),
    Scenario("restart Redis", "Redis stopped and restarted mid-run (AOF)", restart_redis),
    Scenario("kill -9 Redis", "Redis killed and restarted mid-run (AOF, everysec)",
             lambda w, p, ids: restart_redis(w, p, ids, crash=True)),
    Scenario("Exotel faults", "5% 5xx, 5% accept-then-drop, 30% callbacks lost",
             lambda w, p, ids: "faults on from the start",
             sim={"error_5xx_ratio": 0.05, "accept_then_drop_ratio": 0.05,
                  "callback_drop_ratio": 0.3}),
    Scenario("429 storm", "Exotel's limit below ours for 10 s", storm_429),
    Scenario("Sentinel failover", "primary + replica + 3 sentinels, 2 schedulers; the primary "
             "SIGKILLed 3 times (WAIT for the replica before each POST)", failovers,
             # a failover stalls a worker's Redis calls for a few seconds: an attempt must
             # not be swept as "dialing too long" meanwhile (the default is 120 s)
             settings={"scheduler_lease_s": 3.0, "redis_failover_retry_s": 15.0,
                       "dialing_timeout_s": 20.0},
             ha=True),
]


def run(scenario: Scenario, calls: int, seed: int, settle_s: float) -> tuple[Figures, str, float]:
    """Run one scenario in a world of its own; returns the figures, a note, seconds."""
    started = time.monotonic()
    with world(sim=scenario.sim, seed=seed, ha=scenario.ha, **scenario.settings) as w:
        ids = w.producer().enqueue_many(requests_for(calls, seed))
        log = w.sim.engine.state.requests

        def progress() -> int:
            return sum(1 for r in list(log) if r.get("method") == "POST")

        note = scenario.disturb(w, progress, ids)
        store = w.store
        try:
            wait_for(lambda: _quiet_count(store, ids) == len(ids), settle_s,
                     "every call final or unknown", 1.0)
        except TimeoutError:
            note += f"; not every call final or unknown after {settle_s:g} s"
        try:  # unknown attempts whose call Exotel created are found once those calls end
            wait_for(lambda: _unknown_created(store, w.sim, ids) == 0, settle_s,
                     "every unknown call that Exotel created resolved", 1.0)
        except TimeoutError:
            note += f"; unknown calls that Exotel created still unknown after {settle_s:g} s"
        w.sim.wait_idle(60)
        time.sleep(3.0)  # late callbacks and the polls they trigger
        figures = measure(store, w.sim, ids, LIMIT, WINDOW_S, MAX_RETRIES)
        # a killed worker leaves w.workers before its kill: whoever is gone here died
        figures.workers_died = sum(1 for c in w.workers if c.proc.poll() is not None)
        swept = swept_attempts(store)
        if any(swept.values()):
            note += "; swept: " + ", ".join(f"{n} {what}" for what, n in swept.items())
        for line in explain(store, w.sim, ids, EXPLAINED):
            print(f"   {scenario.name}: {line}", file=sys.stderr)
    return figures, note, time.monotonic() - started


def swept_attempts(store: Store) -> dict[str, int]:
    """Attempts the sweeper found stuck in ``dialing``: evidence that a kill hit mid-task."""
    counts = {"worker lost before posting": 0, "worker lost after posting": 0}
    for event in stream(store):
        detail = str(event.get("detail", ""))
        if detail in counts:
            counts[detail] += 1
    return counts


def _unknown_created(store: Store, sim: Any, ids: list[str]) -> int:
    try:
        created = {str(c.get("custom_field") or "").split("|", 1)[0] for c in sim.calls()}
        rows = [store.r.hmget(store.keys.call(cid), "state", "current_attempt") for cid in ids]
    except (redis.RedisError, OSError):
        return -1
    return sum(1 for state, current in rows if state == "unknown" and current in created)


def _quiet_count(store: Store, ids: list[str]) -> int:
    try:
        return final_or_unknown(store, ids)
    except (redis.RedisError, OSError):  # Redis restarting
        return 0
