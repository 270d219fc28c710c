"""Contact protection: at most N dial attempts per customer number per period, whatever
the source (campaigns, single calls from Python, HTTP or any Celery client), and quiet
hours for single calls.

* The account's cap comes from the settings (``contact_cap_attempts`` per
  ``contact_cap_period``: ``day`` / ``week`` in the number's own time zone, or
  ``rolling-24h``); a campaign adds its own (``caps`` in its spec, kept in the call's
  ``policy``). Every cap counts every source's attempts: one counter hash per number.
* Enforced at dial time in one Lua script (:data:`dialer.caps_lua.TAKE`): check every
  cap and take a slot, atomically, just before the attempt's POST; two workers never
  both take the last slot. A slot taken for an attempt that is then not dialled (lost
  claim, a replica did not acknowledge, Exotel refused or could not be reached) is given
  back (:meth:`ContactCaps.refund`). A worker that dies between the take and the POST
  leaves its slot taken: the cap errs on the side of fewer calls.
* A capped attempt waits for the period's reset, or ends ``capped`` (per source, by
  setting or spec); a single call is refused at enqueue when a cap is already reached
  (:class:`CapReachedError`, HTTP 409), unless single calls wait.

The zone of a number is the one campaigns derive from it (its area code, when
phonenumbers knows exactly one), else ``contact_cap_timezone``: one zone per number, so
one counter whichever source dials it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

import redis

from dialer import caps_lua
from dialer.errors import ConflictError
from dialer.keys import Keys
from dialer.models import Mode
from dialer.settings import Settings

Period = Literal["day", "week", "rolling-24h"]
PERIODS: tuple[Period, ...] = ("day", "week", "rolling-24h")
RESET_SLACK_MS = 1000  # a waiting attempt comes back just after its cap resets


class CapReachedError(ConflictError):
    """The customer number's cap is reached; the message says which cap and when it resets."""

    def __init__(self, capped: Capped) -> None:
        super().__init__(capped.message(), field="to")
        self.capped = capped


@dataclass(frozen=True)
class Rule:
    """At most ``attempts`` dial attempts per ``period`` (one source's cap)."""

    attempts: int
    period: Period


@dataclass(frozen=True)
class Slot:
    """A slot taken for one attempt (given back with :meth:`ContactCaps.refund`)."""

    key: str
    day: int
    week: int
    at_ms: int


@dataclass(frozen=True)
class TakeTerms:
    """The arguments of one take (:meth:`ContactCaps.take_terms`)."""

    key: str
    number: str
    zone: str
    args: list[int]


@dataclass(frozen=True)
class Capped:
    """The cap a number reached: which one, how many attempts it counted, when it resets."""

    number: str
    zone: str
    period: str
    limit: int
    used: int
    reset_ms: int

    @property
    def resets_at(self) -> datetime:
        return datetime.fromtimestamp(self.reset_ms / 1000, UTC)

    def message(self) -> str:
        from dialer.monitor.labels import mask_number

        when = self.resets_at.astimezone(_zone(self.zone)).isoformat(timespec="minutes")
        per = {"day": f"per day in {self.zone}", "week": f"per week in {self.zone}",
               "rolling-24h": "in any 24 hours"}[self.period]
        return (f"contact cap: {mask_number(self.number)} had {self.used} of {self.limit} "
                f"dial attempts {per}; it resets at {when}")


@lru_cache(maxsize=64)
def _zone(name: str) -> Any:
    from dialer.campaigns.schedule import zone

    return zone(name)


def number_zone(number: str, default: str) -> str:
    """The time zone a number's caps are counted in (the campaigns' derivation)."""
    from dialer.campaigns.contacts import zone_of_number  # not at import: a cycle

    return zone_of_number(number) or default


def customer_number(mode: str, request: dict[str, Any]) -> str | None:
    """The customer's number of a request: To; From in a flow; v3's to contact."""
    key = {Mode.V3.value: "to_contact_uri", Mode.FLOW.value: "From"}.get(mode, "To")
    value = request.get(key)
    return str(value) if value else None


def customer_of(call: dict[str, str]) -> str | None:
    """The customer's number of a stored call."""
    return customer_number(call.get("mode", ""), json.loads(call.get("request") or "{}"))


def campaign_rule(call: dict[str, str]) -> tuple[Rule | None, str]:
    """A campaign call's own cap and what it does when capped (``wait``|``end``|'')."""
    try:
        cap = json.loads(call.get("policy") or "{}").get("cap") or {}
    except ValueError:
        return None, ""
    attempts = int(cap.get("attempts") or 0)
    rule = Rule(attempts, cap.get("period") or "day") if attempts > 0 else None
    return rule, str(cap.get("when_capped") or "")


