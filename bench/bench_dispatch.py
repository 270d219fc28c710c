"""Dispatch overhead: calls placed per second next to Celery no-op tasks per second.

    .venv/bin/python -m bench.bench_dispatch [--calls 2000] [--noops 5000] [--concurrency 8]

Both runs use the same Redis broker, the same Celery app and configuration
(``workers.app``: late acks, prefetch 1), one worker process with the same pool
(threads) and concurrency. The messages are queued before the worker starts; the rate
is counted from the first message taken to the last one done:

* calls: ``dialer.place_call`` — claim, agent hold, limiter slot (limit out of the way),
  POST to the simulator, record ``placed`` — until every attempt is placed;
* no-ops: ``bench.noop`` — until the queue and the unacked set are empty.

The worker's CPU time per message (``/proc``, user + system) says the same as the
rates without the machine's other load: ``cpu_calls_to_noop_ratio`` is a no-op's CPU
time over a placed call's. ``redis_commands_per_call`` / ``…_per_noop`` are every
command Redis ran (``INFO commandstats``, Celery's and those inside scripts included)
during the run, per message. ``dialer_round_trips_per_call`` and
``dialer_commands_per_call`` are the dialer's own part: ``place_attempt`` run in this
process on 500 more calls with the worker's contact caps (default settings: every
attempt counted per customer number), counting the requests its Redis connection sends
(a pipeline or a script is one) and the commands Redis ran for them, and
``dialer_cpu_ms_per_call``: the CPU time of the thread that runs them (the simulator's
threads not counted; one thread, so the figure moves least with the machine's load);
``…_without_counting`` the same with ``DIALER_CONTACT_COUNTING`` off.
``posting_mark_to_post_ms_p50`` / ``_p90``: in that run, from each attempt's posting mark
(Redis's clock) to its POST's arrival at the simulator (the same host's clock) — the
window in which a worker killed leaves an attempt ``unknown`` that Exotel never saw.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from bench.common import client, private_redis, report
from bench.harness import NOOP_TASK, Fleet, dialer_env
from bench.measure import attempt_of, call_posts
from dialer.caps import ContactCaps
from dialer.dialing import DialContext, place_attempt
from dialer.exotel.client import ExotelClient
from dialer.keys import Keys
from dialer.producer import Producer
from dialer.publisher import CALLS_QUEUE, CeleryPublisher, broker_app
from dialer.ratelimit import SlidingWindowLimiter
from dialer.settings import settings_from_env
from dialer.store import Store
from exotel_sim import SimConfig, Simulator

UNLIMITED = 100_000  # the largest DIALER_RATE_LIMIT_CALLS accepted


def drain_rate(r: redis.Redis, total: int, done: Callable[[], bool], timeout_s: float
               ) -> float:
    """Messages per second from the first one taken off the queue until ``done()``."""
    deadline = time.monotonic() + timeout_s
    started: float | None = None
    while time.monotonic() < deadline:
        if started is None and int(r.llen(CALLS_QUEUE)) < total:
            started = time.perf_counter()
        if started is not None and done():
            return total / (time.perf_counter() - started)
        time.sleep(0.005)
    raise TimeoutError(f"{total} messages not done in {timeout_s}s")


def cpu_s(pid: int) -> float:
    """CPU time (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def commands_run(r: redis.Redis) -> int:
    """Every command Redis has run since its statistics were reset."""
    stats: dict[str, Any] = r.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items()
               if k.startswith("cmdstat_") and k not in ("cmdstat_info", "cmdstat_config"))


class CountingConnection(redis.Connection):
    """A connection that counts the requests it sends (one per command or pipeline)."""

    sent = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.sent += 1
        super().send_packed_command(command, check_health)


def posting_window_ms(store: Store, sim: Simulator, ids: list[str]) -> tuple[float, float]:
    """From each attempt's posting mark (Redis's clock) to its POST's arrival at the
    simulator (this host's clock): (median, p90) in ms."""
    arrival = {attempt_of(p): float(p["arrival_time"]) for p in call_posts(sim)}
    gaps = sorted(arrival[a] * 1000 - int(store.get_attempt(a)["posting_at"])
                  for a in ids if a in arrival)
    return statistics.median(gaps), gaps[int(len(gaps) * 0.9)]


