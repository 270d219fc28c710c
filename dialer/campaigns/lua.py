"""The Lua scripts behind the campaigns: every read-modify-write is one script.

Times are Redis's own clock (``TIME``, ms). Each script names its KEYS and ARGV. Queue keys
that depend on a campaign's set of zones are derived from a prefix inside the script
(as :data:`dialer.lua.SWEEP_DIALING` does), so a zone added meanwhile is never missed.
"""

from __future__ import annotations

from dialer.lua_prelude import CLOCK as _NOW

# Move a campaign from one of the allowed states to a new one.
# KEYS[1] campaign hash, KEYS[2] active set
# ARGV[1] allowed states (comma separated), ARGV[2] new state ('resume': running when it
# has started before, else scheduled), ARGV[3] time field to stamp ('' = none),
# ARGV[4] campaign id
# Returns {1, new state} or {0, current state | 'missing'}.
TRANSITION = _NOW + """
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return {0, 'missing'} end
local allowed = false
for s in string.gmatch(ARGV[1], '[^,]+') do if s == st then allowed = true end end
if not allowed then return {0, st} end
local new = ARGV[2]
if new == 'resume' then
  if redis.call('HGET', KEYS[1], 'started_at') then new = 'running' else new = 'scheduled' end
end
redis.call('HSET', KEYS[1], 'state', new, 'updated_at', now_ms)
if ARGV[3] ~= '' and not redis.call('HGET', KEYS[1], ARGV[3]) then
  redis.call('HSET', KEYS[1], ARGV[3], now_ms)
end
if new == 'paused' then redis.call('HSET', KEYS[1], 'paused_from', st) end
redis.call('SADD', KEYS[2], ARGV[4])
return {1, new}
"""

# Add contacts: each number once per campaign, do-not-call numbers suppressed. A chunk
# travels as three newline-joined strings (a few arguments to pack instead of three per
# contact; E.164 numbers, zone indices and compact JSON never hold a newline) and is
# written with one HMGET / SMISMEMBER / HSET / RPUSH per chunk, not one call per contact.
# The numbers of one chunk are distinct (the caller checks).
# KEYS[1] campaign hash, KEYS[2] contacts hash, KEYS[3] zones set, KEYS[4] campaign dnc,
# KEYS[5] global dnc, KEYS[6..] one queue list per zone named in ARGV
# ARGV[1] zone count z, ARGV[2..1+z] zone names (in the order of KEYS[6..]),
# ARGV[2+z] contact count n, ARGV[3+z] numbers, ARGV[4+z] zone indices (1-based; ''
# = all 1), ARGV[5+z] payloads ('' = all empty), ARGV[6+z] '1' when none of the numbers
# can be in the contacts hash (the caller WATCHed it empty; skip the look-up), else '0'
# Returns one flag per contact as a string of digits: 1 added, 0 duplicate, 2 global dnc,
# 3 campaign dnc ('' = all added); or the single value -1 when the campaign no longer
# takes contacts.
ADD_CONTACTS = """
local st = redis.call('HGET', KEYS[1], 'state')
if not st or st == 'completed' or st == 'cancelled' then return -1 end
local z = tonumber(ARGV[1])
local n = tonumber(ARGV[2 + z])
local function split(s)
  if s == '' then return nil end
  local out, pos = {}, 1
  for i = 1, n do
    local e = string.find(s, '\\n', pos, true)
    if e then out[i] = string.sub(s, pos, e - 1); pos = e + 1
    else out[i] = string.sub(s, pos); pos = #s + 2 end
  end
  return out
end
local nums, zis, pays = split(ARGV[3 + z]), split(ARGV[4 + z]), split(ARGV[5 + z])
local function members(key)
  if redis.call('SCARD', key) == 0 then return {} end
  return redis.call('SMISMEMBER', key, unpack(nums))
end
local global, own = members(KEYS[5]), members(KEYS[4])
local have = {}
if ARGV[6 + z] ~= '1' and redis.call('HLEN', KEYS[2]) > 0 then
  have = redis.call('HMGET', KEYS[2], unpack(nums))
end
local fields, pushes, flags = {}, {}, {}
local nf = 0
local dup, dnc = 0, 0
for i = 1, n do
  local num = nums[i]
  if global[i] == 1 then flags[i] = 2; dnc = dnc + 1
  elseif own[i] == 1 then flags[i] = 3; dnc = dnc + 1
  elseif have[i] then flags[i] = 0; dup = dup + 1
  else
    fields[nf + 1] = num
    fields[nf + 2] = pays and pays[i] or ''
    nf = nf + 2
    local zi = zis and tonumber(zis[i]) or 1
    local push = pushes[zi]
    if not push then push = {}; pushes[zi] = push end
    push[#push + 1] = num
  end
end
local added = nf / 2
if nf > 0 then redis.call('HSET', KEYS[2], unpack(fields)) end
for zi, push in pairs(pushes) do redis.call('RPUSH', KEYS[5 + zi], unpack(push)) end
for j = 1, z do
  if redis.call('EXISTS', KEYS[5 + j]) == 1 then redis.call('SADD', KEYS[3], ARGV[1 + j]) end
end
redis.call('HINCRBY', KEYS[1], 'contacts', added)
redis.call('HINCRBY', KEYS[1], 'duplicates', dup)
redis.call('HINCRBY', KEYS[1], 'suppressed', dnc)
if added == n then return '' end
for i = 1, n do flags[i] = flags[i] or 1 end
return table.concat(flags)
"""


