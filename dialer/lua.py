"""The Lua scripts behind :mod:`dialer.store`: every read-modify-write of a call is one script.

Times are Redis's own clock (``TIME``) in milliseconds, so no worker's clock matters.
Each script names its KEYS and ARGV. Every state change appends an event to the stream.
"""

from __future__ import annotations

# Shared prelude: the clock and the event helpers. Every event names its call for the
# services that consume the stream: account, campaign, the caller's custom_field and
# idempotency key (read from the call hash ``ckey``), and the attempt number; a ``final``
# event adds the call's status, attempts, duration and price.
_PRELUDE = """
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function event(stream, maxlen, kind, ckey, call_id, attempt_id, state, detail, extra)
  local c = redis.call('HMGET', ckey, 'account', 'campaign_id', 'custom_field', 'idem_key')
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
local TERMINAL = {completed=true, busy=true, ['no-answer']=true, failed=true,
  rejected=true, cancelled=true, absent=true, capped=true}
"""

# Create a call and its first attempt, unless the idempotency key is already taken.
# KEYS[1] idem key ('' = none), KEYS[2] call, KEYS[3] attempt, KEYS[4] due,
# KEYS[5] calls index, KEYS[6] events, KEYS[7] pending
# ARGV[1] call id, ARGV[2] attempt id, ARGV[3] account, ARGV[4] mode, ARGV[5] request JSON,
# ARGV[6] metadata JSON, ARGV[7] idem key, ARGV[8] policy JSON, ARGV[9] events maxlen,
# ARGV[10] campaign id, ARGV[11] delay before the first attempt (ms; -1 = the caller
# publishes its message now: it is marked sent, so the sweeper re-sends it if it is lost),
# ARGV[12] the caller's CustomField value
# Returns {call id, created (1|0)}.
CREATE_CALL = _PRELUDE + """
if KEYS[1] ~= '' then
  local existing = redis.call('GET', KEYS[1])
  if existing then return {existing, 0} end
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('HSET', KEYS[2], 'id', ARGV[1], 'account', ARGV[3], 'mode', ARGV[4],
  'request', ARGV[5], 'metadata', ARGV[6], 'idem_key', ARGV[7], 'policy', ARGV[8],
  'campaign_id', ARGV[10], 'custom_field', ARGV[12], 'created_at', now_ms,
  'state', 'queued', 'attempts', 1, 'current_attempt', ARGV[2])
redis.call('HSET', KEYS[3], 'id', ARGV[2], 'call_id', ARGV[1], 'n', 1, 'state', 'pending',
  'created_at', now_ms, 'account', ARGV[3])
local delay = tonumber(ARGV[11])
if delay >= 0 then
  redis.call('ZADD', KEYS[4], now_ms + delay, ARGV[2])
else
  redis.call('ZADD', KEYS[7], now_ms, ARGV[2])
end
redis.call('ZADD', KEYS[5], now_ms, ARGV[1])
event(KEYS[6], ARGV[9], 'created', KEYS[2], ARGV[1], ARGV[2], 'queued', ARGV[3])
return {ARGV[1], 1}
"""

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
CLAIM = _PRELUDE + """
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return {0, 'missing'} end
if st ~= 'pending' then return {0, st} end
redis.call('HSET', KEYS[1], 'state', 'dialing', 'claimed_at', now_ms, 'posting', '0',
  'claim', ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZADD', KEYS[3], now_ms, ARGV[1])
redis.call('HSET', KEYS[5], 'state', 'dialing')
local call_id = redis.call('HGET', KEYS[1], 'call_id')
event(KEYS[6], ARGV[3], 'claimed', KEYS[5], call_id, ARGV[1], 'dialing', '')
return {1, 'dialing'}
"""

# The point of no return: the claim holder is about to POST. Only the holder of the claim
# may do so; the sweeper cannot reset an attempt once this has run.
# KEYS[1] attempt; ARGV[1] claim token. Returns 1 when marked.
MARK_POSTING = _PRELUDE + """
if redis.call('HGET', KEYS[1], 'state') ~= 'dialing' then return 0 end
if redis.call('HGET', KEYS[1], 'claim') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'posting', '1', 'posting_at', now_ms)
return 1
"""

