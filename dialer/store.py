"""Call and attempt records in Redis, and their atomic state machine.

A call has attempts ``{call_id}-1``, ``{call_id}-2`` …; an attempt moves

    pending → dialing → placed → completed | busy | no-answer | failed
                      ↘ unknown ↗        ↘ rejected (Exotel refused it)
    dialing → pending (rate limit, 429, busy agent: spends no retry)

Every transition is one Lua script (:mod:`dialer.lua`) on Redis's clock and appends an
event to the stream. A redelivered message finds its attempt claimed and stops; a POST
whose outcome is unknown leaves the attempt ``unknown`` — never redialled blindly. The
worker's path (claim … outcome, and the two fused round trips of a placed call) is
:mod:`dialer.store_worker`; writing new calls (a chunk of calls per script) is
:mod:`dialer.store_create`.

A waiting call is written lean (a few hundred bytes of Redis each, for millions of them):
the call hash holds what the request says — empty fields left out, its id is in its key —
and its first attempt has no hash, nor the call a ``state``, until the first claim or
cancel writes them. Until then the attempt reads as ``pending`` and the call as
``queued`` (:meth:`Store.get_call`, :meth:`Store.get_attempt`, and the scripts'
``attempt_state``). Other readers of a call hash take the same defaults
(:data:`CALL_DEFAULTS`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import cast

import redis

from dialer import lua, lua_reconcile
from dialer.errors import NotFoundError
from dialer.keys import EVENTS_MAXLEN, Keys
from dialer.models import TERMINAL_ATTEMPT_STATES, AttemptState, CallUpdate
from dialer.policy import Decision
from dialer.store_create import (
    Created,
    CreatePath,
    NewCall,
    make_attempt_id,
    new_call_id,
)
from dialer.store_worker import WorkerPath, call_id_of

__all__ = ["CALL_DEFAULTS", "Applied", "Created", "NewCall", "Store", "call_id_of",
           "is_terminal", "make_attempt_id", "new_call_id"]

# What a call hash holds when a field is absent (a lean waiting call, see above).
CALL_DEFAULTS = {"state": "queued", "attempts": "1", "metadata": "{}", "policy": "{}",
                 "idem_key": "", "campaign_id": "", "custom_field": ""}

UPDATE_FIELDS = (
    "call_sid", "status", "leg1_status", "leg2_status", "start_time", "end_time",
    "date_updated", "duration_s", "talk_time_s", "price", "recording_url", "digits",
)


@dataclass(frozen=True)
class Applied:
    changed: bool
    state: str
    became_terminal: bool
    retried: bool
    awaiting_evidence: bool = False  # ended; the retry decision waits for leg statuses


class Store(CreatePath, WorkerPath):
    """Typed access to the dialer's records. ``client`` must use ``decode_responses=True``."""

    def __init__(self, client: redis.Redis, keys: Keys | None = None) -> None:
        self.r = client
        self.keys = keys or Keys()
        self._register_worker_scripts(client)
        self._register_create_script(client)
        self._take_due = client.register_script(lua.TAKE_DUE)
        self._apply = client.register_script(lua_reconcile.APPLY_UPDATE)
        self._decide = client.register_script(lua_reconcile.DECIDE)
        self._sweep_dialing = client.register_script(lua.SWEEP_DIALING)
        self._sweep_pending = client.register_script(lua.SWEEP_PENDING)
        self._take_expired = client.register_script(lua.TAKE_EXPIRED)
        self._cancel_pending = client.register_script(lua.CANCEL_PENDING)
        self._mark_absent = client.register_script(lua.MARK_ABSENT)
        self._give_up = client.register_script(lua.GIVE_UP_UNKNOWN)

    # --- the due set ------------------------------------------------------------------
    def take_due(self, max_count: int) -> list[str]:
        """Pop up to ``max_count`` attempts whose time has come (and mark them sent)."""
        return list(self._take_due(keys=[self.keys.due, self.keys.pending], args=[max_count]))

    def schedule(self, attempt_id: str, delay_ms: int) -> None:
        """Put an attempt in the due set (the pump will send it)."""
        now_ms = self.now_ms()
        self.r.zadd(self.keys.due, {attempt_id: now_ms + max(0, delay_ms)})

    def now_ms(self) -> int:
        sec, usec = self.r.time()
        return int(sec) * 1000 + int(usec) // 1000

    # --- reading -------------------------------------------------------------------
    def hash(self, key: str) -> dict[str, str]:
        """A hash as ``str → str`` (the client decodes responses); ``{}`` when missing."""
        return cast(dict[str, str], self.r.hgetall(key))

    def get_call(self, call_id: str) -> dict[str, str]:
        """The call hash with its id and the defaults of absent fields
        (:data:`CALL_DEFAULTS`). Raises ``NotFoundError``."""
        data = self.hash(self.keys.call(call_id))
        if not data:
            raise NotFoundError(f"unknown call id {call_id!r}")
        return with_defaults(call_id, data)

    def get_attempt(self, attempt_id: str) -> dict[str, str]:
        """The attempt hash (a first attempt not written yet reads as pending)."""
        data = self.hash(self.keys.attempt(attempt_id))
        if not data and attempt_id.endswith("-1"):
            call_id = call_id_of(attempt_id)
            call = self.hash(self.keys.call(call_id))
            if call and "state" not in call:
                data = unwritten_attempt(call_id, call)
        if not data:
            raise NotFoundError(f"unknown attempt id {attempt_id!r}")
        return data

    def attempts_of(self, call_id: str) -> list[dict[str, str]]:
        """The call's attempts, first first; a lean waiting call's unwritten first attempt
        as it will be written. The call hash is read again with the attempts (one
        transaction): a first claim between two reads would otherwise show a claimed call
        with no attempt."""
        for _ in range(3):
            call = self.get_call(call_id)
            n = int(call.get("attempts", "1"))
            pipe = self.r.pipeline(transaction=True)
            pipe.hget(self.keys.call(call_id), "state")
            for i in range(1, n + 1):
                pipe.hgetall(self.keys.attempt(make_attempt_id(call_id, i)))
            state, *found = pipe.execute()
            attempts = [dict(a) for a in found if a]
            if attempts:
                return attempts
            if state is None:  # not claimed yet
                return [unwritten_attempt(call_id, call)]
            # claimed since the call was read: its attempt count may have moved, read again
        return attempts

    def attempt_for_sid(self, call_sid: str) -> str | None:
        value = self.r.get(self.keys.call_sid(call_sid))
        return str(value) if value else None

    # --- reconciliation ------------------------------------------------------------
    def apply_update(
        self,
        attempt_id: str,
        update: CallUpdate,
        terminal_state: AttemptState | None,
        decision: Decision | None,
        *,
        poll_after_ms: int = 60_000,
        evidence_after_ms: int = 5_000,
    ) -> Applied:
        """Apply a callback or poll result; forward only; retry decided exactly once.

        A terminal update whose ``decision`` needs leg evidence ends the attempt but leaves
        the call ``awaiting-evidence``: the attempt joins the evidence set, looked up after
        ``evidence_after_ms``, and :meth:`decide` takes the retry decision later.
        """
        k = self.keys
        call_id, n_str = attempt_id.rsplit("-", 1)
        n = int(n_str)
        fields: dict[str, str] = {}
        for name in UPDATE_FIELDS:
            value = getattr(update, name)
            if value is not None and str(value).strip() != "":
                fields[name] = str(value)
        retry = bool(terminal_state and decision and decision.retry)
        how = ""
        if terminal_state is not None:
            how = "final"
            if decision is not None and decision.needs_evidence:
                how = "evidence"
            elif retry:
                how = "retry"
        next_id = make_attempt_id(call_id, n + 1) if retry else ""
        changed, state, became, retried, decided = self._apply(
            keys=[
                k.attempt(attempt_id), k.call(call_id), k.active, k.unknown, k.dialing, k.due,
                k.attempt(next_id) if retry else "", k.events,
                k.call_sid(fields["call_sid"]) if "call_sid" in fields else "", k.evidence,
            ],
            args=[
                attempt_id, json.dumps(fields), terminal_state.value if terminal_state else "",
                int((decision.delay_s if decision else 0) * 1000), next_id, n + 1,
                EVENTS_MAXLEN, (decision.reason if decision else update.source)[:200],
                poll_after_ms, how, max(0, evidence_after_ms),
            ],
        )
        return Applied(bool(int(changed)), str(state), bool(int(became)), bool(int(retried)),
                       str(decided) == "pending")

    def decide(self, attempt_id: str, decision: Decision) -> tuple[bool, bool]:
        """Take the retry decision an ended attempt waited for, exactly once.

        Returns ``(decided, retried)``; ``decided`` is False when it was taken already.
        """
        k = self.keys
        call_id, n_str = attempt_id.rsplit("-", 1)
        next_id = make_attempt_id(call_id, int(n_str) + 1) if decision.retry else ""
        decided, retried = self._decide(
            keys=[k.attempt(attempt_id), k.call(call_id), k.due,
                  k.attempt(next_id) if next_id else "", k.events, k.evidence],
            args=[attempt_id, int(decision.delay_s * 1000), next_id, int(n_str) + 1,
                  EVENTS_MAXLEN, decision.reason[:200]],
        )
        return bool(int(decided)), bool(int(retried))

    def cancel_pending(self, attempt_id: str, reason: str) -> bool:
        """pending → cancelled (never dialled); False when it is already further on."""
        k = self.keys
        call_id = call_id_of(attempt_id)
        return bool(int(self._cancel_pending(
            keys=[k.attempt(attempt_id), k.due, k.pending, k.call(call_id), k.events],
            args=[attempt_id, reason[:200], EVENTS_MAXLEN],
        )))

    def give_up_unknown(self, attempt_id: str, reason: str) -> None:
        """Stop looking up an unknown attempt: it stays ``unknown`` and is reported."""
        k = self.keys
        self._give_up(keys=[k.attempt(attempt_id), k.unknown, k.unresolved, k.events,
                            k.call(call_id_of(attempt_id))],
                      args=[attempt_id, reason[:200], EVENTS_MAXLEN])

    def refused(self, request: object, reason: str) -> None:
        """A request sent by another service failed validation: nothing was written but a
        ``refused`` event carrying its idempotency key, account and custom_field."""
        req = request if isinstance(request, dict) else {}

        def text(value: object, cap: int) -> str:
            if not isinstance(value, str | int):
                return ""
            return str(value)[:cap].encode("utf-8", "replace").decode("utf-8")

        self.r.xadd(self.keys.events, {
            "type": "refused", "call_id": "", "attempt_id": "", "attempt": "",
            "state": "refused", "detail": text(reason, 500),
            "account": text(req.get("account"), 64), "campaign_id": "",
            "custom_field": text(req.get("custom_field"), 128),
            "idempotency_key": text(req.get("idempotency_key"), 200), "at_ms": self.now_ms(),
        }, maxlen=EVENTS_MAXLEN, approximate=True)

    def unresolved(self) -> list[tuple[str, int]]:
        """Unknown attempts given up on, oldest first: (attempt id, when, ms)."""
        return self.zset_items(self.keys.unresolved)

    def zset_items(self, key: str) -> list[tuple[str, int]]:
        """A whole sorted set as (member, score) pairs, lowest score first."""
        rows = cast(list[tuple[str, float]], self.r.zrange(key, 0, -1, withscores=True))
        return [(str(member), int(score)) for member, score in rows]

    def take_expired(self, zset: str, max_count: int, push_back_ms: int) -> list[str]:
        """Members of ``zset`` whose time has come; their score moves ``push_back_ms`` on."""
        return list(self._take_expired(keys=[zset], args=[max_count, push_back_ms]))

    def push_back(self, zset: str, member: str, delay_ms: int) -> None:
        """A member of a work set is due again ``delay_ms`` from now (if still there)."""
        self.r.zadd(zset, {member: self.now_ms() + max(0, delay_ms)}, xx=True)

    def check_later(self, zset: str, member: str, delay_ms: int) -> None:
        """Add ``member`` to work set ``zset``, due ``delay_ms`` from now."""
        self.r.zadd(zset, {member: self.now_ms() + max(0, delay_ms)})

    def forget(self, zset: str, member: str) -> None:
        """Nothing more to do for ``member`` in work set ``zset``."""
        self.r.zrem(zset, member)

    def mark_fill_polled(self, attempt_id: str) -> None:
        """The one look for Duration / Price after the end was taken."""
        self.r.hset(self.keys.attempt(attempt_id), "fill_polled", "1")

    def mark_absent(self, attempt_id: str, reason: str) -> bool:
        """unknown → absent (never created by Exotel); the retry decision is pending."""
        k = self.keys
        return bool(int(self._mark_absent(keys=[k.attempt(attempt_id), k.unknown, k.events,
                                                k.call(call_id_of(attempt_id))],
                                          args=[attempt_id, reason[:200], EVENTS_MAXLEN])))

    # --- sweeping ------------------------------------------------------------------
    def sweep(self, dialing_timeout_ms: int, pending_redeliver_ms: int, max_count: int = 1000
              ) -> dict[str, int]:
        k = self.keys
        reset, unknown = self._sweep_dialing(
            keys=[k.dialing, k.due, k.unknown, k.events],
            args=[dialing_timeout_ms, k.attempt_prefix, EVENTS_MAXLEN, max_count,
                  k.call_prefix],
        )
        redelivered = self._sweep_pending(
            keys=[k.pending, k.due],
            args=[pending_redeliver_ms, k.attempt_prefix, max_count, k.call_prefix],
        )
        return {"reset": int(reset), "unknown": int(unknown), "redelivered": int(redelivered)}

    # --- reports -------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Sizes of the working sets (for health checks and tests)."""
        k = self.keys
        pipe = self.r.pipeline(transaction=False)
        names = ("due", "pending", "dialing", "active", "unknown", "evidence")
        for name in names:
            pipe.zcard(getattr(k, name))
        pipe.get(k.calls_created)
        pipe.zcard(k.calls)  # the index of calls written by earlier versions
        *sizes, created, indexed = pipe.execute()
        return {**dict(zip(names, sizes, strict=True)), "calls": int(created or 0) + indexed}


_TERMINAL = frozenset(s.value for s in TERMINAL_ATTEMPT_STATES)


def is_terminal(state: str) -> bool:
    return state in _TERMINAL


def with_defaults(call_id: str, call: dict[str, str]) -> dict[str, str]:
    """A call hash as every reader sees it: its id, and the defaults of absent fields."""
    current = make_attempt_id(call_id, int(call.get("attempts") or 1))
    return {"id": call_id, **CALL_DEFAULTS, "current_attempt": current, **call}


def unwritten_attempt(call_id: str, call: dict[str, str]) -> dict[str, str]:
    """What the first attempt of a lean waiting call holds before its hash is written."""
    return {"id": make_attempt_id(call_id, 1), "call_id": call_id, "n": "1",
            "state": AttemptState.PENDING.value, "created_at": call.get("created_at", ""),
            "account": call.get("account", "")}
