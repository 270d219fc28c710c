"""``dialer call | status | unknown | resolve`` for operators: every option a call takes,
``--json`` everywhere, ids never cut (80 columns, piped or on a terminal), unknown calls
resolved by hand with who and why recorded as events. Real Redis; calls finished through
the store's own transitions."""

from __future__ import annotations

import io
import json
import threading
from typing import Any

import pytest
import redis
from click.testing import CliRunner
from rich.console import Console

from dialer.cli import main
from dialer.cli_helpers import print_table
from dialer.keys import Keys
from dialer.models import AttemptState, CallUpdate
from dialer.policy import Decision
from dialer.store import NewCall, Store
from tests.stack import wait_for

ACCOUNTS = [{"name": "main", "sid": "AC1", "api_key": "k", "api_token": "t",
             "caller_id": "08030752400"}]
RECORDING = "https://recordings.example/AC1/very/long/path/" + "r" * 60 + ".mp3"


@pytest.fixture()
def runner(redis_url: str, clean_env: Any, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("DIALER_REDIS_URL", redis_url)
    monkeypatch.setenv("DIALER_ACCOUNTS", json.dumps(ACCOUNTS))
    monkeypatch.setenv("COLUMNS", "80")
    return CliRunner()


@pytest.fixture()
def store(r: redis.Redis) -> Store:
    return Store(r, Keys())


def unknown_call(store: Store, number: str = "+919810000010", give_up: bool = True) -> str:
    (c,) = store.create_calls([NewCall("main", "connect", {"From": number,
                                                           "To": "+919820000010"}, {})],
                              delay_ms=0)
    token, _ = store.claim(c.attempt_id)
    assert token and store.mark_posting(c.attempt_id, token)
    store.record_outcome(c.attempt_id, token, AttemptState.UNKNOWN, detail="read timeout")
    if give_up:
        store.give_up_unknown(c.attempt_id, "no callback")
    return c.attempt_id


def complete(store: Store, attempt_id: str, sid: str = "CA" + "f" * 30) -> None:
    token, _ = store.claim(attempt_id)
    assert token and store.mark_posting(attempt_id, token)
    store.record_outcome(attempt_id, token, AttemptState.PLACED, call_sid=sid)
    store.apply_update(attempt_id, CallUpdate(status="completed", leg1_status="completed",
                                              leg2_status="completed", duration_s=42,
                                              price="0.75", recording_url=RECORDING),
                       AttemptState.COMPLETED, Decision(False, 0, "succeeded"))


def events(store: Store) -> list[dict[str, str]]:
    return [fields for _, fields in store.r.xrange(store.keys.events)]


def test_call_takes_every_option_and_answers_json(runner: CliRunner, store: Store) -> None:
    res = runner.invoke(main, ["call", "--from", "09810000010", "--to", "09820000010",
                               "--custom-field", "order-7", "--metadata", '{"order": 7}',
                               "--max-retries", "0", "--param", "TimeLimit=600", "--json"])
    assert res.exit_code == 0, res.output
    call_id = json.loads(res.stdout)["call_id"]
    call = store.get_call(call_id)
    assert call["custom_field"] == "order-7" and json.loads(call["metadata"]) == {"order": 7}
    assert json.loads(call["policy"])["max_retries"] == 0
    assert json.loads(call["request"])["TimeLimit"] == 600
    for bad, field in ((["--metadata", "[1]"], "--metadata"),
                       (["--metadata", "{nope"], "--metadata"),
                       (["--metadata", '{"x": NaN}'], "--metadata"),
                       (["--max-retries", "99"], "--max-retries"),
                       (["--custom-field", "x" * 200], "custom_field")):
        res = runner.invoke(main, ["call", "--from", "09810000010", "--to", "09820000010",
                                   *bad])
        assert res.exit_code == 2 and field in res.output and "Traceback" not in res.output


def test_call_wait_shows_how_it_ended(runner: CliRunner, store: Store) -> None:
    def finish_it() -> None:
        call_id = wait_for(lambda: store.r.get(store.keys.idem("main", "w-1")), 10,
                           "the call written")
        complete(store, f"{call_id}-1")

    worker = threading.Thread(target=finish_it)
    worker.start()
    res = runner.invoke(main, ["call", "--from", "09810000010", "--to", "09820000010",
                               "--idempotency-key", "w-1", "--wait", "--json"])
    worker.join()
    assert res.exit_code == 0, res.output
    view = json.loads(res.stdout)
    assert view["state"] == "completed" and view["duration_s"] == 42
    timed_out = runner.invoke(main, ["call", "--from", "09810000011", "--to", "09820000010",
                                     "--wait", "--timeout", "0.3"])
    assert timed_out.exit_code == 1 and "still queued" in timed_out.stderr


def test_status_never_cuts_an_id_at_80_columns(runner: CliRunner, store: Store) -> None:
    (c,) = store.create_calls([NewCall("main", "connect", {"From": "+919810000010",
                                                           "To": "+919820000010"}, {})],
                              delay_ms=0)
    complete(store, c.attempt_id)
    res = runner.invoke(main, ["status", c.call_id])  # piped: CliRunner is not a terminal
    assert res.exit_code == 0, res.output
    assert c.call_id in res.stdout and "CA" + "f" * 30 in res.stdout
    assert RECORDING in res.stdout  # one piece, not wrapped
    assert "from +919810000010 to +919820000010" in res.stdout
    assert "duration 42 · price 0.75" in res.stdout
    header, row = res.stdout.splitlines()[-2:]
    assert header.split("\t")[:3] == ["#", "state", "call sid"]
    assert row.split("\t")[:3] == ["1", "completed", "CA" + "f" * 30]


@pytest.mark.parametrize("width", [80, 40])
def test_a_terminal_table_never_cuts_an_id(width: int) -> None:
    ids = ["0123456789abcdef01234567-12", "fedcba9876543210fedcba98-3"]
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=True, color_system=None)
    print_table(["call id", "attempt", "detail"],
                [[i, i, "a long detail " * 8] for i in ids], full=["call id", "attempt"],
                console=console)
    text = out.getvalue()
    for i in ids:
        assert text.count(i) == 2, text
    assert console.width == width  # restored


