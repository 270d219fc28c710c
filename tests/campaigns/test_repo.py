"""The campaigns' writers: only the repositories talk to Redis, every key from keys.py, and
an import's contacts and counters are written together or not at all."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from dialer.campaigns.lifecycle import Lifecycle
from dialer.campaigns.models import CampaignStateError
from tests.campaigns.helpers import csv_of, life_for, number, spec

CAMPAIGNS = Path(__file__).resolve().parents[2] / "dialer" / "campaigns"
# the writers: campaign records, contacts (and the reads of their calls), pace buckets
WRITERS = {"repo.py", "contact_repo.py", "budget.py"}
CLIENT_CALLS = {"pipeline", "register_script", "hset", "hget", "hmget", "hgetall", "hincrby",
                "incr", "set", "get", "zadd", "zrem", "zcard", "zcount", "zrange", "sadd",
                "srem", "smembers", "delete", "copy", "hscan", "time", "execute"}


def client_uses(path: Path) -> list[str]:
    """``x.r.<command>(…)`` / ``x.r`` handed on, and Redis commands on a ``redis`` object."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr == "r":
            found.append(f"{path.name}:{node.lineno}: .r")
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in CLIENT_CALLS
                and isinstance(node.func.value, ast.Attribute)
                and node.func.value.attr in ("r", "client", "redis")):
            found.append(f"{path.name}:{node.lineno}: {node.func.attr}")
    return found


def test_only_the_repositories_talk_to_redis() -> None:
    # the edges of the package hand the store's client to a repository, and nothing else
    allowed = {"Lifecycle.__init__", "make_gate", "make_dnd_hook", "Handoff.__init__",
               "Ticker.__init__"}
    offenders = []
    for path in sorted(CAMPAIGNS.glob("*.py")):
        if path.name in WRITERS:
            continue
        tree = ast.parse(path.read_text())
        owners = {id(f): c.name for c in ast.walk(tree) if isinstance(c, ast.ClassDef)
                  for f in c.body}
        for scope in ast.walk(tree):
            if not isinstance(scope, ast.FunctionDef):
                continue
            owner = owners.get(id(scope), "")
            name = f"{owner}.{scope.name}" if owner else scope.name
            uses = [n for n in ast.walk(scope) if isinstance(n, ast.Attribute)
                    and n.attr == "r"]
            if uses and name not in allowed:
                offenders.append(f"{path.name}:{uses[0].lineno} in {name}")
    assert offenders == []
    assert all(client_uses(p) == [] for p in CAMPAIGNS.glob("*.py")
               if p.name not in WRITERS | {"lifecycle.py", "gate.py", "dnd.py", "handoff.py",
                                           "tick.py"})


def test_every_key_name_comes_from_keys_py() -> None:
    for path in CAMPAIGNS.glob("*.py"):
        if path.name == "keys.py":
            continue
        text = path.read_text()
        assert "prefix}:" not in text and '"dialer:' not in text, path.name
        assert ':claim"' not in text, path.name


@pytest.fixture()
def life(redis_url: str) -> Lifecycle:
    return life_for(redis_url)


def test_an_import_into_a_closed_campaign_writes_no_contact_and_no_count(
        life: Lifecycle) -> None:
    cid = life.create(spec())
    life.import_contacts(cid, csv_of([number(1)]))
    life.start(cid)
    life.cancel(cid)
    before = life.repo.get(cid).fields
    bad = b"number\nnot-a-number\n" + csv_of([number(1), number(2)]).split(b"\n", 1)[1]
    with pytest.raises(CampaignStateError):
        life.import_contacts(cid, bad + b"+919800000210\n")
    assert life.repo.get(cid).fields == before  # invalid_rows, duplicates: untouched
    assert life.queue.queue_lengths(cid) == {}


def test_an_import_counts_its_invalid_rows_and_duplicates_with_its_contacts(
        life: Lifecycle) -> None:
    cid = life.create(spec())
    data = b"number\nnot-a-number\n" + csv_of([number(1), number(1), number(2)]
                                               ).split(b"\n", 1)[1]
    report = life.import_contacts(cid, data)
    assert (report.imported, report.invalid, report.duplicates) == (2, 1, 1)
    c = life.repo.get(cid)
    assert (c.count("contacts"), c.count("invalid_rows"), c.count("duplicates")) == (2, 1, 1)
    only_bad = life.import_contacts(cid, b"number\nnope\n")
    assert only_bad.invalid == 1 and life.repo.get(cid).count("invalid_rows") == 2


def test_a_template_run_is_claimed_once_and_gets_the_contacts(life: Lifecycle) -> None:
    src = life.create(spec())
    life.import_contacts(src, csv_of([number(i) for i in range(3)]))
    assert life.repo.claim_run(f"{src}-1", src)
    assert not life.repo.claim_run(f"{src}-1", src)  # a second beat, the same firing
    life.repo.copy_contacts(src, f"{src}-1")
    assert life.queue.queue_lengths(f"{src}-1") == life.queue.queue_lengths(src)
    assert life.repo.ticks() == 0
    life.repo.note_tick()
    assert life.repo.ticks() == 1
