"""Calling windows and recurrence: pure functions of a time, no Redis, no Celery, no clock.

A :class:`Window` is a daily time range on some days of the week, read in a contact's own
time zone: ``Window.parse("09:00", "21:00", "mon-fri")``. A window whose end is not after
its start crosses midnight (``22:00``–``02:00``); its days are the days it opens on.

A :class:`Cron` is a five-field cron expression (minute hour day-of-month month
day-of-week) with ``*``, numbers, ranges, lists, steps and day/month names:
``Cron.parse("0 10 * * mon-fri").next_after(now, "Asia/Kolkata")``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
               "dec")
_DAY_ALIASES = {"*": "mon-sun", "all": "mon-sun", "daily": "mon-sun", "weekdays": "mon-fri",
                "weekends": "sat-sun"}


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ``ValueError`` naming it when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name, e.g. "
                         "'Asia/Kolkata')") from None


def parse_days(text: str) -> frozenset[int]:
    """``"mon-fri"``, ``"mon,wed,sat"``, ``"weekdays"``, ``"*"`` → weekday numbers (Mon=0)."""
    value = _DAY_ALIASES.get(text.strip().lower(), text.strip().lower())
    days: set[int] = set()
    for part in value.split(","):
        part = part.strip()
        ends = part.split("-")
        if not part or len(ends) > 2 or any(e not in DAY_NAMES for e in ends):
            raise ValueError(f"days: {text!r} is not like 'mon-fri' or 'mon,wed,sat'")
        a, b = DAY_NAMES.index(ends[0]), DAY_NAMES.index(ends[-1])
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return frozenset(days)


def format_days(days: frozenset[int]) -> str:
    return ",".join(DAY_NAMES[d] for d in sorted(days))


def parse_hhmm(text: str) -> time:
    """``"09:00"`` / ``"9:30"`` / ``"24:00"`` (end of day) → a time."""
    parts = text.strip().split(":")
    if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts):
        raise ValueError(f"time {text!r} is not HH:MM")
    h, m = int(parts[0]), int(parts[1])
    s = int(parts[2]) if len(parts) == 3 else 0
    if (h, m, s) == (24, 0, 0):
        return time.max
    if h > 23 or m > 59 or s > 59:
        raise ValueError(f"time {text!r} is out of range")
    return time(h, m, s)


@dataclass(frozen=True)
class Window:
    """Calling is allowed from ``start`` until (not including) ``end`` on ``days``."""

    start: time
    end: time
    days: frozenset[int]

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError(f"window start and end are both {self.start}")
        if not self.days or not self.days <= set(range(7)):
            raise ValueError(f"window days must be a non-empty subset of 0..6, got {self.days}")

    @classmethod
    def parse(cls, start: str = "09:00", end: str = "21:00", days: str = "mon-sun") -> Window:
        return cls(parse_hhmm(start), parse_hhmm(end), parse_days(days))

    @property
    def wraps(self) -> bool:
        return self.end <= self.start

    def is_open(self, now: datetime, tz: str) -> bool:
        """Whether ``now`` (aware) falls inside the window in time zone ``tz``."""
        local = now.astimezone(zone(tz))
        t, day = local.time().replace(tzinfo=None), local.weekday()
        if not self.wraps:
            return day in self.days and self.start <= t < self.end
        return (day in self.days and t >= self.start) or (
            (day - 1) % 7 in self.days and t < self.end
        )

    def next_open(self, now: datetime, tz: str) -> datetime:
        """``now`` when open, else the next opening (aware, UTC)."""
        if self.is_open(now, tz):
            return now.astimezone(UTC)
        z = zone(tz)
        local = now.astimezone(z)
        for offset in range(0, 9):
            day = local.date() + timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            opening = datetime.combine(day, self.start, tzinfo=z)
            if opening > local:
                return opening.astimezone(UTC)
        raise AssertionError("a window with days always opens within a week")  # pragma: no cover

    def seconds_until_open(self, now: datetime, tz: str) -> float:
        return max(0.0, (self.next_open(now, tz) - now).total_seconds())


# --- cron ---------------------------------------------------------------------------
_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12),
           ("weekday", 0, 7))


def _value(text: str, name: str, names: tuple[str, ...], base: int) -> int:
    low = text.lower()
    if low in names:
        return names.index(low) + base
    if not low.isdigit():
        raise ValueError(f"cron {name}: {text!r} is not a number")
    return int(low)


def _field(text: str, index: int) -> frozenset[int]:
    name, lo, hi = _FIELDS[index]
    names = MONTH_NAMES if name == "month" else DAY_NAMES if name == "weekday" else ()
    base = 1 if name in ("month", "weekday") else 0
    out: set[int] = set()
    for part in text.split(","):
        rng, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise ValueError(f"cron {name}: bad step in {part!r}")
        if rng == "*":
            a, b = lo, hi
        else:
            ends = rng.split("-")
            if len(ends) > 2 or not all(ends):
                raise ValueError(f"cron {name}: bad range {part!r}")
            a = _value(ends[0], name, names, base)
            b = _value(ends[-1], name, names, base) if len(ends) == 2 else (
                hi if step else a)
        if not lo <= a <= b <= hi:
            raise ValueError(f"cron {name}: {part!r} is outside {lo}-{hi}")
        out.update(range(a, b + 1, step or 1))
    if name == "weekday":  # cron: 0 and 7 are Sunday; ours: Monday = 0
        out = {(d - 1) % 7 for d in out}
    return frozenset(out)


@dataclass(frozen=True)
class Cron:
    """A five-field cron expression; weekdays here are Monday = 0 … Sunday = 6."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    day_any: bool  # day-of-month was '*'
    weekday_any: bool  # day-of-week was '*'
    text: str = ""

    @classmethod
    def parse(cls, text: str) -> Cron:
        parts = text.split()
        if len(parts) != 5:
            raise ValueError(f"cron {text!r}: expected 5 fields (minute hour day month weekday)")
        fields = [_field(p, i) for i, p in enumerate(parts)]
        return cls(fields[0], fields[1], fields[2], fields[3], fields[4],
                   day_any=parts[2] == "*", weekday_any=parts[4] == "*", text=" ".join(parts))

    def _day_matches(self, d: date) -> bool:
        dom, dow = d.day in self.days, d.weekday() in self.weekdays
        if self.day_any or self.weekday_any:  # cron: both restricted → either matches
            return dom and dow
        return dom or dow

    def next_after(self, after: datetime, tz: str) -> datetime:
        """The first matching minute strictly after ``after``, as an aware UTC datetime."""
        z = zone(tz)
        local = after.astimezone(z).replace(second=0, microsecond=0, tzinfo=None)
        start = local + timedelta(minutes=1)
        for offset in range(0, 366 * 5):
            d = start.date() + timedelta(days=offset)
            if d.month not in self.months or not self._day_matches(d):
                continue
            for h in sorted(self.hours):
                for m in sorted(self.minutes):
                    candidate = datetime.combine(d, time(h, m))
                    if candidate >= start:
                        return candidate.replace(tzinfo=z).astimezone(UTC)
        raise ValueError(f"cron {self.text!r} never matches")
