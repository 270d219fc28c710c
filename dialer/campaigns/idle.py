"""Why a campaign is not dialling right now, in words an operator acts on.

Read-only: the same checks the tick makes before it feeds a campaign (its state, its
``end_at``, the calling window in each zone with contacts waiting, ``max_concurrent``, free
agents), reported instead of skipped. An empty list means the tick feeds it (at its pace
and the account's campaign share).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dialer.campaigns.lifecycle import Lifecycle
from dialer.campaigns.models import CampaignState
from dialer.campaigns.report import summary as campaign_summary
from dialer.models import Mode


def with_idle_reasons(life: Lifecycle, cid: str) -> dict[str, Any]:
    """The campaign's summary and why nothing is dialling (``idle_reasons``)."""
    s = campaign_summary(life, cid)
    return {**s, "idle_reasons": idle_reasons(life, cid, s)}


def idle_reasons(life: Lifecycle, cid: str, summary: dict[str, Any],
                 now: datetime | None = None) -> list[str]:
    """Why campaign ``cid`` dials nobody now (``summary``: its :func:`summary`)."""
    c = life.repo.get(cid)
    sched = c.spec.schedule
    if c.is_template:
        return [f"a template: never dialled itself; its next copy runs at "
                f"{summary.get('next_run_at') or 'its next cron time'}"]
    if c.state is not CampaignState.RUNNING:
        return [_not_running(c.state, cid, sched.start_at)]
    now = now or life.repo.clock()
    if sched.end_at is not None and sched.end_at <= now:
        return [f"past its end_at ({sched.end_at.isoformat()}): no new dials"]
    lengths = life.queue.queue_lengths(cid)
    waiting = {z: n for z, n in lengths.items() if n > 0}
    live = int(summary.get("live") or 0)
    if not waiting:
        if not summary.get("contacts"):
            return ["no contacts: import some (dialer campaign import)"]
        if live:
            return [f"every contact was dialled; {live} call(s) not final yet"]
        return ["all contacts done"]
    reasons = []
    window = sched.window()
    if not any(window.is_open(now, z) for z in waiting):
        reasons.append(f"outside the calling window ({sched.window_start}-{sched.window_end} "
                       f"{sched.days}) in every zone with contacts waiting: "
                       f"{', '.join(sorted(waiting))}")
    if live >= c.spec.pacing.max_concurrent:
        reasons.append(f"max_concurrent reached: {live} of {c.spec.pacing.max_concurrent} "
                       "calls not final")
    if c.spec.mode is not Mode.FLOW:
        busy = life.queue.busy_agents(cid)
        if c.spec.agents and all(a in busy for a in c.spec.agents):
            reasons.append(f"no agent free: all {len(c.spec.agents)} agent(s) are in a call")
    return reasons


def _not_running(state: CampaignState, cid: str, start_at: datetime | None) -> str:
    if state is CampaignState.DRAFT:
        return f"draft: not started (dialer campaign start {cid})"
    if state is CampaignState.SCHEDULED:
        return f"scheduled: starts at {start_at.isoformat() if start_at else 'the next tick'}"
    if state is CampaignState.PAUSED:
        return f"paused (dialer campaign resume {cid})"
    if state is CampaignState.CANCELLED:
        return "cancelled"
    return "completed: every contact's call is final, or its end_at passed"
