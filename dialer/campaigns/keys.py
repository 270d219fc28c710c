"""Every Redis key of the campaigns, beside :class:`dialer.keys.Keys` and in its style."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CampaignKeys:
    prefix: str = "dialer"

    def campaign(self, cid: str) -> str:
        return f"{self.prefix}:campaign:{cid}"  # hash: spec JSON, state, counters

    def contacts(self, cid: str) -> str:
        return f"{self.prefix}:campaign:{cid}:contacts"  # hash: number → compact JSON ('' none)

    def zones(self, cid: str) -> str:
        return f"{self.prefix}:campaign:{cid}:zones"  # set: time zones with a queue

    def queue_prefix(self, cid: str) -> str:
        return f"{self.prefix}:campaign:{cid}:queue:"

    def queue(self, cid: str, tz: str) -> str:
        return self.queue_prefix(cid) + tz  # list: numbers not yet dialled, in import order

    def live(self, cid: str) -> str:
        return f"{self.prefix}:campaign:{cid}:live"  # zset: number → taken at (ms), not final

    def calls(self, cid: str) -> str:
        return f"{self.prefix}:campaign:{cid}:calls"  # hash: number → call id | '!reason'

    def agents(self, cid: str) -> str:
        return f"{self.prefix}:campaign:{cid}:agents"  # hash: busy agent → contact number

    def dnc(self, cid: str) -> str:
        return f"{self.prefix}:campaign:{cid}:dnc"  # set: this campaign's do-not-call numbers

    def run_claim(self, run_id: str) -> str:
        return self.campaign(run_id) + ":claim"  # string: the template that made this run

    def bucket(self, name: str) -> str:
        return f"{self.prefix}:campaign-bucket:{name}"  # hash: tokens, at_ms

    def round_robin(self, account: str) -> str:
        return f"{self.prefix}:campaign-rr:{account}"  # counter: fair split rotation

    @property
    def global_dnc(self) -> str:
        return f"{self.prefix}:dnc"  # set: do-not-call numbers of every campaign (E.164)

    @property
    def index(self) -> str:
        return f"{self.prefix}:campaigns"  # zset: campaign id → created (ms)

    @property
    def ticks(self) -> str:
        return f"{self.prefix}:campaign-ticks"  # counter: ticks run (monitoring, tests)

    @property
    def active(self) -> str:
        return f"{self.prefix}:campaigns:active"  # set: campaigns the tick looks at
