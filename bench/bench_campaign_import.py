"""Import 100,000 contacts into a campaign; print one JSON line: speed and Redis memory.

    python -m bench.bench_campaign_import [ROWS]

Three files: numbers with names, numbers only, and ``mixed`` (name, time zone, custom field
and an extra column; every 20th number invalid, every 50th a duplicate of the row before,
one in 100 on the global do-not-call list): its rates count every row, imported or not.

Uses ``DIALER_BENCH_REDIS_URL`` when set (a database it may flush), else the bundled
redis-server in a temporary directory. Memory per pending contact is Redis's
``used_memory`` growth divided by the contacts imported (the contacts hash + zone queue).
``rows_per_cpu_s`` divides by the CPU seconds this process and Redis used instead of the
wall-clock time (a figure that hardly moves when other work shares the machine).
"""

from __future__ import annotations

import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from bench.common import cpu_s
from dialer.campaigns.lifecycle import Lifecycle
from dialer.embedded import EmbeddedRedis
from dialer.settings import load_settings

ACCOUNT = {"name": "main", "sid": "AC_BENCH", "api_key": "k", "api_token": "t",
           "caller_id": "08030752400"}


def make_csv(rows: int, names: bool) -> bytes:
    header = "number,name\n" if names else "number\n"
    body = "".join(f"+9198{i:08d}" + (f",Customer {i}\n" if names else "\n")
                   for i in range(rows))
    return (header + body).encode()


def make_mixed_csv(rows: int) -> tuple[bytes, list[str]]:
    """The mixed file and its do-not-call numbers."""
    lines, dnc = ["number,name,timezone,custom_field,city"], []
    for i in range(rows):
        number = "12345" if i % 20 == 7 else f"+9197{i - (i % 50 == 49):08d}"
        if i % 100 == 3:
            dnc.append(number)
        zone = "Asia/Dubai" if i % 10 == 5 else ""
        lines.append(f"{number},Customer {i},{zone},order-{i},Pune")
    return ("\n".join(lines) + "\n").encode(), dnc


def run(url: str, rows: int) -> dict[str, Any]:
    client = redis.Redis.from_url(url, decode_responses=True)
    client.flushdb()
    life = Lifecycle.connect(client, load_settings(redis_url=url, accounts=[ACCOUNT]))
    out: dict[str, Any] = {"bench": "campaign_import", "rows": rows}
    mixed, dnc = make_mixed_csv(rows)
    life.repo.add_dnc(dnc)
    files = (("with_names", make_csv(rows, True)), ("numbers_only", make_csv(rows, False)),
             ("mixed", mixed))
    for label, data in files:
        cid = life.create({"name": f"bench {label}", "app_id": "1"})
        gc.collect()
        before = int(client.info("memory")["used_memory"])
        start, cpu = time.perf_counter(), cpu_s(client)
        report = life.import_contacts(cid, data)
        seconds, cpu_seconds = time.perf_counter() - start, cpu_s(client) - cpu
        after = int(client.info("memory")["used_memory"])
        out[label] = {"imported": report.imported, "skipped": report.skipped,
                      "seconds": round(seconds, 2),
                      "rows_per_s": round(rows / seconds),
                      "rows_per_cpu_s": round(rows / cpu_seconds),
                      "redis_bytes_per_contact": round((after - before) / report.imported, 1)}
    client.flushdb()
    return out


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    url = os.environ.get("DIALER_BENCH_REDIS_URL", "")
    if url:
        print(json.dumps(run(url, rows)))
        return
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp)) as server:
        print(json.dumps(run(f"redis://{server.host}:{server.port}/0", rows)))


if __name__ == "__main__":
    main()
