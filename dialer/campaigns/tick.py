"""The campaign tick (beat, every ``campaign_tick_s``): start what is due, count what ended,
and feed each running campaign only with calls it can place now.

A contact is dialled when its zone's window is open, the campaign's pace and the account's
campaign share have a token, fewer than ``max_concurrent`` of its calls are live and (in
connect/v3 mode) an agent is free. Its call goes to the due set via
``Store.create_calls(delay_ms=0)``, so the Celery queue holds at most what can be placed
now however large the campaign. Taking is atomic (:mod:`dialer.campaigns.queue`) and every
call carries the idempotency key ``campaign:<id>:<number>``: two ticks at once, or two
beats, never dial a contact twice. The tick is safe to run anywhere, any number of times.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from dialer.campaigns.budget import Buckets
from dialer.campaigns.feed import create_calls
from dialer.campaigns.keys import CampaignKeys
from dialer.campaigns.lifecycle import Lifecycle
from dialer.campaigns.models import CampaignState
from dialer.campaigns.pacing import account_rate_per_s, burst_for, fair_split
from dialer.campaigns.repo import Campaign
from dialer.errors import NotFoundError, ValidationError
from dialer.models import Mode
from dialer.settings import Settings
from dialer.store import Store

log = logging.getLogger("dialer.campaigns.tick")


@dataclass
class TickReport:
    started: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    spawned: list[str] = field(default_factory=list)
    fed: dict[str, int] = field(default_factory=dict)
    reaped: int = 0


@dataclass
class _Plan:
    campaign: Campaign
    zones: list[str]
    agents: list[str] | None
    granted: int
    rate: float
    burst: float


class Ticker:
    """One tick's work; build it from a store and the settings, call :meth:`run`."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.life = Lifecycle(store, settings)
        self.repo, self.queue = self.life.repo, self.life.queue
        self.keys: CampaignKeys = self.repo.keys
        self.buckets = Buckets(store.r, self.keys)

    def run(self, now: datetime | None = None) -> TickReport:
        now = now or self.repo.clock()
        report = TickReport()
        running: dict[str, list[Campaign]] = defaultdict(list)
        for cid in self.repo.active_ids():
            try:
                c = self._advance(self.repo.get(cid), now, report)
            except NotFoundError:
                self.repo.retire(cid)
                continue
            if c is not None and c.state is CampaignState.RUNNING:
                running[c.spec.account or ""].append(c)
        for account, campaigns in running.items():
            self._feed(account, campaigns, now, report)
        self.repo.note_tick()
        return report

    # --- lifecycle -------------------------------------------------------------------
    def _advance(self, c: Campaign, now: datetime, report: TickReport) -> Campaign | None:
        """Move ``c`` along; return it when it may be fed this tick."""
        life, sched = self.life, c.spec.schedule
        if c.is_template:
            spawned = life.run_template(c, now)
            report.spawned.extend(spawned)
            return None
        if c.state is CampaignState.SCHEDULED and (sched.start_at is None
                                                   or sched.start_at <= now):
            try:
                self.repo.transition(c.id, "begin")
                report.started.append(c.id)
                c = self.repo.get(c.id)
            except ValidationError:
                c = self.repo.get(c.id)
        if c.state in (CampaignState.DRAFT,):
            return None
        ended = sched.end_at is not None and sched.end_at <= now
        stopping = c.state is CampaignState.CANCELLED or ended
        if ended and c.state is not CampaignState.CANCELLED:
            self.queue.drop_queues(c.id, "expired")
        report.reaped += life.reap(c, cancel_pending=stopping, recreate=self._create)
        if c.state is CampaignState.CANCELLED:
            if not self.queue.live(c.id):
                self.repo.retire(c.id)
            return None
        if c.state is CampaignState.COMPLETED:
            self.repo.retire(c.id)
            return None
        allowed = ["running", "paused", "scheduled"] if ended else ["running"]
        if self.queue.complete(c.id, allowed):
            report.completed.append(c.id)
            return None
        return c

    # --- feeding ---------------------------------------------------------------------
    def _free_agents(self, c: Campaign) -> list[str]:
        busy = set(self.queue.busy_agents(c.id))
        pool = [a for a in c.spec.agents if a not in busy]
        if not pool or c.spec.mode is not Mode.CONNECT:
            return pool
        held = self.queue.agents_in_calls(c.spec.account or "", pool)
        limit = self.settings.agent_max_concurrent_calls
        return [a for a in pool if held[a] < limit]

    def _plan(self, c: Campaign, now: datetime) -> _Plan | None:
        window = c.spec.schedule.window()
        lengths = self.queue.queue_lengths(c.id)
        zones = [z for z, n in lengths.items() if n > 0 and window.is_open(now, z)]
        if not zones:
            return None
        room = min(c.spec.pacing.max_concurrent - self.queue.live_count(c.id),
                   sum(lengths[z] for z in zones))
        agents = None
        if c.spec.mode is not Mode.FLOW:
            agents = self._free_agents(c)
            room = min(room, len(agents))
        rate = c.spec.pacing.calls_per_minute / 60.0
        burst = burst_for(rate, self.settings.campaign_tick_s)
        granted = self.buckets.take(f"c:{c.id}", rate, burst, room) if room > 0 else 0
        return _Plan(c, zones, agents, granted, rate, burst)

    def _feed(self, account: str, campaigns: list[Campaign], now: datetime,
              report: TickReport) -> None:
        s = self.settings
        plans = [self._plan(c, now) for c in campaigns]
        demands = [p.granted if p else 0 for p in plans]
        if not sum(demands):
            return
        rate = account_rate_per_s(s.rate_limit_admitted, s.rate_limit_window_s,
                                  s.campaign_share)
        burst = burst_for(rate, s.campaign_tick_s)
        total = self.buckets.take(f"a:{account}", rate, burst, sum(demands))
        start = self.repo.next_round(account)
        shares = fair_split(total, demands, start % len(demands))
        for plan, share in zip(plans, shares, strict=True):
            if plan is None:
                continue
            self.buckets.give_back(f"c:{plan.campaign.id}", plan.rate, plan.burst,
                                   plan.granted - share)
            fed = self._dial(plan, share) if share else 0
            report.fed[plan.campaign.id] = fed
            if fed < share:
                self.buckets.give_back(f"c:{plan.campaign.id}", plan.rate, plan.burst,
                                       share - fed)
                self.buckets.give_back(f"a:{account}", rate, burst, share - fed)

    def _dial(self, plan: _Plan, n: int) -> int:
        c, got = plan.campaign, 0
        agents = plan.agents
        for z in plan.zones:
            taken = self.queue.take(c.id, z, n - got, c.spec.pacing.max_concurrent, agents)
            if agents is not None:
                used = {a for _, a in taken}
                agents = [a for a in agents if a not in used]
            got += self._create(c, taken)
            if got >= n:
                break
        return got

    def _create(self, c: Campaign, taken: list[tuple[str, str]]) -> int:
        """Write the calls of taken contacts (due now); return how many were written."""
        return len(create_calls(self.store, self.settings, self.queue, c, taken))


def tick(store: Store, settings: Settings, now: datetime | None = None) -> TickReport:
    """Run one tick (``now``: the campaigns' clock, for tests; default Redis time + offset)."""
    return Ticker(store, settings).run(now)
