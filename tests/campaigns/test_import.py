"""Importing contacts into a real Redis: every row validated, bad rows reported by line."""

from __future__ import annotations

import json
from typing import cast

import pytest

from dialer.campaigns.importer import ImportFileError
from dialer.campaigns.lifecycle import Lifecycle
from dialer.campaigns.models import CampaignStateError
from dialer.campaigns.queue import Contact
from dialer.errors import NotFoundError, ValidationError
from tests.campaigns.helpers import csv_of, life_for, number, spec


@pytest.fixture()
def life(redis_url: str) -> Lifecycle:
    return life_for(redis_url)


def problems(report: object) -> dict[int, str]:
    return {p.line: p.reason for p in report.problems}  # type: ignore[attr-defined]


def test_good_rows_import_and_each_bad_row_is_reported_by_line(life: Lifecycle) -> None:
    cid = life.create(spec())
    data = "\n".join([
        "Phone;Name;TimeZone;custom_field;city",  # line 1: semicolons, other column names
        f"{number(1)[3:]};Asha;;order-1;Pune",  # 2: local form, normalised
        "12345;Bad;;;",  # 3: not a number
        ";Nobody;;;",  # 4: missing number
        f"{number(2)};Ravi;Mars/Base;;",  # 5: unknown zone
        f"0{number(3)[3:]};Meera;America/New_York;;",  # 6: own zone
        f"{number(1)};Asha again;;;",  # 7: duplicate of line 2
        "",  # 8: blank lines are skipped
        f"{number(4)};{'x' * 201};;;",  # 9: name too long
        f"{number(5)};Ok;;{'c' * 101};",  # 10: custom field too long
        f"{number(6)};Last;;;;extra",  # 11: more fields than the header
    ]).encode()
    report = life.import_contacts(cid, data)
    assert report.imported == 2
    assert (report.rows, report.invalid, report.duplicates) == (9, 6, 1)
    got = problems(report)
    assert set(got) == {3, 4, 5, 7, 9, 10, 11}
    assert "'12345' is not a valid phone number" in got[3]
    assert got[4] == "missing number"
    assert "Mars/Base" in got[5]
    assert got[7] == "duplicate of line 2"
    assert "name" in got[9] and "custom_field" in got[10] and "header has 5" in got[11]
    c = life.repo.get(cid)
    assert (c.count("contacts"), c.count("invalid_rows"), c.count("duplicates")) == (2, 6, 1)
    stored = cast(dict[str, str], life.store.r.hgetall(life.repo.keys.contacts(cid)))
    asha = Contact.from_payload(number(1), stored[number(1)], "Asia/Kolkata")
    assert (asha.name, asha.custom_field, asha.fields, asha.tz) == (
        "Asha", "order-1", {"city": "Pune"}, "Asia/Kolkata")
    assert life.queue.queue_lengths(cid) == {"America/New_York": 1, "Asia/Kolkata": 1}


def test_a_row_in_another_encoding_is_reported_and_the_rest_imported(life: Lifecycle) -> None:
    cid = life.create(spec())
    data = csv_of([number(1), number(2), number(3)], "name", "x")
    data = data.replace(f"{number(2)},x".encode(), f"{number(2)},Jos\xe9".encode("latin-1"))
    report = life.import_contacts(cid, data)
    assert report.imported == 2
    assert "line 3" in str(report.problems[0]) and "not valid UTF-8" in str(report.problems[0])


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"\n\n  \n", "empty"),
    (b"name,city\nAsha,Pune\n", "no number column"),
    (b"number,name\n", "no contacts"),
    ("number,name\n+919800000110,Zoë\n".encode("utf-16"), "UTF-16"),
    ("number,nom\n+919800000110,Zoë\n+919800000210,Léa\n+919800000310,Noé\n"
     .encode("latin-1"), "not UTF-8"),
])
def test_unreadable_files_give_a_clear_error(life: Lifecycle, data: bytes,
                                             message: str) -> None:
    cid = life.create(spec())
    with pytest.raises(ImportFileError, match=message):
        life.import_contacts(cid, data)
    assert life.repo.get(cid).count("contacts") == 0


def test_json_contacts(life: Lifecycle) -> None:
    cid = life.create(spec())
    items = [{"number": number(1), "name": "A", "custom_field": "x", "plan": "gold"},
             {"phone": number(2), "timezone": "Asia/Dubai"}, {"name": "no number"}, "junk"]
    report = life.import_contacts(cid, json.dumps({"contacts": items}).encode(), "json")
    assert report.imported == 2
    assert problems(report) == {3: "missing number", 4: "not an object"}
    with pytest.raises(ImportFileError, match="JSON"):
        life.import_contacts(cid, b"{nope", "json")


def test_do_not_call_lists_and_duplicates_across_imports(life: Lifecycle) -> None:
    cid = life.create(spec())
    other = life.create(spec())
    life.repo.add_dnc([number(1)])
    life.repo.add_dnc([number(2)], cid)
    report = life.import_contacts(cid, csv_of([number(i) for i in range(1, 5)]))
    assert (report.imported, report.suppressed) == (2, 2)
    assert problems(report) == {2: "do-not-call (global list)",
                                3: "do-not-call (campaign list)"}
    again = life.import_contacts(cid, csv_of([number(3), number(5)]))
    assert (again.imported, again.duplicates) == (1, 1)
    assert problems(again) == {2: "already in the campaign"}
    assert life.import_contacts(other, csv_of([number(2)])).imported == 1  # its own list only


def test_unknown_campaign_and_closed_campaign(life: Lifecycle) -> None:
    with pytest.raises(NotFoundError, match="unknown campaign id 'nope'"):
        life.import_contacts("nope", csv_of([number(1)]))
    for action in (life.start, life.pause, life.resume, life.cancel):
        with pytest.raises(NotFoundError, match="'nope'"):
            action("nope")
    cid = life.create(spec())
    life.cancel(cid)
    with pytest.raises(CampaignStateError, match="no longer takes contacts"):
        life.import_contacts(cid, csv_of([number(1)]))


def test_invalid_specs_name_the_field(life: Lifecycle) -> None:
    with pytest.raises(ValidationError, match="calls_per_minute"):
        life.create(spec(pacing={"calls_per_minute": 10_000}))
    with pytest.raises(ValidationError, match="app_id"):
        life.create(spec(app_id=None))
    with pytest.raises(ValidationError, match="agents"):
        life.create(spec(mode="connect", app_id=None))
    with pytest.raises(ValidationError, match="window_start"):
        life.create(spec(schedule={"window_start": "25:00"}))
    with pytest.raises(ValidationError, match="timezone"):
        life.create(spec(schedule={"timezone": "Nowhere/Land"}))
    with pytest.raises(ValidationError, match="account"):
        life.create(spec(account="other"))
    with pytest.raises(ValidationError, match="surprise"):
        life.create(spec(surprise=1))


def test_many_rows_are_written_in_chunks_with_progress(life: Lifecycle) -> None:
    cid = life.create(spec())
    seen: list[tuple[int, int]] = []
    data = csv_of([number(i) for i in range(12_000)])
    report = life.import_contacts(cid, data, progress=lambda d, t: seen.append((d, t)))
    assert report.imported == 12_000
    assert len(seen) >= 3 and seen[-1][0] == 12_000
    assert sum(life.queue.queue_lengths(cid).values()) == 12_000
