"""``campaign plan``: when will a campaign finish and how many calls will it make — a pure
model, no Redis, no clock (:mod:`dialer.campaigns.plan_state` reads its inputs).

The campaign is a flow of contacts: while a zone's window is open its contacts start at
the lowest of the rates that bound them (contacts per second):

* ``pace``        the campaign's calls per minute;
* ``limit``       what the account's campaign share leaves it beside the other running
                  campaigns (split fairly, as the tick splits it);
* ``dials``       the account's whole admitted rate over the attempts per contact
                  (retries are dials too; the tick does not pace them);
* ``concurrency`` max_concurrent over how long a contact stays live (its attempts, their
                  backoffs);
* ``agents``      (connect / v3) one contact per agent at a time, likewise.

Zones are drained in name order while open, as the tick does. Each attempt ends in a
retry with probability ``q`` (no-answer + failed, + busy with retry_on_busy), so a
contact makes ``1 + q + … + q^R`` attempts on average. The finish is when the last
contact starts plus the tail of its retries: the expected tail counts retry ``k`` when
some contact among those started in the last chain's time is likely to need it.
The range: ±10 % on the rate, no retry at the end / every retry at its longest.

Not modelled: retries that fall outside their window (they wait for it to open; the
plan then is early), the contact caps' waits (named in the notes), look-ups' share of
the limit.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from dialer.campaigns.schedule import Window, zone

RATE_SPREAD = 0.1  # the range's ± on the rate
HORIZON_DAYS = 366  # a plan that needs longer says so


@dataclass(frozen=True)
class Rates:
    """Outcome shares of an attempt (normalised), and where they came from."""

    answered: float = 0.6
    busy: float = 0.1
    no_answer: float = 0.2
    failed: float = 0.1
    source: str = "defaults"

    def __post_init__(self) -> None:
        values = (self.answered, self.busy, self.no_answer, self.failed)
        if any(v < 0 or math.isnan(v) or math.isinf(v) for v in values) or sum(values) <= 0:
            raise ValueError("rates: answered, busy, no-answer and failed must be >= 0 and "
                             "not all 0")

    def normalised(self) -> Rates:
        total = self.answered + self.busy + self.no_answer + self.failed
        return Rates(self.answered / total, self.busy / total, self.no_answer / total,
                     self.failed / total, self.source)


@dataclass(frozen=True)
class PlanInput:
    zones: dict[str, int]  # contacts not yet dialled, per time zone
    window: Window
    start: datetime  # aware: when it starts (or now, when running)
    pace_per_s: float  # the campaign's calls per minute / 60
    share_per_s: float  # the account's campaign share left to this campaign
    dial_limit_per_s: float  # the account's whole admitted rate
    max_concurrent: int
    max_retries: int
    retry_on_busy: bool = False
    backoff_base_s: float = 30.0
    backoff_max_s: float = 600.0
    jitter_ratio: float = 0.2
    rates: Rates = field(default_factory=Rates)
    call_s: float = 60.0  # one attempt, from its take to its end (ring, talk, callback)
    latency_s: float = 1.0  # tick / pump delay before each attempt
    agents: int | None = None  # connect / v3: agent numbers; None in flow mode
    end_at: datetime | None = None
    timezone: str = "Asia/Kolkata"  # the campaign's: days are counted in it
    cap_per_day: int | None = None  # the contact cap, when one applies (notes only)


@dataclass
class Plan:
    contacts: int
    attempts: float  # expected
    attempts_per_contact: float
    retry_share: float  # q: an attempt ends in a retry
    contacts_per_minute: float  # while a window is open
    bound_by: list[str]
    bounds_per_minute: dict[str, float]
    start: datetime
    finish: datetime | None
    finish_low: datetime | None
    finish_high: datetime | None
    duration_s: float | None
    windows: list[dict[str, Any]]
    days: list[dict[str, Any]]
    rates: dict[str, Any]
    notes: list[str]
    timezone: str = "Asia/Kolkata"  # times are shown in it

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for k in ("start", "finish", "finish_low", "finish_high"):
            out[k] = out[k].astimezone(zone(self.timezone)).isoformat(timespec="seconds") \
                if out[k] else None
        out["attempts"] = round(self.attempts, 1)
        out["attempts_per_contact"] = round(self.attempts_per_contact, 4)
        out["retry_share"] = round(self.retry_share, 4)
        out["contacts_per_minute"] = round(self.contacts_per_minute, 2)
        out["bounds_per_minute"] = {k: round(v, 2) for k, v in self.bounds_per_minute.items()}
        out["duration_s"] = round(self.duration_s, 1) if self.duration_s is not None else None
        return out


def backoff_s(inp: PlanInput, k: int) -> float:
    """The delay before retry ``k`` (1-based), without jitter (its mean is 0)."""
    return min(inp.backoff_max_s, inp.backoff_base_s * 2 ** (k - 1))


def retry_share(inp: PlanInput) -> float:
    r = inp.rates.normalised()
    return min(1.0, r.no_answer + r.failed + (r.busy if inp.retry_on_busy else 0.0))


def attempts_per_contact(q: float, retries: int) -> float:
    return sum(q ** k for k in range(retries + 1))


def live_s(inp: PlanInput, q: float) -> float:
    """How long a contact stays live on average: its attempts and their backoffs."""
    step = inp.call_s + inp.latency_s
    return sum(q ** (k - 1) * (step + (backoff_s(inp, k - 1) if k > 1 else 0.0))
               for k in range(1, inp.max_retries + 2))


def bounds(inp: PlanInput, q: float) -> dict[str, float]:
    """Each bound on contacts started per second."""
    per = attempts_per_contact(q, inp.max_retries)
    live = max(1e-9, live_s(inp, q))
    out = {"pace": inp.pace_per_s, "limit": inp.share_per_s,
           "dials": inp.dial_limit_per_s / per, "concurrency": inp.max_concurrent / live}
    if inp.agents is not None:
        out["agents"] = inp.agents / live
    return out


def _openings(window: Window, tz: str, after: datetime, until: datetime
              ) -> list[tuple[datetime, datetime]]:
    """The window's open intervals in zone ``tz`` between ``after`` and ``until``."""
    out: list[tuple[datetime, datetime]] = []
    z = zone(tz)
    day = after.astimezone(z).date() - timedelta(days=1)
    while True:
        if day.weekday() in window.days:
            opens = datetime.combine(day, window.start, tzinfo=z)
            end_day = day + timedelta(days=1) if window.wraps else day
            closes = datetime.combine(end_day, window.end, tzinfo=z)
            if closes > after and opens < until:
                out.append((max(opens, after), min(closes, until)))
        if datetime.combine(day, window.start, tzinfo=z) > until:
            return out
        day += timedelta(days=1)


