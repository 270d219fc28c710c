"""The Lua scripts behind :mod:`dialer.store`: every read-modify-write of a call is one script.

Times are Redis's own clock (``TIME``) in milliseconds, so no worker's clock matters.
Each script names its KEYS and ARGV. Every state change appends an event to the stream.
The prelude (clock, terminal states, events, the unwritten first attempt) is
:mod:`dialer.lua_prelude`; the worker's transitions are Lua functions
(:data:`WORKER_FNS`) shared by the scripts here and the fused dispatch scripts of
:mod:`dialer.lua_dispatch`; the reconciliation scripts are in :mod:`dialer.lua_reconcile`.
"""

from __future__ import annotations

from dialer.lua_prelude import PRELUDE as _PRELUDE

# The worker's transitions, as Lua functions (see the scripts below for their callers).
# ``c`` is the call's {account, campaign_id, custom_field, idem_key} for the event, or nil
# to read it from the call hash.
# Drop the holds of an agent zset whose attempt ended or vanished; how many. Used when an
# agent is taken (hold_agent below) and by the sweeper (dialer/agent_holds.py).
DROP_ENDED_HOLDS = """
local function drop_ended_holds(key, attempt_prefix)
  local dropped = 0
  for _, holder in ipairs(redis.call('ZRANGE', key, 0, -1)) do
    local st = redis.call('HGET', attempt_prefix .. holder, 'state')
    if not st or TERMINAL[st] then
      redis.call('ZREM', key, holder)
      dropped = dropped + 1
    end
  end
  return dropped
end
"""

