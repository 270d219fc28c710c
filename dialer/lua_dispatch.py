"""The scripts of a placed call: one or two before its POST, one after.

Placing a call was six scripts and a read (claim, read the call, hold the agent, take a
limiter slot, mark posting — then confirm the slot, record the outcome). What runs back
to back is one script on each side of the POST, from the same Lua functions as the
single steps (:data:`dialer.lua.WORKER_FNS`, :data:`dialer.ratelimit.ACQUIRE_FN`), so
every decision is the one the steps took:

* :data:`PREPARE` — claim (pending → dialing), read the call, and unless the call
  stops there (a campaign call whose gate must run first; an account that is not
  configured), hold the agent, take a dial slot of the account's limiter and — unless
  the customer's attempt caps must be taken first — mark the attempt posting. A busy
  agent or a denied slot puts the attempt back to wait in the same script (the agent
  let go).
* :data:`ARM` — when the caps count the call: with the request built, check the claim,
  take the customer's cap slot (:data:`dialer.caps_lua.TAKE`, the same script) and
  mark the attempt posting, so that the mark is the last write before the POST.
* :data:`SETTLE` — move the slot's log entry to now (the answer came back), and record
  the outcome (placed | unknown | rejected | cancelled) or put the attempt back to wait;
  optionally let the agent go and cool the account down (a 429).

Keys that depend on the call (its account's limiter and agent) are built here from the
prefixes of :mod:`dialer.keys`. :data:`PREPARE` and :data:`SETTLE` take their ~20
arguments as one JSON list of strings (:func:`packed`): the client encodes one argument
instead of twenty (a third of a script's client time), and the script reads the same
strings in ``ARGV`` as it would have.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from dialer.caps_lua import TAKE
from dialer.lua import WORKER_FNS
from dialer.lua_prelude import CLOCK, PRELUDE
from dialer.ratelimit import ACQUIRE_FN, CONFIRM_FN

_FNS = PRELUDE + WORKER_FNS + ACQUIRE_FN + CONFIRM_FN
if not TAKE.startswith(CLOCK):
    raise AssertionError("dialer.caps_lua.TAKE no longer starts with the clock prelude")
_TAKE_BODY = TAKE[len(CLOCK):]  # ARM's own clock serves it: one TIME per script
# The arguments of PREPARE and SETTLE arrive as one JSON list of strings (see packed):
# ARGV below is that list.
_UNPACK = "local ARGV = cjson.decode(ARGV[1])\n"


def packed(args: Iterable[object]) -> str:
    """The one argument of :data:`PREPARE` / :data:`SETTLE`: their arguments as a JSON
    list of the strings Redis would have passed them (``str`` of each)."""
    return json.dumps([a if isinstance(a, str) else str(a) for a in args],
                      ensure_ascii=False, separators=(",", ":"))

# KEYS[1] attempt, KEYS[2] pending, KEYS[3] dialing, KEYS[4] due, KEYS[5] call,
# KEYS[6] events
# ARGV (packed): [1] attempt id, ARGV[2] claim token, ARGV[3] events maxlen,
# ARGV[4] 'claim' (claim it first) | 'continue' (claimed already, under ARGV[2]),
# ARGV[5] '1': stop after the claim for a campaign call (its gate runs first),
# ARGV[6] JSON list of the configured accounts,
# ARGV[7] agent max calls, ARGV[8] agent hold ms, ARGV[9] wait for a busy agent ms,
# ARGV[10] attempt key prefix, ARGV[11] agent key prefix, ARGV[12] limiter key prefix,
# ARGV[13] JSON list of the limiter's key suffixes,
# ARGV[14..19] the limiter's dial arguments (limit, window µs, member, kind, most
# look-ups, reserve), ARGV[20] the factor a denied slot's wait is stretched by (jitter),
# ARGV[21] who marks posting: 'here', 'arm' (ARM, after the caps), 'campaign' (ARM for
# a campaign call, here for another)
# Returns {what, detail, agent, call hash as a flat list…}; what:
#   'skipped' (not claimed: detail = its state), 'lost-claim' (detail = its state),
#   'gate', 'account' (claimed; stopped before the agent), 'agent' (busy: waits),
#   'ratelimit' (denied: waits), 'go' (slot taken; detail 'marked': posting marked, POST
#   it; 'unmarked': ARM marks it).
PREPARE = _FNS + _UNPACK + """
local akey, ckey, events, maxlen = KEYS[1], KEYS[5], KEYS[6], ARGV[3]
local attempt_id, token = ARGV[1], ARGV[2]
if ARGV[4] == 'claim' then
  local ok, st = claim_attempt(akey, KEYS[2], KEYS[3], KEYS[4], ckey, events, maxlen,
    attempt_id, token)
  if ok == 0 then return {'skipped', st, ''} end
else
  local st, held = holds_claim(akey, token)
  if not held then return {'lost-claim', st or 'missing', ''} end
end
local flat = redis.call('HGETALL', ckey)
local call = {}
for i = 1, #flat, 2 do call[flat[i]] = flat[i + 1] end
local function answer(what, detail, agent)
  local out = {what, detail, agent}
  for i = 1, #flat do out[#out + 1] = flat[i] end
  return out
end
if ARGV[4] == 'claim' and ARGV[5] == '1' and (call['campaign_id'] or '') ~= '' then
  return answer('gate', '', '')
end
local account = call['account'] or ''
local known = false
for _, name in ipairs(cjson.decode(ARGV[6])) do
  if name == account then known = true end
end
if not known then return answer('account', '', '') end
local c = {account, call['campaign_id'], call['custom_field'], call['idem_key']}
local agent, agent_key = '', ''
if call['mode'] == 'connect' then
  local ok, params = pcall(cjson.decode, call['request'] or '')
  if ok and type(params) == 'table' and type(params['From']) == 'string' then
    agent = params['From']
  end
