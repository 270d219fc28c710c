"""Every Procfile line starts under honcho, as written, and answers.

Each line runs as ``honcho start -f Procfile <name>`` in an empty working directory (no
``.env``), with ``DIALER_*`` set as in :mod:`tests.stack` and ``DIALER_REDIS_URL`` on the
test Redis; it is stopped by its handle, and every process honcho started is gone after.
"""

from __future__ import annotations

import os
import re
import signal
import sys
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest

from dialer.embedded import free_port
from dialer.processes import gone
from tests.stack import ROOT, Proc, Stack, wait_for

pytest.importorskip("honcho")

PROCFILE = ROOT / "Procfile"
BIN = Path(sys.executable).parent


def procfile_lines() -> dict[str, str]:
    lines = {}
    for line in PROCFILE.read_text().splitlines():
        if m := re.match(r"^([A-Za-z0-9_-]+):\s*(.+)$", line):
            lines[m.group(1)] = m.group(2)
    return lines


def test_the_procfile_has_the_four_process_types() -> None:
    lines = procfile_lines()
    assert list(lines) == ["web", "worker", "beat", "flower"]
    assert all("dialer " in cmd for cmd in lines.values())
    assert "${PORT" in lines["web"]


def _children(proc: Proc) -> list[int]:
    """Pids honcho reports for the processes it started ("web.1 started (pid=123)")."""
    return [int(p) for p in re.findall(r"started \(pid=(\d+)\)", proc.output)]


def _all_gone(pids: list[int]) -> bool:
    return all(gone(pid) for pid in pids)


@pytest.fixture()
def honcho(redis_url: str, tmp_path: Path) -> Iterator[Callable[[str, dict[str, str]], Proc]]:
    started: list[Proc] = []
    base_env = Stack(redis_url, "http://127.0.0.1:9", tmp_path).env
    base_env["PATH"] = f"{BIN}{os.pathsep}{base_env.get('PATH', '')}"

    def start(name: str, env: dict[str, str]) -> Proc:
        args = [str(BIN / "honcho"), "start", "--no-colour", "-f", str(PROCFILE),
                "-d", str(tmp_path), name]
        proc = Proc(f"honcho {name}", args, {**base_env, **env}, tmp_path)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop(timeout_s=20)  # SIGTERM to honcho; it SIGTERMs each child's group
        children = _children(proc)
        for pid in children:  # never leave one behind, even if honcho was killed
            if not gone(pid):
                os.killpg(pid, signal.SIGKILL)
        assert children, proc.output
        wait_for(partial(_all_gone, children), 10, "honcho's children to exit")


def test_web_answers_healthz_on_port(honcho: Callable[[str, dict[str, str]], Proc]) -> None:
    port = free_port()
    proc = honcho("web", {"PORT": str(port)})
    wait_for(lambda: proc.answers(f"http://127.0.0.1:{port}/healthz"), 30,
             "the web line to answer /healthz")


def test_worker_gets_ready(honcho: Callable[[str, dict[str, str]], Proc]) -> None:
    proc = honcho("worker", {})
    proc.wait_output("ready.", 60)
    assert "worker.1@" in proc.output


def test_beat_starts_in_a_fresh_directory(honcho: Callable[[str, dict[str, str]], Proc],
                                          tmp_path: Path) -> None:
    proc = honcho("beat", {})
    proc.wait_output("beat: Starting", 60)
    proc.wait_output("scheduler lease acquired", 20)  # the leased scheduler, by default


def test_a_beat_on_every_host_one_leads(honcho: Callable[[str, dict[str, str]], Proc]
                                        ) -> None:
    first = honcho("beat", {})
    first.wait_output("scheduler lease acquired", 60)
    second = honcho("beat", {})
    second.wait_output("scheduler standing by", 60)
    assert "scheduler lease acquired" not in second.output


def test_flower_answers_on_its_port(honcho: Callable[[str, dict[str, str]], Proc]) -> None:
    port = free_port()
    proc = honcho("flower", {"FLOWER_PORT": str(port)})
    wait_for(lambda: proc.answers(f"http://127.0.0.1:{port}/"), 30,
             "the flower line to answer")