WORKER_FNS = DROP_ENDED_HOLDS + """
-- pending → dialing (a first attempt not written yet is written now).
-- Returns (1, 'dialing') or (0, current state | 'missing').
local function claim_attempt(akey, pending, dialing, due, ckey, events, maxlen, attempt_id,
    token, c)
  local st, unwritten = attempt_state(akey, ckey, attempt_id)
  if not st then return 0, 'missing' end
  if st ~= 'pending' then return 0, st end
  local call_id = call_id_of(attempt_id)
  if unwritten then write_first_attempt(akey, ckey, call_id, attempt_id) end
  redis.call('HSET', akey, 'state', 'dialing', 'claimed_at', now_ms, 'posting', '0',
    'claim', token)
  redis.call('ZREM', pending, attempt_id)
  redis.call('ZREM', due, attempt_id)
  redis.call('ZADD', dialing, now_ms, attempt_id)
  redis.call('HSET', ckey, 'state', 'dialing')
  event(events, maxlen, 'claimed', ckey, call_id, attempt_id, 'dialing', '', nil, c)
  return 1, 'dialing'
end
-- Is the attempt still dialing under this claim? (state, true when it is)
local function holds_claim(akey, token)
  local a = redis.call('HMGET', akey, 'state', 'claim')
  return a[1], a[1] == 'dialing' and a[2] == token
end
-- The point of no return: only the claim holder may POST; the sweeper cannot reset an
-- attempt once this has run. Returns 1 when marked.
local function mark_posting(akey, token)
  local _, held = holds_claim(akey, token)
  if not held then return 0 end
  redis.call('HSET', akey, 'posting', '1', 'posting_at', now_ms)
  return 1
end
-- dialing → pending in the due set after ``delay`` ms; spends no retry. token '' = any
-- claim; counter '' = none. Returns 1 when released.
local function release_attempt(akey, dialing, due, ckey, events, maxlen, attempt_id, token,
    delay, reason, counter, c)
  local a = redis.call('HMGET', akey, 'state', 'claim')
  if a[1] ~= 'dialing' then return 0 end
  if token ~= '' and a[2] ~= token then return 0 end
  redis.call('HSET', akey, 'state', 'pending', 'posting', '0', 'claim', '',
    'last_wait', reason)
  if counter ~= '' then redis.call('HINCRBY', akey, counter, 1) end
  redis.call('ZREM', dialing, attempt_id)
  redis.call('ZADD', due, now_ms + delay, attempt_id)
  redis.call('HSET', ckey, 'state', 'queued')
  event(events, maxlen, 'waiting', ckey, call_id_of(attempt_id), attempt_id, 'pending',
    reason, nil, c)
  return 1
end
-- The POST's outcome: dialing → placed | unknown | rejected | cancelled. A callback may
-- have made the attempt terminal already; then only the call sid is filled in.
-- zset: active | unknown | '' to join, due ``delay`` ms from now; sidkey '' = none.
-- Returns (1|0, state).
local function record_outcome(akey, dialing, zset, ckey, sidkey, events, maxlen, attempt_id,
    token, new, sid, delay, detail, c)
  local a = redis.call('HMGET', akey, 'state', 'claim', 'call_sid')
  local st = a[1]
  if not st then return 0, 'missing' end
  if sid ~= '' and not a[3] then redis.call('HSET', akey, 'call_sid', sid) end
  if sid ~= '' and sidkey ~= '' then redis.call('SET', sidkey, attempt_id, 'EX', 2592000) end
  if st ~= 'dialing' or a[2] ~= token then return 0, st end
  redis.call('HSET', akey, 'state', new, 'outcome_at', now_ms, 'detail', detail)
  redis.call('ZREM', dialing, attempt_id)
  if zset ~= '' then redis.call('ZADD', zset, now_ms + delay, attempt_id) end
  local call_state = new
  if new == 'placed' then call_state = 'in-progress' end
  redis.call('HSET', ckey, 'state', call_state)
  if TERMINAL[new] then
    redis.call('HSET', akey, 'terminal_at', now_ms)
    redis.call('HSET', ckey, 'final_status', new, 'ended_at', now_ms)
  end
  local call_id = call_id_of(attempt_id)
  event(events, maxlen, new, ckey, call_id, attempt_id, new, detail, nil, c)
  if TERMINAL[new] then final(events, maxlen, ckey, akey, call_id, attempt_id, new) end
  return 1, new
end
-- Hold an agent (zset: attempt id → hold expiry ms) unless it is in ``max_calls`` calls.
local function agent_acquire(key, attempt_id, max_calls, hold_ms)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now_ms)
  if redis.call('ZSCORE', key, attempt_id) then return true end
  if redis.call('ZCARD', key) >= max_calls then return false end
  redis.call('ZADD', key, now_ms + hold_ms, attempt_id)
  redis.call('PEXPIRE', key, hold_ms + 1000)
  return true
end
-- As agent_acquire; a hold left by an ended (or vanished) attempt does not count: such
-- holds are dropped (a release lost in a failover would keep the agent the whole hold).
local function hold_agent(key, attempt_id, max_calls, hold_ms, attempt_prefix)
  if agent_acquire(key, attempt_id, max_calls, hold_ms) then return true end
  return drop_ended_holds(key, attempt_prefix) > 0
    and agent_acquire(key, attempt_id, max_calls, hold_ms)
end
"""

_WORKER = _PRELUDE + WORKER_FNS

# Move due attempts (score <= now) out of the due set and mark them sent.
# KEYS[1] due, KEYS[2] pending; ARGV[1] max count. Returns the attempt ids.
TAKE_DUE = _PRELUDE + """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms, 'LIMIT', 0, tonumber(ARGV[1]))
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZADD', KEYS[2], now_ms, id)
end
return ids
"""

# Claim a pending attempt for this worker: pending → dialing.
# KEYS[1] attempt, KEYS[2] pending, KEYS[3] dialing, KEYS[4] due, KEYS[5] call, KEYS[6] events
# ARGV[1] attempt id, ARGV[2] claim token, ARGV[3] events maxlen
# Returns {1, 'dialing'} or {0, current state | 'missing'}.
CLAIM = _WORKER + """
local ok, st = claim_attempt(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], ARGV[3],
  ARGV[1], ARGV[2])
return {ok, st}
"""