@dataclass
class _Flow:
    last_start: datetime | None
    windows: list[dict[str, Any]]
    left: int  # contacts not started before the horizon / end_at


def _flow(inp: PlanInput, rate: float) -> _Flow:
    """Start the contacts at ``rate`` per second while their zone's window is open."""
    horizon = inp.end_at or inp.start + timedelta(days=HORIZON_DAYS)
    left = {z: float(n) for z, n in sorted(inp.zones.items()) if n > 0}
    intervals = {z: _openings(inp.window, z, inp.start, horizon) for z in left}
    cuts = sorted({t for ivs in intervals.values() for iv in ivs for t in iv})
    windows: dict[tuple[str, datetime], dict[str, Any]] = {}
    last: datetime | None = None
    for a, b in zip(cuts, cuts[1:], strict=False):
        open_zones = [z for z in left if left[z] > 1e-9
                      and any(s <= a and b <= e for s, e in intervals[z])]
        budget = rate * (b - a).total_seconds()
        t = a
        for z in open_zones:
            if budget <= 1e-9:
                break
            take = min(budget, left[z])
            t = t + timedelta(seconds=take / rate)
            left[z] -= take
            budget -= take
            s, e = next(iv for iv in intervals[z] if iv[0] <= a and b <= iv[1])
            row = windows.setdefault((z, s), {"zone": z, "opens": s, "closes": e,
                                              "contacts": 0.0})
            row["contacts"] += take
            if left[z] <= 1e-9:
                last = t
        if all(v <= 1e-9 for v in left.values()):
            break
    if any(v > 1e-9 for v in left.values()):
        last = None
    rows = sorted(windows.values(), key=lambda w: (w["opens"], w["zone"]))
    return _Flow(last, rows, round(sum(left.values())))


