"""The reconciliation scripts behind :mod:`dialer.store`: what a callback or a poll said,
applied forward only, and the retry decision taken exactly once.

Same conventions as :mod:`dialer.lua` (its prelude, Redis's clock, KEYS and ARGV named).
"""

from __future__ import annotations

from dialer.lua_prelude import PRELUDE as _PRELUDE

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
for k, v in pairs(fields) do
  local cur = redis.call('HGET', KEYS[1], k)
  local writable = true
  if cur and cur ~= '' then
    -- after the end only empty fields fill in (Duration, Price, leg statuses arrive late);
    -- a final status of the call or of a leg is never replaced
    if was_terminal then writable = false
    elseif (k == 'status' or k == 'leg1_status' or k == 'leg2_status') and EXOTEL_FINAL[cur] then
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
