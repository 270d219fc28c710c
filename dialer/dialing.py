"""Place one attempt: claim it, hold the agent, take a rate-limit slot, POST, record.

Failure policy, by the POST's outcome:

* placed      → ``placed``; the call's final status comes from a callback or a poll.
* not placed  → 429, a busy agent/device or Exotel unreachable before sending: back to
  the due set (no retry spent); any other refusal (401, 400, 404): ``rejected``.
* unknown     → ``unknown`` (read timeout, reset after sending, 5xx): never redialled
  blindly; a callback carrying its token or a lookup resolves it.

When Redis fails the limiter denies (fail closed) and the attempt stays ``dialing``
until the sweeper puts it back (it was never posted).
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from dialer.caps import Capped, ContactCaps, Slot, wait_ms
from dialer.errors import (
    DeviceBusyError,
    DndError,
    RateLimitedError,
    RedisUnavailableError,
    SettingsError,
    TransientError,
)
from dialer.exotel.models import Request, build_request
from dialer.models import AttemptState, Mode
from dialer.polling import first_poll_ms
from dialer.ratelimit import SlidingWindowLimiter
from dialer.settings import Settings
from dialer.store import Store, call_id_of
from dialer.webhooks import callback_url

log = logging.getLogger("dialer.dialing")


class PostResultLike(Protocol):
    outcome: Any
    call_sid: str | None
    error: Any
    retry_after_s: float | None


class ClientLike(Protocol):
    def place(self, request: Request) -> Any: ...


@dataclass(frozen=True)
class GateDecision:
    """What a gate says about a call about to be dialled."""

    action: str  # "go" | "wait" | "cancel"
    delay_s: float = 0.0  # for "wait"
    reason: str = ""


class Gate(Protocol):
    """Checked before each attempt of a call that belongs to a campaign (window, pause…)."""

    def __call__(self, call: dict[str, str], attempt_id: str) -> GateDecision: ...


@dataclass
class DialContext:
    """What placing a call needs; built once per worker process at the edge."""

    settings: Settings
    store: Store
    limiter: SlidingWindowLimiter
    clients: dict[str, ClientLike]
    rand: random.Random = field(default_factory=random.Random)
    gate: Gate | None = None  # campaign calls only
    on_dnd: Callable[[dict[str, str], str], None] | None = None  # (call, customer number)
    caps: ContactCaps | None = None  # per-number attempt caps and quiet hours


def build_attempt_request(
    ctx: DialContext, call: dict[str, str], attempt_id: str
) -> Request:
    """The Exotel request of an attempt: the stored parameters plus callback and CustomField."""
    mode = call["mode"]
    params: dict[str, Any] = json.loads(call["request"])
    custom = attempt_id + (f"|{call['custom_field']}" if call.get("custom_field") else "")
    s = ctx.settings
    url = None
    if s.public_base_url is not None:
        url = callback_url(str(s.public_base_url), s.callback_secret.get_secret_value(),
                           attempt_id)
    if mode == Mode.V3.value:
        params["custom_field"] = custom
        if url:
            params["status_callback"] = [
                {"event": "terminal", "url": url, "method": "POST",
                 "content_type": "application/json"},
            ]
    else:
        params["CustomField"] = custom
        if mode == Mode.CONNECT.value:
            # Exotel retries a failed first leg 3 times unless told otherwise (seed 000);
            # the dialer owns retries, so Exotel must not add its own.
            params["MaxRetries"] = 0
        if url:
            params["StatusCallback"] = url
            params["StatusCallbackContentType"] = "application/json"
            if s.subscribe_callback_events:
                # only then does Exotel's callback say which leg failed (seed 004)
                params["StatusCallbackEvents"] = ["terminal"]
    return build_request(mode, params)


def _agent_number(call: dict[str, str]) -> str | None:
    if call["mode"] != Mode.CONNECT.value:
        return None
    params = json.loads(call["request"])
    value = params.get("From")
    return str(value) if value else None


def _gated(ctx: DialContext, call: dict[str, str], attempt_id: str, claim: str) -> str | None:
    """A campaign call's gate, or a single call's quiet hours: a word when the attempt
    does not go on now (it waits, or is cancelled), else None."""
    store = ctx.store
    if call.get("campaign_id") and ctx.gate is not None:
        verdict = ctx.gate(call, attempt_id)
        if verdict.action == "wait":
            store.release(attempt_id, claim, int(verdict.delay_s * 1000), verdict.reason)
            return "waiting:gate"
        if verdict.action == "cancel":
            store.record_outcome(attempt_id, claim, AttemptState.CANCELLED, detail=verdict.reason)
            return "cancelled"
    elif ctx.caps is not None and (quiet := ctx.caps.quiet_wait_s(call)) is not None:
        store.release(attempt_id, claim, int(quiet[0] * 1000), quiet[1])
        return "waiting:quiet-hours"
    return None


def _hold_agent(ctx: DialContext, account: str, agent: str, attempt_id: str) -> bool:
    """Hold the agent for this attempt; a hold left by an ended attempt does not count."""
    s = ctx.settings
    hold = (account, agent, attempt_id, s.agent_max_concurrent_calls, int(s.agent_hold_s * 1000))
    if ctx.store.agent_acquire(*hold):
        return True
    return bool(ctx.store.free_stale_agent_holds(account, agent)) and ctx.store.agent_acquire(
        *hold)


def _jitter_ms(ctx: DialContext, base_s: float) -> int:
    return int(base_s * 1000 * (1 + ctx.rand.uniform(0, 0.25)))


def place_attempt(ctx: DialContext, attempt_id: str) -> str:
    """Try to place ``attempt_id`` now. Returns a short word saying what happened."""
    store, s = ctx.store, ctx.settings
    claim, state = store.claim(attempt_id)
    if claim is None:
        log.info("attempt %s not claimed: it is %s", attempt_id, state)
        return f"skipped:{state}"
    call = store.get_call(call_id_of(attempt_id))
    stopped = _gated(ctx, call, attempt_id, claim)
    if stopped:
        return stopped
    account = call["account"]
    try:
        s.account(account)
        client = ctx.clients[account]
    except (SettingsError, KeyError):
        store.record_outcome(attempt_id, claim, AttemptState.REJECTED,
                             detail=f"account {account!r} is not configured")
        return "rejected:account"
    agent = _agent_number(call)
    if agent and not _hold_agent(ctx, account, agent, attempt_id):
        store.release(attempt_id, claim, _jitter_ms(ctx, s.agent_busy_wait_s), "agent busy")
        return "waiting:agent"
    try:
        rl_key = ctx.store.keys.ratelimit(account)
        decision = ctx.limiter.acquire(rl_key, "dial")
    except RedisUnavailableError:
        log.warning("rate limiter unavailable; attempt %s waits for the sweeper", attempt_id)
        return "waiting:redis"
    if not decision.admitted:
        if agent:
            store.agent_release(account, agent, attempt_id)
        store.release(attempt_id, claim, _jitter_ms(ctx, decision.wait_s), "rate limit")
        return "waiting:ratelimit"
    try:
        request = build_attempt_request(ctx, call, attempt_id)
    except Exception as exc:  # stored parameters no longer valid (e.g. settings changed)
        store.record_outcome(attempt_id, claim, AttemptState.REJECTED, detail=str(exc))
        return "rejected:invalid"
    # the customer's attempt cap, taken atomically just before the POST (a capped attempt
    # leaves its limiter slot unused); given back below on every path that does not dial
    slot = ctx.caps.take(call) if ctx.caps is not None else None
    if isinstance(slot, Capped):
        if agent:
            store.agent_release(account, agent, attempt_id)
        return _capped(ctx, attempt_id, claim, call, slot)
    if not store.mark_posting(attempt_id, claim):
        _refund(ctx, slot)
        return "skipped:lost-claim"
    if not store.replicated(s.redis_wait_replicas, s.redis_wait_timeout_ms):
        # a failover could lose the claim or the mark: never POST on an unreplicated one
        _refund(ctx, slot)
        if agent:
            store.agent_release(account, agent, attempt_id)
        store.release(attempt_id, claim, _jitter_ms(ctx, 0.5), "not replicated")
        return "waiting:replication"
    try:
        result = client.place(request)
    finally:
        ctx.limiter.confirm(rl_key, decision.member)
    return _record(ctx, attempt_id, claim, call, agent, result, slot)


def _refund(ctx: DialContext, slot: Slot | None) -> None:
    if ctx.caps is not None:
        ctx.caps.refund(slot)


def _capped(ctx: DialContext, attempt_id: str, claim: str, call: dict[str, str],
            capped: Capped) -> str:
    """The customer's cap is reached: wait until it resets, or end ``capped``."""
    assert ctx.caps is not None
    if ctx.caps.when_capped(call) == "wait":
        ctx.store.release(attempt_id, claim, wait_ms(capped, ctx.store.now_ms()),
                          capped.message())
        return "waiting:cap"
    ctx.store.record_outcome(attempt_id, claim, AttemptState.CAPPED, detail=capped.message())
    return "capped"


