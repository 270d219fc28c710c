"""The tick and the gate against a real Redis, with a frozen campaign clock (``now``)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from dialer.campaigns.gate import CampaignGate
from dialer.campaigns.lifecycle import Lifecycle
from dialer.campaigns.models import CampaignStateError
from dialer.campaigns.repo import CampaignRepo
from dialer.campaigns.report import contact_rows, summary
from dialer.campaigns.tick import tick
from dialer.errors import ValidationError
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


def started(life: Lifecycle, numbers: list[str], **overrides: object) -> str:
    cid = life.create(spec(**overrides))
    life.import_contacts(cid, csv_of(numbers))
    life.start(cid)
    return cid


def run(life: Lifecycle, now: datetime) -> dict[str, int]:
    return tick(life.store, life.settings, now).fed


def gate_at(life: Lifecycle, when: datetime) -> CampaignGate:
    """A gate whose clock reads ``when`` (through the clock offset, as in production)."""
    offset = (when - life.repo.clock()).total_seconds()
    repo = CampaignRepo(life.store.r, life.repo.keys, offset)
    return CampaignGate(repo, life.settings.campaign_tick_s)


def test_window_closed_dials_nobody_and_each_zone_opens_on_its_own(life: Lifecycle) -> None:
    cid = life.create(spec(pacing={"calls_per_minute": 600, "max_concurrent": 50}))
    rows = [f"{number(i)},Asia/Kolkata" for i in range(3)] + \
        [f"{number(10 + i)},America/New_York" for i in range(2)]
    life.import_contacts(cid, ("number,timezone\n" + "\n".join(rows)).encode())
    life.start(cid)
    before_ist = datetime(2024, 1, 3, 3, 29, tzinfo=UTC)  # 08:59 IST, 22:29 New York
    for _ in range(3):
        assert run(life, before_ist) == {}
    assert life.store.counts()["calls"] == 0
    assert life.repo.get(cid).state.value == "running"
    run(life, before_ist + timedelta(minutes=1))  # 09:00 IST opens
    assert set(campaign_calls(life, cid)) == {number(i) for i in range(3)}
    run(life, datetime(2024, 1, 3, 13, 59, tzinfo=UTC))  # 08:59 in New York
    assert len(campaign_calls(life, cid)) == 3
    run(life, datetime(2024, 1, 3, 14, 0, tzinfo=UTC))  # 09:00 in New York
    assert len(campaign_calls(life, cid)) == 5


def test_the_gate_rechecks_the_window_pause_and_cancel(life: Lifecycle) -> None:
    cid = started(life, [number(1)])
    run(life, IST_NOON)
    call = life.store.get_call(campaign_calls(life, cid)[number(1)])
    aid = call["current_attempt"]
    assert gate_at(life, IST_NOON)(call, aid).action == "go"
    late = datetime(2024, 1, 3, 15, 45, tzinfo=UTC)  # 21:15 IST
    verdict = gate_at(life, late)(call, aid)
    assert verdict.action == "wait"
    assert verdict.delay_s == pytest.approx(11.75 * 3600 + 1, abs=5)  # until 09:00 IST
    life.pause(cid)
    assert gate_at(life, IST_NOON)(call, aid).action == "wait"
    life.resume(cid)
    assert gate_at(life, IST_NOON)(call, aid).action == "go"
    life.cancel(cid)
    assert gate_at(life, IST_NOON)(call, aid).action == "cancel"


def test_max_concurrent_then_completion_with_counts(life: Lifecycle) -> None:
    numbers = [number(i) for i in range(12)]
    cid = started(life, numbers, retry={"max_retries": 0})
    assert run(life, IST_NOON) == {cid: 5}
    assert run(life, IST_NOON) == {}  # five live: no room
    outcomes = ["completed", "busy", "no-answer", "failed"]
    for _ in range(12):
        calls = campaign_calls(life, cid)
        live = [n for n in numbers if n in calls and
                not life.store.get_call(calls[n]).get("final_status")]
        if not live:
            break
        finish(life.store, calls[live[0]], outcomes[numbers.index(live[0]) % 4])
        run(life, IST_NOON)
    for _ in range(12):
        for n, call_id in campaign_calls(life, cid).items():
            if not life.store.get_call(call_id).get("final_status"):
                finish(life.store, call_id, outcomes[numbers.index(n) % 4])
        run(life, IST_NOON)
    s = summary(life, cid)
    assert s["state"] == "completed"
    assert s["by_status"] == {"completed": 3, "busy": 3, "no-answer": 3, "failed": 3}
    assert (s["attempts"], s["answered_rate"], s["avg_talk_s"], s["progress"]) == (
        12, 0.25, 7.0, 1.0)
    rows = {r["number"]: r for r in contact_rows(life, cid)}
    assert rows[numbers[1]]["status"] == "busy" and rows[numbers[1]]["outcomes"] == "busy"
    assert life.repo.active_ids() == []


def test_two_ticks_at_once_never_take_a_contact_twice(redis_url: str) -> None:
    life = life_for(redis_url, rate_limit_calls=100_000, rate_limit_window_s=1.0)
    numbers = [number(i) for i in range(300)]
    cid = started(life, numbers, pacing={"calls_per_minute": 1_000_000,
                                         "max_concurrent": 10_000})
    errors: list[BaseException] = []

    def ticker() -> None:
        try:
            own = life_for(redis_url, rate_limit_calls=100_000, rate_limit_window_s=1.0)
            for _ in range(40):
                tick(own.store, own.settings, IST_NOON)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=ticker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    calls = campaign_calls(life, cid)
    assert set(calls) == set(numbers)
    assert len(set(calls.values())) == 300
    assert life.store.counts()["calls"] == 300  # one call record per contact


def test_pause_resume_cancel(life: Lifecycle) -> None:
    numbers = [number(i) for i in range(20)]
    cid = started(life, numbers)
    run(life, IST_NOON)
    assert len(campaign_calls(life, cid)) == 5
    assert life.pause(cid).value == "paused"
    with pytest.raises(CampaignStateError, match="is paused; cannot pause"):
        life.pause(cid)
    first = next(iter(campaign_calls(life, cid).values()))
    finish(life.store, first)
    for _ in range(3):
        run(life, IST_NOON)
    assert len(campaign_calls(life, cid)) == 5  # paused: no new dial
    assert summary(life, cid)["by_status"] == {"completed": 1}  # but ended calls count
    assert life.resume(cid).value == "running"
    run(life, IST_NOON)
    assert len(campaign_calls(life, cid)) == 6
    assert life.cancel(cid).value == "cancelled"
    calls = campaign_calls(life, cid)
    states = [life.store.get_call(c)["state"] for c in calls.values()]
    assert states.count("cancelled") == 5 and states.count("completed") == 1
    assert life.store.counts()["due"] == 0  # no pending work left
    run(life, IST_NOON)
    assert len(campaign_calls(life, cid)) == 6
    s = summary(life, cid)
    assert (s["state"], s["pending"], s["cancelled_before_dial"]) == ("cancelled", 0, 14)
    assert life.repo.active_ids() == []
    with pytest.raises(CampaignStateError, match="is cancelled; cannot resume"):
        life.resume(cid)


def test_end_at_drops_what_is_left_and_completes(life: Lifecycle) -> None:
    end = IST_NOON + timedelta(hours=1)
    cid = started(life, [number(i) for i in range(8)], schedule={"end_at": end.isoformat()})
    run(life, IST_NOON)
    calls = campaign_calls(life, cid)
    run(life, end)
    assert all(life.store.get_call(c)["state"] == "cancelled" for c in calls.values())
    run(life, end)
    s = summary(life, cid)
    assert (s["state"], s["expired"], s["by_status"]) == ("completed", 3, {"cancelled": 5})


def test_start_at_in_the_future_waits(life: Lifecycle) -> None:
    start = IST_NOON + timedelta(minutes=5)
    cid = started(life, [number(1)], schedule={"start_at": start.isoformat()})
    assert run(life, IST_NOON) == {}
    assert life.repo.get(cid).state.value == "scheduled"
    assert run(life, start) == {cid: 1}


def test_agents_are_given_only_when_free(life: Lifecycle) -> None:
    agents = [number(900), number(901)]
    cid = started(life, [number(i) for i in range(5)], mode="connect", app_id=None,
                  agents=agents)
    run(life, IST_NOON)
    calls = campaign_calls(life, cid)
    froms = sorted(life.store.get_call(c)["request"].split('"From":"')[1][:13]
                   for c in calls.values())
    assert froms == sorted(agents)
    run(life, IST_NOON)
    assert len(campaign_calls(life, cid)) == 2
    finish(life.store, next(iter(calls.values())))
    run(life, IST_NOON)
    assert len(campaign_calls(life, cid)) == 3


def test_campaigns_on_one_account_share_its_budget_fairly(redis_url: str) -> None:
    life = life_for(redis_url, rate_limit_calls=60, rate_limit_margin_calls=0,
                    campaign_share=0.5, campaign_tick_s=10.0)  # 10 calls per tick burst
    a = started(life, [number(i) for i in range(30)], pacing={"calls_per_minute": 30,
                                                               "max_concurrent": 100})
    b = started(life, [number(100 + i) for i in range(30)],
                pacing={"calls_per_minute": 30, "max_concurrent": 100})
    assert run(life, IST_NOON) == {a: 5, b: 5}


def test_a_recurring_template_runs_a_copy_each_time(life: Lifecycle) -> None:
    cid = life.create(spec(schedule={"recurrence": "0 10 * * mon-fri"}))
    life.import_contacts(cid, csv_of([number(1), number(2)]))
    life.start(cid)
    nine = datetime(2024, 1, 3, 3, 29, tzinfo=UTC)  # Wednesday 08:59 IST
    assert tick(life.store, life.settings, nine).spawned == []
    ten = datetime(2024, 1, 3, 4, 30, 20, tzinfo=UTC)
    first = tick(life.store, life.settings, ten)
    assert first.spawned == [f"{cid}-202401030430"]
    assert tick(life.store, life.settings, ten).spawned == []  # once per firing
    run_id = first.spawned[0]
    assert set(campaign_calls(life, run_id)) == {number(1), number(2)}
    assert campaign_calls(life, cid) == {}  # the template itself never dials
    s = summary(life, cid)
    assert (s["runs"], s["next_run_at"]) == (1, "2024-01-04T04:30:00+00:00")


def test_lost_tick_is_recovered_without_a_second_call(life: Lifecycle) -> None:
    cid = started(life, [number(1), number(2)])
    run(life, datetime(2024, 1, 3, 0, 0, tzinfo=UTC))  # running, but 05:30 IST: no dial
    taken = life.queue.take(cid, "Asia/Kolkata", 1, 5, None)  # a tick that died here
    assert taken == [(number(1), "")]
    life.store.r.zadd(life.repo.keys.live(cid), {number(1): 0})  # long ago
    run(life, IST_NOON)
    run(life, IST_NOON)
    assert set(campaign_calls(life, cid)) == {number(1), number(2)}
    assert life.store.counts()["calls"] == 2


def test_starting_needs_contacts_and_a_draft(life: Lifecycle) -> None:
    cid = life.create(spec())
    with pytest.raises(ValidationError, match="no contacts"):
        life.start(cid)
    life.import_contacts(cid, csv_of([number(1)]))
    life.start(cid)
    with pytest.raises(CampaignStateError, match="is scheduled; cannot start"):
        life.start(cid)


def test_do_not_call_added_after_import_is_honoured_at_dial_time(life: Lifecycle) -> None:
    cid = started(life, [number(1), number(2)])
    life.repo.add_dnc([number(1)])
    run(life, IST_NOON)
    assert set(campaign_calls(life, cid)) == {number(2)}
    rows = {r["number"]: r["status"] for r in contact_rows(life, cid)}
    assert rows == {number(1): "suppressed", number(2): "queued"}
