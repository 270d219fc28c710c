"""The campaign plan against a 5,000-contact run on the simulator; one JSON line.

    python -m bench.bench_campaign_plan [CONTACTS] [CPM]

Plans a campaign (two zones, windows seconds apart, 2 retries, seeded outcome odds), runs
it on the simulator at 100x speed under a scaled limit (300 requests per 5 s) with two
worker processes, and prints the planned and actual finish and attempts
(:mod:`bench.plan_check`). Uses ``DIALER_BENCH_REDIS_URL`` (a database it may flush)
when set, else the bundled redis-server.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import redis

from bench.common import private_redis, report
from bench.plan_check import Check, run


def main() -> None:
    contacts = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    cpm = float(sys.argv[2]) if len(sys.argv) > 2 else 600.0
    per_s = cpm / 60
    kathmandu_s = contacts * Check.kathmandu_share / per_s  # to start its contacts
    # India opens once Kathmandu's contacts have started (an idle gap the plan must see);
    # Kathmandu stays open long enough for their retries too
    check = Check(contacts=contacts, cpm=cpm, timeout_s=900,
                  kolkata_opens_s=kathmandu_s + 10, kathmandu_open_s=kathmandu_s * 3 + 30)
    url = os.environ.get("DIALER_BENCH_REDIS_URL", "")
    with tempfile.TemporaryDirectory() as tmp:
        if url:
            redis.Redis.from_url(url).flushdb()
            report("campaign_plan", run(url, Path(tmp), check))
            return
        with private_redis() as base:
            report("campaign_plan", run(base, Path(tmp), check))


if __name__ == "__main__":
    main()
