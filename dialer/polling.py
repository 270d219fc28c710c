"""Ask Exotel what callbacks did not say: final statuses, leg evidence, unknown outcomes.

Three sets, each member due at its score (Redis ms), handled by :func:`poll_due`:

* ``active`` — placed attempts without a final callback, polled ``poll_after_s`` after
  placement and every ``poll_interval_s`` until final (and once more after the end when
  Duration / Price were missing: a background look-up, sent only while the account's
  window is less than half full).
* ``evidence`` — ended attempts whose callback did not say which leg failed: their legs
  are looked up (v1 call details with ``details=true``, v3 legs) after
  ``evidence_delay_s`` and every ``evidence_interval_s``; the update that brings them
  takes the retry decision (:func:`dialer.reconcile.decide_on_evidence`); with none by
  ``evidence_deadline_s`` the call is not retried.
* ``unknown`` — attempts whose POST outcome is unknown. With a CallSid they are polled
  like placed ones; without one they are looked for in Exotel's bulk call details
  (``From`` / ``To`` and a ``DateCreated`` window around the POST, matched by CustomField
  when listed, else by the closest listed call no other attempt owns). Exotel lists a call
  only once it has ended, so not finding one proves nothing until the horizon
  (``unknown_deadline_s``): then the attempt is reported and stays ``unknown`` — or, with
  ``redial_proven_absent``, it is dialled again (an ``absent`` event says so).

Every request takes a look-up slot of the account's one budget
(:class:`~dialer.ratelimit.SlidingWindowLimiter`, ``kind="lookup"``): dials come first. A
denied slot or a 429 puts the attempt back until the wait is over; it costs nothing else.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from dialer.errors import (
    ExotelError,
    ExotelNotFoundError,
    NotFoundError,
    RateLimitedError,
    RedisUnavailableError,
    SettingsError,
)
from dialer.models import CallUpdate, Mode
from dialer.ratelimit import Kind, SlidingWindowLimiter
from dialer.reconcile import (
    OnFinal,
    decide_on_evidence,
    give_up_evidence,
    reconcile,
    redial_absent,
)
from dialer.settings import Settings
from dialer.store import Store, call_id_of, is_terminal

log = logging.getLogger("dialer.polling")

MAX_PER_TICK = 200


class PollClient(Protocol):
    def get_call(self, call_sid: str, *, details: bool = True) -> CallUpdate: ...

    def get_call_v3(self, call_sid: str) -> CallUpdate: ...

    def get_legs_v3(self, call_sid: str) -> Any: ...

    def list_calls_page(self, **filters: Any) -> tuple[list[Any], str | None]: ...


@dataclass
class PollReport:
    polled: int = 0
    updated: int = 0
    deferred: int = 0
    expired_unknown: int = 0
    resolved_unknown: int = 0
    evidence: int = 0
    no_evidence: int = 0
    errors: int = 0


@dataclass
class _Poller:
    store: Store
    settings: Settings
    clients: dict[str, PollClient]
    budget: SlidingWindowLimiter
    report: PollReport
    on_final: OnFinal | None = None

    # --- the budget ------------------------------------------------------------------
    def _request(self, zset: str, aid: str, account: str,
                 send: Callable[[PollClient], Any], kind: Kind = "lookup") -> tuple[bool, Any]:
        """One GET within the account's budget: ``(sent, answer)``; ``answer`` may be the
        :class:`ExotelError` it raised. Not sent: the attempt waits for a slot."""
        client = self.clients.get(account)
        if client is None:
            return False, None
        key = self.store.keys.ratelimit(account)
        try:
            slot = self.budget.acquire(key, kind)
        except RedisUnavailableError:
            self.report.deferred += 1
            return False, None
        if not slot.admitted:
            self.report.deferred += 1
            self.store.push_back(zset, aid, int(slot.wait_s * 1000) + 1)
            return False, None
        self.report.polled += 1
        try:
            return True, send(client)
        except RateLimitedError as exc:
            wait_s = exc.retry_after_s or self.settings.rate_limit_window_s / 4
            self.budget.cool_down(key, wait_s)
            self.store.push_back(zset, aid, int(wait_s * 1000))
            self.report.deferred += 1
            return False, None
        except ExotelError as exc:
            return True, exc
        finally:
            self.budget.confirm(key, slot.member)

    # --- the three sets --------------------------------------------------------------
    def placed_or_unknown(self, zset: str, aid: str) -> None:
        store = self.store
        attempt = store.hash(store.keys.attempt(aid))
        final = is_terminal(attempt.get("state", ""))
        if not attempt or (final and not needs_fill(attempt)):
            store.forget(zset, aid)
            return
        sid = attempt.get("call_sid")
        call = store.hash(store.keys.call(call_id_of(aid)))
        if not sid:
            if zset == store.keys.unknown:
                self.resolve_unknown(aid, attempt, call)
            return
        v3 = call.get("mode") == Mode.V3.value
        # the look for Duration / Price after the end never takes a slot a dial could use,
        # nor does an agent-mode call's look ahead of its regular polls
        early = zset == store.keys.active and not final and is_agent_mode(call)
        kind: Kind = "background" if final else "lookup"
        if early:
            kind = agent_poll_kind(self.settings, (store.now_ms() - int(
                attempt.get("outcome_at") or 0)) / 1000)
        sent, answer = self._request(zset, aid, call.get("account", ""), lambda c: (
            c.get_call_v3(sid) if v3 else c.get_call(sid, details=True)), kind)
        if not sent:
            return
        if early:  # looked at again soon (a final answer takes it out of the set)
            store.push_back(zset, aid, agent_poll_interval_ms(self.settings))
        if isinstance(answer, ExotelNotFoundError):
            self._expire_unknown(zset, aid, attempt)
            return
        if isinstance(answer, ExotelError):
            log.warning("poll of %s failed: %s", aid, answer)
            self.report.errors += 1
            return
        if reconcile(store, self.settings, aid, answer, on_final=self.on_final).changed:
            self.report.updated += 1
        if final:  # that was the one look for Duration / Price after the end
            store.mark_fill_polled(aid)
            store.forget(zset, aid)

    def evidence(self, aid: str) -> None:
        store, s = self.store, self.settings
        zset = store.keys.evidence
        attempt = store.hash(store.keys.attempt(aid))
        if attempt.get("decision") != "pending":
            store.forget(zset, aid)
            return
        ended_ms = int(attempt.get("terminal_at") or 0)
        sid = attempt.get("call_sid")
        if not sid or store.now_ms() - ended_ms > s.evidence_deadline_s * 1000:
            give_up_evidence(store, s, aid, self.on_final)
            self.report.no_evidence += 1
            return
        call = store.get_call(call_id_of(aid))
        v3 = call.get("mode") == Mode.V3.value
        sent, answer = self._request(zset, aid, call["account"], lambda c: (
            _legs_update(sid, c.get_legs_v3(sid)) if v3 else c.get_call(sid, details=True)))
        if not sent:
            return
        if isinstance(answer, ExotelError):
            log.warning("leg look-up of %s failed: %s", aid, answer)
            self.report.errors += 1
            return
        reconcile(store, s, aid, answer, on_final=self.on_final)
        if decide_on_evidence(store, s, aid, call, on_final=self.on_final):
            self.report.evidence += 1

    def resolve_unknown(self, aid: str, attempt: dict[str, str], call: dict[str, str]) -> None:
        store, s = self.store, self.settings
        zset = store.keys.unknown
        posted_ms = int(attempt.get("posting_at") or attempt.get("outcome_at") or 0)
        account = call.get("account", "")
        try:
            offset = s.account(account).utc_offset_minutes
        except SettingsError:  # an account removed from the settings: nothing to ask
            self._expire_unknown(zset, aid, attempt, force=True)
            return
        filters = _list_filters(call, posted_ms, s.unknown_match_window_s, offset)
        sent, answer = self._request(zset, aid, account,
                                     lambda c: c.list_calls_page(**filters)[0])
        if not sent:
            return
        if isinstance(answer, ExotelError):
            log.warning("look-up of unknown %s failed: %s", aid, answer)
            self.report.errors += 1
            return
        listed = _match(store, aid, answer, posted_ms)
        if listed is None:
            if store.now_ms() - posted_ms > longest_call_s(call) * 1000:
                # whatever happened, no call of this attempt can still be going on
                _free_agent(store, call, aid)
            self._expire_unknown(zset, aid, attempt)
            return
        update: CallUpdate = listed.update
        if not update.call_sid:
            update = update.model_copy(update={"call_sid": listed.sid})
        reconcile(store, s, aid, update, on_final=self.on_final)
        self.report.resolved_unknown += 1
        log.info("unknown attempt %s found in Exotel's call details: %s", aid, listed.sid)

    def _expire_unknown(self, zset: str, aid: str, attempt: dict[str, str], *,
                        force: bool = False) -> None:
        store, s = self.store, self.settings
        if zset != store.keys.unknown:
            return
        since = int(attempt.get("outcome_at") or 0)
        if not force and store.now_ms() - since <= s.unknown_deadline_s * 1000:
            return
        self.report.expired_unknown += 1
        if s.redial_proven_absent and not attempt.get("call_sid"):
            if store.mark_absent(aid, f"not listed by Exotel in {s.unknown_deadline_s:g}s"):
                redial_absent(store, s, aid)
            return
        reason = f"no callback and not found by a look-up in {s.unknown_deadline_s:g}s"
        store.give_up_unknown(aid, reason)
        log.warning("attempt %s stays unknown: %s", aid, reason)


def poll_due(
    store: Store,
    settings: Settings,
    clients: dict[str, PollClient],
    budget: SlidingWindowLimiter,
    on_final: OnFinal | None = None,
) -> PollReport:
    """Handle every member of the three sets whose time has come (bounded per tick);
    ``on_final(call)`` as in :func:`dialer.reconcile.reconcile`."""
    poller = _Poller(store, settings, clients, budget, PollReport(), on_final)
    interval_ms = int(settings.poll_interval_s * 1000)
    for zset in (store.keys.active, store.keys.unknown):
        work = functools.partial(poller.placed_or_unknown, zset)
        for aid in store.take_expired(zset, MAX_PER_TICK, interval_ms):
            _guard(poller, aid, work)
    evidence_ms = int(settings.evidence_interval_s * 1000)
    for aid in store.take_expired(store.keys.evidence, MAX_PER_TICK, evidence_ms):
        _guard(poller, aid, poller.evidence)
    return poller.report


def _guard(poller: _Poller, aid: str, work: Callable[[str], None]) -> None:
    try:
        work(aid)
    except NotFoundError:
        poller.report.errors += 1
        log.warning("poll: attempt %s or its call is gone", aid)


def is_agent_mode(call: dict[str, str]) -> bool:
    """A call whose first leg is an agent (connect, v3): the agent waits for its end."""
    return call.get("mode") in (Mode.CONNECT.value, Mode.V3.value)


def first_poll_ms(settings: Settings, call: dict[str, str]) -> int:
    """When a placed call without a final callback is first looked up."""
    after = settings.poll_after_s
    if is_agent_mode(call):
        after = min(after, settings.agent_poll_after_s)
    return int(after * 1000)


def agent_poll_interval_ms(settings: Settings) -> int:
    return int(min(settings.agent_poll_interval_s, settings.poll_interval_s) * 1000)


def agent_poll_kind(settings: Settings, age_s: float) -> Kind:
    """The budget kind of an agent-mode call's look ``age_s`` after placement.

    Its regular polls (``poll_after_s``, then every ``poll_interval_s``) are look-ups as
    for any call; the looks in between, every ``agent_poll_interval_s``, are background
    ones: sent only while the account's window is less than half full, so they never
    take a slot a dial, or a poll that decides a call, could use.
    """
    if age_s < settings.poll_after_s:
        return "background"
    since_regular = (age_s - settings.poll_after_s) % settings.poll_interval_s
    return "lookup" if since_regular < settings.agent_poll_interval_s else "background"


def needs_fill(attempt: dict[str, str]) -> bool:
    """A final attempt still missing Duration or Price gets one more look."""
    return bool(attempt.get("call_sid")) and not attempt.get("fill_polled") and not (
        attempt.get("duration_s") and attempt.get("price")
    )


DEFAULT_RING_S = 30  # Exotel rings each leg this long when the request sets no TimeOut
MAX_TALK_S = 14_400  # and cuts a call after 4 hours when it sets no TimeLimit


def longest_call_s(call: dict[str, str]) -> float:
    """How long the call of an attempt can last at most: both legs rung, then talk."""
    req = json.loads(call.get("request") or "{}")
    ring = req.get("TimeOut") or req.get("attempt_time_out") or DEFAULT_RING_S
    talk = req.get("TimeLimit") or req.get("max_time_limit") or MAX_TALK_S
    try:
        return 2 * float(ring) + float(talk) + 60.0
    except (TypeError, ValueError):
        return 2 * DEFAULT_RING_S + MAX_TALK_S + 60.0


def _free_agent(store: Store, call: dict[str, str], aid: str) -> None:
    if call.get("mode") == Mode.CONNECT.value:
        agent = json.loads(call.get("request") or "{}").get("From")
        if agent:
            store.agent_release(call.get("account", ""), str(agent), aid)


def _legs_update(sid: str, legs: Any) -> CallUpdate:
    return CallUpdate(source="poll", call_sid=sid, leg1_status=legs.leg1_status,
                      leg2_status=legs.leg2_status)


def _numbers(call: dict[str, str]) -> tuple[str | None, str | None]:
    """(From, To) of a call as it was dialled (the customer is To; a flow has only From)."""
    req = json.loads(call.get("request") or "{}")
    if call.get("mode") == Mode.V3.value:
        return req.get("from_contact_uri"), req.get("to_contact_uri")
    return req.get("From"), req.get("To")


def _list_filters(call: dict[str, str], posted_ms: int, window_s: float,
                  offset_minutes: int) -> dict[str, Any]:
    tz = timezone(timedelta(minutes=offset_minutes))
    posted = datetime.fromtimestamp(posted_ms / 1000, tz)
    from_, to = _numbers(call)
    filters: dict[str, Any] = {
        "created_from": posted - timedelta(seconds=window_s),
        "created_to": posted + timedelta(seconds=window_s),
    }
    if from_:
        filters["from_"] = from_
    if to:
        filters["to"] = to
    return filters


def _match(store: Store, aid: str, listed: list[Any], posted_ms: int) -> Any | None:
    """The listed call that is this attempt's, or ``None``.

    CustomField (``<attempt id>|…``) decides when Exotel lists it. Otherwise the listed
    call created closest to the POST that no other attempt owns.
    """
    by_field = [c for c in listed
                if c.custom_field and c.custom_field.split("|", 1)[0] == aid]
    if by_field:
        return by_field[0]
    free = [c for c in listed if c.sid and not c.custom_field
            and store.attempt_for_sid(c.sid) in (None, aid)]
    if not free:
        return None
    posted_s = posted_ms / 1000

    def distance(c: Any) -> float:
        when = c.date_created
        return abs(when.timestamp() - posted_s) if when is not None else float("inf")

    return min(free, key=distance)