# Count an import's rows that were not added (invalid, duplicates within the file) with
# ADD_CONTACTS' own state check, so that one transaction writes the contacts and their
# counts, or neither.
# KEYS[1] campaign hash; ARGV: pairs of counter field, increment.
# Returns 1, or -1 when the campaign no longer takes contacts.
ADD_COUNTS = """
local st = redis.call('HGET', KEYS[1], 'state')
if not st or st == 'completed' or st == 'cancelled' then return -1 end
for i = 1, #ARGV, 2 do
  local n = tonumber(ARGV[i + 1])
  if n ~= 0 then redis.call('HINCRBY', KEYS[1], ARGV[i], n) end
end
return 1
"""

# Take up to n contacts of one zone to dial now, while the campaign runs and fewer than
# max concurrent of its calls are live; a contact on a do-not-call list is skipped; with
# agent candidates each contact gets a free one (none free: stop).
# KEYS[1] campaign hash, KEYS[2] zone queue, KEYS[3] live zset, KEYS[4] calls hash,
# KEYS[5] campaign dnc, KEYS[6] global dnc, KEYS[7] agents hash
# ARGV[1] n, ARGV[2] max concurrent, ARGV[3] agent mode (1|0), ARGV[4..] agent candidates
# Returns a flat list {number, agent ('' none), …}.
TAKE = _NOW + """
if redis.call('HGET', KEYS[1], 'state') ~= 'running' then return {} end
local out = {}
local n, maxc = tonumber(ARGV[1]), tonumber(ARGV[2])
local agent_mode = ARGV[3] == '1'
local next_agent = 4
local taken = 0
while taken < n and redis.call('ZCARD', KEYS[3]) < maxc do
  local num = redis.call('LPOP', KEYS[2])
  if not num then break end
  if redis.call('SISMEMBER', KEYS[6], num) == 1 or redis.call('SISMEMBER', KEYS[5], num) == 1
  then
    redis.call('HSET', KEYS[4], num, '!do-not-call')
    redis.call('HINCRBY', KEYS[1], 'suppressed_at_dial', 1)
  else
    local agent = ''
    if agent_mode then
      while next_agent <= #ARGV and agent == '' do
        if redis.call('HSETNX', KEYS[7], ARGV[next_agent], num) == 1 then
          agent = ARGV[next_agent]
        end
        next_agent = next_agent + 1
      end
      if agent == '' then
        redis.call('LPUSH', KEYS[2], num)
        break
      end
    end
    redis.call('ZADD', KEYS[3], now_ms, num)
    out[#out + 1] = num
    out[#out + 1] = agent
    taken = taken + 1
  end
end
return out
"""

