"""Runs of the periodic jobs (pump, sweeper, poller, campaign tick), one at a time.

Whoever sent it, a run of a job first takes the job's lock ``<prefix>:lock:<job>`` (``SET
NX PX``, renewed by a thread every third of ``LOCK_TTL_MS`` while it runs, deleted at the
end if still ours) and is skipped when another run holds it. A run sent by a scheduler
whose fencing token (:mod:`dialer.scheduler`) is older than the current epoch is skipped
too; a run sent without a token comes from a plain beat: it runs (the lock keeps it
safe) and is reported, ``<prefix>:scheduler:rogue`` = the sender, plus a
``scheduler-rogue`` event once a minute.

Every run logs ``periodic <job> ran <start>-<end> epoch <n>`` (Unix seconds): the tests
read these lines to prove that no job ran concurrently with itself.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis

from dialer.keys import EVENTS_MAXLEN, Keys

log = logging.getLogger("dialer.periodic")

T = TypeVar("T")
LOCK_TTL_MS = 10_000  # a run whose worker died frees its job after this at the latest
ROGUE_REPORT_MS = 60_000

# Take the job lock unless the sender is stale.
# KEYS[1] job lock, KEYS[2] scheduler epoch; ARGV[1] token, ARGV[2] ttl ms,
# ARGV[3] the message's epoch (0 = none). Returns 1 taken, 0 held by another run, -1 stale.
TAKE = """
local epoch = tonumber(ARGV[3])
if epoch > 0 and epoch < tonumber(redis.call('GET', KEYS[2]) or '0') then return -1 end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""

# Renew (ARGV[2] = ttl ms) or, with ARGV[2] = '0', delete the lock if it is ours.
# KEYS[1] job lock; ARGV[1] token. Returns 1 when it was ours.
KEEP = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '0' then redis.call('DEL', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
"""


class JobRunner:
    """``run(job, fn, epoch, origin)``: ``fn()`` under the job's lock, or a skip word."""

    def __init__(self, client: redis.Redis, keys: Keys, ttl_ms: int = LOCK_TTL_MS) -> None:
        self.r = client
        self.keys = keys
        self.ttl_ms = ttl_ms
        self._take = client.register_script(TAKE)
        self._keep = client.register_script(KEEP)

    def report_rogue(self, job: str, origin: str) -> None:
        """A run without a fencing token: a scheduler without the lease sent it."""
        k = self.keys
        sender = origin or "an unknown host"
        if self.r.set(k.scheduler_rogue, sender, nx=True, px=ROGUE_REPORT_MS):
            log.warning("%s was sent by a scheduler without the lease (%s): another plain "
                        "beat is running; stop it or run `dialer beat` (lease) instead",
                        job, sender)
            self.r.xadd(k.events, {"type": "scheduler-rogue", "call_id": "", "attempt_id": "",
                                   "state": "", "detail": f"{job} sent by {sender}",
                                   "at_ms": int(time.time() * 1000)},
                        maxlen=EVENTS_MAXLEN, approximate=True)
        else:
            self.r.pexpire(k.scheduler_rogue, ROGUE_REPORT_MS)

    def run(self, job: str, fn: Callable[[], T], epoch: int = 0, origin: str = ""
            ) -> T | str:
        if not epoch:
            self.report_rogue(job, origin)
        lock = self.keys.job_lock(job)
        token = secrets.token_hex(8)
        taken = int(self._take(keys=[lock, self.keys.scheduler_epoch],
                               args=[token, self.ttl_ms, int(epoch)]))
        if taken == -1:
            log.info("periodic %s skipped: sent by a former leader (epoch %s)", job, epoch)
            return "skipped:stale"
        if taken == 0:
            log.info("periodic %s skipped: another run holds it", job)
            return "skipped:running"
        done = threading.Event()
        keeper = threading.Thread(target=self._renew, args=(lock, token, done), daemon=True)
        keeper.start()
        started = time.time()
        try:
            return fn()
        finally:
            ended = time.time()
            done.set()
            keeper.join(5)
            try:
                self._keep(keys=[lock], args=[token, 0])
            except (redis.RedisError, OSError):
                pass  # it expires on its own
            log.info("periodic %s ran %.6f-%.6f epoch %s", job, started, ended, epoch)

    def _renew(self, lock: str, token: str, done: threading.Event) -> None:
        while not done.wait(self.ttl_ms / 3000):
            try:
                if not int(self._keep(keys=[lock], args=[token, self.ttl_ms])):
                    log.warning("periodic lock %s was lost while its run went on", lock)
                    return
            except (redis.RedisError, OSError):
                continue


def as_int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


__all__ = ["JobRunner", "as_int"]