class ContactCaps:
    """Counts and caps dial attempts per customer number (see the module's doc)."""

    def __init__(self, client: redis.Redis, keys: Keys, settings: Settings) -> None:
        self.r = client
        self.keys = keys
        self.settings = settings
        self._take = client.register_script(caps_lua.TAKE)
        self._refund = client.register_script(caps_lua.REFUND)

    def key(self, number: str) -> str:
        return f"{self.keys.prefix}:contact:{number}"  # hash: d, w, r (see caps_lua)

    def account_rule(self) -> Rule | None:
        s = self.settings
        return Rule(s.contact_cap_attempts, s.contact_cap_period) \
            if s.contact_cap_attempts > 0 else None

    def rules_of(self, call: dict[str, str]) -> list[Rule]:
        rules = [self.account_rule(), campaign_rule(call)[0] if call.get("campaign_id")
                 else None]
        return [r for r in rules if r is not None]

    def when_capped(self, call: dict[str, str]) -> str:
        """``wait`` (until the cap resets) or ``end`` (the call ends ``capped``)."""
        s = self.settings
        if call.get("campaign_id"):
            return campaign_rule(call)[1] or s.contact_cap_campaign
        return "wait" if s.contact_cap_single == "wait" else "end"

    def _args(self, number: str, rules: list[Rule], take: bool) -> tuple[str, list[int]]:
        limits = {p: 0 for p in PERIODS}
        for rule in rules:
            now = limits[rule.period]
            limits[rule.period] = rule.attempts if not now else min(now, rule.attempts)
        zone = number_zone(number, self.settings.contact_cap_timezone)
        offset = datetime.now(_zone(zone)).utcoffset() or timedelta(0)
        return zone, [int(offset.total_seconds() * 1000), limits["day"], limits["week"],
                      limits["rolling-24h"], 1 if take else 0]

    def _result(self, number: str, zone: str, out: list[Any]) -> Slot | Capped:
        if int(out[0]):
            return Slot(self.key(number), int(out[1]), int(out[2]), int(out[3]))
        return Capped(number, zone, str(out[1]), int(out[2]), int(out[3]), int(out[4]))

    def _run(self, number: str, rules: list[Rule], take: bool) -> Slot | Capped:
        zone, args = self._args(number, rules, take)
        return self._result(number, zone, self._take(keys=[self.key(number)], args=args))

    def check_many(self, numbers: list[str | None]) -> list[Capped | None]:
        """The account's cap for many numbers at once (one pipelined round trip)."""
        rule = self.account_rule()
        if rule is None:
            return [None] * len(numbers)
        pipe = self.r.pipeline(transaction=False)
        zones: list[str] = []
        wanted = [n for n in numbers if n]
        for number in wanted:
            zone, args = self._args(number, [rule], take=False)
            zones.append(zone)
            self._take(keys=[self.key(number)], args=args, client=pipe)
        got = iter(zip(wanted, zones, pipe.execute() if wanted else [], strict=True))
        out: list[Capped | None] = []
        for n in numbers:
            if not n:
                out.append(None)
                continue
            number, zone, result = next(got)
            verdict = self._result(number, zone, result)
            out.append(verdict if isinstance(verdict, Capped) else None)
        return out

    def take(self, call: dict[str, str]) -> Slot | Capped | None:
        """Take a slot for one attempt of ``call`` under every cap that applies, or say
        which cap it reached. ``None``: nothing counted (no customer number, or counting
        off and no cap). One script (:mod:`dialer.lua_dispatch` runs the same one inside
        the script that marks an attempt posting: :meth:`take_terms`, :meth:`verdict`)."""
        terms = self.take_terms(call)
        if terms is None:
            return None
        return self.verdict(terms, self._take(keys=[terms.key], args=terms.args))

    def take_terms(self, call: dict[str, str]) -> TakeTerms | None:
        """What :data:`dialer.caps_lua.TAKE` is run with to take a slot for one attempt of
        ``call``; ``None`` when nothing is counted."""
        number = customer_of(call)
        rules = self.rules_of(call)
        if number is None or (not rules and not self.settings.contact_counting):
            return None
        zone, args = self._args(number, rules, take=True)
        return TakeTerms(self.key(number), number, zone, args)

    def verdict(self, terms: TakeTerms, out: list[Any]) -> Slot | Capped:
        """What :data:`dialer.caps_lua.TAKE`'s answer ``out`` to ``terms`` says."""
        return self._result(terms.number, terms.zone, out)

    def counted(self) -> str:
        """Which calls :meth:`take_terms` may count an attempt of: ``every`` call, or a
        ``campaign`` call only (its spec's cap; counting off and no account cap)."""
        if self.settings.contact_counting or self.account_rule() is not None:
            return "every"
        return "campaign"

    def check(self, number: str, rules: list[Rule] | None = None) -> Capped | None:
        """Whether ``number`` reached a cap now (nothing is taken)."""
        rules = [r for r in [self.account_rule()] if r] if rules is None else rules
        if not rules:
            return None
        got = self._run(number, rules, take=False)
        return got if isinstance(got, Capped) else None

    def refund(self, slot: Slot | Capped | None) -> None:
        """Give back a slot whose attempt was not dialled after all (no-op otherwise)."""
        if isinstance(slot, Slot):
            self._refund(keys=[slot.key], args=[0, slot.day, slot.week, slot.at_ms])

    def usage(self, number: str) -> dict[str, Any]:
        """What the counters hold for ``number`` now (reports, ``dialer`` tooling)."""
        zone = number_zone(number, self.settings.contact_cap_timezone)
        raw = self.r.hgetall(self.key(number)) or {}
        return {"number": number, "zone": zone, **{str(k): str(v) for k, v in raw.items()}}

    # --- quiet hours -------------------------------------------------------------------
    def quiet_wait_s(self, call: dict[str, str], now: datetime | None = None
                     ) -> tuple[float, str] | None:
        """A single call outside ``single_call_hours`` in its customer's zone: how long to
        wait and why; ``None`` when it may be dialled now (or quiet hours are off)."""
        hours = self.settings.single_call_hours
        number = customer_of(call)
        if not hours or call.get("campaign_id") or number is None:
            return None
        from dialer.campaigns.schedule import Window

        start, _, end = hours.partition("-")
        window = Window.parse(start, end)
        zone = number_zone(number, self.settings.contact_cap_timezone)
        now = now or datetime.now(UTC)
        if window.is_open(now, zone):
            return None
        wait = window.seconds_until_open(now, zone) + RESET_SLACK_MS / 1000
        return wait, f"quiet hours: single calls {hours} in {zone}"


def wait_ms(capped: Capped, now_ms: int) -> int:
    """How long a capped attempt waits: until its cap resets, and a second."""
    return max(0, capped.reset_ms - now_ms) + RESET_SLACK_MS
