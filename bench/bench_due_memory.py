"""Worker memory with many calls waiting in the due set: it lives in Redis, not in workers.

    .venv/bin/python -m bench.bench_due_memory [--counts 1000 100000]

``redis_bytes_per_waiting_call`` is Redis's ``used_memory`` after the calls were written
minus before, divided by the count (call hash, attempt hash, due-set and index entries,
events).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.common import client, private_redis, report, settings_for
from bench.harness import Fleet, dialer_env
from dialer.producer import parse_request, validate
from dialer.store import Store

CHUNK = 5000


def rss_kib(pid: int) -> int:
    """Resident memory of a process and its children (KiB)."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def measure(count: int, settle_s: float) -> dict[str, float]:
    with private_redis() as url, tempfile.TemporaryDirectory() as tmp:
        r = client(url)
        settings = settings_for(url)
        new = validate(parse_request({"from": "+919810000010", "to": "+919820000010"}),
                       settings)
        empty = int(r.info("memory")["used_memory"])
        store = Store(r)
        for start in range(0, count, CHUNK):  # due in an hour: they wait in the due set
            store.create_calls([new] * min(CHUNK, count - start), delay_ms=3_600_000)
        used = int(r.info("memory")["used_memory"]) - empty
        env = dialer_env(url, "http://127.0.0.1:9", fast=False, pump_interval_s=0.2)
        with Fleet(env, Path(tmp)) as fleet:
            worker = fleet.worker("w1", concurrency=8)
            fleet.beat()
            time.sleep(settle_s)  # a benchmark, not a test: let the pump run many times
            rss = rss_kib(worker.proc.pid)
        return {"worker_rss_mib": rss / 1024,
                "redis_bytes_per_waiting_call": used / count}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--counts", type=int, nargs="+", default=[1_000, 100_000])
    parser.add_argument("--settle-s", type=float, default=8.0)
    args = parser.parse_args()
    figures: dict[str, float] = {}
    for count in args.counts:
        for key, value in measure(count, args.settle_s).items():
            figures[f"{key}@{count}"] = value
    report("due_memory", figures)


if __name__ == "__main__":
    main()
