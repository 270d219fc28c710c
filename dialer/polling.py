"""Ask Exotel about calls whose final status has not arrived by callback.

Placed attempts wait in the ``active`` set until ``poll_after_s`` after placement, then
are polled every ``poll_interval_s`` until final; ``unknown`` attempts (the POST may or
may not have reached Exotel) are looked up the same way when they have a CallSid — without
one only a callback carrying their token can resolve them, and after
``unknown_deadline_s`` they leave the lookup set and stay ``unknown``, reported, never
redialled. Polling draws on its own per-account budget so it cannot starve placement.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from dialer.errors import ExotelError, ExotelNotFoundError, RedisUnavailableError
from dialer.models import Mode
from dialer.ratelimit import SlidingWindowLimiter
from dialer.reconcile import reconcile
from dialer.settings import Settings
from dialer.store import Store, call_id_of, is_terminal

log = logging.getLogger("dialer.polling")

MAX_PER_TICK = 200


class PollClient(Protocol):
    def get_call(self, call_sid: str, *, details: bool = True) -> Any: ...

    def get_call_v3_with_legs(self, call_sid: str) -> Any: ...


@dataclass
class PollReport:
    polled: int = 0
    updated: int = 0
    deferred: int = 0
    expired_unknown: int = 0
    errors: int = 0


def poll_due(
    store: Store,
    settings: Settings,
    clients: dict[str, PollClient],
    budget: SlidingWindowLimiter,
) -> PollReport:
    """Poll every attempt whose check time has come (bounded per tick and by budget)."""
    report = PollReport()
    interval_ms = int(settings.poll_interval_s * 1000)
    for zset in (store.keys.active, store.keys.unknown):
        for aid in store.take_expired(zset, MAX_PER_TICK, interval_ms):
            _poll_one(store, settings, clients, budget, zset, aid, report)
    return report


def _poll_one(
    store: Store, settings: Settings, clients: dict[str, PollClient],
    budget: SlidingWindowLimiter, zset: str, aid: str, report: PollReport,
) -> None:
    attempt = store.hash(store.keys.attempt(aid))
    final = is_terminal(attempt.get("state", ""))
    if not attempt or (final and not needs_fill(attempt)):
        store.r.zrem(zset, aid)
        return
    sid = attempt.get("call_sid")
    if not sid:
        _expire_unknown(store, settings, zset, aid, attempt, report)
        return
    call = store.hash(store.keys.call(call_id_of(aid)))
    account = call.get("account", "")
    client = clients.get(account)
    if client is None:
        return
    try:
        if not budget.acquire(f"{store.keys.prefix}:pollbudget:{account}").admitted:
            report.deferred += 1
            return
    except RedisUnavailableError:
        report.deferred += 1
        return
    report.polled += 1
    try:
        if call.get("mode") == Mode.V3.value:
            update = client.get_call_v3_with_legs(sid)
        else:
            update = client.get_call(sid, details=True)
    except ExotelNotFoundError:
        _expire_unknown(store, settings, zset, aid, attempt, report)
        return
    except ExotelError as exc:
        log.warning("poll of %s failed: %s", aid, exc)
        report.errors += 1
        return
    applied = reconcile(store, settings, aid, update)
    if applied.changed:
        report.updated += 1
    if final:  # that was the one look for Duration / Price after the end
        store.r.hset(store.keys.attempt(aid), "fill_polled", "1")
        store.r.zrem(zset, aid)


def needs_fill(attempt: dict[str, str]) -> bool:
    """A final attempt still missing Duration or Price gets one more look."""
    return bool(attempt.get("call_sid")) and not attempt.get("fill_polled") and not (
        attempt.get("duration_s") and attempt.get("price")
    )


def _expire_unknown(
    store: Store, settings: Settings, zset: str, aid: str, attempt: dict[str, str],
    report: PollReport,
) -> None:
    if zset != store.keys.unknown:
        return
    since = int(attempt.get("outcome_at") or 0)
    if store.now_ms() - since > settings.unknown_deadline_s * 1000:
        store.give_up_unknown(aid, f"no callback and no lookup in {settings.unknown_deadline_s}s")
        report.expired_unknown += 1
        log.warning("attempt %s stays unknown: no callback and no lookup in %ss", aid,
                    settings.unknown_deadline_s)
