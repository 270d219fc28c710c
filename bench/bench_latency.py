"""Latency from enqueue to the POST's arrival at the simulator, on an idle system.

    .venv/bin/python -m bench.bench_latency [--single 200] [--bulk 30]

One worker (threads x 8), beat and the web app, the limit out of the way; calls are
enqueued one at a time, each after the previous one's POST arrived. ``single`` is
``Producer.enqueue`` (its Celery message is published at once); ``bulk`` is
``Producer.enqueue_many`` of one call (it waits in the due set for the beat-driven pump,
every ``DIALER_PUMP_INTERVAL_S`` = 1 s, the default). Both clocks are this machine's
``time.time()``.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import client, private_redis, report
from bench.harness import Fleet, dialer_env
from bench.measure import attempt_of, percentile
from dialer.embedded import free_port
from dialer.processes import wait_for
from dialer.producer import Producer
from dialer.publisher import CeleryPublisher, broker_app
from dialer.settings import settings_from_env
from exotel_sim import SimConfig, Simulator

UNLIMITED = 100_000  # the limit out of the way: this measures the path, not the wait


def latencies(producer: Producer, sim: Simulator, count: int, bulk: bool, offset: int,
              pause_s: float = 0.05) -> list[float]:
    """``pause_s`` is the most a sample waits after the previous one (a random share of it,
    so that the bulk samples do not fall into step with the pump)."""
    log = sim.engine.state.requests  # read its tail only: no copy of the whole log
    out: list[float] = []
    for i in range(offset, offset + count):
        request = {"from": f"+91983{i:06d}0", "to": f"+91984{i:06d}0"}
        seen = len(log)
        started = time.time()
        call_id = producer.enqueue_many([request])[0] if bulk else producer.enqueue(request)

        def answered(seen: int = seen, call_id: str = call_id) -> dict[str, Any] | None:
            return next((r for r in log[seen:] if r.get("status_code") is not None
                         and (attempt_of(r) or "").startswith(call_id)), None)

        post = wait_for(answered, 30, "the POST", 0.002)
        out.append(float(post["arrival_time"]) - started)
        time.sleep(0.02 + random.random() * pause_s)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--single", type=int, default=200)
    parser.add_argument("--bulk", type=int, default=30)
    args = parser.parse_args()
    port = free_port()
    sim_config = SimConfig(time_scale=0.01, limit_calls=UNLIMITED)
    with private_redis() as url, Simulator(sim_config) as sim, \
            tempfile.TemporaryDirectory() as tmp:
        env = dialer_env(url, sim.url, f"http://127.0.0.1:{port}", pump_interval_s=1.0,
                         rate_limit_calls=UNLIMITED)
        settings = settings_from_env(env)
        producer = Producer(client(url), settings, CeleryPublisher(broker_app(url)))
        with Fleet(env, Path(tmp)) as fleet:
            fleet.web(port)
            fleet.worker("w1")
            fleet.beat()
            latencies(producer, sim, 5, False, 900_000)  # warm up connections
            single = latencies(producer, sim, args.single, False, 0)
            bulk = latencies(producer, sim, args.bulk, True, 100_000,
                             pause_s=settings.pump_interval_s)
    ms = 1000.0
    report("latency", {
        "single_samples": len(single),
        "single_p50_ms": percentile(single, 50) * ms,
        "single_p99_ms": percentile(single, 99) * ms,
        "bulk_samples": len(bulk),
        "bulk_p50_ms": percentile(bulk, 50) * ms,
        "bulk_p99_ms": percentile(bulk, 99) * ms,
        "pump_interval_s": settings.pump_interval_s,
    })


if __name__ == "__main__":
    main()