end
if agent ~= '' then
  agent_key = ARGV[11] .. account .. ':' .. agent
  if not hold_agent(agent_key, attempt_id, tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[10]) then
    release_attempt(akey, KEYS[3], KEYS[4], ckey, events, maxlen, attempt_id, token,
      tonumber(ARGV[9]), 'agent busy', '', c)
    return answer('agent', '', agent)
  end
end
local rl = ARGV[12] .. account
local k = {}
for i, part in ipairs(cjson.decode(ARGV[13])) do k[i] = rl .. part end
local admitted, _, wait_us = acquire_slot(k[1], k[2], k[3], k[4], k[5], tonumber(ARGV[14]),
  tonumber(ARGV[15]), ARGV[16], ARGV[17], tonumber(ARGV[18]), tonumber(ARGV[19]))
if admitted == 0 then
  if agent_key ~= '' then redis.call('ZREM', agent_key, attempt_id) end
  release_attempt(akey, KEYS[3], KEYS[4], ckey, events, maxlen, attempt_id, token,
    math.floor(wait_us / 1000 * tonumber(ARGV[20])), 'rate limit', '', c)
  return answer('ratelimit', tostring(wait_us), agent)
end
local later = ARGV[21] == 'arm' or (ARGV[21] == 'campaign' and (call['campaign_id'] or '') ~= '')
if later then return answer('go', 'unmarked', agent) end
mark_posting(akey, token)
return answer('go', 'marked', agent)
"""

# The last step before the POST when the customer's caps count the attempt: the claim
# checked, the cap slot taken (dialer.caps_lua.TAKE, run as a function on its own key and
# arguments), the attempt marked posting — or nothing written when the claim is lost or
# a cap is reached.
# KEYS[1] attempt, KEYS[2] the customer number's counters ('' = nothing to count)
# ARGV[1] claim token, ARGV[2..6] TAKE's ARGV[1..5]
# Returns {'lost-claim', state} | {'capped', TAKE's answer…} | {'go', TAKE's answer…}
ARM = PRELUDE + WORKER_FNS + """
local function take_cap(KEYS, ARGV)
""" + _TAKE_BODY + """
end
local st, held = holds_claim(KEYS[1], ARGV[1])
if not held then return {'lost-claim', st or 'missing'} end
local out = {'go'}
if KEYS[2] ~= '' then
  local got = take_cap({KEYS[2]}, {ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]})
  if tonumber(got[1]) == 0 then out[1] = 'capped' end
  for i = 1, #got do out[#out + 1] = got[i] end
  if out[1] == 'capped' then return out end
end
mark_posting(KEYS[1], ARGV[1])
return out
"""

# KEYS[1] attempt, KEYS[2] dialing, KEYS[3] active|unknown|'' zset to join, KEYS[4] call,
# KEYS[5] call-sid key ('' = none), KEYS[6] events, KEYS[7] due,
# KEYS[8] limiter log, KEYS[9] its look-ups' log ('' = no slot to confirm),
# KEYS[10] limiter cool-down mark, KEYS[11] limiter counts ('' = no cool-down),
# KEYS[12] agent ('' = keep holding it)
# ARGV (packed): [1] attempt id, ARGV[2] claim token, ARGV[3] events maxlen,
# ARGV[4] 'outcome' | 'release', ARGV[5] new state (outcome), ARGV[6] call sid,
# ARGV[7] zset delay ms (outcome) | wait ms (release), ARGV[8] detail | reason,
# ARGV[9] slot member, ARGV[10] cool-down ms, ARGV[11] counter to increment (release),
# ARGV[12] backoff base ms (release: > 0 = wait min(cap, base * 2^counter) instead),
# ARGV[13] backoff cap ms, ARGV[14] the factor the wait is stretched by (jitter),
# ARGV[15..18] the call's account, campaign_id, custom_field, idem_key (for the events)
# Returns {1|0, state}.
SETTLE = _FNS + _UNPACK + """
local akey, ckey, events, maxlen = KEYS[1], KEYS[4], KEYS[6], ARGV[3]
local attempt_id, token = ARGV[1], ARGV[2]
if KEYS[8] ~= '' and ARGV[9] ~= '' then confirm_slot(KEYS[8], KEYS[9], ARGV[9]) end
if KEYS[10] ~= '' then
  redis.call('SET', KEYS[10], '1', 'PX', math.max(1, tonumber(ARGV[10])))
  redis.call('HINCRBY', KEYS[11], '429', 1)
end
if KEYS[12] ~= '' then redis.call('ZREM', KEYS[12], attempt_id) end
local c = {ARGV[15], ARGV[16], ARGV[17], ARGV[18]}
if ARGV[4] == 'outcome' then
  local ok, st = record_outcome(akey, KEYS[2], KEYS[3], ckey, KEYS[5], events, maxlen,
    attempt_id, token, ARGV[5], ARGV[6], tonumber(ARGV[7]), ARGV[8], c)
  return {ok, st}
end
local wait = tonumber(ARGV[7])
local base = tonumber(ARGV[12])
if base > 0 then
  local failures = tonumber(redis.call('HGET', akey, ARGV[11]) or '0') or 0
  wait = math.min(tonumber(ARGV[13]), base * 2 ^ failures)
end
wait = math.floor(wait * tonumber(ARGV[14]))
local ok = release_attempt(akey, KEYS[2], KEYS[7], ckey, events, maxlen, attempt_id, token,
  wait, ARGV[8], ARGV[11], c)
return {ok, ok == 1 and 'pending' or 'lost-claim'}
"""
