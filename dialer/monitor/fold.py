"""The events stream folded into counters, at scrape time, exactly once.

Every state change of a call is an event in ``dialer:events`` (:mod:`dialer.lua`), so the
counters Prometheus wants (attempts by outcome, calls by final outcome, retries, waits,
POST → end delay) are a fold of that stream: no write is added to the dial path. One Lua
script reads the events after a cursor (a bounded batch), adds them into the hash
``dialer:metrics`` and moves the cursor, atomically — so any number of web processes on
any number of hosts may scrape at once and every event is counted once.

Counter fields (``|``-separated; an empty campaign is a call outside campaigns):

* ``created|<account>|<campaign>`` — calls created
* ``attempt|<account>|<campaign>|<outcome>`` — attempts that reached placed, unknown,
  rejected, cancelled, completed, busy, no-answer, failed, absent
* ``call|<account>|<campaign>|<outcome>`` — calls that ended with that final status
* ``retry|<account>|<campaign>`` — retries scheduled
* ``unresolved|<account>|<campaign>`` — unknown attempts given up on
* ``wait|<account>|<reason>`` — attempts put back to wait, by reason class
* ``delay|<account>|<le>``, ``delay_count|<account>``, ``delay_sum_ms|<account>`` — the
  histogram of POST → final status (callback or poll) of placed attempts, seconds

A call's end is read from the stream itself: a final attempt event (``completed`` …) or a
``decided`` event ends its call unless the script that wrote it went on with a
``retry-scheduled`` or ``awaiting-evidence`` event, which Redis wrote right after it (a
script is atomic). The fold therefore looks one event ahead.
"""

from __future__ import annotations

import redis

from dialer.keys import Keys

DELAY_BUCKETS_S = (2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
WAIT_REASONS = ("rate-limit", "exotel-429", "agent-busy", "device-busy", "not-sent",
                "campaign-not-running", "window-closed", "worker-lost", "other")
BATCH = 2000
MAX_BATCHES = 50  # at most 100,000 events per scrape; the rest on the next one

# KEYS[1] events stream, KEYS[2] cursor (string: last folded id), KEYS[3] counters hash
# ARGV[1] key prefix (call and attempt hashes), ARGV[2] batch size,
# ARGV[3] delay buckets, seconds, comma-separated
# Returns {events folded, 1 when more are waiting}.
FOLD = """
local cursor = redis.call('GET', KEYS[2])
local start = '-'
if cursor then start = '(' .. cursor end
local n = tonumber(ARGV[2])
local entries = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', n + 1)
local count = #entries
local more = 0
if count > n then count = n; more = 1 end
if count == 0 then return {0, 0} end
local buckets = {}
for b in string.gmatch(ARGV[3], '[^,]+') do buckets[#buckets + 1] = tonumber(b) end
local ATTEMPT = {placed=true, unknown=true, rejected=true, cancelled=true, completed=true,
  busy=true, ['no-answer']=true, failed=true, absent=true, capped=true}
local ENDS = {completed=true, busy=true, ['no-answer']=true, failed=true, rejected=true,
  cancelled=true, capped=true}
local PLACED_END = {completed=true, busy=true, ['no-answer']=true, failed=true}
local WAITS = {['rate limit']='rate-limit', ['exotel 429']='exotel-429',
  ['agent busy']='agent-busy', ['device busy']='device-busy'}
local function fields(e)
  local f = {}
  local raw = e[2]
  for i = 1, #raw, 2 do f[raw[i]] = raw[i + 1] end
  return f
end
local calls = {}
local function call_of(cid)
  local c = calls[cid]
  if not c then
    local v = redis.call('HMGET', ARGV[1] .. ':call:' .. cid, 'account', 'campaign_id')
    c = {v[1] or '', v[2] or ''}
    calls[cid] = c
  end
  return c
end
local function incr(field, by) redis.call('HINCRBY', KEYS[3], field, by or 1) end
local function continued(i, cid)
  local nxt = entries[i + 1]
  if not nxt then return false end
  local f = fields(nxt)
  return f['call_id'] == cid and (f['type'] == 'retry-scheduled'
    or f['type'] == 'awaiting-evidence')
end
local function wait_class(detail)
  if WAITS[detail] then return WAITS[detail] end
  if string.sub(detail, 1, 8) == 'not sent' then return 'not-sent' end
  if string.sub(detail, 1, 9) == 'campaign ' then return 'campaign-not-running' end
  if string.sub(detail, 1, 26) == 'outside the calling window' then return 'window-closed' end
  if string.sub(detail, 1, 11) == 'worker lost' then return 'worker-lost' end
  if string.sub(detail, 1, 12) == 'contact cap:' then return 'contact-cap' end
  if string.sub(detail, 1, 12) == 'quiet hours:' then return 'quiet-hours' end
  return 'other'
end
for i = 1, count do
  local f = fields(entries[i])
  local kind, cid = f['type'] or '', f['call_id'] or ''
  local c = call_of(cid)
  local acc, camp = c[1], c[2]
  if kind == 'created' then
    if acc == '' then acc = f['account'] or f['detail'] or '' end
    incr('created|' .. acc .. '|' .. camp)
  elseif ATTEMPT[kind] then
    incr('attempt|' .. acc .. '|' .. camp .. '|' .. kind)
    if ENDS[kind] and not continued(i, cid) then
      incr('call|' .. acc .. '|' .. camp .. '|' .. kind)
    end
    if PLACED_END[kind] then
      local t = redis.call('HMGET', ARGV[1] .. ':attempt:' .. (f['attempt_id'] or ''),
        'posting_at', 'terminal_at')
      if t[1] and t[2] then
        local ms = tonumber(t[2]) - tonumber(t[1])
        if ms < 0 then ms = 0 end
        for _, le in ipairs(buckets) do
          if ms <= le * 1000 then incr('delay|' .. acc .. '|' .. le) end
        end
        incr('delay_count|' .. acc)
        incr('delay_sum_ms|' .. acc, ms)
      end
    end
  elseif kind == 'decided' then
    if not continued(i, cid) then
      incr('call|' .. acc .. '|' .. camp .. '|' .. (f['state'] or ''))
    end
  elseif kind == 'retry-scheduled' then
    incr('retry|' .. acc .. '|' .. camp)
  elseif kind == 'waiting' then
    incr('wait|' .. acc .. '|' .. wait_class(f['detail'] or ''))
  elseif kind == 'unresolved' then
    incr('unresolved|' .. acc .. '|' .. camp)
  end
end
redis.call('SET', KEYS[2], entries[count][1])
return {count, more}
"""


class Folder:
    """Folds new events into the counters hash; safe to call from any process, any time."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.r = client
        self.keys = keys
        self._fold = client.register_script(FOLD)
        self._buckets = ",".join(f"{b:g}" for b in DELAY_BUCKETS_S)

    def fold(self, batch: int = BATCH, max_batches: int = MAX_BATCHES) -> int:
        """Fold up to ``batch * max_batches`` events; return how many were folded."""
        k = self.keys
        total = 0
        for _ in range(max_batches):
            done, more = self._fold(keys=[k.events, k.metrics_cursor, k.metrics],
                                    args=[k.prefix, batch, self._buckets])
            total += int(done)
            if not int(more):
                break
        return total

    def counters(self) -> dict[tuple[str, ...], int]:
        """Fold what is new, then the counters as ``(kind, account, …) → value``."""
        self.fold()
        raw = self.r.hgetall(self.keys.metrics)
        return {tuple(str(k).split("|")): int(v) for k, v in raw.items()}
