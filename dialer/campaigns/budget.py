"""Token buckets in Redis for the campaigns' pace (one per campaign, one per account).

They pace what the tick *feeds*; the account's hard limit is still enforced per call by
:mod:`dialer.ratelimit` in the worker. A bucket refills continuously on Redis's clock,
so two ticks at once share one budget instead of doubling it.
"""

from __future__ import annotations

import redis

from dialer.campaigns import lua
from dialer.campaigns.keys import CampaignKeys


class Buckets:
    def __init__(self, client: redis.Redis, keys: CampaignKeys | None = None) -> None:
        self.keys = keys or CampaignKeys()
        self._bucket = client.register_script(lua.BUCKET)

    def take(self, name: str, rate_per_s: float, burst: float, want: int,
             refund: int = 0) -> int:
        """Give back ``refund`` tokens, then take up to ``want``; return how many."""
        return int(self._bucket(keys=[self.keys.bucket(name)],
                                args=[rate_per_s, burst, max(0, want), max(0, refund)]))

    def give_back(self, name: str, rate_per_s: float, burst: float, n: int) -> None:
        if n > 0:
            self.take(name, rate_per_s, burst, 0, refund=n)
