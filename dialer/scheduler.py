"""A Celery beat scheduler that is safe to run on every host: it sends only while it holds
a leader lease in Redis.

Each ``dialer beat`` (``celery beat`` with ``beat_scheduler`` =
``dialer.scheduler:LeaseScheduler``) tries every third of ``DIALER_SCHEDULER_LEASE_S``
to take or renew the lease ``<prefix>:scheduler:lease`` (one Lua script: ``SET … PX``
when free, ``PEXPIRE`` when it is ours). A new holder gets a fencing token — the next
value of ``<prefix>:scheduler:epoch`` — that goes with every task it sends (header
``dialer_epoch``); a run whose token is older than the current one is skipped
(:mod:`dialer.periodic`).

* At most one sender: the holder counts its lease from the moment it *sent* the renewal,
  minus a tenth, so its own view ends before the key expires in Redis; a holder that
  cannot reach Redis stops sending when that view ends.
* Takeover: when the leader dies its key expires within the lease; a standby asks again
  within a third of it — a new leader within ``4/3 × lease`` (8 s by default). A leader
  that stops cleanly (SIGTERM) deletes its lease: the standby takes over at its next ask.
* Each periodic job also holds a lock while it runs (:mod:`dialer.periodic`), so two
  runs of one job never overlap, whoever sent them.
* A plain beat (without this scheduler) is noticed by the workers — its messages carry no
  token — and reported in ``<prefix>:scheduler:rogue``; every ``dialer beat`` logs it.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import time
from typing import Any

import redis
from celery import beat

from dialer.keys import Keys

log = logging.getLogger("dialer.scheduler")

EPOCH_HEADER = "dialer_epoch"
SENDER_HEADER = "dialer_scheduler"
SAFETY = 0.1  # share of the lease the holder gives up, for clock rate and latency

# Take or renew the lease.
# KEYS[1] lease, KEYS[2] epoch counter; ARGV[1] token, ARGV[2] lease ms, ARGV[3] "host|pid"
# Returns {1 = held by us | 0, epoch of the holder, value "epoch|token|host|pid"}.
ACQUIRE = """
local v = redis.call('GET', KEYS[1])
if v then
  local epoch, token = string.match(v, '^(%d+)|([^|]*)|')
  if token == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return {1, tonumber(epoch), v}
  end
  return {0, tonumber(epoch) or 0, v}
end
local epoch = redis.call('INCR', KEYS[2])
local value = epoch .. '|' .. ARGV[1] .. '|' .. ARGV[3]
redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
return {1, epoch, value}
"""

# Give the lease up if it is ours. KEYS[1] lease; ARGV[1] token. Returns 1 when deleted.
RELEASE = """
local v = redis.call('GET', KEYS[1])
if v and string.match(v, '^%d+|([^|]*)|') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def holder_of(value: str) -> str:
    """``host pid N`` of a lease value ``epoch|token|host|pid``."""
    parts = value.split("|")
    return f"{parts[2]} pid {parts[3]}" if len(parts) >= 4 else value