# Count final calls once: a live contact whose call is final leaves the live set.
# KEYS[1] campaign hash, KEYS[2] live zset, KEYS[3] agents hash
# ARGV: groups of 5: number, final status, attempts, talk seconds ('' unknown), agent
# Returns how many were counted.
REAP = """
local n = 0
for i = 1, #ARGV, 5 do
  local num = ARGV[i]
  if redis.call('ZREM', KEYS[2], num) == 1 then
    redis.call('HINCRBY', KEYS[1], 'final:' .. ARGV[i + 1], 1)
    redis.call('HINCRBY', KEYS[1], 'attempts', tonumber(ARGV[i + 2]))
    if ARGV[i + 3] ~= '' then
      redis.call('HINCRBY', KEYS[1], 'talk_s', tonumber(ARGV[i + 3]))
      redis.call('HINCRBY', KEYS[1], 'talked', 1)
    end
    local agent = ARGV[i + 4]
    if agent ~= '' and redis.call('HGET', KEYS[3], agent) == num then
      redis.call('HDEL', KEYS[3], agent)
    end
    n = n + 1
  end
end
return n
"""

# A taken contact that will not be dialled (its call is invalid): note why, free it.
# KEYS[1] campaign hash, KEYS[2] live zset, KEYS[3] calls hash, KEYS[4] agents hash
# ARGV[1] number, ARGV[2] reason, ARGV[3] agent ('' none). Returns 1 when released.
DROP_TAKEN = """
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[3], ARGV[1], '!' .. ARGV[2])
redis.call('HINCRBY', KEYS[1], 'invalid', 1)
if ARGV[3] ~= '' and redis.call('HGET', KEYS[4], ARGV[3]) == ARGV[1] then
  redis.call('HDEL', KEYS[4], ARGV[3])
end
return 1
"""

# Drop every contact not yet taken (cancel, end_at): they are counted, never dialled.
# KEYS[1] campaign hash, KEYS[2] zones set; ARGV[1] queue key prefix, ARGV[2] counter field
# Returns how many were dropped.
DROP_QUEUES = """
local n = 0
for _, z in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local q = ARGV[1] .. z
  n = n + redis.call('LLEN', q)
  redis.call('DEL', q)
end
redis.call('DEL', KEYS[2])
if n > 0 then redis.call('HINCRBY', KEYS[1], ARGV[2], n) end
return n
"""

# Complete a campaign once nothing is queued and nothing is live.
# KEYS[1] campaign hash, KEYS[2] live zset, KEYS[3] zones set, KEYS[4] active set
# ARGV[1] queue key prefix, ARGV[2] allowed states (comma separated), ARGV[3] campaign id
# Returns 1 when completed.
COMPLETE = _NOW + """
local st = redis.call('HGET', KEYS[1], 'state')
local allowed = false
for s in string.gmatch(ARGV[2], '[^,]+') do if s == st then allowed = true end end
if not allowed then return 0 end
if redis.call('ZCARD', KEYS[2]) > 0 then return 0 end
for _, z in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  if redis.call('LLEN', ARGV[1] .. z) > 0 then return 0 end
end
redis.call('HSET', KEYS[1], 'state', 'completed', 'ended_at', now_ms, 'updated_at', now_ms)
redis.call('SREM', KEYS[4], ARGV[3])
return 1
"""

# Take up to n whole tokens from a bucket that refills at a rate, up to a burst.
# KEYS[1] bucket hash; ARGV[1] rate per second, ARGV[2] burst, ARGV[3] n wanted,
# ARGV[4] n to give back first (a refund; 0 = none). Returns the tokens granted.
BUCKET = _NOW + """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens') or burst)
local at = tonumber(redis.call('HGET', KEYS[1], 'at_ms') or now_ms)
tokens = math.min(burst, tokens + math.max(0, now_ms - at) * rate / 1000 + tonumber(ARGV[4]))
local give = math.min(math.floor(tokens), tonumber(ARGV[3]))
if give < 0 then give = 0 end
tokens = tokens - give
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at_ms', now_ms)
redis.call('PEXPIRE', KEYS[1], 86400000)
return give
"""
