"""The Lua every script of the dialer starts with: one clock, one set of terminal states,
the event helpers and the call's unwritten first attempt.

* :data:`CLOCK` — Redis's own clock (``TIME``): ``now_us`` and ``now_ms``. The only
  clock prelude: :mod:`dialer.lua`, :mod:`dialer.ratelimit` and
  :mod:`dialer.campaigns.lua` all start with it.
* :data:`STATES` — ``TERMINAL`` (an attempt's terminal states) and ``EXOTEL_FINAL``
  (Exotel's final call statuses), generated from :mod:`dialer.models`: the one
  definition of each is Python's.
* :data:`EVENTS` — ``event`` and ``final``: every state change appends an entry to the
  stream; each names its call for the services that consume it (account, campaign, the
  caller's custom_field and idempotency key, read from the call hash unless the script
  has them already), and a ``final`` entry adds the call's status, attempts, duration
  and price.
* :data:`FIRST_ATTEMPT` — a call waiting for its first attempt is written lean (see
  :mod:`dialer.store`): no attempt hash and no ``state`` on the call until the first
  claim or cancel. ``attempt_state`` reads such an attempt as ``pending``;
  ``write_first_attempt`` writes what it would have held.
"""

from __future__ import annotations

from collections.abc import Iterable

from dialer.models import EXOTEL_TERMINAL_STATUSES, TERMINAL_ATTEMPT_STATES

CLOCK = """
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""


def lua_set(name: str, values: Iterable[str]) -> str:
    """``local NAME = {['a']=true, …}``: a Lua set of ``values`` (sorted)."""
    items = ", ".join(f"[{_lua_string(v)}]=true" for v in sorted(values))
    return f"local {name} = {{{items}}}\n"


def _lua_string(value: str) -> str:
    if not all(c.isalnum() or c in "-_ " for c in value):
        raise ValueError(f"not a plain state name: {value!r}")
    return f"'{value}'"


STATES = (lua_set("TERMINAL", (s.value for s in TERMINAL_ATTEMPT_STATES))
          + lua_set("EXOTEL_FINAL", EXOTEL_TERMINAL_STATUSES))

EVENTS = """
local function call_fields(ckey)
  return redis.call('HMGET', ckey, 'account', 'campaign_id', 'custom_field', 'idem_key')
end
-- c: the call's {account, campaign_id, custom_field, idem_key}, or nil to read them
local function event(stream, maxlen, kind, ckey, call_id, attempt_id, state, detail, extra, c)
  c = c or call_fields(ckey)
  local n = string.match(attempt_id or '', '%-(%d+)$') or ''
  local args = {'XADD', stream, 'MAXLEN', '~', maxlen, '*', 'type', kind,
    'call_id', call_id, 'attempt_id', attempt_id, 'attempt', n, 'state', state,
    'detail', detail or '', 'account', c[1] or '', 'campaign_id', c[2] or '',
    'custom_field', c[3] or '', 'idempotency_key', c[4] or '', 'at_ms', now_ms}
  if extra then
    for i = 1, #extra do args[#args + 1] = extra[i] end
  end
  redis.call(unpack(args))
end
local function final(stream, maxlen, ckey, akey, call_id, attempt_id, status)
  local a = redis.call('HMGET', akey, 'duration_s', 'price')
  local attempts = redis.call('HGET', ckey, 'attempts') or '1'
  event(stream, maxlen, 'final', ckey, call_id, attempt_id, status, status,
    {'status', status, 'attempts', attempts, 'duration_s', a[1] or '', 'price', a[2] or ''})
end
"""

FIRST_ATTEMPT = """
local function call_id_of(attempt_id)
  return string.match(attempt_id, '^(.*)%-%d+$') or attempt_id
end
-- The attempt's state; a first attempt not written yet (its call has no state) is
-- 'pending'. Returns (state | nil when missing, true when it is unwritten).
local function attempt_state(akey, ckey, attempt_id)
  local st = redis.call('HGET', akey, 'state')
  if st then return st, false end
  if string.sub(attempt_id, -2) ~= '-1' then return nil, false end
  if redis.call('EXISTS', ckey) == 0 or redis.call('HEXISTS', ckey, 'state') == 1 then
    return nil, false
  end
  return 'pending', true
end
-- Write the first attempt (pending) and the call's attempt count, as a call created
-- with them would hold.
local function write_first_attempt(akey, ckey, call_id, attempt_id)
  local c = redis.call('HMGET', ckey, 'created_at', 'account')
  redis.call('HSET', akey, 'id', attempt_id, 'call_id', call_id, 'n', 1, 'state', 'pending',
    'created_at', c[1] or now_ms, 'account', c[2] or '')
  redis.call('HSET', ckey, 'state', 'queued', 'attempts', 1, 'current_attempt', attempt_id)
end
"""

PRELUDE = CLOCK + STATES + EVENTS + FIRST_ATTEMPT
