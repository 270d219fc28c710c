"""Campaign CSVs: what is imported and exported can't turn into a spreadsheet formula, a
NUL byte is refused at import (the row is reported), and a file that breaks the CSV
reader half-way imports nothing."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner
from fastapi.testclient import TestClient

from dialer.campaigns.lifecycle import Lifecycle
from dialer.cli import main
from dialer.publisher import CeleryPublisher, broker_app
from dialer.web import create_app
from tests.campaigns.helpers import ACCOUNT, number, settings_for, spec

TOKEN = "api-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DANGEROUS = ["=HYPERLINK(\"http://evil\",\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\tTAB",
             "\rCR", "=cmd|' /C calc'!A0"]


@pytest.fixture()
def life(redis_url: str) -> Lifecycle:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    return Lifecycle.connect(client, settings_for(redis_url, api_token=TOKEN))


@pytest.fixture()
def client(life: Lifecycle, redis_url: str) -> Iterator[TestClient]:
    app = create_app(life.settings, life.store.r, CeleryPublisher(broker_app(redis_url)))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def dangerous_csv() -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["number", "name", "custom_field", "note"])
    for i, value in enumerate(DANGEROUS):
        w.writerow([number(i), value, value, value])
    return buf.getvalue().encode()


def assert_neutralised(text: str) -> None:
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == len(DANGEROUS)
    expected = {v.strip() if v.strip()[:1] not in "=+-@" else "'" + v.strip()
                for v in DANGEROUS}  # import strips blanks: a leading tab / CR goes there
    for row in rows:
        for col in ("name", "custom_field"):
            assert row[col] in expected, (col, row[col])
        assert json.loads(row["fields"])["note"] in {v.strip() for v in DANGEROUS}
        assert row["number"].startswith("+91")  # validated E.164 stays as it is
        for value in row.values():
            assert value[:1] not in ("=", "-", "@", "\t", "\r") or value == ""


def test_report_csv_over_http_neutralises_formulas(life: Lifecycle, client: TestClient
                                                   ) -> None:
    cid = life.create(spec())
    report = life.import_contacts(cid, dangerous_csv(), "csv")
    assert report.imported == len(DANGEROUS), report.to_dict()
    resp = client.get(f"/v1/campaigns/{cid}/report.csv", headers=AUTH)
    assert resp.status_code == 200
    assert_neutralised(resp.text)


def test_report_csv_from_the_cli_neutralises_formulas(
        life: Lifecycle, redis_url: str, clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIALER_REDIS_URL", redis_url)
    monkeypatch.setenv("DIALER_ACCOUNTS", json.dumps([ACCOUNT]))
    cid = life.create(spec())
    life.import_contacts(cid, dangerous_csv(), "csv")
    out = clean_env / "report.csv"
    res = CliRunner().invoke(main, ["campaign", "report", cid, "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert_neutralised(out.read_text(encoding="utf-8"))


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_a_nul_byte_is_refused_row_by_row(life: Lifecycle, fmt: str) -> None:
    cid = life.create(spec())
    if fmt == "csv":
        data = f"number,name\n{number(1)},ok\n{number(2)},a\x00b\n{number(3)},\x00\n".encode()
    else:
        data = json.dumps([{"number": number(1), "name": "ok"},
                           {"number": number(2), "name": "a\x00b"},
                           {"number": number(3), "city": "\x00"}]).encode()
    report = life.import_contacts(cid, data, fmt)
    assert report.imported == 1 and report.invalid == 2, report.to_dict()
    assert all("NUL" in p.reason for p in report.problems)
    stored = life.store.r.hgetall(life.repo.keys.contacts(cid))
    assert list(stored) == [number(1)] and "\x00" not in json.dumps(stored)


def big_bad_csv(rows: int = 6001) -> bytes:
    lines = ["number,name"] + [f"{number(i)},n{i}" for i in range(1, rows)]
    lines.append(f"{number(rows)},{'x' * 200_000}")
    return ("\n".join(lines) + "\n").encode()


def test_an_over_long_field_on_row_6001_imports_nothing_over_http(
        life: Lifecycle, client: TestClient) -> None:
    cid = life.create(spec())
    resp = client.post(f"/v1/campaigns/{cid}/contacts", content=big_bad_csv(),
                       headers={**AUTH, "Content-Type": "text/csv"})
    assert resp.status_code == 422, resp.text[:500]
    assert "line 6002" in resp.json()["detail"]
    assert len(resp.text) < 2000
    assert life.store.r.hlen(life.repo.keys.contacts(cid)) == 0
    assert life.repo.get(cid).count("contacts") == 0


def test_an_over_long_field_imports_nothing_from_the_cli_and_create_leaves_no_campaign(
        life: Lifecycle, redis_url: str, clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIALER_REDIS_URL", redis_url)
    monkeypatch.setenv("DIALER_ACCOUNTS", json.dumps([ACCOUNT]))
    bad = clean_env / "bad.csv"
    bad.write_bytes(big_bad_csv())
    cid = life.create(spec())
    res = CliRunner().invoke(main, ["campaign", "import", cid, str(bad)])
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output[-2000:]
    assert "line 6002" in res.output
    assert life.store.r.hlen(life.repo.keys.contacts(cid)) == 0
    before = life.store.r.zcard(life.repo.keys.index)
    for contacts in (bad, clean_env / "empty.csv", clean_env / "nonumber.csv"):
        if contacts.name == "empty.csv":
            contacts.write_bytes(b"")
        elif contacts.name == "nonumber.csv":
            contacts.write_bytes(b"name\nx\n")
        res = CliRunner().invoke(main, ["campaign", "create", "--name", "x", "--app-id", "1",
                                        "--contacts", str(contacts)])
        assert res.exit_code == 2 and "Traceback" not in res.output, res.output[-2000:]
        assert life.store.r.zcard(life.repo.keys.index) == before, contacts.name
    assert life.store.r.scard(life.repo.keys.active) == before


def test_create_with_bad_contacts_over_http_leaves_no_campaign(
        life: Lifecycle, client: TestClient) -> None:
    keys_before = sorted(life.store.r.keys("*"))
    bodies = [{**spec(), "contacts": contacts} for contacts in ([], "not a list",
                                                                 {"contacts": 5})]
    bodies.append({**spec(), "contacts": [{"number": "nope"}], "start": True})
    for body in bodies:
        resp = client.post("/v1/campaigns", json=body, headers=AUTH)
        assert resp.status_code == 422, resp.text[:300]
    assert sorted(life.store.r.keys("*")) == keys_before


def test_safe_cell_neutralises_every_formula_start() -> None:
    from dialer.campaigns.report import safe_cell

    for value in DANGEROUS + ["\t=1", "\r=1"]:
        assert safe_cell(value) == "'" + value
    for value in ("plain", "", 5, None, "a=b", "+91 is fine inside"[3:]):
        assert safe_cell(value) == value
