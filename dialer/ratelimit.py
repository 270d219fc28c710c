"""One strict sliding-log budget per Exotel account, shared by every worker on every host.

Exotel counts every Voice API request — call POSTs and call-details / legs GETs — against
one limit per account (200 a minute). So every request the dialer makes takes a slot of
the same log: dials (``kind="dial"``) and look-ups (``kind="lookup"``: polls, leg evidence,
unknown resolution). Dials come first:

* a look-up is admitted only while look-ups hold fewer than ``lookup_max`` slots of the
  window, and only if a slot is free at all;
* a look-up denied because the window is full marks the account ``starved`` for one
  window; while it is marked, dials leave ``lookup_reserve`` slots of the window to
  look-ups (minus those look-ups already hold), so polls and evidence are never starved
  for good by a saturating campaign — and when no look-up waits, dials use every slot;
* a background look-up (``kind="background"``: the one look for Duration / Price after a
  call ended) is a look-up admitted only while the window is less than half full and
  look-ups hold less than half their share, so it never takes a slot a busy account's
  dials, or the polls that decide a call's outcome, could use.

One Lua script decides with Redis's own clock (``TIME``), so skewed clocks on the
workers cannot let more than ``limit`` admissions into any window of ``window_s``. When
Redis errors, nothing is admitted (fail closed): :meth:`SlidingWindowLimiter.acquire`
raises ``RedisUnavailableError``.

Exotel counts a request when it arrives, a little after we admitted it. After the
request, :meth:`SlidingWindowLimiter.confirm` moves its entry to the time the answer came
back (later than the arrival), so an entry leaves the log only after its request's
arrival has left the window: the limit then holds by Exotel's arrival times too, without
a margin, as long as a request takes less than the window.

A 429 from Exotel (someone else using the account, or a clock we cannot see) is honoured
by :meth:`SlidingWindowLimiter.cool_down`: nothing is admitted for the account until the
wait Exotel asked for has passed.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal

import redis

from dialer.errors import RedisUnavailableError
from dialer.keys import RATELIMIT_PARTS
from dialer.lua_prelude import CLOCK

Kind = Literal["dial", "lookup", "background"]

# The admission, as a Lua function (the fused dispatch script of dialer.lua_dispatch
# runs it too). log: member → admission µs; lookups: the look-ups' log; starved: the
# starved mark; cool: the cool-down mark; counts: hash (dial | lookup → admitted ever).
# limit, window µs, a unique member, kind (dial|lookup|background), most look-ups per
# window, slots dials leave to starved look-ups.
# Returns (admitted 1|0, now_us, wait_us): wait_us is how long until a slot may free.
ACQUIRE_FN = """
local function acquire_slot(log, lookups, starved, cool, counts, limit, window, member, kind,
    most, reserve)
  local now = now_us
  local cooling = redis.call('PTTL', cool)
  if cooling > 0 then return 0, now, cooling * 1000 end
  -- keep admissions inside the closed window [now - window, now]
  -- (string.format, not '..': Lua prints numbers with 14 digits, which would lose µs)
  local cutoff = '(' .. string.format('%.0f', now - window)
  redis.call('ZREMRANGEBYSCORE', log, '-inf', cutoff)
  redis.call('ZREMRANGEBYSCORE', lookups, '-inf', cutoff)
  local n = redis.call('ZCARD', log)
  local g = redis.call('ZCARD', lookups)
  -- the wait until `key` holds fewer than `cap` entries
  local function wait_for(key, count, cap)
    if cap <= 0 then return window end
    local e = redis.call('ZRANGE', key, count - cap, count - cap, 'WITHSCORES')
    local w = tonumber(e[2]) + window - now + 1
    if w < 1 then w = 1 end
    return w
  end
  local lookup = kind == 'lookup' or kind == 'background'
  if lookup then
    if g >= most then return 0, now, wait_for(lookups, g, most) end
    if kind == 'background' then
      -- at most half the window, and half the look-ups' share: polls that decide a
      -- call's outcome are never kept waiting by the look for Duration / Price
      local half = math.floor(limit / 2)
      if n >= half then return 0, now, wait_for(log, n, half) end
      local half_most = math.floor(most / 2)
      if g >= half_most then return 0, now, wait_for(lookups, g, half_most) end
    elseif n >= limit then
      redis.call('SET', starved, '1', 'PX', math.ceil(window / 1000))
      return 0, now, wait_for(log, n, limit)
    end
  else
    local cap = limit
    if redis.call('EXISTS', starved) == 1 then
      local leave = reserve - g
      if leave > 0 then cap = limit - leave end
    end
    if n >= cap then return 0, now, wait_for(log, n, cap) end
  end
  redis.call('ZADD', log, now, member)
  redis.call('PEXPIRE', log, math.ceil(window / 1000) + 1000)
  if lookup then
    redis.call('ZADD', lookups, now, member)
    redis.call('PEXPIRE', lookups, math.ceil(window / 1000) + 1000)
  end
  redis.call('HINCRBY', counts, lookup and 'lookup' or 'dial', 1)
  return 1, now, 0
