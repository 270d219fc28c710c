"""A consumer of the events stream, as another service would run it (one process of a
consumer group): read with XREADGROUP, claim what a dead consumer left pending
(XAUTOCLAIM), handle ``final`` entries, acknowledge (XACK).

``python -m tests.event_consumer REDIS_URL GROUP NAME [--stall-after N]``: each ``final``
entry it handles is appended to the list ``test:handled`` as ``<entry id> <call id>
<name>``, each entry it acknowledged for the first time (XACK answered 1) to
``test:acked`` as ``<entry id> <name>``. With ``--stall-after N`` it stops acknowledging
after N ``final`` entries and holds them (the test kills it with SIGKILL, its entries
still pending).
"""

from __future__ import annotations

import argparse
import time

import redis

from dialer.keys import Keys

CLAIM_IDLE_MS = 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("group")
    parser.add_argument("name")
    parser.add_argument("--stall-after", type=int, default=0)
    opts = parser.parse_args()
    r = redis.Redis.from_url(opts.url, decode_responses=True)
    stream = Keys().events
    try:
        r.xgroup_create(stream, opts.group, id="0", mkstream=True)
    except redis.ResponseError:  # BUSYGROUP: another consumer made it
        pass
    print(f"consumer {opts.name} ready", flush=True)
    handled = 0
    while True:
        claimed = r.xautoclaim(stream, opts.group, opts.name, CLAIM_IDLE_MS,
                               start_id="0-0", count=100)[1]  # [next, entries(, deleted)]
        got = r.xreadgroup(opts.group, opts.name, {stream: ">"}, count=20, block=200)
        entries = list(claimed) + [e for _, batch in got or [] for e in batch]
        for entry_id, fields in entries:
            if fields and fields.get("type") == "final":
                r.rpush("test:handled", f"{entry_id} {fields['call_id']} {opts.name}")
                handled += 1
                if opts.stall_after and handled >= opts.stall_after:
                    print(f"consumer {opts.name} stalled", flush=True)
                    while True:  # holds what it read, unacknowledged, until killed
                        time.sleep(1)
            if r.xack(stream, opts.group, entry_id):
                r.rpush("test:acked", f"{entry_id} {opts.name}")


if __name__ == "__main__":
    main()
