"""The Lua script that writes new calls: a chunk of calls in one script.

:meth:`dialer.store.Store.create_calls` sends up to :data:`CREATE_CHUNK` calls per script
call: their ids in one argument, then a column per field of :data:`COLUMNS` (one value
when every call of the chunk has the same). A script runs whole or not at all: the types
of the shared keys are checked and every read is done before its first write, and Redis
lets a script that has written finish (no OOM refusal part way). A chunk sent again (a
client's retry after a lost reply) writes nothing twice: its calls without an idempotency
key are found written by the first one's id, and the others' keys name their own ids;
each is reported created, as the first run did.
"""

from __future__ import annotations

from dialer.lua_prelude import PRELUDE as _PRELUDE

CREATE_CHUNK = 1000  # calls per script call (~30 ms of Redis each)
ID_LEN = 24  # characters of a call id (dialer.store.new_call_id)
# The columns of a chunk after its call ids, in this order (see CREATE_CALLS).
COLUMNS = ("account", "mode", "request", "metadata", "idem_key", "policy", "campaign_id",
           "custom_field")

# Create calls, each unless its idempotency key is taken. A call is written lean: only
# what the request says (empty fields left out); its first attempt has no hash and the
# call no state until the first claim or cancel (see dialer.lua_prelude).
# KEYS[1] due, KEYS[2] pending, KEYS[3] calls counter, KEYS[4] events
# ARGV[1] events maxlen, ARGV[2] delay before the first attempts (ms; -1 = the caller
# publishes their messages now: they are marked sent, so the sweeper re-sends a lost one),
# ARGV[3] call key prefix, ARGV[4] idempotency key prefix (the account and key follow),
# ARGV[5] n, the number of calls, ARGV[6] their ids, concatenated (ID_LEN characters each);
# then a column per name of COLUMNS: '1' and the value every call has, or 'n' and the n
# calls' values. Values: the request and metadata as JSON, metadata and policy '' = {},
# '' = none for the others.
# Returns the calls not created, their idempotency key naming another call: for each, its
# index (1 = the first) and "<existing call id> <its current attempt>" (the attempt ''
# while the call is a lean waiting one).
CREATE_CALLS = _PRELUDE + f"local ID_LEN, NCOLS = {ID_LEN}, {len(COLUMNS)}\n" + """
for i, key in ipairs(KEYS) do
  local t = redis.call('TYPE', key)['ok']
  local want = ({'zset', 'zset', 'string', 'stream'})[i]
  if t ~= 'none' and t ~= want then
    return redis.error_reply('WRONGTYPE ' .. key .. ' is a ' .. t .. ', not a ' .. want)
  end
end
local maxlen, delay = ARGV[1], tonumber(ARGV[2])
local call_prefix, idem_prefix = ARGV[3], ARGV[4]
local n, ids = tonumber(ARGV[5]), ARGV[6]
local cols, pos = {}, 7
for c = 1, NCOLS do
  if ARGV[pos] == '1' then
    cols[c] = {ARGV[pos + 1], false}
    pos = pos + 2
  else
    cols[c] = {pos + 1, true}
    pos = pos + 1 + n
  end
end
if pos ~= #ARGV + 1 then return redis.error_reply('ERR malformed chunk of calls') end
-- column c's value for every call (shared[c]), or for call j ARGV[base[c] + j]
local shared, base = {}, {}
for c = 1, NCOLS do
  if cols[c][2] then base[c] = cols[c][1] - 1 else shared[c] = cols[c][1] end
end
local function val(c, j) return shared[c] or ARGV[base[c] + j] end
local function id(j) return string.sub(ids, (j - 1) * ID_LEN + 1, j * ID_LEN) end
local out, todo, claimed = {}, {}, {}
-- A chunk sent again (its reply was lost) was written whole: its calls without an
-- idempotency key are written already when the first of them is, and the others' keys
-- name their own ids.
local resent = nil
-- reads first: which calls to write
if shared[5] == '' then  -- no idempotency key in the chunk
  if redis.call('EXISTS', call_prefix .. id(1)) == 0 then
    for j = 1, n do todo[j] = j end
  end
else
  for j = 1, n do
    local cid, idem = id(j), val(5, j)
    if idem ~= '' then
      local ikey = idem_prefix .. val(1, j) .. ':' .. idem
      local existing = claimed[ikey] or redis.call('GET', ikey)
      if not existing then
        claimed[ikey] = cid
        todo[#todo + 1] = j
      elseif existing ~= cid then
        local current = redis.call('HGET', call_prefix .. existing, 'current_attempt')
        out[#out + 1] = j
        out[#out + 1] = existing .. ' ' .. (current or '')
      end
    else
      if resent == nil then resent = redis.call('EXISTS', call_prefix .. cid) == 1 end
      if not resent then todo[#todo + 1] = j end
    end
  end
end
if #todo == 0 then return out end
-- then the writes
local members = {}
local at = tostring(now_ms)
local s1, s2, s3, s4, s5, s6, s7, s8 = shared[1], shared[2], shared[3], shared[4],
  shared[5], shared[6], shared[7], shared[8]
local b1, b2, b3, b4, b5, b6, b7, b8 = base[1], base[2], base[3], base[4], base[5],
  base[6], base[7], base[8]
for _, j in ipairs(todo) do
  local cid = string.sub(ids, (j - 1) * ID_LEN + 1, j * ID_LEN)
  local account, metadata, idem = s1 or ARGV[b1 + j], s4 or ARGV[b4 + j], s5 or ARGV[b5 + j]
  local policy, campaign, custom = s6 or ARGV[b6 + j], s7 or ARGV[b7 + j], s8 or ARGV[b8 + j]
  local ckey = call_prefix .. cid
  if idem ~= '' then redis.call('SET', idem_prefix .. account .. ':' .. idem, cid) end
  local fields = {'HSET', ckey, 'account', account, 'mode', s2 or ARGV[b2 + j],
    'request', s3 or ARGV[b3 + j], 'created_at', at}
  local f = 10
  if metadata ~= '' then fields[f + 1] = 'metadata'; fields[f + 2] = metadata; f = f + 2 end
  if idem ~= '' then fields[f + 1] = 'idem_key'; fields[f + 2] = idem; f = f + 2 end
  if policy ~= '' then fields[f + 1] = 'policy'; fields[f + 2] = policy; f = f + 2 end
  if campaign ~= '' then fields[f + 1] = 'campaign_id'; fields[f + 2] = campaign; f = f + 2 end
  if custom ~= '' then fields[f + 1] = 'custom_field'; fields[f + 2] = custom end
  redis.call(unpack(fields))
  local aid = cid .. '-1'
  members[#members + 1] = aid
  redis.call('XADD', KEYS[4], '*', 'type', 'created', 'call_id', cid, 'attempt_id', aid,
    'attempt', '1', 'state', 'queued', 'detail', '', 'account', account,
    'campaign_id', campaign, 'custom_field', custom, 'idempotency_key', idem, 'at_ms', at)
end
redis.call('XTRIM', KEYS[4], 'MAXLEN', '~', maxlen)  -- once for the chunk
local zset, score = KEYS[1], now_ms + delay
if delay < 0 then zset, score = KEYS[2], now_ms end
for first = 1, #members, 1000 do
  local zadd = {'ZADD', zset}
  for j = first, math.min(first + 999, #members) do
    zadd[#zadd + 1] = score
    zadd[#zadd + 1] = members[j]
  end
  redis.call(unpack(zadd))
end
redis.call('INCRBY', KEYS[3], #todo)
return out
"""
