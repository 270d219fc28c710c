"""The hand-off against a real Redis: a final update gives the agent its next contact at
once (published, not waiting in the due set for the pump), under the tick's rules."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from dialer.campaigns.handoff import Handoff
from dialer.campaigns.lifecycle import Lifecycle
from dialer.campaigns.report import summary
from dialer.campaigns.tick import tick
from dialer.models import AttemptState, CallUpdate
from dialer.reconcile import reconcile
from dialer.store import Applied
from tests.campaigns.helpers import campaign_calls, csv_of, life_for, number, spec

AGENT = number(900)
ALL_DAY = {"window_start": "00:00", "window_end": "24:00"}


class Published:
    """The publisher's place: the attempt ids it was asked to send."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def __call__(self, attempt_ids: Sequence[str]) -> None:
        self.ids.extend(attempt_ids)


@pytest.fixture()
def life(redis_url: str) -> Lifecycle:
    return life_for(redis_url, rate_limit_calls=100_000)


def started(life: Lifecycle, n: int, **overrides: object) -> str:
    values: dict[str, object] = {"mode": "connect", "app_id": None, "agents": [AGENT],
                                 "schedule": ALL_DAY}
    values.update(overrides)
    cid = life.create(spec(**values))
    life.import_contacts(cid, csv_of([number(i) for i in range(n)]))
    life.start(cid)
    return cid


def place(life: Lifecycle, call_id: str) -> str:
    """Dial the call's current attempt as the worker would (claim, agent hold, placed)."""
    store = life.store
    call = store.get_call(call_id)
    aid = call["current_attempt"]
    claim, _ = store.claim(aid)
    assert claim
    agent = json.loads(call["request"]).get("From")
    if agent:
        assert store.agent_acquire(call["account"], agent, aid, 1, 60_000)
    assert store.mark_posting(aid, claim)
    store.record_outcome(aid, claim, AttemptState.PLACED, call_sid=f"sid-{aid}")
    return aid


def end(life: Lifecycle, aid: str, handoff: Handoff, leg1: str = "completed") -> Applied:
    """The final callback of ``aid``, applied by the worker's reconcile with the hand-off."""
    status = "completed" if leg1 == "completed" else leg1
    update = CallUpdate(source="callback", call_sid=f"sid-{aid}", status=status,
                        leg1_status=leg1, leg2_status="completed" if leg1 == "completed"
                        else None, talk_time_s=5)
    return reconcile(life.store, life.settings, aid, update, on_final=handoff)


def ticks(life: Lifecycle) -> int:
    return int(life.store.r.get(life.repo.keys.ticks) or 0)


def first_call(life: Lifecycle, cid: str) -> str:
    tick(life.store, life.settings)
    calls = campaign_calls(life, cid)
    assert list(calls) == [number(0)]  # one agent: one call
    return calls[number(0)]


def test_a_final_update_hands_the_agent_its_next_contact_at_once(life: Lifecycle) -> None:
    cid = started(life, 3)
    published = Published()
    handoff = Handoff(life.store, life.settings, published)
    aid = place(life, first_call(life, cid))
    ticks_before = ticks(life)
    applied = end(life, aid, handoff)
    assert applied.became_terminal and not applied.retried
    calls = campaign_calls(life, cid)
    assert list(published.ids) == [calls[number(1)] + "-1"]
    assert ticks(life) == ticks_before  # no tick ran
    new = life.store.get_call(calls[number(1)])
    assert json.loads(new["request"])["From"] == AGENT
    assert life.store.counts()["due"] == 0  # published, not left for the pump
    assert life.store.counts()["pending"] == 1  # marked sent: the sweeper re-sends if lost
    s = summary(life, cid)
    assert (s["finished"], s["live"], s["pending"]) == (1, 1, 1)
    assert life.queue.busy_agents(cid) == {AGENT: number(1)}
    # and again: the second call's end hands over the third contact
    end(life, place(life, calls[number(1)]), handoff)
    assert published.ids[-1] == campaign_calls(life, cid)[number(2)] + "-1"
    # the last one ends: nothing left to hand over, the agent is free
    end(life, place(life, campaign_calls(life, cid)[number(2)]), handoff)
    assert len(published.ids) == 3 - 1
    assert life.queue.busy_agents(cid) == {}
    assert summary(life, cid)["finished"] == 3


def test_a_retry_keeps_the_agent_for_its_contact(life: Lifecycle) -> None:
    cid = started(life, 2, retry={"max_retries": 1, "backoff_base_s": 60})
    published = Published()
    aid = place(life, first_call(life, cid))
    applied = end(life, aid, Handoff(life.store, life.settings, published), leg1="no-answer")
    assert applied.retried
    assert published.ids == []
    assert life.queue.busy_agents(cid) == {AGENT: number(0)}
    assert summary(life, cid)["finished"] == 0


@pytest.mark.parametrize("why", ["paused", "no pace token", "agent busy elsewhere",
                                 "switched off"])
def test_no_hand_off_when_the_tick_would_not_dial(redis_url: str, why: str) -> None:
    settings = {"campaign_handoff": why != "switched off"}
    life = life_for(redis_url, rate_limit_calls=100_000, **settings)
    pacing = {"calls_per_minute": 1 if why == "no pace token" else 600, "max_concurrent": 5}
    cid = started(life, 2, pacing=pacing)
    published = Published()
    aid = place(life, first_call(life, cid))
    if why == "paused":
        life.pause(cid)
    if why == "agent busy elsewhere":  # a single call of the same agent holds it
        assert life.store.agent_acquire("main", AGENT, "other-1", 2, 60_000)
    end(life, aid, Handoff(life.store, life.settings, published))
    assert published.ids == []
    assert list(campaign_calls(life, cid)) == [number(0)]
    if why != "switched off":  # counted and freed at once: the tick only feeds
        assert summary(life, cid)["finished"] == 1
        assert life.queue.busy_agents(cid) == {}


def test_a_flow_campaign_is_left_to_the_tick(life: Lifecycle) -> None:
    cid = life.create(spec(schedule=ALL_DAY, pacing={"calls_per_minute": 600,
                                                     "max_concurrent": 1}))
    life.import_contacts(cid, csv_of([number(i) for i in range(2)]))
    life.start(cid)
    published = Published()
    end(life, place(life, first_call(life, cid)), Handoff(life.store, life.settings,
                                                          published))
    assert published.ids == []  # no agent waits: the tick counts it and feeds the slot
    assert summary(life, cid)["finished"] == 0
    tick(life.store, life.settings)
    assert summary(life, cid)["finished"] == 1 and len(campaign_calls(life, cid)) == 2


def test_a_hand_off_and_a_tick_at_once_count_once_and_dial_once(life: Lifecycle) -> None:
    cid = started(life, 3)
    published = Published()
    handoff = Handoff(life.store, life.settings, published)
    aid = place(life, first_call(life, cid))
    update = CallUpdate(source="callback", call_sid=f"sid-{aid}", status="completed",
                        leg1_status="completed", leg2_status="completed")
    reconcile(life.store, life.settings, aid, update)  # the update without the hand-off
    call = life.store.get_call(aid.rsplit("-", 1)[0])
    tick(life.store, life.settings)  # the tick counts it and feeds the agent
    assert handoff(call) == []  # a late hand-off finds nothing to do
    assert len(campaign_calls(life, cid)) == 2
    assert summary(life, cid)["finished"] == 1