# Put a claimed attempt back to wait (rate limit, 429, agent busy, transport failure
# before sending): dialing → pending in the due set. Spends no retry.
# KEYS[1] attempt, KEYS[2] dialing, KEYS[3] due, KEYS[4] call, KEYS[5] events
# ARGV[1] attempt id, ARGV[2] claim token ('' = any), ARGV[3] delay ms, ARGV[4] reason,
# ARGV[5] events maxlen, ARGV[6] counter field to increment ('' = none)
# Returns 1 when released.
RELEASE = _PRELUDE + """
if redis.call('HGET', KEYS[1], 'state') ~= 'dialing' then return 0 end
if ARGV[2] ~= '' and redis.call('HGET', KEYS[1], 'claim') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'pending', 'posting', '0', 'claim', '',
  'last_wait', ARGV[4])
if ARGV[6] ~= '' then redis.call('HINCRBY', KEYS[1], ARGV[6], 1) end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], now_ms + tonumber(ARGV[3]), ARGV[1])
redis.call('HSET', KEYS[4], 'state', 'queued')
local call_id = redis.call('HGET', KEYS[1], 'call_id')
event(KEYS[5], ARGV[5], 'waiting', KEYS[4], call_id, ARGV[1], 'pending', ARGV[4])
return 1
"""

# Record the POST's outcome: dialing → placed | unknown | rejected. A callback may have
# made the attempt terminal already; then only the call sid is filled in.
# KEYS[1] attempt, KEYS[2] dialing, KEYS[3] active|unknown|'' zset to join, KEYS[4] call,
# KEYS[5] call-sid key ('' = none), KEYS[6] events
# ARGV[1] attempt id, ARGV[2] claim token, ARGV[3] new state, ARGV[4] call sid,
# ARGV[5] zset score delay ms, ARGV[6] detail, ARGV[7] events maxlen
# Returns {1|0, state}.
OUTCOME = _PRELUDE + """
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return {0, 'missing'} end
if ARGV[4] ~= '' and not redis.call('HGET', KEYS[1], 'call_sid') then
  redis.call('HSET', KEYS[1], 'call_sid', ARGV[4])
end
if ARGV[4] ~= '' and KEYS[5] ~= '' then redis.call('SET', KEYS[5], ARGV[1], 'EX', 2592000) end
if st ~= 'dialing' or redis.call('HGET', KEYS[1], 'claim') ~= ARGV[2] then return {0, st} end
local new = ARGV[3]
redis.call('HSET', KEYS[1], 'state', new, 'outcome_at', now_ms, 'detail', ARGV[6])
redis.call('ZREM', KEYS[2], ARGV[1])
if KEYS[3] ~= '' then redis.call('ZADD', KEYS[3], now_ms + tonumber(ARGV[5]), ARGV[1]) end
local call_state = new
if new == 'placed' then call_state = 'in-progress' end
redis.call('HSET', KEYS[4], 'state', call_state)
if TERMINAL[new] then
  redis.call('HSET', KEYS[1], 'terminal_at', now_ms)
  redis.call('HSET', KEYS[4], 'final_status', new, 'ended_at', now_ms)
end
local call_id = redis.call('HGET', KEYS[1], 'call_id')
event(KEYS[6], ARGV[7], new, KEYS[4], call_id, ARGV[1], new, ARGV[6])
if TERMINAL[new] then final(KEYS[6], ARGV[7], KEYS[4], KEYS[1], call_id, ARGV[1], new) end
return {1, new}
"""

# What ends a call's attempt: a retry scheduled, the call finished, or the decision
# deferred until leg evidence arrives. Used by APPLY_UPDATE and DECIDE.
_FINISH = """
local function schedule_retry(ckey, next_key, due, events, maxlen, call_id, next_id, next_n,
    delay, reason, account)
  redis.call('HSET', next_key, 'id', next_id, 'call_id', call_id, 'n', next_n,
    'state', 'pending', 'created_at', now_ms, 'account', account)
  redis.call('ZADD', due, now_ms + delay, next_id)
  redis.call('HSET', ckey, 'state', 'retry-wait', 'attempts', next_n,
    'current_attempt', next_id)
  event(events, maxlen, 'retry-scheduled', ckey, call_id, next_id, 'pending', reason)
end
local function finish_call(events, maxlen, ckey, akey, call_id, attempt_id, state)
  redis.call('HSET', ckey, 'state', state, 'final_status', state, 'ended_at', now_ms)
  final(events, maxlen, ckey, akey, call_id, attempt_id, state)
end
"""