end
"""

# Move an admitted entry to now (only where it is still in a log). Returns 1 when moved.
CONFIRM_FN = """
local function confirm_slot(log, lookups, member)
  redis.call('ZADD', lookups, 'XX', 'CH', now_us, member)
  return redis.call('ZADD', log, 'XX', 'CH', now_us, member)
end
"""

# KEYS: the account's limiter keys (dialer.keys.RATELIMIT_PARTS order)
# ARGV[1] limit, ARGV[2] window µs, ARGV[3] a unique member, ARGV[4] kind,
# ARGV[5] most look-ups per window, ARGV[6] slots dials leave to starved look-ups
# Returns {admitted (1|0), now_us, wait_us}.
_ACQUIRE = CLOCK + ACQUIRE_FN + """
local ok, now, wait = acquire_slot(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5],
  tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4], tonumber(ARGV[5]),
  tonumber(ARGV[6]))
return {ok, now, wait}
"""

# KEYS[1] the log, KEYS[2] the look-ups' log; ARGV[1] the member. Returns 1 when moved.
_CONFIRM = CLOCK + CONFIRM_FN + """
return confirm_slot(KEYS[1], KEYS[2], ARGV[1])
"""


def counts_key(key: str) -> str:
    """Hash beside the log: ``dial`` / ``lookup`` → slots admitted ever, ``429`` → Exotel's
    429 answers (read by :mod:`dialer.monitor.collector`)."""
    return key + RATELIMIT_PARTS[4]


@dataclass(frozen=True)
class Decision:
    admitted: bool
    now_us: int  # Redis's clock at the decision, µs
    wait_s: float  # 0 when admitted, else how long until a slot may free
    member: str = ""  # the log entry, for :meth:`SlidingWindowLimiter.confirm`


class SlidingWindowLimiter:
    """Admit at most ``limit`` requests per sliding ``window_s`` for a key, dials first.

    ``lookup_max`` (default: ``limit``) caps look-ups per window; ``lookup_reserve``
    (default 0) is what dials leave to look-ups that were denied.
    """

    def __init__(self, client: redis.Redis, limit: int, window_s: float, *,
                 lookup_max: int | None = None, lookup_reserve: int = 0) -> None:
        if limit <= 0:
            raise ValueError(f"limit must be > 0, got {limit!r}")
        if window_s <= 0:
            raise ValueError(f"window_s must be > 0, got {window_s!r}")
        lookup_max = limit if lookup_max is None else lookup_max
        if not 0 <= lookup_max <= limit:
            raise ValueError(f"lookup_max must be within [0, {limit}], got {lookup_max!r}")
        if not 0 <= lookup_reserve <= lookup_max:
            raise ValueError(
                f"lookup_reserve must be within [0, {lookup_max}], got {lookup_reserve!r}")
        self.client = client
        self.limit = limit
        self.window_us = int(window_s * 1_000_000)
        self.lookup_max = lookup_max
        self.lookup_reserve = lookup_reserve
        self._script = client.register_script(_ACQUIRE)
        self._confirm = client.register_script(_CONFIRM)

    def dial_args(self, member: str) -> list[str | int]:
        """The arguments of a dial's ``acquire_slot`` (see :data:`ACQUIRE_FN`), for a script
        that takes the slot as one of its steps (:mod:`dialer.lua_dispatch`)."""
        return [self.limit, self.window_us, member, "dial", self.lookup_max,
                self.lookup_reserve]

    @staticmethod
    def new_member() -> str:
        return secrets.token_hex(8)

    @staticmethod
    def _keys(key: str) -> list[str]:
        return [key + part for part in RATELIMIT_PARTS]

    def acquire(self, key: str, kind: Kind = "dial") -> Decision:
        """Try to take a slot now. Raises ``RedisUnavailableError`` (fail closed)."""
        member = self.new_member()
        try:
            admitted, now_us, wait_us = self._script(
                keys=self._keys(key),
                args=[self.limit, self.window_us, member, kind, self.lookup_max,
                      self.lookup_reserve],
            )
        except (redis.RedisError, OSError) as exc:
            raise RedisUnavailableError(f"rate limiter unavailable: {exc}") from exc
        return Decision(bool(int(admitted)), int(now_us), int(wait_us) / 1e6, member)

    def confirm(self, key: str, member: str) -> None:
        """The admitted request is done: its entry now counts from this moment.

        Best effort: if Redis errors the entry keeps its admission time.
        """
        try:
            self._confirm(keys=self._keys(key)[:2], args=[member])
        except (redis.RedisError, OSError):
            pass

    def cool_down(self, key: str, wait_s: float) -> None:
        """Exotel answered 429: admit nothing for ``key`` during ``wait_s`` (best effort)."""
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.set(self._keys(key)[3], "1", px=max(1, int(wait_s * 1000)))
            pipe.hincrby(counts_key(key), "429", 1)  # for /metrics
            pipe.execute()
        except (redis.RedisError, OSError):
            pass

    def in_window(self, key: str) -> int:
        """How many admissions the log holds now (for reports)."""
        return int(self.client.zcard(key))
