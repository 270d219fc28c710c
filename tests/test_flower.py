"""Flower against a real run: our tasks through its HTTP API, no secret in any answer.

The end-to-end test uses its own password-protected Redis (so that "the password is
masked" can fail), the simulator, the web app and one worker from :mod:`tests.stack`, and
``dialer flower`` as a child process with basic auth.
"""

from __future__ import annotations

import ast
import runpy
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from click.testing import CliRunner

from dialer import flower_cli
from dialer.cli import main
from dialer.embedded import EmbeddedRedis, free_port
from dialer.publisher import CALLS_QUEUE, PLACE_CALL, broker_app
from exotel_sim import SimConfig, Simulator
from tests.e2e import all_final, store_for
from tests.stack import API_TOKEN, CALLBACK_SECRET, ROOT, Proc, Stack, wait_for

REDIS_PASSWORD = "flower-test-redis-pw"
SIM_API_TOKEN = "sim_token"  # the account's api_token in tests.stack
FLOWER_USER, FLOWER_PASSWORD = "ops", "flower-test-basic-pw"
SECRETS = [REDIS_PASSWORD, API_TOKEN, CALLBACK_SECRET, SIM_API_TOKEN, FLOWER_PASSWORD]
CONFIG = ROOT / "config" / "flowerconfig.py"
DIALER = str(Path(sys.executable).with_name("dialer"))
PROBE = "flower-probe-1"


# --- the command and the config file, without a server -------------------------------

@pytest.mark.parametrize(("address", "loopback"), [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("localhost", True),
    ("0.0.0.0", False), ("", False), ("10.0.0.5", False), ("::", False),
    ("flower.example.com", False),
])
def test_loopback_addresses(address: str, loopback: bool) -> None:
    assert flower_cli.is_loopback(address) is loopback


