"""Why a campaign dials nobody (``idle_reasons``): the tick's own checks, reported. A real
Redis and a frozen campaign clock, calls finished through the store's transitions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dialer.campaigns.idle import idle_reasons
from dialer.campaigns.lifecycle import Lifecycle
from dialer.campaigns.report import summary
from dialer.campaigns.tick import tick
from tests.campaigns.helpers import (
    IST_NOON,
    campaign_calls,
    csv_of,
    finish,
    life_for,
    number,
    spec,
)


@pytest.fixture()
def life(redis_url: str) -> Lifecycle:
    return life_for(redis_url, rate_limit_calls=100_000)


def why(life: Lifecycle, cid: str, now: datetime = IST_NOON) -> list[str]:
    return idle_reasons(life, cid, summary(life, cid), now)


def test_each_reason_a_campaign_dials_nobody(life: Lifecycle) -> None:
    cid = life.create(spec(pacing={"calls_per_minute": 600, "max_concurrent": 2}))
    assert why(life, cid) == [f"draft: not started (dialer campaign start {cid})"]
    life.import_contacts(cid, csv_of([number(i) for i in range(3)]))
    life.start(cid)
    assert why(life, cid)[0].startswith("scheduled: starts at")
    night = datetime(2024, 1, 3, 18, 30, tzinfo=UTC)  # 00:00 IST
    tick(life.store, life.settings, night)  # running, the window closed: nobody dialled
    (closed,) = why(life, cid, night)
    assert closed.startswith("outside the calling window (09:00-21:00 mon-sun)")
    assert "Asia/Kolkata" in closed
    assert why(life, cid) == []  # noon: it dials
    tick(life.store, life.settings, IST_NOON)
    assert why(life, cid) == ["max_concurrent reached: 2 of 2 calls not final"]
    life.pause(cid)
    assert why(life, cid) == [f"paused (dialer campaign resume {cid})"]
    life.resume(cid)
    for call_id in campaign_calls(life, cid).values():
        finish(life.store, call_id)
    tick(life.store, life.settings, IST_NOON)  # counts the ends, dials the last contact
    assert why(life, cid) == ["every contact was dialled; 1 call(s) not final yet"]


def test_no_agent_free(life: Lifecycle) -> None:
    cid = life.create(spec(mode="connect", agents=["+919810000001"], app_id=None,
                           pacing={"calls_per_minute": 600, "max_concurrent": 5}))
    life.import_contacts(cid, csv_of([number(i) for i in range(3)]))
    life.start(cid)
    tick(life.store, life.settings, IST_NOON)
    assert why(life, cid) == ["no agent free: all 1 agent(s) are in a call"]
