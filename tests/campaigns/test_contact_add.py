"""ContactRepo.add on a real Redis: one flag per contact in order, across chunk boundaries,
with zones, payloads, do-not-call lists and numbers already in the campaign; all or
nothing."""

from __future__ import annotations

from typing import cast

import pytest
import redis

from dialer.campaigns import contact_repo
from dialer.campaigns.lifecycle import Lifecycle
from dialer.campaigns.models import CampaignStateError
from dialer.campaigns.queue import ADDED, DNC_CAMPAIGN, DNC_GLOBAL, DUPLICATE, Contact
from tests.campaigns.helpers import life_for, number, spec

TZ = "Asia/Kolkata"


@pytest.fixture()
def life(redis_url: str) -> Lifecycle:
    return life_for(redis_url)


def contacts_hash(life: Lifecycle, cid: str) -> dict[str, str]:
    return cast(dict[str, str], life.store.r.hgetall(life.repo.keys.contacts(cid)))


def queue(life: Lifecycle, cid: str, tz: str) -> list[str]:
    return cast(list[str], life.store.r.lrange(life.queue.keys.queue(cid, tz), 0, -1))


@pytest.mark.parametrize("chunk", [1, 3, 1000])
def test_flags_queues_payloads_and_counts_across_chunks(life: Lifecycle, chunk: int,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    monkeypatch.setattr(contact_repo, "ADD_CHUNK", chunk)
    cid = life.create(spec())
    life.repo.add_dnc([number(3)])
    life.repo.add_dnc([number(5)], cid)
    assert life.queue.add(cid, [Contact(number(7), TZ, "Old")], TZ) == [ADDED]
    batch = [Contact(number(1), TZ, "Asha", "c-1", {"city": "Pune"}, 2),
             Contact(number(2), "America/New_York", "", "", {}, 3),
             Contact(number(3), TZ, "Dnc", "", {}, 4),
             Contact(number(4), TZ, "", "", {}, 5),
             Contact(number(5), "Europe/London", "Own dnc", "", {}, 6),
             Contact(number(6), "Europe/London", 'Zoë "Z"', "", {}, 7),
             Contact(number(7), TZ, "New", "", {}, 8),
             Contact(number(8), "America/New_York", "", "", {}, 9)]
    flags = life.queue.add(cid, batch, TZ, atomic=True, counts={"invalid_rows": 2})
    assert flags == [ADDED, ADDED, DNC_GLOBAL, ADDED, DNC_CAMPAIGN, ADDED, DUPLICATE, ADDED]
    stored = contacts_hash(life, cid)
    assert set(stored) == {number(i) for i in (1, 2, 4, 6, 7, 8)}
    assert stored[number(7)] == '{"n":"Old"}'  # a number already there is left as it was
    assert stored[number(4)] == ""
    for c in batch:
        if c.number in stored and c.number != number(7):
            assert stored[c.number] == c.payload(TZ)
            assert Contact.from_payload(c.number, stored[c.number], TZ)[:5] == c[:5]
    assert queue(life, cid, TZ) == [number(7), number(1), number(4)]
    assert queue(life, cid, "America/New_York") == [number(2), number(8)]
    assert queue(life, cid, "Europe/London") == [number(6)]
    assert life.queue.zones(cid) == ["America/New_York", "Asia/Kolkata", "Europe/London"]
    c = life.repo.get(cid)
    assert (c.count("contacts"), c.count("duplicates"), c.count("suppressed"),
            c.count("invalid_rows")) == (6, 1, 2, 2)


def test_a_number_twice_in_one_call_is_refused_and_nothing_written(life: Lifecycle) -> None:
    cid = life.create(spec())
    with pytest.raises(ValueError, match="appears twice"):
        life.queue.add(cid, [Contact(number(1), TZ), Contact(number(2), TZ),
                             Contact(number(1), TZ)], TZ, atomic=True)
    assert contacts_hash(life, cid) == {} and life.queue.zones(cid) == []


def test_a_closed_campaign_gets_nothing_from_any_chunk(life: Lifecycle,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(contact_repo, "ADD_CHUNK", 2)
    cid = life.create(spec())
    life.cancel(cid)
    for counts in (None, {"invalid_rows": 1}):
        with pytest.raises(CampaignStateError, match="no longer takes contacts"):
            life.queue.add(cid, [Contact(number(i), TZ) for i in range(5)], TZ, atomic=True,
                           counts=counts)
    with pytest.raises(CampaignStateError, match="no longer takes contacts"):
        life.queue.add(cid, [], TZ, atomic=True, counts={"invalid_rows": 1})
    assert contacts_hash(life, cid) == {}
    assert life.repo.get(cid).count("invalid_rows") == 0


def test_a_write_between_the_look_and_the_transaction_is_seen(
        life: Lifecycle, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The empty-hash shortcut is taken under WATCH: a contact written by someone else
    after the hash was seen empty makes the transaction retry with every number looked
    up (that contact is a duplicate, its payload kept)."""
    monkeypatch.setattr(contact_repo, "ADD_CHUNK", 2)
    cid = life.create(spec())
    other = redis.Redis.from_url(redis_url, decode_responses=True)
    script = life.queue._add
    calls: list[str] = []

    def add_script(*, keys: list[str], args: list[object], client: object) -> object:
        if not calls:
            other.hset(life.queue.keys.contacts(cid), number(3), '{"n":"Theirs"}')
        calls.append(str(args[-1]))
        return script(keys=keys, args=args, client=client)

    monkeypatch.setattr(life.queue, "_add", add_script)
    flags = life.queue.add(cid, [Contact(number(i), TZ, "Mine") for i in range(1, 6)], TZ,
                           atomic=True)
    assert flags == [ADDED, ADDED, DUPLICATE, ADDED, ADDED]
    assert calls == ["1", "1", "1", "0", "0", "0"]  # three chunks watched, then retried
    stored = contacts_hash(life, cid)
    assert stored[number(3)] == '{"n":"Theirs"}' and len(stored) == 5
    assert queue(life, cid, TZ) == [number(i) for i in (1, 2, 4, 5)]
    assert life.repo.get(cid).count("contacts") == 4


def test_an_import_into_a_campaign_with_contacts_looks_every_number_up(
        life: Lifecycle, monkeypatch: pytest.MonkeyPatch) -> None:
    cid = life.create(spec())
    life.queue.add(cid, [Contact(number(2), TZ)], TZ, atomic=True)
    script = life.queue._add
    fresh: list[str] = []

    def add_script(*, keys: list[str], args: list[object], client: object) -> object:
        fresh.append(str(args[-1]))
        return script(keys=keys, args=args, client=client)

    monkeypatch.setattr(life.queue, "_add", add_script)
    flags = life.queue.add(cid, [Contact(number(i), TZ) for i in range(1, 4)], TZ,
                           atomic=True)
    assert flags == [ADDED, DUPLICATE, ADDED] and fresh == ["0"]