# KEYS[1] attempt; ARGV[1] claim token. Returns 1 when marked (see mark_posting).
MARK_POSTING = _WORKER + """
return mark_posting(KEYS[1], ARGV[1])
"""

# Put a claimed attempt back to wait (rate limit, 429, agent busy, transport failure
# before sending): dialing → pending in the due set. Spends no retry.
# KEYS[1] attempt, KEYS[2] dialing, KEYS[3] due, KEYS[4] call, KEYS[5] events
# ARGV[1] attempt id, ARGV[2] claim token ('' = any), ARGV[3] delay ms, ARGV[4] reason,
# ARGV[5] events maxlen, ARGV[6] counter field to increment ('' = none)
# Returns 1 when released.
RELEASE = _WORKER + """
return release_attempt(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[5], ARGV[1],
  ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[6])
"""

# Record the POST's outcome: dialing → placed | unknown | rejected | cancelled.
# KEYS[1] attempt, KEYS[2] dialing, KEYS[3] active|unknown|'' zset to join, KEYS[4] call,
# KEYS[5] call-sid key ('' = none), KEYS[6] events
# ARGV[1] attempt id, ARGV[2] claim token, ARGV[3] new state, ARGV[4] call sid,
# ARGV[5] zset score delay ms, ARGV[6] detail, ARGV[7] events maxlen
# Returns {1|0, state}.
OUTCOME = _WORKER + """
local ok, st = record_outcome(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], ARGV[7],
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6])
return {ok, st}
"""

# Sweep attempts stuck in 'dialing' since before the cutoff: never posted → pending again
# (due now); posted → unknown (never redialled blindly).
# KEYS[1] dialing, KEYS[2] due, KEYS[3] unknown, KEYS[4] events; ARGV[1] cutoff age ms,
# ARGV[2] attempt key prefix, ARGV[3] events maxlen, ARGV[4] max count,
# ARGV[5] call key prefix
# Returns {reset count, unknown count}.
SWEEP_DIALING = _PRELUDE + """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms - tonumber(ARGV[1]),
  'LIMIT', 0, tonumber(ARGV[4]))
local reset, unknown = 0, 0
for _, id in ipairs(ids) do
  local akey = ARGV[2] .. id
  redis.call('ZREM', KEYS[1], id)
  if redis.call('HGET', akey, 'state') == 'dialing' then
    local call_id = call_id_of(id)
    local ckey = ARGV[5] .. call_id
    if redis.call('HGET', akey, 'posting') == '1' then
      redis.call('HSET', akey, 'state', 'unknown', 'outcome_at', now_ms, 'claim', '',
        'detail', 'worker lost after posting')
      redis.call('ZADD', KEYS[3], now_ms, id)
      redis.call('HSET', ckey, 'state', 'unknown')
      event(KEYS[4], ARGV[3], 'unknown', ckey, call_id, id, 'unknown',
        'worker lost after posting')
      unknown = unknown + 1
    else
      redis.call('HSET', akey, 'state', 'pending', 'claim', '', 'posting', '0')
      redis.call('ZADD', KEYS[2], now_ms, id)
      redis.call('HSET', ckey, 'state', 'queued')
      event(KEYS[4], ARGV[3], 'waiting', ckey, call_id, id, 'pending',
        'worker lost before posting')
      reset = reset + 1
    end
  end
end
return {reset, unknown}
"""

# Pending attempts whose message was sent long ago and never consumed: due again now.
# KEYS[1] pending, KEYS[2] due; ARGV[1] cutoff age ms, ARGV[2] attempt key prefix,
# ARGV[3] max count, ARGV[4] call key prefix
# Returns the count moved.
SWEEP_PENDING = _PRELUDE + """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms - tonumber(ARGV[1]),
  'LIMIT', 0, tonumber(ARGV[3]))
local n = 0
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  if attempt_state(ARGV[2] .. id, ARGV[4] .. call_id_of(id), id) == 'pending' then
    redis.call('ZADD', KEYS[2], now_ms, id)
    n = n + 1
  end
end
return n
"""

