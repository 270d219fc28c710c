"""Place one attempt: claim it, hold the agent, take a rate-limit slot, POST, record.

Failure policy, by the POST's outcome:

* placed      → ``placed``; the call's final status comes from a callback or a poll.
* not placed  → 429, a busy agent/device or Exotel unreachable before sending: back to
  the due set (no retry spent); any other refusal (401, 400, 404): ``rejected``.
* unknown     → ``unknown`` (read timeout, reset after sending, 5xx): never redialled
  blindly; a callback carrying its token or a lookup resolves it.

When Redis fails before the POST nothing is posted (fail closed): a claimed attempt stays
``dialing`` until the sweeper puts it back (it was never posted).

A placed call takes two round trips to Redis (:mod:`dialer.lua_dispatch`): one script
before the POST, one after; a campaign call's gate (``DialContext.gate``) runs between
its claim and the rest of the first. When the customer's caps count the attempt (the
default: ``DIALER_CONTACT_COUNTING``), a third script takes the cap slot and marks the
attempt posting once its request is built: the posting mark is the last write before
the POST.

The posting mark is the point of no return: a worker lost after it leaves an attempt
the sweeper calls ``unknown`` (looked up, never redialled blindly), so it is set as late
as possible. Everything that can be built is built before it: the callback URL before
the claim, the Exotel request and its HTTP form (URL, headers, body) between the claim
and the mark. What is left after the mark is reading its reply, the replicas'
acknowledgement when replicas are waited for (``WAIT``: it must follow the mark), taking
a pooled connection and sending the bytes — a worker killed there is the only attempt
called ``unknown`` although Exotel never saw it. Without caps counting (and for a
single call when only campaigns have caps), the mark is set by the first script, and
the request is built after it (no extra round trip).
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis

from dialer.caps import Capped, ContactCaps, Slot, wait_ms
from dialer.errors import (
    DeviceBusyError,
    DndError,
    RateLimitedError,
    RedisUnavailableError,
    TransientError,
)
from dialer.exotel.models import Request, build_request
from dialer.models import AttemptState, Mode
from dialer.polling import first_poll_ms
from dialer.ratelimit import SlidingWindowLimiter
from dialer.settings import Settings
from dialer.store import Store, call_id_of, with_defaults
from dialer.store_worker import DialTerms, Prepared, new_claim_token
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
    terms: DialTerms | None = None  # made on first use (see dial_terms)
    caps: ContactCaps | None = None  # per-number attempt caps and quiet hours


def attempt_callback_url(ctx: DialContext, attempt_id: str) -> str | None:
    """The signed StatusCallback URL of an attempt (None without a public base URL)."""
    s = ctx.settings
    if s.public_base_url is None:
        return None
    return callback_url(str(s.public_base_url), s.callback_secret.get_secret_value(),
                        attempt_id)


_UNSET: Any = object()


def build_attempt_request(
    ctx: DialContext, call: dict[str, str], attempt_id: str, url: str | None = _UNSET,
) -> Request:
    """The Exotel request of an attempt: the stored parameters plus callback and
    CustomField (``url``: the callback URL, when built already)."""
    mode = call["mode"]
    params: dict[str, Any] = json.loads(call["request"])
    custom = attempt_id + (f"|{call['custom_field']}" if call.get("custom_field") else "")
    s = ctx.settings
    if url is _UNSET:
        url = attempt_callback_url(ctx, attempt_id)
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


def _jitter_ms(ctx: DialContext, base_s: float) -> int:
    return int(base_s * 1000 * _stretch(ctx))


def _stretch(ctx: DialContext) -> float:
    """The factor a wait is stretched by, so that waiting attempts do not come back at once."""
    return 1 + ctx.rand.uniform(0, 0.25)


def dial_terms(ctx: DialContext) -> DialTerms:
    """What the script before the POST checks (fixed for the context: made once)."""
    terms = ctx.terms
    if terms is None:
        s, lim = ctx.settings, ctx.limiter
        terms = ctx.terms = DialTerms(
            accounts=tuple(a.name for a in s.accounts if a.name in ctx.clients),
            agent_max_calls=s.agent_max_concurrent_calls,
            agent_hold_ms=int(s.agent_hold_s * 1000),
            limiter_args=(lim.limit, lim.window_us, lim.lookup_max, lim.lookup_reserve),
        )
    return terms


def _marks(ctx: DialContext) -> str:
    """Who marks an attempt posting (see :meth:`dialer.store_worker.WorkerPath.prepare_dial`)."""
    if ctx.caps is None:
        return "here"
    return "arm" if ctx.caps.counted() == "every" else "campaign"


def _ready_post(client: ClientLike, request: Request) -> Callable[[], Any]:
    """The POST of ``request``, built now and sent by calling the result."""
    prepare = getattr(client, "prepare_post", None)
    if prepare is None:  # a client that only places (e.g. a test's fake)
        return lambda: client.place(request)
    post = prepare(request)
    send: Callable[[Any], Any] = client.send_post  # type: ignore[attr-defined]
    return lambda: send(post)


def place_attempt(ctx: DialContext, attempt_id: str) -> str:
    """Try to place ``attempt_id`` now. Returns a short word saying what happened.

    Two or three round trips to Redis around the POST: everything before it is one
    script (claim, read the call, hold the agent, take a limiter slot, and without caps
    counting, mark posting) — with caps counting, a second one once the request is built
    (take the cap slot, mark posting); everything after it another (confirm the slot,
    record the outcome); a campaign call's gate runs between the claim and the rest.
    """
    store, s = ctx.store, ctx.settings
    claim = new_claim_token()
    member = ctx.limiter.new_member()
    gate = ctx.gate
    mark = _marks(ctx)
    url = attempt_callback_url(ctx, attempt_id)

    def prepare(resume: bool) -> Prepared:
        return store.prepare_dial(
            attempt_id, claim, dial_terms(ctx), resume=resume, gate=gate is not None,
            agent_wait_ms=_jitter_ms(ctx, s.agent_busy_wait_s), stretch=_stretch(ctx),
            member=member, mark=mark)

    try:
        prep = prepare(False)
        if prep.what == "gate" and gate is not None:
            verdict = gate(with_defaults(call_id_of(attempt_id), prep.call), attempt_id)
            if verdict.action == "wait":
                store.release(attempt_id, claim, int(verdict.delay_s * 1000), verdict.reason)
                return "waiting:gate"
            if verdict.action == "cancel":
                store.record_outcome(attempt_id, claim, AttemptState.CANCELLED,
                                     detail=verdict.reason)
                return "cancelled"
            prep = prepare(True)
    except (redis.ConnectionError, redis.TimeoutError, RedisUnavailableError, OSError):
        # fail closed: nothing is posted; a claimed attempt waits for the sweeper
        log.warning("Redis unavailable; attempt %s waits for the sweeper", attempt_id)
        return "waiting:redis"
    if prep.what == "skipped":
        log.info("attempt %s not claimed: it is %s", attempt_id, prep.detail)
        return f"skipped:{prep.detail}"
    if prep.what in ("lost-claim", "gate"):
        return "skipped:lost-claim"
    call = with_defaults(call_id_of(attempt_id), prep.call)
    account = call.get("account", "")
    if prep.what == "account":
        store.record_outcome(attempt_id, claim, AttemptState.REJECTED,
                             detail=f"account {account!r} is not configured")
        return "rejected:account"
    if prep.what in ("agent", "ratelimit"):  # the script put it back to wait
        return f"waiting:{prep.what}"
    agent = prep.agent or None
    client = ctx.clients[account]
    try:
        post = _ready_post(client, build_attempt_request(ctx, call, attempt_id, url))
    except Exception as exc:  # stored parameters no longer valid (e.g. settings changed)
        store.record_outcome(attempt_id, claim, AttemptState.REJECTED, detail=str(exc))
        return "rejected:invalid"
    slot = _held_by_caps(ctx, attempt_id, claim, call, prep.agent,
                         marked=prep.detail == "marked")
    if isinstance(slot, str):
        return slot
    if not store.replicated(s.redis_wait_replicas, s.redis_wait_timeout_ms):
        # a failover could lose the claim or the mark: never POST on an unreplicated one
        _refund(ctx, slot)
        store.settle_dial(attempt_id, claim, call, agent=prep.agent, detail="not replicated",
                          wait_ms=500, stretch=_stretch(ctx))
        return "waiting:replication"
    try:
        result = post()
    except BaseException:
        ctx.limiter.confirm(store.keys.ratelimit(account), member)
        raise
    return _record(ctx, attempt_id, claim, call, agent, result, member, slot)


def _held_by_caps(ctx: DialContext, attempt_id: str, claim: str, call: dict[str, str],
                  agent: str, *, marked: bool) -> Slot | str | None:
    """Quiet hours (single calls) and the customer's attempt cap, taken atomically just
    before the POST — with the posting mark when the first script left it (``marked``
    False): the cap's slot to give back if nothing is dialled, or a word when the
    attempt does not go on (it waits, or ends ``capped``; its agent is let go)."""
    caps, store = ctx.caps, ctx.store
    if caps is None:
        return None
    if not call.get("campaign_id") and (quiet := caps.quiet_wait_s(call)) is not None:
        store.settle_dial(attempt_id, claim, call, agent=agent, detail=quiet[1],
                          wait_ms=int(quiet[0] * 1000))
        return "waiting:quiet-hours"
    if marked:
        slot = caps.take(call)  # nothing counted for this call: no round trip
    else:
        terms = caps.take_terms(call)
        what, out = store.arm_dial(attempt_id, claim, terms.key if terms else "",
                                   terms.args if terms else None)
        if what == "lost-claim":  # the sweeper took it back: nothing taken, nothing sent
            log.warning("attempt %s lost its claim before posting (it is %s)", attempt_id,
                        out[0] if out else "missing")
            return "skipped:lost-claim"
        slot = caps.verdict(terms, out) if terms is not None else None
    if not isinstance(slot, Capped):
        return slot
    if caps.when_capped(call) == "wait":
        store.settle_dial(attempt_id, claim, call, agent=agent, detail=slot.message(),
                          wait_ms=wait_ms(slot, store.now_ms()))
        return "waiting:cap"
    store.settle_dial(attempt_id, claim, call, agent=agent, state=AttemptState.CAPPED,
                      detail=slot.message())
    return "capped"


def _refund(ctx: DialContext, slot: Slot | None) -> None:
    if ctx.caps is not None:
        ctx.caps.refund(slot)


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
    result: PostResultLike, member: str, slot: Slot | None = None,
) -> str:
    """Everything after the POST, one script: the slot confirmed (the answer came back
    now), then the outcome recorded or the attempt back to wait."""
    store, s = ctx.store, ctx.settings

    def settle(**kw: Any) -> None:
        store.settle_dial(attempt_id, claim, call, member=member, **kw)

    outcome = str(getattr(result.outcome, "value", result.outcome))
    if outcome == "placed":
        settle(state=AttemptState.PLACED, call_sid=result.call_sid or "",
               check_after_ms=first_poll_ms(s, call))
        return "placed"
    if outcome == "unknown":
        settle(state=AttemptState.UNKNOWN, call_sid=result.call_sid or "",
               check_after_ms=int(s.poll_after_s * 1000),
               detail=str(result.error or "outcome unknown"))
        return "unknown"
    _refund(ctx, slot)  # Exotel made no call: the attempt does not count against the cap
    release = agent or ""  # not placed: the agent is free again
    err = result.error
    if isinstance(err, RateLimitedError):
        wait = err.retry_after_s if err.retry_after_s else s.rate_limit_window_s / 4
        settle(agent=release, cool_down_ms=max(1, int(wait * 1000)), detail="exotel 429",
               wait_ms=int(wait * 1000), stretch=_stretch(ctx), counter="http_429")
        return "waiting:429"
    if isinstance(err, DeviceBusyError):
        settle(agent=release, detail="device busy", wait_ms=int(s.agent_busy_wait_s * 1000),
               stretch=_stretch(ctx))
        return "waiting:device"
    if isinstance(err, TransientError) or err is None:
        settle(agent=release, detail=f"not sent: {err}", counter="transport_failures",
               backoff_ms=(int(s.transport_retry_base_s * 1000), 300_000),
               stretch=_stretch(ctx))
        return "waiting:transport"
    if isinstance(err, DndError):
        settle(agent=release, state=AttemptState.REJECTED, detail=f"dnd: {err}")
        number = _customer(call)
        if ctx.on_dnd is not None and number:
            ctx.on_dnd(call, number)
        return "rejected:dnd"
    settle(agent=release, state=AttemptState.REJECTED, detail=str(err))
    return "rejected"