def dialer_round_trips(url: str, sim_url: str, total: int, counting: bool = True,
                       sim: Simulator | None = None) -> tuple[float, float, float]:
    """``place_attempt`` in this process, with the worker's contact caps: (requests to
    Redis, commands run, CPU ms of the calling thread) per call — the simulator's
    threads are not counted."""
    r = client(url)
    r.flushdb()
    env = dialer_env(url, sim_url, rate_limit_calls=UNLIMITED, poll_after_s=600,
                     contact_counting=counting)
    settings = settings_from_env(env)
    Producer(r, settings).enqueue_many(
        [{"from": f"+91983{i:06d}0", "to": f"+91984{i:06d}0"} for i in range(total)])
    ids = Store(r, Keys(settings.key_prefix)).take_due(total)
    pool = redis.ConnectionPool.from_url(url, decode_responses=True,
                                         connection_class=CountingConnection)
    counted = redis.Redis(connection_pool=pool)
    store = Store(counted, Keys(settings.key_prefix))
    limiter = SlidingWindowLimiter(counted, settings.rate_limit_admitted,
                                   settings.rate_limit_window_s)
    clients: dict[str, Any] = {a.name: ExotelClient(a) for a in settings.accounts}
    ctx = DialContext(settings, store, limiter, clients, random.Random(1),
                      caps=ContactCaps(counted, store.keys, settings))
    place_attempt(ctx, ids[0])  # scripts loaded, connections made
    r.config_resetstat()
    CountingConnection.sent = 0
    cpu = time.thread_time()
    for aid in ids[1:]:
        if place_attempt(ctx, aid) != "placed":
            raise RuntimeError(f"{aid} was not placed")
    cpu = time.thread_time() - cpu
    n = len(ids) - 1
    figures = CountingConnection.sent / n, commands_run(r) / n, cpu / n * 1000
    if sim is not None:  # read on the uncounted connection, after the counts
        WINDOWS.append(posting_window_ms(Store(r, Keys(settings.key_prefix)), sim, ids[1:]))
    return figures


WINDOWS: list[tuple[float, float]] = []  # posting_window_ms of each dialer_round_trips


def noop_rate(url: str, sim_url: str, tmp: Path, total: int, concurrency: int
              ) -> tuple[float, float, float]:
    r = client(url)
    r.flushdb()
    sender = broker_app(url)
    with sender.producer_or_acquire() as producer:
        for _ in range(total):
            sender.send_task(NOOP_TASK, queue=CALLS_QUEUE, producer=producer)
    r.config_resetstat()
    with Fleet(dialer_env(url, sim_url), tmp) as fleet:
        pid = fleet.worker("noop", concurrency=concurrency, queues=CALLS_QUEUE).proc.pid
        cpu = cpu_s(pid)
        rate = drain_rate(r, total, lambda: r.llen(CALLS_QUEUE) == 0 and r.hlen("unacked") == 0,
                          300)
        return rate, commands_run(r) / total, (cpu_s(pid) - cpu) / total


def call_rate(url: str, sim_url: str, tmp: Path, total: int, concurrency: int
              ) -> tuple[float, float, float]:
    r = client(url)
    r.flushdb()
    env = dialer_env(url, sim_url, rate_limit_calls=UNLIMITED, poll_after_s=600)
    settings = settings_from_env(env)
    Producer(r, settings).enqueue_many(
        [{"from": f"+91981{i:06d}0", "to": f"+91982{i:06d}0"} for i in range(total)])
    store = Store(r, Keys(settings.key_prefix))
    CeleryPublisher(broker_app(url)).publish(store.take_due(total))
    r.config_resetstat()
    with Fleet(env, tmp) as fleet:
        pid = fleet.worker("calls", concurrency=concurrency, queues=CALLS_QUEUE).proc.pid
        cpu = cpu_s(pid)
        rate = drain_rate(r, total, lambda: r.zcard(store.keys.active) >= total, 300)
        commands = commands_run(r) / total
        cpu = (cpu_s(pid) - cpu) / total
        counts = store.counts()
    if counts["unknown"] or counts["dialing"]:
        raise RuntimeError(f"not every call was placed: {counts}")
    return rate, commands, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--noops", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    sim_config = SimConfig(time_scale=0.01, limit_calls=UNLIMITED)
    with private_redis() as url, Simulator(sim_config) as sim, \
            tempfile.TemporaryDirectory() as tmp:
        noops, noop_commands, noop_cpu = noop_rate(url, sim.url, Path(tmp), args.noops,
                                                   args.concurrency)
        calls, call_commands, call_cpu = call_rate(url, sim.url, Path(tmp), args.calls,
                                                   args.concurrency)
        trips, own_commands, own_cpu = dialer_round_trips(url, sim.url, 501, sim=sim)
        trips_off, own_commands_off, own_cpu_off = dialer_round_trips(url, sim.url, 501,
                                                                      counting=False)
    report("dispatch", {
        "pool": f"threads x{args.concurrency}, 1 worker",
        "calls": args.calls,
        "calls_per_s": calls,
        "noop_tasks": args.noops,
        "noop_tasks_per_s": noops,
        "calls_to_noop_ratio": calls / noops,
        "worker_cpu_ms_per_call": call_cpu * 1000,
        "worker_cpu_ms_per_noop": noop_cpu * 1000,
        "cpu_calls_to_noop_ratio": noop_cpu / call_cpu if call_cpu else 0.0,
        "redis_commands_per_call": call_commands,
        "redis_commands_per_noop": noop_commands,
        "dialer_round_trips_per_call": trips,
        "dialer_commands_per_call": own_commands,
        "dialer_round_trips_per_call_without_counting": trips_off,
        "dialer_commands_per_call_without_counting": own_commands_off,
        "dialer_cpu_ms_per_call": own_cpu,
        "dialer_cpu_ms_per_call_without_counting": own_cpu_off,
        "posting_mark_to_post_ms_p50": WINDOWS[-1][0],
        "posting_mark_to_post_ms_p90": WINDOWS[-1][1],
    })


if __name__ == "__main__":
    main()