class Lease:
    """The leader lease, with no Celery in it (tests drive it directly)."""

    def __init__(self, client: redis.Redis, keys: Keys, lease_s: float,
                 ident: str | None = None) -> None:
        self.r = client
        self.keys = keys
        self.lease_ms = max(1, int(lease_s * 1000))
        self.renew_s = lease_s / 3
        self.token = secrets.token_hex(8)
        self.ident = ident or f"{socket.gethostname()}|{os.getpid()}"
        self.epoch = 0  # our fencing token while we hold the lease
        self.valid_until = 0.0  # time.monotonic() when our view of the lease ends
        self.holder = ""  # "epoch|token|host|pid" of the holder seen last
        self._acquire = client.register_script(ACQUIRE)
        self._release = client.register_script(RELEASE)

    def held(self) -> bool:
        return time.monotonic() < self.valid_until

    def step(self) -> bool:
        """Take or renew the lease; True while we hold it. Never raises on Redis errors."""
        sent = time.monotonic()
        was = self.held()
        try:
            ours, epoch, value = self._acquire(
                keys=[self.keys.scheduler_lease, self.keys.scheduler_epoch],
                args=[self.token, self.lease_ms, self.ident])
        except (redis.RedisError, OSError) as exc:
            log.warning("scheduler lease: Redis failed (%s); %s", type(exc).__name__,
                        "sending until the lease ends" if was else "standing by")
            return self.held()
        value = str(value)
        if int(ours):
            self.valid_until = sent + self.lease_ms / 1000 * (1 - SAFETY)
            if not was or int(epoch) != self.epoch:
                self.epoch = int(epoch)
                log.warning("scheduler lease acquired: this scheduler (%s) leads, epoch %s",
                            self.ident.replace("|", " pid "), self.epoch)
        else:
            self.valid_until = 0.0
            if was:
                log.warning("scheduler lease lost to %s (epoch %s)", holder_of(value), epoch)
            elif value != self.holder:
                log.info("scheduler standing by: %s leads (epoch %s)", holder_of(value), epoch)
        self.holder = value
        return self.held()

    def release(self) -> None:
        if not self.held():
            return
        self.valid_until = 0.0
        try:
            self._release(keys=[self.keys.scheduler_lease], args=[self.token])
        except (redis.RedisError, OSError):
            pass  # it expires on its own

    def heartbeat(self) -> str | None:
        """Record this scheduler in ``scheduler:seen``; return the report of a scheduler
        without the lease (``host pid``) when a worker saw one, else None."""
        now_ms = int(time.time() * 1000)
        entry = json.dumps({"id": self.ident, "leader": self.held(), "epoch": self.epoch,
                            "at_ms": now_ms})
        try:
            pipe = self.r.pipeline(transaction=False)
            pipe.hset(self.keys.schedulers, self.ident, entry)
            pipe.get(self.keys.scheduler_rogue)
            _, rogue = pipe.execute()
        except (redis.RedisError, OSError):
            return None
        return str(rogue) if rogue else None


class LeaseScheduler(beat.Scheduler):
    """Celery beat's scheduler, sending only while its :class:`Lease` is held.

    Schedules live in memory (no shelve file): with a lease, a new leader simply sends
    every job at its next due time.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._lease: Lease | None = None
        self._next_step = 0.0
        self._rogue: str | None = None
        super().__init__(*args, **kwargs)

    @property
    def lease(self) -> Lease:
        if self._lease is None:
            from dialer.redis_conn import client_for

            settings = self.app.dialer_settings
            client = client_for(settings, socket_timeout_s=max(2.0,
                                                               settings.scheduler_lease_s / 3))
            self._lease = Lease(client, Keys(settings.key_prefix), settings.scheduler_lease_s)
        return self._lease

    def _step(self) -> None:
        lease = self.lease
        lease.step()
        rogue = lease.heartbeat()
        if rogue and rogue != self._rogue:
            log.warning("another scheduler is running without the lease on %s: it sends the "
                        "periodic tasks too; stop it (run `dialer beat` everywhere instead)",
                        rogue)
        self._rogue = rogue
        self._next_step = time.monotonic() + lease.renew_s

    def tick(self, *args: Any, **kwargs: Any) -> float:
        now = time.monotonic()
        if now >= self._next_step:
            self._step()
            now = time.monotonic()
        until_step = max(0.0, self._next_step - now)
        if not self.lease.held():
            return min(until_step, self.max_interval)
        return min(float(super().tick(*args, **kwargs)), until_step)

    def apply_async(self, entry: Any, producer: Any = None, advance: bool = True,
                    **kwargs: Any) -> Any:
        lease = self.lease
        if not lease.held():  # the lease ended between the tick and now
            return None
        entry.options = {**entry.options,
                         "headers": {EPOCH_HEADER: lease.epoch,
                                     SENDER_HEADER: lease.ident.replace("|", " pid ")}}
        return super().apply_async(entry, producer, advance, **kwargs)

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._lease is not None:
                self._lease.release()
                log.warning("scheduler lease released")