# Apply what a callback or a poll said, forward only.
# KEYS[1] attempt, KEYS[2] call, KEYS[3] active, KEYS[4] unknown, KEYS[5] dialing,
# KEYS[6] due, KEYS[7] next attempt ('' = no retry), KEYS[8] events, KEYS[9] call-sid key,
# KEYS[10] evidence
# ARGV[1] attempt id, ARGV[2] fields JSON (only known, non-empty values),
# ARGV[3] new terminal state ('' = not terminal), ARGV[4] retry delay ms,
# ARGV[5] next attempt id, ARGV[6] next attempt number, ARGV[7] events maxlen,
# ARGV[8] reason, ARGV[9] poll-again delay ms for a non-terminal update,
# ARGV[10] decision: 'retry' | 'final' | 'evidence' (look the legs up first) | '',
# ARGV[11] evidence look-up delay ms
# Returns {changed (1|0), state, became terminal (1|0), retried (1|0), decision field}.
APPLY_UPDATE = _PRELUDE + _FINISH + """
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return {0, 'missing', 0, 0, ''} end
if st == 'pending' then return {0, st, 0, 0, ''} end
local fields = cjson.decode(ARGV[2])
local changed = 0
local was_terminal = TERMINAL[st] or false
local FINAL = {completed=true, busy=true, ['no-answer']=true, failed=true, canceled=true}
for k, v in pairs(fields) do
  local cur = redis.call('HGET', KEYS[1], k)
  local writable = true
  if cur and cur ~= '' then
    -- after the end only empty fields fill in (Duration, Price, leg statuses arrive late);
    -- a final status of the call or of a leg is never replaced
    if was_terminal then writable = false
    elseif (k == 'status' or k == 'leg1_status' or k == 'leg2_status') and FINAL[cur] then
      writable = false
    end
  end
  if writable and cur ~= v then
    redis.call('HSET', KEYS[1], k, v)
    changed = 1
  end
end
if fields['call_sid'] and KEYS[9] ~= '' then
  redis.call('SET', KEYS[9], ARGV[1], 'EX', 2592000)
end
local call_id = redis.call('HGET', KEYS[1], 'call_id')
local decided = redis.call('HGET', KEYS[1], 'decision') or ''
if was_terminal then return {changed, st, 0, 0, decided} end
local new = ARGV[3]
if new == '' then
  if st == 'dialing' or st == 'unknown' then
    if fields['call_sid'] or fields['status'] then
      redis.call('HSET', KEYS[1], 'state', 'placed', 'outcome_at', now_ms)
      redis.call('ZREM', KEYS[4], ARGV[1])
      redis.call('ZREM', KEYS[5], ARGV[1])
      redis.call('ZADD', KEYS[3], now_ms + tonumber(ARGV[9]), ARGV[1])
      redis.call('HSET', KEYS[2], 'state', 'in-progress')
      event(KEYS[8], ARGV[7], 'placed', KEYS[2], call_id, ARGV[1], 'placed', ARGV[8])
      return {1, 'placed', 0, 0, ''}
    end
  end
  if changed == 1 then
    event(KEYS[8], ARGV[7], 'updated', KEYS[2], call_id, ARGV[1], st, ARGV[8])
  end
  return {changed, st, 0, 0, ''}
end
local how = ARGV[10]
local decision = how
if how == 'evidence' then decision = 'pending' end
redis.call('HSET', KEYS[1], 'state', new, 'terminal_at', now_ms, 'decision', decision,
  'decision_reason', ARGV[8])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
event(KEYS[8], ARGV[7], new, KEYS[2], call_id, ARGV[1], new, ARGV[8])
if how == 'evidence' then
  redis.call('ZADD', KEYS[10], now_ms + tonumber(ARGV[11]), ARGV[1])
  redis.call('HSET', KEYS[2], 'state', 'awaiting-evidence')
  event(KEYS[8], ARGV[7], 'awaiting-evidence', KEYS[2], call_id, ARGV[1], new, ARGV[8])
  return {1, new, 1, 0, decision}
end
if KEYS[7] ~= '' then
  schedule_retry(KEYS[2], KEYS[7], KEYS[6], KEYS[8], ARGV[7], call_id, ARGV[5], ARGV[6],
    tonumber(ARGV[4]), ARGV[8], redis.call('HGET', KEYS[1], 'account'))
  return {1, new, 1, 1, decision}
end
finish_call(KEYS[8], ARGV[7], KEYS[2], KEYS[1], call_id, ARGV[1], new)
return {1, new, 1, 0, decision}
"""

