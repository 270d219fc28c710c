"""The inputs of a campaign's plan, read from Redis: its contacts as imported (not yet
dialled, per zone), the account's limit and what the other running campaigns take of
its share, and the answer / busy / no-answer / failed rates and call length of the
account's recent history — or given ones, or defaults when there is no history.
The model itself is :mod:`dialer.campaigns.plan` (pure)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from dialer.campaigns.lifecycle import Lifecycle
from dialer.campaigns.models import CampaignState
from dialer.campaigns.pacing import account_rate_per_s
from dialer.campaigns.plan import Plan, PlanInput, Rates, plan
from dialer.models import Mode

HISTORY_EVENTS = 20_000  # newest events read for the rates
HISTORY_DURATIONS = 500  # attempts whose length is averaged
DEFAULT_CALL_S = 45.0  # an attempt's length when there is no history
OUTCOMES = ("completed", "busy", "no-answer", "failed")


@dataclass(frozen=True)
class History:
    rates: Rates | None
    call_s: float | None
    attempts: int


class PlanWindow(BaseModel):
    zone: str
    opens: str = Field(description="ISO 8601, in the zone (or the plan's start)")
    closes: str
    contacts: float = Field(description="contacts expected to start in this window")
    attempts: float = Field(description="attempts they are expected to make")


class PlanDay(BaseModel):
    date: str = Field(description="in the campaign's time zone")
    contacts: float
    attempts: float


class PlanView(BaseModel):
    """``GET /v1/campaigns/{id}/plan`` and ``dialer campaign plan --json``."""

    id: str
    state: str
    contacts: int = Field(description="contacts not yet dialled, as imported")
    attempts: float = Field(description="expected dial attempts")
    attempts_per_contact: float
    retry_share: float = Field(description="share of attempts that end in a retry")
    contacts_per_minute: float = Field(description="while a window is open")
    bound_by: list[str] = Field(description="what bounds it: pace, limit, dials, "
                                "concurrency, agents; windows, retries")
    bounds_per_minute: dict[str, float] = Field(description="contacts per minute each allows")
    start: str
    finish: str | None = Field(description="expected end (ISO 8601); null: not before end_at "
                               "or a year")
    finish_low: str | None
    finish_high: str | None
    duration_s: float | None
    windows: list[PlanWindow]
    days: list[PlanDay]
    rates: dict[str, Any] = Field(description="outcome shares used, their source, call_s")
    notes: list[str]
    timezone: str


def fair_share(total: float, mine: float, others: Sequence[float]) -> float:
    """What water-filling ``total`` among the demands gives ``mine`` (as the tick does);
    ``mine`` = infinity: what the others leave this campaign at most."""
    demands = sorted([mine, *others])
    left, n = total, len(demands)
    for i, d in enumerate(demands):
        equal = left / (n - i)
        if d >= equal:
            return min(mine, equal)
        left -= d
    return mine


def history(life: Lifecycle, account: str) -> History:
    """The account's recent attempt outcomes (events) and lengths (attempt records)."""
    counts: Counter[str] = Counter()
    attempt_ids: list[str] = []
    for e in life.queue.recent_events(HISTORY_EVENTS):
        if e.get("type") in OUTCOMES and e.get("account") == account:
            counts[e["type"]] += 1
            if len(attempt_ids) < HISTORY_DURATIONS and e.get("attempt_id"):
                attempt_ids.append(e["attempt_id"])
    n = sum(counts.values())
    if not n:
        return History(None, None, 0)
    rates = Rates(counts["completed"], counts["busy"], counts["no-answer"], counts["failed"],
                  source=f"history ({n} attempts)").normalised()
    lengths = life.queue.attempt_spans_s(attempt_ids)
    return History(rates, sum(lengths) / len(lengths) if lengths else None, n)


def inputs(life: Lifecycle, cid: str, *, rates: Rates | None = None,
           call_s: float | None = None) -> PlanInput:
    """What :func:`dialer.campaigns.plan.plan` needs for campaign ``cid`` now."""
    s = life.settings
    c = life.repo.get(cid)
    spec, sched = c.spec, c.spec.schedule
    now = life.repo.clock()
    start = now
    if c.state in (CampaignState.DRAFT, CampaignState.SCHEDULED) and sched.start_at:
        start = max(now, sched.start_at)
    account = spec.account or (s.accounts[0].name if s.accounts else "")
    others = []
    for other_id in life.repo.active_ids():
        if other_id == cid:
            continue
        other = life.repo.get(other_id)
        if other.state is CampaignState.RUNNING and (other.spec.account or "") == account:
            others.append(other.spec.pacing.calls_per_minute / 60)
    pace = spec.pacing.calls_per_minute / 60
    total = account_rate_per_s(s.rate_limit_admitted, s.rate_limit_window_s, s.campaign_share)
    past = history(life, account) if rates is None or call_s is None else None
    retry = spec.retry
    cap = spec.caps.attempts if spec.caps.attempts and spec.caps.period == "day" else None
    if s.contact_cap_attempts and s.contact_cap_period == "day":
        cap = min(cap or s.contact_cap_attempts, s.contact_cap_attempts)
    return PlanInput(
        zones=life.queue.queue_lengths(cid), window=sched.window(), start=start,
        pace_per_s=pace, share_per_s=fair_share(total, math.inf, others),
        dial_limit_per_s=s.rate_limit_admitted / s.rate_limit_window_s,
        max_concurrent=spec.pacing.max_concurrent,
        max_retries=s.max_retries if retry.max_retries is None else retry.max_retries,
        retry_on_busy=s.retry_on_busy if retry.retry_on_busy is None else retry.retry_on_busy,
        backoff_base_s=_or(retry.backoff_base_s, s.retry_backoff_base_s),
        backoff_max_s=_or(retry.backoff_max_s, s.retry_backoff_max_s),
        jitter_ratio=_or(retry.jitter_ratio, s.retry_jitter_ratio),
        rates=rates or (past.rates if past and past.rates else Rates()),
        call_s=call_s or (past.call_s if past and past.call_s else DEFAULT_CALL_S),
        latency_s=s.campaign_tick_s / 2 + s.pump_interval_s,
        agents=len(spec.agents) if spec.mode is not Mode.FLOW else None,
        end_at=sched.end_at, timezone=sched.timezone, cap_per_day=cap,
    )


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def campaign_plan(life: Lifecycle, cid: str, *, rates: Rates | None = None,
                  call_s: float | None = None) -> dict[str, Any]:
    """The plan of campaign ``cid`` as JSON (``dialer campaign plan``, the HTTP route)."""
    inp = inputs(life, cid, rates=rates, call_s=call_s)
    result: Plan = plan(inp)
    out = result.to_dict()
    live = life.queue.live_count(cid)
    if live:
        out["notes"].append(f"{live} contacts are being dialled now (not in the plan)")
    return PlanView.model_validate(
        {"id": cid, "state": life.repo.get(cid).state.value, **out}).model_dump()


def rates_from(answered: float | None, busy: float | None, no_answer: float | None,
               failed: float | None) -> Rates | None:
    """Given rates (any missing one is 0), or None when none is given (history/defaults).
    Raises ``ValidationError`` for negative or all-zero rates."""
    from dialer.errors import ValidationError

    values = (answered, busy, no_answer, failed)
    if all(v is None for v in values):
        return None
    try:
        return Rates(answered or 0.0, busy or 0.0, no_answer or 0.0, failed or 0.0,
                     source="given").normalised()
    except ValueError as exc:
        raise ValidationError(str(exc), field="rates") from None
