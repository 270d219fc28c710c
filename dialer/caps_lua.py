"""The Lua scripts behind :mod:`dialer.caps`: one customer number's dial attempts per period.

One hash per number (``<prefix>:contact:<E.164>``), on Redis's own clock (``TIME``, ms):

* ``d`` = ``"<local day number>:<attempts>"`` — the day in the number's zone (the caller
  passes the zone's UTC offset; day number = floor((now + offset) / 1 day));
* ``w`` = ``"<local week number>:<attempts>"`` — ISO weeks (Monday first):
  floor((day + 3) / 7), day 0 (1970-01-01) being a Thursday;
* ``r`` = ``"ms,ms,…"`` — the attempts of the last 24 hours (the rolling period).

Every counter is kept whatever the caps, so a cap set on one source sees every other
source's attempts; the hash expires 8 days after its last attempt.
"""

from __future__ import annotations

from dialer.lua_prelude import CLOCK

_PRELUDE = CLOCK + """
local DAY = 86400000
local off = tonumber(ARGV[1])
local day = math.floor((now_ms + off) / DAY)
local week = math.floor((day + 3) / 7)
local function counter(field, period)
  local v = redis.call('HGET', KEYS[1], field)
  if not v then return 0 end
  local p, n = string.match(v, '^(-?%d+):(%d+)$')
  if p and tonumber(p) == period then return tonumber(n) end
  return 0
end
local function recent()
  local out = {}
  local v = redis.call('HGET', KEYS[1], 'r')
  if v then
    for ts in string.gmatch(v, '%d+') do
      if tonumber(ts) > now_ms - DAY then out[#out + 1] = tonumber(ts) end
    end
  end
  table.sort(out)
  return out
end
"""

# Check (and with ARGV[5] = 1 take) one dial attempt of a number under its caps.
# KEYS[1] the number's hash
# ARGV[1] the number's zone UTC offset now (ms), ARGV[2] attempts per local day (0 = no
# cap), ARGV[3] per local week (0 = none), ARGV[4] per rolling 24 h (0 = none),
# ARGV[5] 1 = take a slot when under every cap, 0 = only check
# Returns {1, day, week, now_ms, attempts today} when under every cap (taken with ARGV[5] = 1),
# or {0, period, limit, attempts counted, reset ms} for the first cap reached.
TAKE = _PRELUDE + """
local d, w = counter('d', day), counter('w', week)
local r = recent()
local limits = {{'day', tonumber(ARGV[2]), d}, {'week', tonumber(ARGV[3]), w},
  {'rolling-24h', tonumber(ARGV[4]), #r}}
for _, l in ipairs(limits) do
  local name, limit, used = l[1], l[2], l[3]
  if limit > 0 and used >= limit then
    local reset
    if name == 'day' then reset = (day + 1) * DAY - off
    elseif name == 'week' then reset = ((week + 1) * 7 - 3) * DAY - off
    else reset = r[used - limit + 1] + DAY end
    return {0, name, limit, used, reset}
  end
end
if ARGV[5] ~= '1' then return {1, day, week, now_ms, d} end
r[#r + 1] = now_ms
redis.call('HSET', KEYS[1], 'd', day .. ':' .. (d + 1), 'w', week .. ':' .. (w + 1),
  'r', table.concat(r, ','))
redis.call('PEXPIRE', KEYS[1], 8 * DAY)
return {1, day, week, now_ms, d + 1}
"""

# Give back a slot taken by TAKE for an attempt that was not dialled after all.
# KEYS[1] the number's hash
# ARGV[1] offset (unused but for the prelude), ARGV[2] the day, ARGV[3] the week and
# ARGV[4] the time (ms) TAKE returned. A period that has ended since is left alone.
# Returns 1 when something was given back.
REFUND = _PRELUDE + """
local given = 0
local function back(field, period)
  local v = redis.call('HGET', KEYS[1], field)
  if not v then return end
  local p, n = string.match(v, '^(-?%d+):(%d+)$')
  if p and p == period and tonumber(n) > 0 then
    redis.call('HSET', KEYS[1], field, p .. ':' .. (tonumber(n) - 1))
    given = 1
  end
end
back('d', ARGV[2])
back('w', ARGV[3])
local r = recent()
local kept = {}
local dropped = false
for _, ts in ipairs(r) do
  if not dropped and tostring(ts) == ARGV[4] then dropped = true; given = 1
  else kept[#kept + 1] = ts end
end
if #kept > 0 then redis.call('HSET', KEYS[1], 'r', table.concat(kept, ','))
else redis.call('HDEL', KEYS[1], 'r') end
return given
"""
