"""Writes a POST depends on, acknowledged by replicas before the POST (``WAIT``).

Redis replicates asynchronously: a primary that dies loses what it acknowledged but had
not sent on, and Sentinel promotes a replica without it. If the lost write is an
attempt's claim or its ``posting`` mark, a redelivered message could claim it again and
POST it twice. So before the POST the worker writes a fence and runs ``WAIT n timeout``
on the same connection: Redis answers how many replicas have processed the replication
stream up to the fence — and so every earlier write of the primary, the claim, the
limiter's slot and the posting mark included (one stream, applied in order).

``DIALER_REDIS_WAIT_REPLICAS``: ``auto`` waits for every replica that is online
(``INFO replication``; none online = no wait), a number waits for that many, ``0`` is off.
When fewer acknowledge within ``DIALER_REDIS_WAIT_TIMEOUT_MS`` the attempt is not POSTed.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis

log = logging.getLogger("dialer.replication")

AUTO_CACHE_S = 1.0  # how long ``auto`` trusts its count of online replicas


def online_replicas(client: redis.Redis) -> int:
    """Replicas of this primary whose link is up (``state=online``)."""
    info: dict[str, Any] = client.info("replication")
    count = 0
    for key, value in info.items():
        if key.startswith("slave") and key[5:].isdigit() and isinstance(value, dict):
            count += value.get("state") == "online"
    return count


class ReplicaWait:
    """``wait()`` → True when the writes so far reached the required replicas."""

    def __init__(self, client: redis.Redis, fence_key: str, wanted: str, timeout_ms: int
                 ) -> None:
        self.r = client
        self.fence_key = fence_key
        self.wanted = str(wanted).strip().lower()
        self.timeout_ms = int(timeout_ms)
        self._auto: tuple[float, int] | None = None  # (checked at, online replicas)

    def required(self) -> int:
        if self.wanted != "auto":
            return int(self.wanted or 0)
        now = time.monotonic()
        if self._auto is None or now - self._auto[0] > AUTO_CACHE_S:
            self._auto = (now, online_replicas(self.r))
        return self._auto[1]

    def wait(self) -> bool:
        """Fence + ``WAIT`` on one connection; False when too few replicas acknowledged
        in time or Redis failed (then the caller must not POST)."""
        try:
            need = self.required()
            if need <= 0:
                return True
            pipe = self.r.pipeline(transaction=False)
            pipe.incr(self.fence_key)
            pipe.execute_command("WAIT", need, self.timeout_ms)
            _, acked = pipe.execute()
        except (redis.RedisError, OSError) as exc:
            self._auto = None
            log.warning("WAIT for replicas failed (%s); not posting", type(exc).__name__)
            return False
        if int(acked) < need:
            self._auto = None  # count again: a replica may have gone
            log.warning("only %s of %s replicas acknowledged within %s ms; not posting",
                        acked, need, self.timeout_ms)
            return False
        return True