class Exec:
    """Stands in for ``os.execve``: records the call instead of replacing the process."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str], dict[str, str]]] = []

    def __call__(self, path: str, argv: list[str], env: dict[str, str]) -> None:
        self.calls.append((path, list(argv), dict(env)))
        raise SystemExit(0)


@pytest.fixture()
def execve(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> Exec:
    monkeypatch.setenv("DIALER_REDIS_URL", "redis://127.0.0.1:1/0")
    fake = Exec()
    monkeypatch.setattr(flower_cli.os, "execve", fake)
    return fake


@pytest.mark.parametrize("address", ["0.0.0.0", "", "192.0.2.10"])
def test_refuses_to_listen_beyond_loopback_without_basic_auth(execve: Exec,
                                                              address: str) -> None:
    result = CliRunner().invoke(main, ["flower", "--address", address])
    assert result.exit_code == 2, result.output
    assert "DIALER_FLOWER_BASIC_AUTH" in result.output
    assert execve.calls == []


def test_runs_flower_with_basic_auth_in_the_environment_only(execve: Exec) -> None:
    result = CliRunner().invoke(main, ["flower", "--address", "0.0.0.0", "--port", "5600"],
                                env={"DIALER_FLOWER_BASIC_AUTH": "ops:pw-s3cret"})
    assert result.exit_code == 0, result.output
    ((path, argv, env),) = execve.calls
    assert path == sys.executable
    assert argv[1:6] == ["-m", "celery", "-A", "workers.app", "flower"]
    assert {f"--conf={CONFIG.resolve()}", "--address=0.0.0.0", "--port=5600"} <= set(argv)
    assert not any("s3cret" in a for a in argv) and "s3cret" not in result.output
    assert env["DIALER_FLOWER_BASIC_AUTH"] == "ops:pw-s3cret"


def test_loopback_needs_no_basic_auth(execve: Exec) -> None:
    result = CliRunner().invoke(main, ["flower"])
    assert result.exit_code == 0, result.output
    ((_, argv, env),) = execve.calls
    assert "--address=127.0.0.1" in argv and "--port=5555" in argv
    assert "DIALER_FLOWER_BASIC_AUTH" not in env


def test_a_malformed_basic_auth_is_refused_without_echoing_it(execve: Exec) -> None:
    result = CliRunner().invoke(main, ["flower", "--address", "0.0.0.0"],
                                env={"DIALER_FLOWER_BASIC_AUTH": "no-colon-s3cret"})
    assert result.exit_code == 2, result.output
    assert "user:password" in result.output
    assert "s3cret" not in result.output
    assert execve.calls == []


def test_an_empty_redis_url_is_a_settings_error(execve: Exec,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DIALER_REDIS_URL")
    result = CliRunner().invoke(main, ["flower"])
    assert result.exit_code == 3, result.output
    assert "DIALER_REDIS_URL" in result.output
    assert execve.calls == []


def test_the_command_line_holds_no_password() -> None:
    argv = flower_cli.flower_argv(CONFIG, "0.0.0.0", 5555, ())
    assert argv[1:6] == ["-m", "celery", "-A", "workers.app", "flower"]
    assert f"--conf={CONFIG}" in argv and "--address=0.0.0.0" in argv
    assert not any("auth" in a for a in argv)
    assert flower_cli.find_config() == CONFIG.resolve()


def test_the_config_file_takes_basic_auth_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DIALER_FLOWER_BASIC_AUTH", raising=False)
    plain = runpy.run_path(str(CONFIG))
    assert (plain["port"], plain["address"], plain["persistent"]) == (5555, "127.0.0.1", False)
    assert "basic_auth" not in plain
    assert "kwargs" in plain["tasks_columns"].split(",")
    monkeypatch.setenv("DIALER_FLOWER_BASIC_AUTH", "a:pw1, b:pw2")
    assert runpy.run_path(str(CONFIG))["basic_auth"] == ["a:pw1", "b:pw2"]


@pytest.mark.parametrize(("raw", "shown"), [
    ("redis://:pw@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
    ("Settings(redis_url='rediss://user:p%40ss@h:1/2', x=1)",
     "Settings(redis_url='rediss://user:***@h:1/2', x=1)"),
    ("sentinel://:pw@h1:26379;sentinel://:pw@h2:26379",
     "sentinel://:***@h1:26379;sentinel://:***@h2:26379"),
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ("http://example.com/a@b", "http://example.com/a@b"),
])
def test_censor_masks_url_passwords(raw: str, shown: str) -> None:
    assert flower_cli.censor({"k": [raw]}) == {"k": [shown]}


# --- end to end ----------------------------------------------------------------------

@pytest.fixture()
def password_redis_url(tmp_path: Path) -> Iterator[str]:
    """A Redis of its own that needs a password (set after start, before any use)."""
    with EmbeddedRedis(tmp_path / "redis") as server:
        with redis.Redis.from_url(server.url) as client:
            client.config_set("requirepass", REDIS_PASSWORD)
        yield f"redis://:{REDIS_PASSWORD}@{server.host}:{server.port}/0"


@pytest.fixture()
def run(password_redis_url: str, tmp_path: Path,
        request: pytest.FixtureRequest) -> Iterator[tuple[Stack, str]]:
    """The web app, one worker and Flower (basic auth); yields the stack and Flower's URL."""
    with Simulator(SimConfig(time_scale=0.01, limit_calls=100_000)) as sim:
        stack = Stack(password_redis_url, sim.url, tmp_path)
        try:
            stack.start_web()
            stack.start_worker("w1")
            port = free_port()
            env = dict(stack.env, DIALER_FLOWER_BASIC_AUTH=f"{FLOWER_USER}:{FLOWER_PASSWORD}")
            flower = Proc("flower", [DIALER, "flower", "--port", str(port)], env, tmp_path)
            stack.procs.append(flower)
            url = f"http://127.0.0.1:{port}"
            wait_for(lambda: flower.answers(f"{url}/healthcheck"), 30, "Flower to answer")
            yield stack, url
        finally:
            stack.stop()
            failed = getattr(request.node, "rep_call", None)
            if failed is not None and failed.failed:
                print(stack.dump())


def _get(url: str, **params: Any) -> requests.Response:
    resp = requests.get(url, params=params, auth=(FLOWER_USER, FLOWER_PASSWORD), timeout=10)
    assert resp.status_code == 200, (url, resp.status_code, resp.text[:500])
    return resp


def _tasks(flower_url: str, name: str) -> list[dict[str, Any]]:
    """Flower's tasks of one name; ``kwargs`` parsed (Flower gives the repr Celery sent)."""
    tasks = _get(f"{flower_url}/api/tasks", taskname=name).json().values()
    return [{**t, "kwargs": ast.literal_eval(t["kwargs"] or "{}")} for t in tasks]


def _flower_sees_events(flower_url: str, redis_url: str) -> None:
    """Send harmless ``dialer.place_call`` messages (for an attempt that does not exist)
    until Flower lists one: its event receiver is connected, so nothing sent later can be
    missed. (Beat's housekeeping tasks send no events at all.)"""
    app = broker_app(redis_url)
    deadline = time.monotonic() + 30

    def seen() -> bool:
        app.send_task(PLACE_CALL, kwargs={"attempt_id": PROBE}, queue=CALLS_QUEUE)
        try:
            return bool(wait_for(lambda: [t for t in _tasks(flower_url, PLACE_CALL)
                                          if t["kwargs"].get("attempt_id") == PROBE], 1.0,
                                 "Flower to list the task", interval_s=0.1))
        except AssertionError:
            return False

    while not seen():
        assert time.monotonic() < deadline, "Flower received no task event within 30 s"


