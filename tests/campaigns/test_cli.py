"""``dialer campaign …`` with click's runner against a real Redis."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from dialer.cli import main
from tests.campaigns.helpers import ACCOUNT, csv_of, number


@pytest.fixture()
def runner(redis_url: str, clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("DIALER_REDIS_URL", redis_url)
    monkeypatch.setenv("DIALER_ACCOUNTS", json.dumps([ACCOUNT]))
    return CliRunner()


def test_create_import_show_pause_report(runner: CliRunner, clean_env: Path) -> None:
    contacts = clean_env / "contacts.csv"
    contacts.write_bytes(csv_of([number(1), number(2), "42"]))
    created = runner.invoke(main, ["campaign", "create", "--name", "cli", "--app-id", "123",
                                   "--window", "10:00-18:00", "--days", "mon-fri",
                                   "--cpm", "30", "--max-retries", "1",
                                   "--contacts", str(contacts)])
    assert created.exit_code == 0, created.output
    cid = created.stdout.strip().splitlines()[0]
    assert "2 imported" in created.stderr and "line 4:" in created.stderr
    bad = clean_env / "bad.csv"
    bad.write_text("name\nx\n")
    failed = runner.invoke(main, ["campaign", "import", cid, str(bad)])
    assert failed.exit_code == 2 and "no number column" in failed.stderr
    paused = runner.invoke(main, ["campaign", "pause", cid])
    assert paused.exit_code == 2 and "is draft; cannot pause" in paused.stderr
    assert runner.invoke(main, ["campaign", "start", cid]).stdout.strip() == f"{cid} scheduled"
    shown = runner.invoke(main, ["campaign", "show", cid, "--json"])
    data = json.loads(shown.stdout)
    assert (data["state"], data["contacts"], data["window"]) == (
        "scheduled", 2, "10:00-18:00 mon-fri")
    listed = runner.invoke(main, ["campaign", "list", "--json"])
    assert json.loads(listed.stdout)[0]["id"] == cid
    out = clean_env / "report.csv"
    reported = runner.invoke(main, ["campaign", "report", cid, "-o", str(out)])
    assert reported.exit_code == 0, reported.output
    rows = list(csv.DictReader(out.open()))
    assert {r["number"] for r in rows} == {number(1), number(2)}
    assert runner.invoke(main, ["campaign", "dnc", number(3)]).stdout.strip() == "1 added"
    assert runner.invoke(main, ["campaign", "cancel", cid]).stdout.strip() == f"{cid} cancelled"
    watched = runner.invoke(main, ["campaign", "show", cid, "--watch", "--interval", "0.01"])
    assert watched.exit_code == 0 and "cancelled" in watched.stdout


def test_unknown_campaign_exits_4(runner: CliRunner) -> None:
    for args in (["show", "nope"], ["pause", "nope"], ["report", "nope"]):
        result = runner.invoke(main, ["campaign", *args])
        assert result.exit_code == 4, result.output
        assert "unknown campaign id 'nope'" in result.stderr


def test_invalid_spec_exits_2(runner: CliRunner) -> None:
    result = runner.invoke(main, ["campaign", "create", "--name", "x"])
    assert result.exit_code == 2 and "app_id" in result.stderr


def test_dnc_lists_adds_and_removes(runner: CliRunner) -> None:
    assert runner.invoke(main, ["campaign", "dnc", number(1), number(2)]).stdout.strip() == (
        "2 added")
    listed = runner.invoke(main, ["campaign", "dnc"])
    assert listed.exit_code == 0 and listed.stdout.split() == [number(1), number(2)]
    removed = runner.invoke(main, ["campaign", "dnc", "--remove", number(1)])
    assert removed.stdout.strip() == "1 removed"
    as_json = runner.invoke(main, ["campaign", "dnc", "--json"])
    assert json.loads(as_json.stdout) == {"numbers": [number(2)]}
    nothing = runner.invoke(main, ["campaign", "dnc", "--remove"])
    assert nothing.exit_code == 2 and "name the numbers" in nothing.stderr
    unknown = runner.invoke(main, ["campaign", "dnc", "--campaign", "nope"])
    assert unknown.exit_code == 4


def test_show_says_why_nothing_is_dialling_and_ids_are_whole(runner: CliRunner,
                                                             clean_env: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    contacts = clean_env / "contacts.csv"
    contacts.write_bytes(csv_of([number(1), number(2)]))
    created = runner.invoke(main, ["campaign", "create", "--name", "a campaign with a long "
                                   "name", "--app-id", "123", "--contacts", str(contacts)])
    cid = created.stdout.strip()
    shown = runner.invoke(main, ["campaign", "show", cid, "--json"])
    assert json.loads(shown.stdout)["idle_reasons"] == [
        f"draft: not started (dialer campaign start {cid})"]
    plain = runner.invoke(main, ["campaign", "show", cid])  # piped: field TAB value
    rows = dict(line.split("\t", 1) for line in plain.stdout.splitlines()[1:])
    assert rows["id"] == cid and rows["not dialling"].startswith("draft: not started")
    listed = runner.invoke(main, ["campaign", "list"])
    header, row = listed.stdout.splitlines()
    assert header.split("\t")[0] == "id" and row.split("\t")[0] == cid
    report = runner.invoke(main, ["campaign", "report", cid, "--json"])
    assert report.exit_code == 0, report.output
    rows = [json.loads(line) for line in report.stdout.splitlines()]
    assert sorted(r["number"] for r in rows) == [number(1), number(2)]
