"""Call and attempt records in Redis, and their atomic state machine.

A call has attempts ``{call_id}-1``, ``{call_id}-2`` …; an attempt moves

    pending → dialing → placed → completed | busy | no-answer | failed
                      ↘ unknown ↗        ↘ rejected (Exotel refused it)
    dialing → pending (rate limit, 429, busy agent: spends no retry)

Every transition is one Lua script (:mod:`dialer.lua`) on Redis's clock and appends an
event to the stream. A redelivered message finds its attempt claimed and stops; a POST
whose outcome is unknown leaves the attempt ``unknown`` — never redialled blindly.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import redis

from dialer import lua
from dialer.errors import NotFoundError
from dialer.keys import EVENTS_MAXLEN, Keys
from dialer.models import TERMINAL_ATTEMPT_STATES, AttemptState, CallUpdate
from dialer.policy import Decision

UPDATE_FIELDS = (
    "call_sid", "status", "leg1_status", "leg2_status", "start_time", "end_time",
    "date_updated", "duration_s", "talk_time_s", "price", "recording_url", "digits",
)


def new_call_id() -> str:
    return secrets.token_hex(12)


def make_attempt_id(call_id: str, n: int) -> str:
    """Attempt ids are ``{call_id}-{n}``: short enough for CustomField and URLs."""
    return f"{call_id}-{n}"


def call_id_of(attempt_id: str) -> str:
    return attempt_id.rsplit("-", 1)[0]


@dataclass(frozen=True)
class NewCall:
    """A validated request ready to be written."""

    account: str
    mode: str
    request: dict[str, Any]  # the Exotel parameters (wire names), validated
    metadata: dict[str, Any]
    idem_key: str = ""
    policy: dict[str, Any] | None = None  # per-call overrides of the retry policy
    campaign_id: str = ""
    custom_field: str = ""  # the caller's CustomField value (after the attempt id)


@dataclass(frozen=True)
class Created:
    call_id: str
    attempt_id: str
    created: bool  # False: the idempotency key named an existing call


@dataclass(frozen=True)
class Applied:
    changed: bool
    state: str
    became_terminal: bool
    retried: bool
    awaiting_evidence: bool = False  # ended; the retry decision waits for leg statuses


class Store:
    """Typed access to the dialer's records. ``client`` must use ``decode_responses=True``."""

    _replica_wait: Any = None  # a dialer.replication.ReplicaWait, made on first use

    def __init__(self, client: redis.Redis, keys: Keys | None = None) -> None:
        self.r = client
        self.keys = keys or Keys()
        self._create = client.register_script(lua.CREATE_CALL)
        self._take_due = client.register_script(lua.TAKE_DUE)
        self._claim = client.register_script(lua.CLAIM)
        self._mark_posting = client.register_script(lua.MARK_POSTING)
        self._release = client.register_script(lua.RELEASE)
        self._outcome = client.register_script(lua.OUTCOME)
        self._apply = client.register_script(lua.APPLY_UPDATE)
        self._decide = client.register_script(lua.DECIDE)
        self._sweep_dialing = client.register_script(lua.SWEEP_DIALING)
        self._sweep_pending = client.register_script(lua.SWEEP_PENDING)
        self._agent_acquire = client.register_script(lua.AGENT_ACQUIRE)
        self._take_expired = client.register_script(lua.TAKE_EXPIRED)
        self._cancel_pending = client.register_script(lua.CANCEL_PENDING)
        self._mark_absent = client.register_script(lua.MARK_ABSENT)
        self._give_up = client.register_script(lua.GIVE_UP_UNKNOWN)

    # --- creation ------------------------------------------------------------------
    def create_calls(self, calls: Sequence[NewCall], *, delay_ms: int = -1) -> list[Created]:
        """Write calls and first attempts in one pipelined round trip.

        ``delay_ms`` ≥ 0 puts each first attempt in the due set (the pump sends it);
        -1 marks it sent: the caller publishes its message at once (if that message is
        lost, the sweeper sends it again after ``pending_redeliver_s``).
        """
        k = self.keys
        pipe = self.r.pipeline(transaction=False)
        ids: list[tuple[str, str]] = []
        for c in calls:
            cid = new_call_id()
            aid = make_attempt_id(cid, 1)
            ids.append((cid, aid))
            self._create(
                keys=[
                    k.idem(c.account, c.idem_key) if c.idem_key else "",
                    k.call(cid), k.attempt(aid), k.due, k.calls, k.events, k.pending,
                ],
                args=[
                    cid, aid, c.account, c.mode,
                    json.dumps(c.request, separators=(",", ":")),
                    json.dumps(c.metadata, separators=(",", ":")),
                    c.idem_key, json.dumps(c.policy or {}), EVENTS_MAXLEN,
                    c.campaign_id, delay_ms, c.custom_field,
                ],
                client=pipe,
            )
        results = pipe.execute()
        out: list[Created] = []
        for (cid, aid), (got_id, created) in zip(ids, results, strict=True):
            if int(created):
                out.append(Created(cid, aid, True))
            else:
                current = self.r.hget(k.call(got_id), "current_attempt")
                out.append(Created(got_id, str(current or make_attempt_id(got_id, 1)), False))
        return out

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
        data = self.hash(self.keys.call(call_id))
        if not data:
            raise NotFoundError(f"unknown call id {call_id!r}")
        return data

    def get_attempt(self, attempt_id: str) -> dict[str, str]:
        data = self.hash(self.keys.attempt(attempt_id))
        if not data:
            raise NotFoundError(f"unknown attempt id {attempt_id!r}")
        return data

    def attempts_of(self, call_id: str) -> list[dict[str, str]]:
        call = self.get_call(call_id)
        n = int(call.get("attempts", "1"))
        pipe = self.r.pipeline(transaction=False)
        for i in range(1, n + 1):
            pipe.hgetall(self.keys.attempt(make_attempt_id(call_id, i)))
        return [dict(a) for a in pipe.execute() if a]

    def attempt_for_sid(self, call_sid: str) -> str | None:
        value = self.r.get(self.keys.call_sid(call_sid))
        return str(value) if value else None

    # --- the worker's path ---------------------------------------------------------
    def claim(self, attempt_id: str) -> tuple[str | None, str]:
        """pending → dialing. Returns ``(claim token, state)``; token None when not claimed."""
        k = self.keys
        token = secrets.token_hex(8)
        call_id = call_id_of(attempt_id)
        ok, state = self._claim(
            keys=[k.attempt(attempt_id), k.pending, k.dialing, k.due, k.call(call_id), k.events],
            args=[attempt_id, token, EVENTS_MAXLEN],
        )
        return (token if int(ok) else None), str(state)

    def mark_posting(self, attempt_id: str, claim: str) -> bool:
        return bool(int(self._mark_posting(keys=[self.keys.attempt(attempt_id)], args=[claim])))

    def replicated(self, wanted: str, timeout_ms: int) -> bool:
        """The writes so far (claim, posting mark) reached ``wanted`` replicas (``WAIT``;
        see :mod:`dialer.replication`). False: do not POST."""
        from dialer.replication import ReplicaWait

        waiter = getattr(self, "_replica_wait", None)
        if waiter is None or (waiter.wanted, waiter.timeout_ms) != (wanted, timeout_ms):
            waiter = self._replica_wait = ReplicaWait(self.r, self.keys.wait_fence, wanted,
                                                      timeout_ms)
        return waiter.wait()

    def release(
        self, attempt_id: str, claim: str, delay_ms: int, reason: str, counter: str = ""
    ) -> bool:
        """dialing → pending, due after ``delay_ms``; spends no retry."""
        k = self.keys
        call_id = call_id_of(attempt_id)
        return bool(
            int(
                self._release(
                    keys=[k.attempt(attempt_id), k.dialing, k.due, k.call(call_id), k.events],
                    args=[attempt_id, claim, max(0, int(delay_ms)), reason, EVENTS_MAXLEN,
                          counter],
                )
            )
        )

    def record_outcome(
        self,
        attempt_id: str,
        claim: str,
        state: AttemptState,
        *,
        call_sid: str = "",
        check_after_ms: int = 0,
        detail: str = "",
    ) -> tuple[bool, str]:
        """dialing → placed | unknown | rejected, by the POST's outcome."""
        k = self.keys
        call_id = call_id_of(attempt_id)
        zset = {AttemptState.PLACED: k.active, AttemptState.UNKNOWN: k.unknown}.get(state, "")
        ok, new = self._outcome(
            keys=[
                k.attempt(attempt_id), k.dialing, zset, k.call(call_id),
                k.call_sid(call_sid) if call_sid else "", k.events,
            ],
            args=[attempt_id, claim, state.value, call_sid, max(0, check_after_ms),
                  detail[:500], EVENTS_MAXLEN],
        )
        return bool(int(ok)), str(new)

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
            args=[dialing_timeout_ms, k.prefix, EVENTS_MAXLEN, max_count],
        )
        redelivered = self._sweep_pending(
            keys=[k.pending, k.due], args=[pending_redeliver_ms, k.prefix, max_count]
        )
        return {"reset": int(reset), "unknown": int(unknown), "redelivered": int(redelivered)}

    # --- agents --------------------------------------------------------------------
    def agent_acquire(
        self, account: str, number: str, attempt_id: str, max_calls: int, hold_ms: int
    ) -> bool:
        return bool(
            int(
                self._agent_acquire(
                    keys=[self.keys.agent(account, number)],
                    args=[attempt_id, max_calls, hold_ms],
                )
            )
        )

    def agent_release(self, account: str, number: str, attempt_id: str) -> None:
        self.r.zrem(self.keys.agent(account, number), attempt_id)

    def free_stale_agent_holds(self, account: str, number: str) -> int:
        """Drop an agent's holds by attempts that have ended (a release lost — with a Redis
        failover, say — would otherwise keep the agent for the whole hold). Returns how
        many were dropped."""
        key = self.keys.agent(account, number)
        holders = [str(a) for a in self.r.zrange(key, 0, -1)]
        if not holders:
            return 0
        pipe = self.r.pipeline(transaction=False)
        for aid in holders:
            pipe.hget(self.keys.attempt(aid), "state")
        stale = [aid for aid, state in zip(holders, pipe.execute(), strict=True)
                 if state is None or is_terminal(str(state))]
        return int(self.r.zrem(key, *stale)) if stale else 0

    # --- reports -------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Sizes of the working sets (for health checks and tests)."""
        k = self.keys
        pipe = self.r.pipeline(transaction=False)
        names = ("due", "pending", "dialing", "active", "unknown", "evidence", "calls")
        for name in names:
            pipe.zcard(getattr(k, name))
        return dict(zip(names, pipe.execute(), strict=True))


def is_terminal(state: str) -> bool:
    return state in {s.value for s in TERMINAL_ATTEMPT_STATES}
