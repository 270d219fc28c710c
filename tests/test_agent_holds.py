"""The sweeper drops agent holds whose release was lost (a failover): real Redis."""

from __future__ import annotations

import redis

from dialer.agent_holds import AgentHolds
from dialer.keys import Keys


def test_holds_of_ended_vanished_or_expired_attempts_are_dropped_live_ones_kept(
        r: redis.Redis) -> None:
    keys = Keys()
    now_ms = int(float(r.time()[0]) * 1000)
    later = now_ms + 600_000
    states = {"a-1": "dialing", "b-1": "completed", "c-1": "failed", "d-1": "placed"}
    for aid, state in states.items():
        r.hset(keys.attempt(aid), "state", state)
    agents = {("main", f"+9198100000{i}0"): aid for i, aid in enumerate(states)}
    for (account, number), aid in agents.items():
        r.zadd(keys.agent(account, number), {aid: later})
    gone = keys.agent("main", "+919810000990")
    r.zadd(gone, {"vanished-1": later})  # its attempt hash is gone
    expired = keys.agent("main", "+919810000980")
    r.zadd(expired, {"a-1": now_ms - 1})
    holds = AgentHolds(r, keys)
    dropped = holds.prune_some(count=2)  # a slice at a time: the cursor is kept
    for _ in range(50):
        if not int(r.get(keys.agent_sweep_cursor) or 0):
            break
        dropped += holds.prune_some(count=2)
    assert int(r.get(keys.agent_sweep_cursor) or 0) == 0, "the walk ends"
    assert dropped == 4
    held = {aid: r.zrange(keys.agent(a, n), 0, -1) for (a, n), aid in agents.items()}
    assert held == {"a-1": ["a-1"], "b-1": [], "c-1": [], "d-1": ["d-1"]}
    assert r.zcard(gone) == 0 and r.zcard(expired) == 0
    assert holds.prune_some() == 0  # nothing more to drop