def _tail(inp: PlanInput, q: float, rate: float) -> float:
    """The expected time from the last contact's start to the campaign's end: the last
    attempt, and retry ``k`` as likely as some contact started within its chain's time
    needs it (the expected longest chain)."""
    step = inp.call_s + inp.latency_s
    tail, chain = step, step
    for k in range(1, inp.max_retries + 1):
        chain += backoff_s(inp, k) + step
        recent = max(1.0, rate * chain)  # contacts started within this chain's time
        tail += (1 - (1 - q ** k) ** recent) * (backoff_s(inp, k) + step)
    return tail


def plan(inp: PlanInput) -> Plan:
    """The plan of one campaign (see the module's doc)."""
    q = retry_share(inp)
    per = attempts_per_contact(q, inp.max_retries)
    b = bounds(inp, q)
    rate = max(1e-9, min(b.values()))
    bound_by = [k for k, v in b.items() if v <= rate * 1.0001]
    contacts = sum(max(0, n) for n in inp.zones.values())
    flow = _flow(inp, rate)
    notes: list[str] = []
    finish = low = high = None
    if contacts and flow.last_start is not None:
        finish = flow.last_start + timedelta(seconds=_tail(inp, q, rate))
        fast, slow = _flow(inp, rate * (1 + RATE_SPREAD)), _flow(inp, rate * (1 - RATE_SPREAD))
        step = inp.call_s + inp.latency_s
        longest = step + sum((backoff_s(inp, k) * (1 + inp.jitter_ratio) + step)
                             for k in range(1, inp.max_retries + 1))
        low = (fast.last_start or flow.last_start) + timedelta(seconds=step)
        high = (slow.last_start or flow.last_start) + timedelta(seconds=longest)
        if inp.end_at is not None:
            finish, low, high = (min(t, inp.end_at) for t in (finish, low, high))
    elif contacts:
        notes.append(f"{flow.left} contacts would not be dialled before "
                     f"{'end_at' if inp.end_at else f'{HORIZON_DAYS} days'}")
    if flow.last_start is not None and contacts and (
            flow.last_start - inp.start).total_seconds() > 1.05 * contacts / rate + 1:
        bound_by.append("windows")  # it waited for windows to open
    if inp.max_retries and q > 0:
        bound_by.append("retries")
    if inp.cap_per_day is not None and inp.cap_per_day < inp.max_retries + 1:
        notes.append(f"the contact cap ({inp.cap_per_day} per day) is below 1 + max_retries:"
                     " retries past it wait for the next day (not modelled)")
    windows: list[dict[str, Any]] = []
    days: defaultdict[str, dict[str, float]] = defaultdict(
        lambda: {"contacts": 0.0, "attempts": 0.0})
    camp_zone = zone(inp.timezone)
    for w in flow.windows:
        attempts = w["contacts"] * per
        z = zone(w["zone"])
        windows.append({"zone": w["zone"],
                        "opens": w["opens"].astimezone(z).isoformat(timespec="seconds"),
                        "closes": w["closes"].astimezone(z).isoformat(timespec="seconds"),
                        "contacts": round(w["contacts"], 1), "attempts": round(attempts, 1)})
        d = days[w["opens"].astimezone(camp_zone).date().isoformat()]
        d["contacts"] += w["contacts"]
        d["attempts"] += attempts
    r = inp.rates.normalised()
    return Plan(
        contacts=contacts, attempts=contacts * per, attempts_per_contact=per, retry_share=q,
        contacts_per_minute=rate * 60, bound_by=bound_by,
        bounds_per_minute={k: v * 60 for k, v in b.items()}, start=inp.start, finish=finish,
        finish_low=low, finish_high=high,
        duration_s=(finish - inp.start).total_seconds() if finish else None,
        windows=windows,
        days=[{"date": k, "contacts": round(v["contacts"], 1),
               "attempts": round(v["attempts"], 1)} for k, v in sorted(days.items())],
        rates={"answered": round(r.answered, 4), "busy": round(r.busy, 4),
               "no_answer": round(r.no_answer, 4), "failed": round(r.failed, 4),
               "source": r.source, "call_s": inp.call_s},
        notes=notes, timezone=inp.timezone,
    )