def test_unknown_lists_full_ids_piped_and_as_json(runner: CliRunner, store: Store) -> None:
    given_up = unknown_call(store)
    looking = unknown_call(store, "+919810000011", give_up=False)
    res = runner.invoke(main, ["unknown"])
    assert res.exit_code == 0, res.output
    lines = [line.split("\t") for line in res.stdout.splitlines()]
    assert lines[0][:3] == ["call_id", "attempt_id", "status"]
    assert {(row[1], row[2]) for row in lines[1:]} == {(given_up, "given up"),
                                                       (looking, "looking up")}
    rows = json.loads(runner.invoke(main, ["unknown", "--json"]).stdout)
    (mine,) = [r for r in rows if r["attempt_id"] == given_up]
    assert mine["call_id"] == given_up.rsplit("-", 1)[0] and mine["status"] == "given up"
    assert mine["from"] == "+919810000010" and mine["detail"] == "read timeout"
    assert mine["since"].endswith("+00:00")


def test_resolve_answered_records_who_and_why(runner: CliRunner, store: Store) -> None:
    aid = unknown_call(store)
    res = runner.invoke(main, ["resolve", aid, "--answered", "--by", "asha",
                               "--reason", "listed in the Exotel dashboard", "--json"])
    assert res.exit_code == 0, res.output
    done = json.loads(res.stdout)
    assert (done["attempt_state"], done["call_state"]) == ("completed", "completed")
    resolved = [e for e in events(store) if e["type"] == "resolved"]
    assert [(e["attempt_id"], e["outcome"], e["by"], e["reason"]) for e in resolved] == [
        (aid, "answered", "asha", "listed in the Exotel dashboard")]
    finals = [e["status"] for e in events(store) if e["type"] == "final"]
    assert finals == ["unknown", "completed"]  # given up at the horizon, then resolved
    assert json.loads(runner.invoke(main, ["unknown", "--json"]).stdout) == []
    view = json.loads(runner.invoke(main, ["status", aid.rsplit("-", 1)[0], "--json"]).stdout)
    assert "asha" in view["attempts"][0]["decision_reason"]
    again = runner.invoke(main, ["resolve", aid, "--not-placed", "--by", "asha",
                                 "--reason", "oops"])
    assert again.exit_code == 2 and "not unknown" in again.stderr  # a conflict: exit 2


def test_resolve_not_placed_ends_it_or_dials_it_again(runner: CliRunner, store: Store) -> None:
    ended = unknown_call(store)
    res = runner.invoke(main, ["resolve", ended, "--not-placed", "--by", "ravi",
                               "--reason", "not in Exotel's call log"])
    assert res.exit_code == 0, res.output
    assert store.get_call(ended.rsplit("-", 1)[0])["state"] == "absent"
    redial = unknown_call(store, "+919810000012", give_up=False)
    res = runner.invoke(main, ["resolve", redial, "--not-placed", "--redial", "--by", "ravi",
                               "--reason", "not in Exotel's call log", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["redialled"] is True
    call_id = redial.rsplit("-", 1)[0]
    assert store.get_call(call_id)["state"] == "retry-wait"
    assert store.get_attempt(f"{call_id}-2")["state"] == "pending"
    absent = [e for e in events(store) if e["type"] == "absent"]
    assert all("by ravi" in e["detail"] for e in absent) and len(absent) == 2


@pytest.mark.parametrize(("args", "code", "text"), [
    (["--by", "x", "--reason", "y"], 2, "--answered or --not-placed"),
    (["--answered", "--by", " ", "--reason", "y"], 2, "by:"),
    (["--answered", "--redial", "--by", "x", "--reason", "y"], 2, "redial"),
])
def test_resolve_refuses_what_it_cannot_record(runner: CliRunner, store: Store,
                                               args: list[str], code: int, text: str) -> None:
    aid = unknown_call(store)
    res = runner.invoke(main, ["resolve", aid, *args])
    assert res.exit_code == code and text in res.stderr, res.output
    assert store.get_attempt(aid)["state"] == "unknown"  # nothing changed
    missing = runner.invoke(main, ["resolve", "nope-1", "--answered", "--by", "x",
                                   "--reason", "y"])
    assert missing.exit_code == 4
