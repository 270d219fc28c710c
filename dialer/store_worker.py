"""The worker's path through the store: claim, hold, slot, posting mark, outcome.

:meth:`WorkerPath.prepare_dial` and :meth:`WorkerPath.settle_dial` are the round trips
of a placed call (:mod:`dialer.lua_dispatch`: everything before the POST, and
everything after it), with :meth:`WorkerPath.arm_dial` between them when the customer's
caps count the attempt (the cap slot and the posting mark, the last write before the
POST); the single steps (:meth:`WorkerPath.claim`,
:meth:`WorkerPath.release`, :meth:`WorkerPath.record_outcome` …) are the same Lua
functions, for the paths that take them one at a time (a campaign's gate, a rejected
account, the tests).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

import redis

from dialer import held_script, lua, lua_dispatch
from dialer.keys import EVENTS_MAXLEN, RATELIMIT_PARTS, Keys
from dialer.models import AttemptState


def call_id_of(attempt_id: str) -> str:
    return attempt_id.rsplit("-", 1)[0]


def new_claim_token() -> str:
    return secrets.token_hex(8)


@dataclass(frozen=True)
class DialTerms:
    """What :meth:`WorkerPath.prepare_dial` checks, fixed for a worker process."""

    accounts: tuple[str, ...]  # the accounts a call may be placed on
    agent_max_calls: int
    agent_hold_ms: int
    limiter_args: tuple[int, int, int, int]  # limit, window µs, most look-ups, reserve


@dataclass(frozen=True)
class Prepared:
    """What the script before the POST did (see :data:`dialer.lua_dispatch.PREPARE`)."""

    what: str  # skipped | lost-claim | gate | account | agent | ratelimit | go
    detail: str  # the attempt's state (skipped, lost-claim); marked | unmarked (go)
    agent: str  # the agent held ('' = none)
    call: dict[str, str]


class WorkerPath:
    r: redis.Redis
    keys: Keys
    _replica_wait: Any = None  # a dialer.replication.ReplicaWait, made on first use

    def _register_worker_scripts(self, client: redis.Redis) -> None:
        self._claim = client.register_script(lua.CLAIM)
        self._mark_posting = client.register_script(lua.MARK_POSTING)
        self._release = client.register_script(lua.RELEASE)
        self._outcome = client.register_script(lua.OUTCOME)
        self._agent_acquire = client.register_script(lua.AGENT_ACQUIRE)
        self._prepare = client.register_script(lua_dispatch.PREPARE)
        self._settle = client.register_script(lua_dispatch.SETTLE)
        self._arm = client.register_script(lua_dispatch.ARM)

    def claim(self, attempt_id: str) -> tuple[str | None, str]:
        """pending → dialing. Returns ``(claim token, state)``; token None when not claimed."""
        k = self.keys
        token = new_claim_token()
        ok, state = self._claim(
            keys=[k.attempt(attempt_id), k.pending, k.dialing, k.due,
                  k.call(call_id_of(attempt_id)), k.events],
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
        return bool(waiter.wait())

    def release(
        self, attempt_id: str, claim: str, delay_ms: int, reason: str, counter: str = ""
    ) -> bool:
        """dialing → pending, due after ``delay_ms``; spends no retry."""
        k = self.keys
        return bool(int(self._release(
            keys=[k.attempt(attempt_id), k.dialing, k.due, k.call(call_id_of(attempt_id)),
                  k.events],
            args=[attempt_id, claim, max(0, int(delay_ms)), reason, EVENTS_MAXLEN, counter],
        )))

    def _outcome_zset(self, state: AttemptState) -> str:
        return {AttemptState.PLACED: self.keys.active,
                AttemptState.UNKNOWN: self.keys.unknown}.get(state, "")

    def record_outcome(
        self, attempt_id: str, claim: str, state: AttemptState, *, call_sid: str = "",
        check_after_ms: int = 0, detail: str = "",
    ) -> tuple[bool, str]:
        """dialing → placed | unknown | rejected | cancelled, by the POST's outcome."""
        k = self.keys
        ok, new = self._outcome(
            keys=[k.attempt(attempt_id), k.dialing, self._outcome_zset(state),
                  k.call(call_id_of(attempt_id)), k.call_sid(call_sid) if call_sid else "",
                  k.events],
            args=[attempt_id, claim, state.value, call_sid, max(0, check_after_ms),
                  detail[:500], EVENTS_MAXLEN],
        )
        return bool(int(ok)), str(new)

    def agent_acquire(
        self, account: str, number: str, attempt_id: str, max_calls: int, hold_ms: int
    ) -> bool:
        """Hold an agent for an attempt unless it is in ``max_calls`` calls already."""
        return bool(int(self._agent_acquire(keys=[self.keys.agent(account, number)],
                                            args=[attempt_id, max_calls, hold_ms])))

    def agent_release(self, account: str, number: str, attempt_id: str) -> None:
        self.r.zrem(self.keys.agent(account, number), attempt_id)

    # --- the two round trips of a placed call ----------------------------------------
    def prepare_dial(
        self, attempt_id: str, claim: str, terms: DialTerms, *, resume: bool = False,
        gate: bool = False, agent_wait_ms: int = 0, stretch: float = 1.0,
        member: str = "", mark: str = "here",
    ) -> Prepared:
        """Everything before the POST, in one script (:data:`dialer.lua_dispatch.PREPARE`).

        ``resume``: the attempt is claimed under ``claim`` already (a campaign's gate said
        go); ``gate``: stop after the claim for a campaign call. A busy agent waits
        ``agent_wait_ms``; a denied slot its wait × ``stretch``. ``mark``: ``here`` marks
        the attempt posting; ``arm`` leaves that to :meth:`arm_dial` (``campaign``: for a
        campaign call only). Redis errors propagate.
        """
        k = self.keys
        limit, window_us, most, reserve = terms.limiter_args
        raw = held_script.run(
            self._prepare, self.r,
            [k.attempt(attempt_id), k.pending, k.dialing, k.due, k.call(call_id_of(attempt_id)),
             k.events],
            [lua_dispatch.packed((
                attempt_id, claim, EVENTS_MAXLEN, "continue" if resume else "claim",
                1 if gate else 0, json.dumps(terms.accounts), terms.agent_max_calls,
                terms.agent_hold_ms, max(0, agent_wait_ms), k.attempt_prefix,
                k.agent_prefix, k.ratelimit_prefix, json.dumps(RATELIMIT_PARTS), limit,
                window_us, member or secrets.token_hex(8), "dial", most, reserve,
                repr(float(stretch)), mark))])
        what, detail, agent, *flat = (str(v) for v in raw)
        return Prepared(what, detail, agent, dict(zip(flat[::2], flat[1::2], strict=True)))

    def arm_dial(self, attempt_id: str, claim: str, cap_key: str = "",
                 cap_args: list[int] | None = None) -> tuple[str, list[Any]]:
        """The last write before the POST (:data:`dialer.lua_dispatch.ARM`): check the
        claim, take the cap slot (``cap_key`` / ``cap_args``: :data:`dialer.caps_lua.TAKE`'s
        key and arguments; none = nothing counted), mark posting. Returns ``('go' |
        'capped', TAKE's answer)`` or ``('lost-claim', [state])``."""
        what, *rest = held_script.run(self._arm, self.r,
                                      [self.keys.attempt(attempt_id), cap_key],
                                      [claim, *(cap_args or [0, 0, 0, 0, 0])])
        return str(what), list(rest)

    def settle_dial(
        self, attempt_id: str, claim: str, call: dict[str, str], *, member: str = "",
        state: AttemptState | None = None, call_sid: str = "", check_after_ms: int = 0,
        detail: str = "", wait_ms: int = 0, counter: str = "",
        backoff_ms: tuple[int, int] = (0, 0), stretch: float = 1.0, cool_down_ms: int = 0,
        agent: str = "",
    ) -> tuple[bool, str]:
        """Everything after the POST, in one script (:data:`dialer.lua_dispatch.SETTLE`):
        confirm the slot ``member`` (the answer came back now), cool the account down
        ``cool_down_ms`` (a 429), let ``agent`` go; then record ``state`` — or, without
        a state, put the attempt back to wait ``wait_ms`` (or the backoff ``(base, cap)``
        by ``counter``) × ``stretch`` with reason ``detail``."""
        k = self.keys
        account = call.get("account", "")
        rl = k.ratelimit_keys(account)
        cooling = cool_down_ms > 0
        ok, new = held_script.run(
            self._settle, self.r,
            [k.attempt(attempt_id), k.dialing,
             self._outcome_zset(state) if state else "", k.call(call_id_of(attempt_id)),
             k.call_sid(call_sid) if call_sid else "", k.events, k.due,
             rl[0] if member else "", rl[1] if member else "",
             rl[3] if cooling else "", rl[4] if cooling else "",
             k.agent(account, agent) if agent else ""],
            [lua_dispatch.packed((
                attempt_id, claim, EVENTS_MAXLEN, "outcome" if state else "release",
                state.value if state else "", call_sid,
                max(0, check_after_ms if state else wait_ms), detail[:500], member,
                max(1, cool_down_ms), counter, backoff_ms[0], backoff_ms[1],
                repr(float(stretch)), account, call.get("campaign_id", ""),
                call.get("custom_field", ""), call.get("idem_key", "")))])
        return bool(int(ok)), str(new)
