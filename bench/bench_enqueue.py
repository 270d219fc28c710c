"""Enqueue rate: single calls (one message each) and the bulk path (a script per 1,000).

``bulk_validate_calls_per_s`` is the bulk path's validation alone (``validate_many``);
``…_per_cpu_s`` divide by the CPU seconds this process and Redis used instead of the
wall-clock time (a figure that hardly moves when other work shares the machine);
``bulk_{process,redis}_cpu_us_per_call`` split the bulk path's CPU time between them.

    .venv/bin/python -m bench.bench_enqueue [--bulk 100000] [--single 5000]
"""

from __future__ import annotations

import argparse
import time

from bench.common import client, cpu_s, private_redis, report, settings_for
from dialer.producer import Producer
from dialer.publisher import CeleryPublisher, broker_app


def request(i: int) -> dict[str, str]:
    return {"from": f"+9198{i % 100_000_000:08d}", "to": f"+9197{i % 100_000_000:08d}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bulk", type=int, default=100_000)
    parser.add_argument("--single", type=int, default=5_000)
    args = parser.parse_args()
    with private_redis() as url:
        settings = settings_for(url)
        r = client(url)
        bulk = Producer(r, settings)
        batch = [request(i) for i in range(args.bulk)]
        started, cpu, process = time.perf_counter(), cpu_s(r), time.process_time()
        ids = bulk.enqueue_many(batch)
        bulk_s, bulk_cpu_s = time.perf_counter() - started, cpu_s(r) - cpu
        process_s = time.process_time() - process
        started, cpu = time.perf_counter(), cpu_s(r)
        bulk.validate_many(batch)  # the validation part alone (nothing written)
        validate_s, validate_cpu_s = time.perf_counter() - started, cpu_s(r) - cpu
        assert len(ids) == args.bulk and r.zcard("dialer:due") == args.bulk
        mem_bulk = int(r.info("memory")["used_memory"])
        r.flushdb(asynchronous=True)  # (a blocking FLUSHDB of 100,000 calls can time out)
        single = Producer(r, settings, CeleryPublisher(broker_app(url)))
        started = time.perf_counter()
        for i in range(args.single):
            single.enqueue(request(i))
        single_s = time.perf_counter() - started
        report("enqueue", {
            "bulk_calls": args.bulk,
            "bulk_calls_per_s": args.bulk / bulk_s,
            "bulk_seconds": bulk_s,
            "bulk_calls_per_cpu_s": args.bulk / bulk_cpu_s,
            "bulk_process_cpu_us_per_call": process_s / args.bulk * 1e6,
            "bulk_redis_cpu_us_per_call": (bulk_cpu_s - process_s) / args.bulk * 1e6,
            "bulk_validate_calls_per_s": args.bulk / validate_s,
            "bulk_validate_calls_per_cpu_s": args.bulk / validate_cpu_s,
            "redis_bytes_per_queued_call": mem_bulk / args.bulk,
            "single_calls": args.single,
            "single_calls_per_s": args.single / single_s,
        })


if __name__ == "__main__":
    main()