def _succeeded(flower_url: str, name: str, attempts: set[str]) -> list[dict[str, Any]] | None:
    """The ``name`` tasks once every attempt in ``attempts`` has one that succeeded."""
    tasks = _tasks(flower_url, name)
    done = {t["kwargs"].get("attempt_id") for t in tasks if t["state"] == "SUCCESS"}
    return tasks if attempts <= done else None


@pytest.mark.slow
def test_flower_shows_our_tasks_and_no_secret(run: tuple[Stack, str],
                                              password_redis_url: str) -> None:
    stack, flower_url = run
    assert requests.get(f"{flower_url}/api/tasks", timeout=5).status_code == 401
    _flower_sees_events(flower_url, password_redis_url)

    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    call_ids = []
    for i in range(3):  # one at a time: published at once (a batch waits for beat's pump)
        body = {"from": f"+91981000{i:03d}0", "to": f"+91982000{i:03d}0"}
        resp = requests.post(f"{stack.web_url}/v1/calls", json=body, headers=headers,
                             timeout=10)
        assert resp.status_code == 202, resp.text
        call_ids.append(resp.json()["call_id"])
    store = store_for(password_redis_url)
    wait_for(lambda: all_final(store, call_ids), 60, "the calls to end")
    attempts = {f"{cid}-1" for cid in call_ids}

    placed = wait_for(lambda: _succeeded(flower_url, "dialer.place_call", attempts), 30,
                      "every place_call to succeed in Flower")
    reconciled = wait_for(lambda: _succeeded(flower_url, "dialer.reconcile", attempts), 30,
                          "every reconcile to succeed in Flower")
    placed = [t for t in placed if t["kwargs"]["attempt_id"] != PROBE]
    for task in placed:  # what Flower shows: the call named for a person, masked
        assert set(task["kwargs"]) == {"attempt_id", "call"}
        assert task["kwargs"]["call"].startswith("main · - · +91 98xxxx"), task["kwargs"]
        assert task["result"] == "'placed'"
        assert task["worker"].startswith("w1@")
    for task in reconciled:  # the statuses only; the result is the call's outcome
        assert {"attempt_id", "call", "status", "source"} <= set(task["kwargs"])
        assert "update" not in task["kwargs"]  # nor its recording URL
        assert task["kwargs"]["status"] == "completed"
        assert task["result"] == "'completed · final'"

    def inspected() -> tuple[str, dict[str, Any]] | None:
        workers = _get(f"{flower_url}/api/workers", refresh="1").json()
        found = [(n, w) for n, w in workers.items() if n.startswith("w1@")
                 and "conf" in w and "registered" in w]
        return found[0] if found else None

    name, worker = wait_for(inspected, 30, "Flower to inspect the worker")
    assert "dialer.place_call" in worker["registered"]
    assert worker["conf"]["broker_url"].startswith("redis://")  # shown, password masked

    metrics = requests.get(f"{flower_url}/metrics", timeout=10)  # no auth: for Prometheus
    assert metrics.status_code == 200
    assert 'flower_events_total{task="dialer.place_call",type="task-succeeded"' in metrics.text
    assert 'flower_task_runtime_seconds_bucket{le="+Inf",task="dialer.reconcile"' in metrics.text

    uuid = placed[0]["uuid"]
    datatable = ("/tasks/datatable?draw=1&start=0&length=100&search%5Bvalue%5D=&"
                 "order%5B0%5D%5Bcolumn%5D=0&columns%5B0%5D%5Bdata%5D=name&"
                 "order%5B0%5D%5Bdir%5D=asc")
    pages = ["/api/tasks", "/api/task/types", f"/api/task/info/{uuid}",
             "/api/workers?refresh=1", "/api/queues/length", "/", "/workers", f"/worker/{name}",
             "/tasks", f"/task/{uuid}", "/broker", datatable]
    answers = {p: _get(f"{flower_url}{p}").text for p in pages}
    assert "dialer.place_call" in answers[datatable]
    assert placed[0]["kwargs"]["attempt_id"] in answers[f"/task/{uuid}"]
    answers["/metrics"] = metrics.text
    answers["Flower's log"] = stack.procs[-1].output
    for where, text in answers.items():
        leaked = [i for i, secret in enumerate(SECRETS) if secret in text]
        assert not leaked, f"{where} shows secret(s) number {leaked} of SECRETS"
