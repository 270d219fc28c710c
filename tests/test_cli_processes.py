"""`dialer worker|beat|web|redis|simulator` as real processes: signals reach Celery,
bad settings and an unreachable Redis fail fast with one line, taken ports and bad
options give one line and the documented exit code, never a traceback."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from dialer.cli import main
from dialer.embedded import free_port
from dialer.processes import Child
from tests.stack import ROOT, Stack, wait_for

DIALER = [sys.executable, "-m", "dialer.cli"]


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of process group ``pgid``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


@pytest.fixture()
def env(redis_url: str, tmp_path: Path) -> dict[str, str]:
    return dict(Stack(redis_url, "http://127.0.0.1:9", tmp_path).env)


@pytest.fixture()
def children() -> Iterator[list[Child]]:
    made: list[Child] = []
    yield made
    for child in made:
        child.stop()
        if group_members(child.proc.pid):  # a wrapper that died first left Celery behind
            os.killpg(child.proc.pid, signal.SIGKILL)


@pytest.mark.parametrize(("command", "ready", "said"), [
    (["worker", "-c", "2", "-n", "sigterm@%h", "--without-gossip", "--without-mingle"],
     "ready.", "warm shutdown"),
    (["beat", "-s", "{tmp}/beat-schedule"], "beat: Starting", ""),
])
def test_sigterm_to_the_dialer_process_stops_celery(
        env: dict[str, str], tmp_path: Path, children: list[Child], command: list[str],
        ready: str, said: str) -> None:
    args = [*DIALER, *(c.replace("{tmp}", str(tmp_path)) for c in command)]
    child = Child(command[0], args, env, ROOT)
    children.append(child)
    child.wait_output(ready, 60)
    assert group_members(child.proc.pid), "nothing is running"
    os.kill(child.proc.pid, signal.SIGTERM)  # the dialer process only, not its group
    wait_for(lambda: not group_members(child.proc.pid), 30,
             f"every process of `dialer {command[0]}` to exit after SIGTERM")
    child.proc.wait(10)
    if said:
        assert said in child.output.lower(), child.output[-2000:]


@pytest.mark.parametrize("command", [["worker"], ["beat"], ["web", "--port", "0"]])
def test_an_empty_redis_url_exits_3_with_one_line(tmp_path: Path, command: list[str]
                                                  ) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
    env["DIALER_REDIS_URL"] = ""
    res = subprocess.run([*DIALER, *command], env=env, cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 3, res.stderr[-2000:]
    assert "Traceback" not in res.stderr + res.stdout
    assert res.stderr.strip().count("\n") == 0 and "DIALER_REDIS_URL" in res.stderr


@pytest.mark.parametrize("command", [["worker"], ["beat"], ["web", "--port", "0"]])
def test_an_unreachable_redis_exits_5_within_the_connect_timeout(
        tmp_path: Path, command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
    env.update(DIALER_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
               DIALER_REDIS_CONNECT_TIMEOUT_S="1")
    started = time.monotonic()
    res = subprocess.run([*DIALER, *command], env=env, cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 5, res.stderr[-2000:]
    assert "Traceback" not in res.stderr and "did not answer" in res.stderr
    assert time.monotonic() - started < 20


@pytest.fixture()
def cli_env(redis_url: str, clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DIALER_REDIS_URL", redis_url)
    monkeypatch.setenv("DIALER_ACCOUNTS", json.dumps([
        {"name": "main", "sid": "AC1", "api_key": "k", "api_token": "t",
         "base_url": "http://127.0.0.1:9", "caller_id": "08030752400"}]))
    return clean_env


def no_traceback(res: object) -> str:
    output = getattr(res, "output", "")
    exc = getattr(res, "exception", None)
    assert "Traceback" not in output
    assert exc is None or isinstance(exc, SystemExit), repr(exc)
    return str(output)


@pytest.mark.parametrize("url", ["redis://127.0.0.1:99999/0", "redis://127.0.0.1:abc/0",
                                 "redis://127.0.0.1:0/0"])
def test_a_redis_url_with_a_bad_port_exits_3(monkeypatch: pytest.MonkeyPatch, clean_env: Path,
                                              url: str) -> None:
    monkeypatch.setenv("DIALER_REDIS_URL", url)
    res = CliRunner().invoke(main, ["status", "abc"])
    assert res.exit_code == 3, res.output
    assert "DIALER_REDIS_URL" in no_traceback(res)


def test_campaign_create_with_a_bad_spec_file_exits_2(cli_env: Path) -> None:
    for text in ("{not json", "[1, 2]", "\xff"):
        spec = cli_env / "spec.json"
        spec.write_text(text, encoding="latin-1")
        res = CliRunner().invoke(main, ["campaign", "create", "--spec", str(spec)])
        assert res.exit_code == 2, res.output
        assert "--spec" in no_traceback(res)


def test_campaign_report_to_an_unwritable_path_exits_2(cli_env: Path) -> None:
    created = CliRunner().invoke(main, ["campaign", "create", "--name", "x", "--app-id", "1"])
    cid = created.output.strip().splitlines()[0]
    res = CliRunner().invoke(main, ["campaign", "report", cid, "-o", "/nonexistent/x.csv"])
    assert res.exit_code == 2, res.output
    assert "/nonexistent/x.csv" in no_traceback(res)


@pytest.mark.parametrize("command", [["web", "--port", "99999"], ["redis", "--port", "-1"],
                                     ["simulator", "--port", "70000"]])
def test_an_impossible_port_is_a_usage_error(cli_env: Path, command: list[str]) -> None:
    res = CliRunner().invoke(main, command)
    assert res.exit_code == 2, res.output
    no_traceback(res)


@pytest.fixture()
def taken_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.mark.parametrize("command", [["web"], ["simulator"]])
def test_a_taken_port_exits_1_with_one_line(cli_env: Path, taken_port: int,
                                            command: list[str]) -> None:
    res = CliRunner().invoke(main, [*command, "--port", str(taken_port)])
    assert res.exit_code == 1, res.output
    assert f"{taken_port}" in no_traceback(res) and "error:" in res.output


def test_dialer_redis_on_a_taken_port_exits_1_without_printing_a_url(
        redis_server_url: str, tmp_path: Path) -> None:
    port = redis_server_url.rsplit(":", 1)[1]  # the session's Redis answers there
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
    res = subprocess.run([*DIALER, "redis", "--port", port, "--data-dir",
                          str(tmp_path / "r")], env=env, cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert "DIALER_REDIS_URL=" not in res.stdout and "Traceback" not in res.stderr