def _customer(call: dict[str, str]) -> str | None:
    """The number Exotel refuses as DND: the customer (To; From in a flow call)."""
    params = json.loads(call["request"])
    if call["mode"] == Mode.V3.value:
        value = params.get("to_contact_uri")
    elif call["mode"] == Mode.FLOW.value:
        value = params.get("From")
    else:
        value = params.get("To")
    return str(value) if value else None


def _record(
    ctx: DialContext, attempt_id: str, claim: str, call: dict[str, str], agent: str | None,
    result: PostResultLike, slot: Slot | None = None,
) -> str:
    account = call["account"]
    store, s = ctx.store, ctx.settings
    outcome = str(getattr(result.outcome, "value", result.outcome))
    if outcome == "placed":
        store.record_outcome(attempt_id, claim, AttemptState.PLACED,
                             call_sid=result.call_sid or "",
                             check_after_ms=first_poll_ms(s, call))
        return "placed"
    if outcome == "unknown":
        store.record_outcome(attempt_id, claim, AttemptState.UNKNOWN,
                             call_sid=result.call_sid or "",
                             check_after_ms=int(s.poll_after_s * 1000),
                             detail=str(result.error or "outcome unknown"))
        return "unknown"
    _refund(ctx, slot)  # Exotel made no call: the attempt does not count against the cap
    if agent:
        store.agent_release(account, agent, attempt_id)
    err = result.error
    if isinstance(err, RateLimitedError):
        wait = err.retry_after_s if err.retry_after_s else s.rate_limit_window_s / 4
        ctx.limiter.cool_down(ctx.store.keys.ratelimit(account), wait)
        store.release(attempt_id, claim, _jitter_ms(ctx, wait), "exotel 429", counter="http_429")
        return "waiting:429"
    if isinstance(err, DeviceBusyError):
        store.release(attempt_id, claim, _jitter_ms(ctx, s.agent_busy_wait_s), "device busy")
        return "waiting:device"
    if isinstance(err, TransientError) or err is None:
        failures = int(store.get_attempt(attempt_id).get("transport_failures", "0"))
        wait = min(300.0, s.transport_retry_base_s * (2**failures))
        store.release(attempt_id, claim, _jitter_ms(ctx, wait), f"not sent: {err}",
                      counter="transport_failures")
        return "waiting:transport"
    if isinstance(err, DndError):
        store.record_outcome(attempt_id, claim, AttemptState.REJECTED, detail=f"dnd: {err}")
        number = _customer(call)
        if ctx.on_dnd is not None and number:
            ctx.on_dnd(call, number)
        return "rejected:dnd"
    store.record_outcome(attempt_id, claim, AttemptState.REJECTED, detail=str(err))
    return "rejected"
