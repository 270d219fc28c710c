"""The three ways of sharing one account limit, each run against the simulator.

* :func:`run_pipeline` — the dialer itself: N ``celery worker`` processes of
  ``workers.app`` and beat, a backlog in the due set, the shared sliding log.
* :func:`run_celery` — Celery's own ``rate_limit`` on a task that POSTs, N workers.
* :func:`run_hammers` — N bare processes taking slots from a limiter (ours, or the
  ``limits`` library's moving window) with half of their clocks skewed.

Each returns one row; the measure is always the simulator's arrival time of every
call-creating POST (whatever it answered), so the rows compare like with like.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from celery import Celery

from bench.celery_rl_app import QUEUE as RL_QUEUE
from bench.celery_rl_app import TASK as RL_TASK
from bench.common import client, private_redis
from bench.harness import ROOT, Fleet, dialer_env
from bench.measure import call_posts, max_in_window, utilisation, windows_over
from dialer.processes import Child, wait_for
from dialer.producer import Producer
from dialer.settings import settings_from_env
from exotel_sim import SimConfig, Simulator


def _row(method: str, processes: int, clocks: str, sim: Simulator, limit: int,
         window_s: float, windows: int, **extra: Any) -> dict[str, Any]:
    posts = call_posts(sim)
    times = [float(p["arrival_time"]) for p in posts]
    return {
        "method": method, "processes": processes, "clocks": clocks,
        "limit": f"{limit}/{window_s:g}s", "posts": len(posts),
        "max_in_window": max_in_window(times, window_s),
        "posts_over_limit": windows_over(times, window_s, limit),
        "http_429": sum(1 for p in posts if p.get("status_code") == 429),
        "utilisation": round(utilisation(
            [float(p["arrival_time"]) for p in posts if p.get("status_code") == 200],
            window_s, limit, windows), 4),
        **extra,
    }


def _sim(limit: int, window_s: float) -> Simulator:
    return Simulator(SimConfig(time_scale=0.01, limit_calls=limit, limit_window_s=window_s))


def _wait_first_post(sim: Simulator, timeout_s: float = 60.0) -> float:
    posts = wait_for(lambda: call_posts(sim), timeout_s, "the first POST", 0.02)
    return float(min(p["arrival_time"] for p in posts))


def _calls(n: int) -> list[dict[str, str]]:
    """Distinct agents (one agent, one call) and customers, all answered."""
    return [{"from": f"+91981{i:06d}0", "to": f"+91982{i:06d}0"} for i in range(n)]


def run_pipeline(workers: int, limit: int, window_s: float, windows: int,
                 concurrency: int = 4) -> dict[str, Any]:
    """The dialer at ``limit`` per ``window_s`` (margin 0) with a backlog, N workers."""
    with private_redis() as url, _sim(limit, window_s) as sim, \
            tempfile.TemporaryDirectory() as tmp:
        env = dialer_env(url, sim.url, rate_limit_calls=limit, rate_limit_window_s=window_s,
                         rate_limit_margin_calls=0, poll_after_s=600)
        with Fleet(env, Path(tmp)) as fleet:
            for i in range(workers):
                fleet.worker(f"w{i + 1}", concurrency=concurrency)
            fleet.beat()
            producer = Producer(client(url), settings_from_env(env))
            producer.enqueue_many(_calls(limit * (windows + 2)))
            t0 = _wait_first_post(sim)
            time.sleep(max(0.0, t0 + windows * window_s + 1.0 - time.time()))
        return _row("dialer (sliding log, Redis TIME)", workers, "true", sim, limit, window_s,
                    windows)


def run_celery(workers: int, limit: int, window_s: float, windows: int,
               concurrency: int = 4) -> dict[str, Any]:
    """Celery's ``rate_limit`` set to the same limit, per worker process."""
    per_minute = limit * 60 / window_s
    rate = f"{per_minute:g}/m"
    with private_redis() as url, _sim(limit, window_s) as sim, \
            tempfile.TemporaryDirectory() as tmp:
        env = {"BENCH_BROKER_URL": url, "BENCH_SIM_URL": sim.url, "BENCH_RATE_LIMIT": rate,
               "PYTHONUNBUFFERED": "1", **_base_env()}
        _publish_rl(url, limit * (windows + 2) * workers)
        with Fleet(env, Path(tmp)) as fleet:
            for i in range(workers):
                fleet.worker(f"rl{i + 1}", concurrency=concurrency, queues=RL_QUEUE,
                             app="bench.celery_rl_app")
            t0 = _wait_first_post(sim)
            time.sleep(max(0.0, t0 + windows * window_s + 1.0 - time.time()))
        return _row(f"Celery rate_limit='{rate}'", workers, "true", sim, limit, window_s,
                    windows)


def _publish_rl(url: str, count: int) -> None:
    sender = Celery("bench-rl-sender", broker=url, set_as_current=False)
    sender.conf.update(task_serializer="json", accept_content=["json"])
    try:
        with sender.producer_or_acquire() as producer:
            for n in range(count):
                sender.send_task(RL_TASK, kwargs={"n": n}, queue=RL_QUEUE, producer=producer)
    finally:
        sender.close()


def run_hammers(kind: str, processes: int, skew_s: float, limit: int, window_s: float,
                windows: int) -> dict[str, Any]:
    """N processes on one limiter; every other one has its clock ``skew_s`` ahead."""
    duration = windows * window_s
    with private_redis() as url, _sim(limit, window_s) as sim:
        start_at = time.time() + 3.0  # every process imports first, then all start together
        children: list[Child] = []
        try:
            for i in range(processes):
                skew = skew_s if i % 2 else 0.0
                args = [sys.executable, "-m", "bench.limit_hammer", "--kind", kind,
                        "--redis", url, "--sim", sim.url, "--limit", str(limit),
                        "--window-s", str(window_s), "--start-at", str(start_at),
                        "--duration-s", str(duration), "--skew-s", str(skew),
                        "--tag", f"p{i}"]
                children.append(Child(f"hammer{i}", args, _base_env(), ROOT))
            for child in children:
                child.proc.wait(duration + 60)
                if child.proc.returncode:
                    raise RuntimeError(f"{child.name} failed:\n{child.output[-3000:]}")
        finally:
            for child in children:
                child.stop()
        name = {"ours": "dialer limiter alone (Redis TIME)",
                "limits": "limits MovingWindowRateLimiter (Redis)"}[kind]
        clocks = f"half +{skew_s:g}s" if skew_s else "true"
        return _row(name, processes, clocks, sim, limit, window_s, windows)


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
