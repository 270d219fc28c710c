"""Stale agent holds, dropped by the sweeper.

An agent is held (``<prefix>:agent:<account>:<number>``, a zset: attempt id → hold expiry
ms) from the claim of its attempt until the attempt ends. The release after the end is
not waited on by a replica, so a Sentinel failover can lose it: the agent then looks
busy until the hold expires (``DIALER_AGENT_HOLD_S``) unless another attempt for the same
agent comes first (``hold_agent`` in :mod:`dialer.lua` drops such holds then). The
sweeper walks the agent keys a slice at a time (a SCAN cursor kept in Redis) and drops
every hold whose attempt is terminal or gone, and every expired hold.
"""

from __future__ import annotations

import redis

from dialer.keys import Keys
from dialer.lua import DROP_ENDED_HOLDS
from dialer.lua_prelude import CLOCK, STATES

# KEYS: agent zsets; ARGV[1] attempt key prefix. Returns the holds dropped.
PRUNE = CLOCK + STATES + DROP_ENDED_HOLDS + """
local dropped = 0
for _, key in ipairs(KEYS) do
  dropped = dropped + redis.call('ZREMRANGEBYSCORE', key, '-inf', now_ms)
  dropped = dropped + drop_ended_holds(key, ARGV[1])
end
return dropped
"""

SCAN_COUNT = 500


class AgentHolds:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.r = client
        self.keys = keys
        self._prune = client.register_script(PRUNE)

    def prune_some(self, count: int = SCAN_COUNT) -> int:
        """Look at the next slice of agent keys (about ``count``); the holds dropped."""
        cursor = int(self.r.get(self.keys.agent_sweep_cursor) or 0)
        cursor, names = self.r.scan(cursor, match=f"{self.keys.agent_prefix}*", count=count)
        dropped = int(self._prune(keys=list(names), args=[self.keys.attempt_prefix])) \
            if names else 0
        self.r.set(self.keys.agent_sweep_cursor, int(cursor))
        return dropped
