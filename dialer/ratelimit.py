"""A strict sliding-log limiter shared by every worker on every host.

One Lua script decides with Redis's own clock (``TIME``), so skewed clocks on the
workers cannot let more than ``limit`` admissions into any window of ``window_s``:
the log keeps every admission of the last window (microseconds) and admits only while
it holds fewer than ``limit`` entries. When Redis errors, nothing is admitted
(fail closed): :meth:`SlidingWindowLimiter.acquire` raises ``RedisUnavailableError``.

Exotel counts a request when it arrives, a little after we admitted it. After the
request, :meth:`SlidingWindowLimiter.confirm` moves its entry to the time the answer came
back (later than the arrival), so an entry leaves the log only after its request's
arrival has left the window: the limit then holds by Exotel's arrival times too, without
a margin, as long as a request takes less than the window.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import redis

from dialer.errors import RedisUnavailableError

# KEYS[1] = the log (zset member → admission time in µs)
# ARGV[1] = limit (admissions per window), ARGV[2] = window in µs, ARGV[3] = a unique member
# Returns {admitted (1|0), now_us, wait_us}: wait_us is how long until a slot frees.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
-- keep admissions inside the closed window [now - window, now]
-- (string.format, not '..': Lua prints numbers with 14 digits, which would lose µs)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%.0f', now - window))
local n = redis.call('ZCARD', KEYS[1])
if n < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
  return {1, now, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], n - limit, n - limit, 'WITHSCORES')
local wait = tonumber(oldest[2]) + window - now + 1
if wait < 1 then wait = 1 end
return {0, now, wait}
"""


# Move an admitted entry to now (only if it is still in the log).
# KEYS[1] = the log; ARGV[1] = the member. Returns 1 when moved.
_CONFIRM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
return redis.call('ZADD', KEYS[1], 'XX', 'CH', now, ARGV[1])
"""


@dataclass(frozen=True)
class Decision:
    admitted: bool
    now_us: int  # Redis's clock at the decision, µs
    wait_s: float  # 0 when admitted, else how long until a slot may free
    member: str = ""  # the log entry, for :meth:`SlidingWindowLimiter.confirm`


class SlidingWindowLimiter:
    """Admit at most ``limit`` acquisitions per sliding ``window_s`` for a key."""

    def __init__(self, client: redis.Redis, limit: int, window_s: float) -> None:
        if limit <= 0:
            raise ValueError(f"limit must be > 0, got {limit!r}")
        if window_s <= 0:
            raise ValueError(f"window_s must be > 0, got {window_s!r}")
        self.client = client
        self.limit = limit
        self.window_us = int(window_s * 1_000_000)
        self._script = client.register_script(_ACQUIRE)
        self._confirm = client.register_script(_CONFIRM)

    def acquire(self, key: str) -> Decision:
        """Try to take a slot now. Raises ``RedisUnavailableError`` (fail closed)."""
        member = secrets.token_hex(8)
        try:
            admitted, now_us, wait_us = self._script(
                keys=[key], args=[self.limit, self.window_us, member]
            )
        except (redis.RedisError, OSError) as exc:
            raise RedisUnavailableError(f"rate limiter unavailable: {exc}") from exc
        return Decision(bool(int(admitted)), int(now_us), int(wait_us) / 1e6, member)

    def confirm(self, key: str, member: str) -> None:
        """The admitted request is done: its entry now counts from this moment.

        Best effort: if Redis errors the entry keeps its admission time.
        """
        try:
            self._confirm(keys=[key], args=[member])
        except (redis.RedisError, OSError):
            pass

    def in_window(self, key: str) -> int:
        """How many admissions the log holds now (for reports)."""
        return int(self.client.zcard(key))