# Hold an agent (From number) for an attempt unless it is in too many calls already.
# KEYS[1] agent zset (attempt id → hold expiry ms); ARGV[1] attempt id, ARGV[2] max calls,
# ARGV[3] hold ms. Returns 1 when held.
AGENT_ACQUIRE = _WORKER + """
if agent_acquire(KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])) then return 1 end
return 0
"""

# Due-set entries whose score is below now (for the poller and lookups).
# KEYS[1] zset; ARGV[1] max count, ARGV[2] push back ms. Returns ids, pushing their score
# forward so that two pollers do not take the same ones.
TAKE_EXPIRED = _PRELUDE + """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms, 'LIMIT', 0, tonumber(ARGV[1]))
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], 'XX', now_ms + tonumber(ARGV[2]), id)
end
return ids
"""

# Cancel an attempt that has not been dialled: pending → cancelled, out of every set.
# KEYS[1] attempt, KEYS[2] due, KEYS[3] pending, KEYS[4] call, KEYS[5] events
# ARGV[1] attempt id, ARGV[2] reason, ARGV[3] events maxlen. Returns 1 when cancelled.
CANCEL_PENDING = _PRELUDE + """
local call_id = call_id_of(ARGV[1])
local st, unwritten = attempt_state(KEYS[1], KEYS[4], ARGV[1])
if st ~= 'pending' then return 0 end
if unwritten then write_first_attempt(KEYS[1], KEYS[4], call_id, ARGV[1]) end
redis.call('HSET', KEYS[1], 'state', 'cancelled', 'terminal_at', now_ms, 'detail', ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[4], 'state', 'cancelled', 'final_status', 'cancelled',
  'ended_at', now_ms)
event(KEYS[5], ARGV[3], 'cancelled', KEYS[4], call_id, ARGV[1], 'cancelled', ARGV[2])
final(KEYS[5], ARGV[3], KEYS[4], KEYS[1], call_id, ARGV[1], 'cancelled')
return 1
"""

# An unknown attempt that Exotel still does not list at the horizon: its call was never
# created. unknown → absent, with the retry decision pending (DECIDE takes it).
# KEYS[1] attempt, KEYS[2] unknown, KEYS[3] events, KEYS[4] call; ARGV[1] attempt id,
# ARGV[2] reason, ARGV[3] events maxlen. Returns 1 when marked.
MARK_ABSENT = _PRELUDE + """
if redis.call('HGET', KEYS[1], 'state') ~= 'unknown' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'absent', 'terminal_at', now_ms, 'decision', 'pending',
  'detail', ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[1])
event(KEYS[3], ARGV[3], 'absent', KEYS[4], redis.call('HGET', KEYS[1], 'call_id'), ARGV[1],
  'absent', ARGV[2])
return 1
"""

# Stop looking up an unknown attempt: it stays 'unknown', reported (unresolved set), and
# the call's end is announced with status 'unknown'.
# KEYS[1] attempt, KEYS[2] unknown, KEYS[3] unresolved, KEYS[4] events, KEYS[5] call
# ARGV[1] attempt id, ARGV[2] reason, ARGV[3] events maxlen. Returns 1 when given up.
GIVE_UP_UNKNOWN = _PRELUDE + """
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('ZADD', KEYS[3], 'NX', now_ms, ARGV[1]) == 0 then return 0 end
local call_id = redis.call('HGET', KEYS[1], 'call_id') or ''
event(KEYS[4], ARGV[3], 'unresolved', KEYS[5], call_id, ARGV[1], 'unknown', ARGV[2])
final(KEYS[4], ARGV[3], KEYS[5], KEYS[1], call_id, ARGV[1], 'unknown')
return 1
"""