# Take the retry decision that waited for leg evidence (or for its deadline), once.
# KEYS[1] attempt, KEYS[2] call, KEYS[3] due, KEYS[4] next attempt ('' = no retry),
# KEYS[5] events, KEYS[6] evidence
# ARGV[1] attempt id, ARGV[2] retry delay ms, ARGV[3] next attempt id,
# ARGV[4] next attempt number, ARGV[5] events maxlen, ARGV[6] reason
# Returns {decided (1|0), retried (1|0)}.
DECIDE = _PRELUDE + _FINISH + """
redis.call('ZREM', KEYS[6], ARGV[1])
if redis.call('HGET', KEYS[1], 'decision') ~= 'pending' then return {0, 0} end
local st = redis.call('HGET', KEYS[1], 'state')
local call_id = redis.call('HGET', KEYS[1], 'call_id')
local retry = KEYS[4] ~= ''
local decision = 'final'
if retry then decision = 'retry' end
redis.call('HSET', KEYS[1], 'decision', decision, 'decision_reason', ARGV[6],
  'decided_at', now_ms)
event(KEYS[5], ARGV[5], 'decided', KEYS[2], call_id, ARGV[1], st, ARGV[6])
if retry then
  schedule_retry(KEYS[2], KEYS[4], KEYS[3], KEYS[5], ARGV[5], call_id, ARGV[3], ARGV[4],
    tonumber(ARGV[2]), ARGV[6], redis.call('HGET', KEYS[1], 'account'))
  return {1, 1}
end
finish_call(KEYS[5], ARGV[5], KEYS[2], KEYS[1], call_id, ARGV[1], st)
return {1, 0}
"""

# Sweep attempts stuck in 'dialing' since before the cutoff: never posted → pending again
# (due now); posted → unknown (never redialled blindly).
# KEYS[1] dialing, KEYS[2] due, KEYS[3] unknown, KEYS[4] events; ARGV[1] cutoff age ms,
# ARGV[2] key prefix, ARGV[3] events maxlen, ARGV[4] max count
# Returns {reset count, unknown count}.
SWEEP_DIALING = _PRELUDE + """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms - tonumber(ARGV[1]),
  'LIMIT', 0, tonumber(ARGV[4]))
local reset, unknown = 0, 0
for _, id in ipairs(ids) do
  local akey = ARGV[2] .. ':attempt:' .. id
  redis.call('ZREM', KEYS[1], id)
  if redis.call('HGET', akey, 'state') == 'dialing' then
    local call_id = redis.call('HGET', akey, 'call_id')
    local ckey = ARGV[2] .. ':call:' .. call_id
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
# KEYS[1] pending, KEYS[2] due; ARGV[1] cutoff age ms, ARGV[2] prefix, ARGV[3] max count
# Returns the count moved.
SWEEP_PENDING = _PRELUDE + """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms - tonumber(ARGV[1]),
  'LIMIT', 0, tonumber(ARGV[3]))
local n = 0
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  if redis.call('HGET', ARGV[2] .. ':attempt:' .. id, 'state') == 'pending' then
    redis.call('ZADD', KEYS[2], now_ms, id)
    n = n + 1
  end
end
return n
"""

# Hold an agent (From number) for an attempt unless it is in too many calls already.
# KEYS[1] agent zset (attempt id → hold expiry ms); ARGV[1] attempt id, ARGV[2] max calls,
# ARGV[3] hold ms. Returns 1 when held.
AGENT_ACQUIRE = _PRELUDE + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 1 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) + 1000)
return 1
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
if redis.call('HGET', KEYS[1], 'state') ~= 'pending' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'cancelled', 'terminal_at', now_ms, 'detail', ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[4], 'state', 'cancelled', 'final_status', 'cancelled',
  'ended_at', now_ms)
local call_id = redis.call('HGET', KEYS[1], 'call_id')
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
