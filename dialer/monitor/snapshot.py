"""The dialer's figures, read from Redis with bounded work: ``/metrics`` and the live page.

Per scrape: the fold of new events (:mod:`dialer.monitor.fold`, bounded batches), one
HGETALL of the counters, per account a few commands on its rate-limit log, ZCARD / ZCOUNT
of the working sets, and per active campaign (at most :data:`MAX_CAMPAIGNS`) its counters
hash and queue lengths. Nothing scans every call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import redis

from dialer.campaigns.lifecycle import Lifecycle
from dialer.campaigns.models import CampaignState
from dialer.campaigns.report import summary
from dialer.keys import Keys
from dialer.monitor.fold import Folder
from dialer.publisher import CALLS_QUEUE, RESULTS_QUEUE, SCHEDULING_QUEUE
from dialer.settings import Settings
from dialer.store import Store

log = logging.getLogger("dialer.monitor")

SETS = ("due", "pending", "dialing", "active", "unknown", "evidence", "unresolved", "calls")
MAX_CAMPAIGNS = 200
RECENT_EVENTS = 300  # the tail of the stream the live page reads recent failures from
FAILURES = ("failed", "busy", "no-answer", "rejected", "unknown", "unresolved", "absent")


@dataclass
class AccountFigures:
    name: str
    limit: int  # admitted per window
    window_s: float
    dials_in_window: int
    lookups_in_window: int
    dials_total: int
    lookups_total: int
    http_429_total: int
    cooling_down: bool


@dataclass
class Figures:
    now_ms: int
    accounts: list[AccountFigures]
    sets: dict[str, int]
    due_overdue: int
    due_oldest_overdue_s: float
    queues: dict[str, int]
    counters: dict[tuple[str, ...], int]
    campaigns: list[dict[str, Any]] = field(default_factory=list)
    campaign_ticks: int = 0


class Reader:
    """Reads :class:`Figures`; build once per web process, call :meth:`read` per scrape."""

    def __init__(self, settings: Settings, client: redis.Redis) -> None:
        self.settings = settings
        self.r = client
        self.keys = Keys(settings.key_prefix)
        self.store = Store(client, self.keys)
        self.folder = Folder(client, self.keys)
        self.life = Lifecycle(self.store, settings)

    def read(self, campaigns: bool = True) -> Figures:
        s, k = self.settings, self.keys
        counters = self.folder.counters()
        now_ms = self.store.now_ms()
        window_ms = int(s.rate_limit_window_s * 1000)
        pipe = self.r.pipeline(transaction=False)
        for name in SETS:
            pipe.zcard(getattr(k, name))
        pipe.zcount(k.due, "-inf", now_ms)
        pipe.zrangebyscore(k.due, "-inf", now_ms, start=0, num=1, withscores=True)
        for q in (CALLS_QUEUE, RESULTS_QUEUE, SCHEDULING_QUEUE):
            pipe.llen(q)
        pipe.get(f"{k.prefix}:campaign-ticks")
        for a in s.accounts:
            log, lookups, _, cooldown, counts = k.ratelimit_keys(a.name)
            since = (now_ms - window_ms) * 1000  # the log's scores are µs
            pipe.zcount(log, since, "+inf")
            pipe.zcount(lookups, since, "+inf")
            pipe.hgetall(counts)
            pipe.pttl(cooldown)
        out = pipe.execute()
        sets = {name: int(out[i]) for i, name in enumerate(SETS)}
        i = len(SETS)
        overdue = int(out[i])
        oldest = cast(list[tuple[str, float]], out[i + 1])
        oldest_s = max(0.0, (now_ms - oldest[0][1]) / 1000) if oldest else 0.0
        queues = dict(zip((CALLS_QUEUE, RESULTS_QUEUE, SCHEDULING_QUEUE),
                          (int(v) for v in out[i + 2:i + 5]), strict=True))
        ticks = int(out[i + 5] or 0)
        accounts = []
        rest = out[i + 6:]
        for j, a in enumerate(s.accounts):
            in_window, lookups, counts, cool = rest[4 * j:4 * j + 4]
            accounts.append(AccountFigures(
                a.name, s.rate_limit_admitted, s.rate_limit_window_s,
                int(in_window) - int(lookups), int(lookups), int(counts.get("dial", 0)),
                int(counts.get("lookup", 0)), int(counts.get("429", 0)), int(cool) > 0))
        figures = Figures(now_ms, accounts, sets, overdue, oldest_s, queues, counters,
                          campaign_ticks=ticks)
        if campaigns:
            figures.campaigns = self.campaigns()
        return figures

    def campaigns(self) -> list[dict[str, Any]]:
        """The active campaigns' summaries with why each one waits (at most 200)."""
        out = []
        now = self.life.repo.clock()
        for cid in self.life.repo.active_ids()[:MAX_CAMPAIGNS]:
            try:
                c = self.life.repo.get(cid)
                row = summary(self.life, cid)
                busy = len(self.life.queue.busy_agents(cid))
            except Exception:  # a campaign removed or malformed mid-read: skip it
                log.debug("campaign %s skipped in the snapshot", cid, exc_info=True)
                continue
            agents = len(c.spec.agents)
            row["agents_busy"] = min(busy, agents) if agents else busy
            row["agents_idle"] = max(0, agents - busy)
            row["waiting_because"] = waiting_because(row, c.spec.schedule, agents, busy, now)
            out.append(row)
        return out


def waiting_because(row: dict[str, Any], schedule: Any, agents: int, busy: int,
                    now: datetime) -> str:
    """Why a campaign is not dialling now, in words ("" when it is dialling)."""
    state = row["state"]
    if state == CampaignState.PAUSED.value:
        return "paused"
    if state == CampaignState.DRAFT.value:
        return "draft: not started"
    if state == CampaignState.SCHEDULED.value:
        return f"scheduled: starts at {row['start_at']}" if row.get("start_at") else "scheduled"
    if state != CampaignState.RUNNING.value:
        return state
    if not row["pending"]:
        return "all contacts taken: waiting for live calls to end" if row["live"] else ""
    window = schedule.window()
    tz = schedule.timezone
    if not window.is_open(now, tz):
        opens = window.next_open(now, tz).astimezone(window_zone(tz))
        return f"window closed until {opens:%H:%M} {tz}"
    if agents and busy >= agents:
        return "agents busy"
    if row["live"] >= row["max_concurrent"]:
        return f"at max concurrent ({row['max_concurrent']})"
    return ""


def window_zone(tz: str) -> Any:
    from dialer.campaigns.schedule import zone

    return zone(tz)


def recent_events(client: redis.Redis, keys: Keys, count: int = RECENT_EVENTS
                  ) -> list[dict[str, str]]:
    """The stream's last ``count`` events, newest first (one XREVRANGE)."""
    rows = cast(list[tuple[str, dict[str, str]]],
                client.xrevrange(keys.events, "+", "-", count=count))
    return [{"id": eid, **fields} for eid, fields in rows]
