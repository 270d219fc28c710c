"""place_attempt, one test per return path: a real Redis, a fake Exotel client (our
ClientLike Protocol) and fake gates (our Gate Protocol)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis

from dialer.caps import ContactCaps
from dialer.dialing import DialContext, GateDecision, build_attempt_request, place_attempt
from dialer.embedded import free_port
from dialer.errors import (
    AuthenticationError,
    DeviceBusyError,
    DndError,
    RateLimitedError,
    TransientError,
)
from dialer.exotel.client import Outcome, PostResult
from dialer.exotel.models import Request
from dialer.ratelimit import SlidingWindowLimiter
from dialer.settings import Settings
from dialer.store import NewCall, Store
from tests.units import store, unit_settings

__all__ = ["store"]  # the fixture

AGENT, CUSTOMER = "+919810000010", "+919820000020"


@dataclass
class FakeClient:
    """Answers every POST with ``result`` and keeps what it was asked to send."""

    result: PostResult = field(default_factory=lambda: PostResult(Outcome.PLACED, "CA1"))
    sent: list[Request] = field(default_factory=list)

    def place(self, request: Request) -> PostResult:
        self.sent.append(request)
        return self.result


@dataclass
class FakeGate:
    verdict: GateDecision
    seen: list[str] = field(default_factory=list)

    def __call__(self, call: dict[str, str], attempt_id: str) -> GateDecision:
        self.seen.append(attempt_id)
        return self.verdict


def settings(**kw: Any) -> Settings:
    return unit_settings(public_base_url="https://dialer.example", callback_secret="s3cret",
                         **kw)


def context(store: Store, client: FakeClient | None = None, *, limit: int = 10,
            limiter_redis: redis.Redis | None = None, **kw: Any) -> DialContext:
    s = settings(**kw.pop("settings", {}))
    limiter = SlidingWindowLimiter(limiter_redis or store.r, limit, 60.0)
    return DialContext(s, store, limiter, {"main": client or FakeClient()},
                       random.Random(1), **kw)


def new_call(store: Store, request: dict[str, Any] | None = None, mode: str = "connect",
             campaign: str = "", account: str = "main") -> str:
    req = request or {"From": AGENT, "To": CUSTOMER, "CallerId": "08030752400"}
    (c,) = store.create_calls([NewCall(account, mode, req, {}, campaign_id=campaign)],
                              delay_ms=0)
    return c.attempt_id


def state(store: Store, aid: str) -> str:
    return store.get_attempt(aid)["state"]


def test_placed(store: Store, clean_env: Any) -> None:
    client = FakeClient()
    aid = new_call(store)
    assert place_attempt(context(store, client), aid) == "placed"
    assert state(store, aid) == "placed" and store.attempt_for_sid("CA1") == aid
    form = dict(client.sent[0].to_form())  # type: ignore[union-attr]
    assert form["MaxRetries"] == "0" and form["CustomField"] == aid
    assert form["StatusCallbackEvents[0]"] == "terminal"
    assert form["StatusCallback"].startswith(f"https://dialer.example/v1/callbacks/exotel/{aid}")


def test_no_subscription_when_the_setting_is_off(store: Store, clean_env: Any) -> None:
    ctx = context(store, settings={"subscribe_callback_events": False})
    aid = new_call(store)
    (call,) = [store.get_call(aid.rsplit("-", 1)[0])]
    form = dict(build_attempt_request(ctx, call, aid).to_form())  # type: ignore[union-attr]
    assert not any(k.startswith("StatusCallbackEvents") for k in form)


def test_skipped_when_not_pending(store: Store, clean_env: Any) -> None:
    client = FakeClient()
    aid = new_call(store)
    store.claim(aid)
    assert place_attempt(context(store, client), aid) == "skipped:dialing"
    assert client.sent == []


def test_gate_wait_and_cancel(store: Store, clean_env: Any) -> None:
    client = FakeClient()
    aid = new_call(store, campaign="c1")
    gate = FakeGate(GateDecision("wait", 30.0, "window closed"))
    assert place_attempt(context(store, client, gate=gate), aid) == "waiting:gate"
    assert state(store, aid) == "pending" and gate.seen == [aid]
    gate.verdict = GateDecision("cancel", reason="campaign cancelled")
    assert place_attempt(context(store, client, gate=gate), aid) == "cancelled"
    assert state(store, aid) == "cancelled" and client.sent == []


def test_rejected_for_an_unknown_account(store: Store, clean_env: Any) -> None:
    aid = new_call(store, account="gone")
    assert place_attempt(context(store), aid) == "rejected:account"
    assert "not configured" in store.get_attempt(aid)["detail"]


def test_waiting_for_a_busy_agent(store: Store, clean_env: Any) -> None:
    client = FakeClient()
    first, second = new_call(store), new_call(store)
    assert place_attempt(context(store, client), first) == "placed"
    assert place_attempt(context(store, client), second) == "waiting:agent"
    assert state(store, second) == "pending" and len(client.sent) == 1


def test_waiting_when_no_replica_acknowledged(store: Store, clean_env: Any) -> None:
    # one replica wanted, none exists: the claim and mark are not replicated, no POST
    client = FakeClient()
    aid = new_call(store)
    ctx = context(store, client,
                  settings={"redis_wait_replicas": "1", "redis_wait_timeout_ms": 20})
    assert place_attempt(ctx, aid) == "waiting:replication"
    attempt = store.get_attempt(aid)
    assert (attempt["state"], attempt["last_wait"]) == ("pending", "not replicated")
    assert client.sent == []
    # the agent was let go: another call of the same agent is placed
    assert place_attempt(context(store, client), new_call(store)) == "placed"


def test_waiting_when_redis_cannot_be_reached(store: Store, clean_env: Any) -> None:
    """Fail closed: the script before the POST (claim, agent, limiter slot) cannot run,
    so nothing is posted; the attempt is left to the sweeper."""
    dead = redis.Redis(port=free_port(), socket_connect_timeout=0.2, decode_responses=True)
    client = FakeClient()
    aid = new_call(store)
    assert place_attempt(context(Store(dead), client), aid) == "waiting:redis"
    assert state(store, aid) == "pending" and client.sent == []


def test_waiting_for_a_slot(store: Store, clean_env: Any) -> None:
    client = FakeClient()
    ctx = context(store, client, limit=1)
    ctx.limiter.acquire(store.keys.ratelimit("main"))
    aid = new_call(store)
    assert place_attempt(ctx, aid) == "waiting:ratelimit"
    assert state(store, aid) == "pending" and client.sent == []
    assert store.r.zcard(store.keys.agent("main", AGENT)) == 0  # the agent is let go


def test_rejected_when_the_stored_request_is_invalid(store: Store, clean_env: Any) -> None:
    aid = new_call(store, {"From": AGENT, "To": CUSTOMER, "CallerId": "08030752400",
                           "TimeLimit": 10**9})
    assert place_attempt(context(store), aid) == "rejected:invalid"
    assert state(store, aid) == "rejected"


def test_skipped_when_the_claim_was_lost(store: Store, clean_env: Any) -> None:
    """A gate slow enough for the sweeper to reset the claim: the POST is not made."""
    client = FakeClient()
    aid = new_call(store, campaign="c1")

    def slow_gate(call: dict[str, str], attempt_id: str) -> GateDecision:
        store.sweep(0, 10**9)  # dialing since before "now": reset to pending (never posted)
        store.claim(attempt_id)  # and another worker claims it
        return GateDecision("go")

    assert place_attempt(context(store, client, gate=slow_gate), aid) == "skipped:lost-claim"
    assert client.sent == []


@pytest.mark.parametrize(("result", "word", "final_state"), [
    (PostResult(Outcome.UNKNOWN, error=TransientError("read timeout")), "unknown", "unknown"),
    (PostResult(Outcome.NOT_PLACED, error=RateLimitedError("429", retry_after_s=5)),
     "waiting:429", "pending"),
    (PostResult(Outcome.NOT_PLACED, error=DeviceBusyError("busy", code=10706)),
     "waiting:device", "pending"),
    (PostResult(Outcome.NOT_PLACED, error=TransientError("refused")), "waiting:transport",
     "pending"),
    (PostResult(Outcome.NOT_PLACED, error=DndError(
        "Call to 09820000020 cannot be made because of TRAI NDNC regulations",
        http_status=403)), "rejected:dnd", "rejected"),
    (PostResult(Outcome.NOT_PLACED, error=AuthenticationError("bad key", http_status=401)),
     "rejected", "rejected"),
])
def test_what_exotel_answered(store: Store, clean_env: Any, result: PostResult, word: str,
                              final_state: str) -> None:
    dnd: list[tuple[str, str]] = []
    ctx = context(store, FakeClient(result), on_dnd=lambda call, n: dnd.append((call["id"], n)))
    aid = new_call(store)
    assert place_attempt(ctx, aid) == word
    attempt = store.get_attempt(aid)
    assert attempt["state"] == final_state
    held = store.r.zcard(store.keys.agent("main", AGENT))
    assert held == (1 if final_state == "unknown" else 0)  # an unknown call may be going on
    if word == "waiting:429":
        denied = ctx.limiter.acquire(store.keys.ratelimit("main"))
        assert not denied.admitted and 0 < denied.wait_s <= 5  # the account cools down
        assert attempt["http_429"] == "1"
    if word == "rejected:dnd":
        assert attempt["detail"].startswith("dnd: ") and dnd == [(aid.rsplit("-", 1)[0],
                                                                  CUSTOMER)]
    else:
        assert dnd == []


def test_a_dnd_number_joins_the_do_not_call_list(store: Store, clean_env: Any) -> None:
    from dialer.campaigns.dnd import make_dnd_hook
    from dialer.campaigns.keys import CampaignKeys

    s = settings()
    refusal = PostResult(Outcome.NOT_PLACED, error=DndError("NDNC", http_status=403))
    ctx = context(store, FakeClient(refusal), on_dnd=make_dnd_hook(store, s))
    aid = new_call(store)
    assert place_attempt(ctx, aid) == "rejected:dnd"
    assert store.r.sismember(CampaignKeys().global_dnc, CUSTOMER)
    assert json.loads(store.get_call(aid.rsplit("-", 1)[0])["request"])["To"] == CUSTOMER


def test_a_hold_left_by_an_ended_attempt_does_not_keep_the_agent(store: Store,
                                                                 clean_env: Any) -> None:
    """A release lost (a Redis failover) must not block the agent for the whole hold."""
    client = FakeClient()
    first, second = new_call(store), new_call(store)
    assert place_attempt(context(store, client), first) == "placed"
    store.r.hset(store.keys.attempt(first), "state", "completed")  # ended; release lost
    assert store.r.zscore(store.keys.agent("main", AGENT), first) is not None
    assert place_attempt(context(store, client), second) == "placed"
    assert store.r.zscore(store.keys.agent("main", AGENT), first) is None


class CountingConnection(redis.Connection):
    sent = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.sent += 1
        super().send_packed_command(command, check_health)


def test_a_placed_call_takes_two_round_trips(store: Store, clean_env: Any) -> None:
    """One script before the POST (claim … posting mark), one after (confirm + record)."""
    kw = store.r.connection_pool.connection_kwargs
    pool = redis.ConnectionPool(connection_class=CountingConnection, host=kw["host"],
                                port=kw["port"], db=kw.get("db", 0), decode_responses=True)
    counted = Store(redis.Redis(connection_pool=pool))
    warm, aid = new_call(store), new_call(store)
    ctx = context(counted, settings={"redis_wait_replicas": "0"})
    assert place_attempt(ctx, warm) == "placed"  # scripts loaded
    store.r.hset(store.keys.attempt(warm), "state", "completed")  # the agent is free again
    CountingConnection.sent = 0
    assert place_attempt(ctx, aid) == "placed"
    assert CountingConnection.sent == 2
    assert state(store, aid) == "placed" and store.attempt_for_sid("CA1") == aid
    # the limiter's entry moved to the time the answer came back (the record's clock)
    newest = max(score for _, score in store.r.zrange(store.keys.ratelimit("main"), 0, -1,
                                                     withscores=True))
    assert int(newest) // 1000 == int(store.get_attempt(aid)["outcome_at"])


def test_with_caps_counting_a_placed_call_takes_three_round_trips(store: Store,
                                                                   clean_env: Any) -> None:
    """Caps count every attempt by default: the cap slot and the posting mark are one more
    script, between the claim's and the record's."""
    kw = store.r.connection_pool.connection_kwargs
    pool = redis.ConnectionPool(connection_class=CountingConnection, host=kw["host"],
                                port=kw["port"], db=kw.get("db", 0), decode_responses=True)
    counted = Store(redis.Redis(connection_pool=pool))
    s = settings(redis_wait_replicas="0")
    ctx = context(counted, settings={"redis_wait_replicas": "0"},
                  caps=ContactCaps(counted.r, counted.keys, s))
    warm, aid = new_call(store), new_call(store)
    assert place_attempt(ctx, warm) == "placed"  # scripts loaded
    store.r.hset(store.keys.attempt(warm), "state", "completed")  # the agent is free again
    CountingConnection.sent = 0
    assert place_attempt(ctx, aid) == "placed"
    assert CountingConnection.sent == 3
    assert store.r.hget(f"{store.keys.prefix}:contact:{CUSTOMER}", "d") is not None


@dataclass
class WatchingClient:
    """A client that prepares its POST ahead (like ExotelClient) and notes, when it
    prepares and when it sends, whether the attempt was marked posting; ``on_prepare``
    runs as the request is prepared (a sweeper, a crash …)."""

    store: Store
    aid: str
    marks: list[tuple[str, str]] = field(default_factory=list)
    sent: list[Request] = field(default_factory=list)
    on_prepare: Any = None

    def _mark(self, when: str) -> None:
        self.marks.append((when, self.store.r.hget(self.store.keys.attempt(self.aid),
                                                   "posting") or ""))

    def prepare_post(self, request: Request) -> Request:
        self._mark("prepare")
        if self.on_prepare is not None:
            self.on_prepare()
        return request

    def send_post(self, request: Request) -> PostResult:
        self._mark("send")
        self.sent.append(request)
        return PostResult(Outcome.PLACED, "CA1")

    def place(self, request: Request) -> PostResult:
        return self.send_post(self.prepare_post(request))


def caps_context(store: Store, client: Any, **kw: Any) -> DialContext:
    s = settings(**kw)
    return DialContext(s, store, SlidingWindowLimiter(store.r, 10, 60.0), {"main": client},
                       random.Random(1), caps=ContactCaps(store.r, store.keys, s))


def test_the_posting_mark_follows_the_built_request(store: Store, clean_env: Any) -> None:
    """With caps counting, the request is built and prepared before the attempt is marked
    posting; the mark is set before the POST is sent."""
    aid = new_call(store)
    client = WatchingClient(store, aid)
    assert place_attempt(caps_context(store, client), aid) == "placed"
    assert client.marks == [("prepare", "0"), ("send", "1")]
    # without caps the first script marks it (two round trips): it is set before the build
    other = new_call(store, {"From": "+919810000011", "To": CUSTOMER, "CallerId": "08030752400"})
    late = WatchingClient(store, other)
    ctx = context(store)
    ctx.clients["main"] = late
    assert place_attempt(ctx, other) == "placed"
    assert late.marks == [("prepare", "1"), ("send", "1")]


def test_a_worker_lost_before_the_mark_leaves_an_attempt_to_dial_again(
        store: Store, clean_env: Any) -> None:
    """Killed while its request was being built: the attempt was never marked posting, so
    the sweeper puts it back to wait (not "unknown"), and nothing was counted."""
    aid = new_call(store)

    def killed() -> None:
        raise SystemExit("SIGKILL")

    client = WatchingClient(store, aid, on_prepare=killed)
    with pytest.raises(SystemExit):
        place_attempt(caps_context(store, client), aid)
    assert client.sent == [] and state(store, aid) == "dialing"
    assert store.r.hget(f"{store.keys.prefix}:contact:{CUSTOMER}", "d") is None
    swept = store.sweep(0, 10**9)
    assert state(store, aid) == "pending", swept
    assert store.get_attempt(aid).get("posting") == "0"
    assert [e for _, e in store.r.xrange(store.keys.events)
            if e.get("detail") == "worker lost before posting"]


def test_a_claim_lost_before_the_mark_posts_nothing_and_takes_no_cap(
        store: Store, clean_env: Any) -> None:
    aid = new_call(store)
    akey = store.keys.attempt(aid)
    client = WatchingClient(store, aid,
                            on_prepare=lambda: store.r.hset(akey, "claim", "someone-else"))
    assert place_attempt(caps_context(store, client), aid) == "skipped:lost-claim"
    assert client.sent == [] and store.r.hget(akey, "posting") == "0"
    assert store.r.hget(f"{store.keys.prefix}:contact:{CUSTOMER}", "d") is None


def test_a_capped_attempt_is_never_marked_posting(store: Store, clean_env: Any) -> None:
    first, second = new_call(store), new_call(store)
    client = WatchingClient(store, first)
    ctx = caps_context(store, client, contact_cap_attempts=1)
    assert place_attempt(ctx, first) == "placed"
    store.r.delete(store.keys.agent("main", AGENT))  # the agent is free again
    client.aid, client.marks = second, []
    assert place_attempt(ctx, second) == "capped"
    assert client.sent[1:] == [] and client.marks == [("prepare", "0")]
    assert not store.get_attempt(second).get("posting_at")


@pytest.mark.parametrize("message", ['refused: "quoted", [1, 2] {"a": 1}', "नमस्ते \U0001F4DE",
                                     "nul \x00 and \\ backslash", ""])
def test_what_the_scripts_are_given_arrives_as_written(store: Store, clean_env: Any,
                                                        message: str) -> None:
    """The scripts around the POST take their arguments as one JSON list: a refusal's
    message with quotes, brackets, non-ASCII, a NUL or nothing is recorded unchanged, and
    so are the call's custom field and idempotency key in its events."""
    error = AuthenticationError(message, http_status=401)
    client = FakeClient(PostResult(Outcome.NOT_PLACED, error=error))
    (c,) = store.create_calls([NewCall("main", "connect",
                                       {"From": AGENT, "To": CUSTOMER,
                                        "CallerId": "08030752400"}, {},
                                       custom_field='cf "1" नमस्ते',
                                       idem_key="key [1]")], delay_ms=0)
    assert place_attempt(context(store, client), c.attempt_id) == "rejected"
    assert message in str(error)
    assert store.get_attempt(c.attempt_id)["detail"] == str(error)
    events = [e for _, e in store.r.xrange(store.keys.events)
              if e.get("attempt_id") == c.attempt_id]
    assert events and all(e["custom_field"] == 'cf "1" नमस्ते'
                          and e["idempotency_key"] == "key [1]" for e in events)
