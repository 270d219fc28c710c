"""Dispatch overhead: calls placed per second next to Celery no-op tasks per second.

    .venv/bin/python -m bench.bench_dispatch [--calls 4000] [--noops 10000] [--rounds 8]
                                             [--concurrency 8]

One worker process (``workers.app``: late acks, prefetch 1; the threads pool, 8 threads)
drains one queue, filled before it starts with blocks in turn: 100 calls to warm up,
then ``--rounds`` pairs of a block of no-ops and a block of calls, then 100 no-ops. A
block's rate is its messages over the time from its first message taken off the queue
to the next block's first:

* calls: ``dialer.place_call`` — claim, agent hold, limiter slot (limit out of the way),
  customer cap slot, POST to the simulator, record ``placed``;
* no-ops: ``bench.noop``, on the same broker, app and pool.

``calls_to_noop_ratio`` is the median over the rounds of a call block's rate over the
no-op block's just before it (``…_by_round``: each). Blocks seconds apart, not two runs
half a minute apart: on a shared VM the machine's speed drifts by ±30 % over minutes,
which moved the older two-phase figure by as much as the dialer's own changes.
``calls_per_s`` and ``noop_tasks_per_s`` are over every block of their kind.

The worker's CPU time per message (``/proc``, user + system) says the same as the
rates without the machine's other load: ``cpu_calls_to_noop_ratio`` is a no-op's CPU
time over a placed call's (the median over the rounds, as the rates).
``redis_commands_per_call`` / ``…_per_noop`` are every
command Redis ran (``INFO commandstats``, Celery's and those inside scripts included)
during the blocks of each kind, per message. ``dialer_round_trips_per_call`` and
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
from dataclasses import dataclass
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
    counted = redis.Redis(connection_pool=pool, single_connection_client=True)  # as a
    # worker's dialling thread (workers.context)
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


@dataclass
class Block:
    """One block of messages in the queue: ``size`` no-ops or calls, one after another."""

    kind: str  # noop | call | warm-up (calls, not counted) | tail (no-ops, not counted)
    size: int
    seconds: float = 0.0
    cpu_s: float = 0.0
    commands: int = 0


def fill_queue(r: redis.Redis, url: str, settings: Any, blocks: list[Block]) -> int:
    """Every block's messages in the calls queue, in order (the calls enqueued and taken
    due first); returns how many messages."""
    sender = broker_app(url)
    publisher = CeleryPublisher(sender)
    store = Store(r, Keys(settings.key_prefix))
    producer = Producer(r, settings)
    n = 0
    with sender.producer_or_acquire() as kombu_producer:
        for block in blocks:
            if block.kind in ("noop", "tail"):
                for _ in range(block.size):
                    sender.send_task(NOOP_TASK, queue=CALLS_QUEUE, producer=kombu_producer)
            else:
                producer.enqueue_many([{"from": f"+91981{n + i:06d}0",
                                        "to": f"+91982{n + i:06d}0"} for i in range(block.size)])
                publisher.publish(store.take_due(block.size))
            n += block.size
    return n


def alternating_rates(url: str, sim_url: str, tmp: Path, blocks: list[Block],
                      concurrency: int) -> None:
    """One worker drains one queue holding the blocks in order: each block's wall time
    (from its first message taken to the next block's first), the worker's CPU time and
    the commands Redis ran meanwhile — no-ops and calls measured side by side, seconds
    apart, so that the machine's drift (±30 % over minutes on a shared VM) falls on both."""
    r = client(url)
    r.flushdb()
    env = dialer_env(url, sim_url, rate_limit_calls=UNLIMITED, poll_after_s=600)
    settings = settings_from_env(env)
    total = fill_queue(r, url, settings, blocks)
    store = Store(r, Keys(settings.key_prefix))
    calls = sum(b.size for b in blocks if b.kind in ("call", "warm-up"))
    r.config_resetstat()
    bounds, at = [], 0
    for block in blocks:
        bounds.append(at)
        at += block.size
    marks: list[tuple[float, float, int]] = []  # (time, worker CPU, commands) per bound
    with Fleet(env, tmp) as fleet:
        pid = fleet.worker("calls", concurrency=concurrency, queues=CALLS_QUEUE).proc.pid
        deadline = time.monotonic() + 600
        while len(marks) < len(bounds):
            taken = total - int(r.llen(CALLS_QUEUE))
            if taken >= bounds[len(marks)] + (1 if len(marks) == 0 else 0):
                marks.append((time.perf_counter(), cpu_s(pid), commands_run(r)))
                continue
            if time.monotonic() > deadline:
                raise TimeoutError(f"the queue was not drained: {taken} of {total} taken")
            time.sleep(0.002)
        while not (r.llen(CALLS_QUEUE) == 0 and r.hlen("unacked") == 0
                   and r.zcard(store.keys.active) >= calls):
            if time.monotonic() > deadline:
                raise TimeoutError("the last block was not done")
            time.sleep(0.002)
        marks.append((time.perf_counter(), cpu_s(pid), commands_run(r)))
        counts = store.counts()
    if counts["unknown"] or counts["dialing"]:
        raise RuntimeError(f"not every call was placed: {counts}")
    for block, (t0, c0, n0), (t1, c1, n1) in zip(blocks, marks[:-1], marks[1:], strict=True):
        block.seconds, block.cpu_s, block.commands = t1 - t0, c1 - c0, n1 - n0


def rounds_of(noops: int, calls: int, rounds: int) -> list[Block]:
    """A warm-up block, ``rounds`` pairs of a no-op block and a call block, and a tail of
    no-ops (so that every measured block ends when the next one starts, none with the
    pool's last messages finishing)."""
    blocks = [Block("warm-up", 100)]
    for _ in range(rounds):
        blocks += [Block("noop", noops // rounds), Block("call", calls // rounds)]
    return [*blocks, Block("tail", 100)]


def per_message(blocks: list[Block], kind: str) -> tuple[float, float, float]:
    """(messages per second, CPU s per message, commands per message) of every block of
    ``kind`` together."""
    mine = [b for b in blocks if b.kind == kind]
    size = sum(b.size for b in mine)
    return (size / sum(b.seconds for b in mine), sum(b.cpu_s for b in mine) / size,
            sum(b.commands for b in mine) / size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--noops", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=8)  # 4 rounds spread ±0.1 on this VM
    args = parser.parse_args()
    sim_config = SimConfig(time_scale=0.01, limit_calls=UNLIMITED)
    blocks = rounds_of(args.noops, args.calls, args.rounds)
    with private_redis() as url, Simulator(sim_config) as sim, \
            tempfile.TemporaryDirectory() as tmp:
        alternating_rates(url, sim.url, Path(tmp), blocks, args.concurrency)
        trips, own_commands, own_cpu = dialer_round_trips(url, sim.url, 501, sim=sim)
        trips_off, own_commands_off, own_cpu_off = dialer_round_trips(url, sim.url, 501,
                                                                      counting=False)
    noops, noop_cpu, noop_commands = per_message(blocks, "noop")
    calls, call_cpu, call_commands = per_message(blocks, "call")
    pairs = [(blocks[i], blocks[i + 1]) for i in range(1, len(blocks) - 1, 2)]
    ratios = [(c.size / c.seconds) / (n.size / n.seconds) for n, c in pairs]
    cpu_ratios = [(n.cpu_s / n.size) / (c.cpu_s / c.size) for n, c in pairs]
    report("dispatch", {
        "pool": f"threads x{args.concurrency}, 1 worker",
        "calls": sum(c.size for _, c in pairs),
        "calls_per_s": calls,
        "noop_tasks": sum(n.size for n, _ in pairs),
        "noop_tasks_per_s": noops,
        "rounds": len(pairs),
        "calls_to_noop_ratio": statistics.median(ratios),
        "calls_to_noop_ratio_by_round": [round(x, 3) for x in ratios],
        "worker_cpu_ms_per_call": call_cpu * 1000,
        "worker_cpu_ms_per_noop": noop_cpu * 1000,
        "cpu_calls_to_noop_ratio": statistics.median(cpu_ratios),
        "cpu_calls_to_noop_ratio_by_round": [round(x, 3) for x in cpu_ratios],
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
