"""The hand-off end to end: a real worker and web app, the simulator's callbacks over HTTP,
and no beat — no tick, no pump, no poller — so an agent's next contact can only come from
its call's final update."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from dialer.campaigns.lifecycle import Lifecycle
from dialer.campaigns.report import summary
from dialer.campaigns.tick import tick
from dialer.publisher import CeleryPublisher, broker_app
from exotel_sim import SimConfig, Simulator
from tests.campaigns.helpers import csv_of, number, settings_of_env, spec
from tests.stack import Stack, wait_for

pytestmark = pytest.mark.slow

STACK_DEFAULTS = {"rate_limit_calls": 2000}
AGENT = number(900)


@pytest.fixture()
def sim() -> Iterator[Simulator]:
    with Simulator(SimConfig(time_scale=0.01, limit_calls=100_000)) as s:
        yield s


def life_of(stack: Stack) -> Lifecycle:
    settings = settings_of_env(stack.env)
    return Lifecycle.connect(redis.Redis.from_url(settings.redis_url, decode_responses=True),
                             settings)


def test_an_agent_gets_its_next_contact_from_the_final_update(stack_factory: Any,
                                                              sim: Simulator) -> None:
    stack = stack_factory()
    stack.start_web()
    stack.start_worker("w1")  # and no beat
    life = life_of(stack)
    contacts = [number(i) for i in range(3)]
    cid = life.create(spec(mode="connect", app_id=None, agents=[AGENT],
                           schedule={"window_start": "00:00", "window_end": "24:00"},
                           pacing={"calls_per_minute": 600, "max_concurrent": 5}))
    life.import_contacts(cid, csv_of(contacts))
    life.start(cid)
    tick(life.store, life.settings)  # the only tick: the campaign runs, one agent, one call
    first = life.store.take_due(10)
    assert len(first) == 1
    CeleryPublisher(broker_app(life.settings.redis_url)).publish(first)  # as the pump would
    wait_for(lambda: summary(life, cid)["finished"] == 3, 60, "every contact's call to end")
    assert life.repo.ticks() == 1
    calls = sorted(sim.calls(), key=lambda c: c["created_at"])
    assert [c["to"] for c in calls] == contacts  # in import order, one call each
    assert {c["from"] for c in calls} == {AGENT}
    assert {c["status"] for c in calls} == {"completed"}
    for prev, nxt in zip(calls, calls[1:], strict=False):  # one call at a time
        assert nxt["created_at"] >= prev["ended_at"]
    s = summary(life, cid)
    assert (s["live"], s["pending"], s["by_status"]) == (0, 0, {"completed": 3})
    assert life.store.counts()["due"] == 0  # nothing was left for a pump
    assert life.queue.busy_agents(cid) == {}
