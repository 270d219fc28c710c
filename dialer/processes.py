"""Child processes started by their own handle (the demo and the tests use this).

Each child runs in its own session so that stopping it stops its children too
(SIGTERM to the process group, then SIGKILL); its combined output is kept in memory. Linux
SIGTERMs it when the process that started it dies (``PR_SET_PDEATHSIG``), so an owner
killed with SIGKILL leaves no child behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Ask Linux to SIGTERM this (child) process when the process that started it dies."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def terminate(proc: subprocess.Popen[Any] | None, timeout_s: float) -> None:
    """SIGTERM ``proc`` and wait; SIGKILL it after ``timeout_s``. Nothing if it has ended."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_for(condition: Callable[[], Any], timeout_s: float, what: str,
             interval_s: float = 0.05) -> Any:
    """Poll ``condition`` until it returns something truthy; ``TimeoutError`` names ``what``.

    Between two looks it sleeps ``interval_s``, or four times what the look took when that
    is longer: an expensive condition (thousands of Redis reads) takes at most a fifth of
    a core from the processes it waits on."""
    deadline = time.monotonic() + timeout_s
    while True:
        started = time.monotonic()
        value = condition()
        if value:
            return value
        now = time.monotonic()
        if now > deadline:
            raise TimeoutError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(min(max(interval_s, 4 * (now - started)), max(0.0, deadline - now) + 0.01))


def gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie waiting for its reaper counts as ended)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split(") ", 1)[-1].startswith("Z")


class Child:
    """A child process whose combined output is collected line by line."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], cwd: Path | None = None
                 ) -> None:
        self.name = name
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, text=True, start_new_session=True,
            preexec_fn=die_with_parent,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_output(self, text: str, timeout_s: float = 30.0) -> None:
        """Wait until a line contains ``text``; fail at once if the child exits."""

        def seen() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}):\n"
                                   f"{self.output[-4000:]}")
            return any(text in line for line in self.lines)

        wait_for(seen, timeout_s, f"{self.name} to print {text!r}")

    def answers(self, url: str) -> bool:
        """Whether ``url`` answers 200 now; fail at once if the child (the server) exited."""
        import requests

        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited ({self.proc.returncode}):\n"
                               f"{self.output[-4000:]}")
        try:
            return requests.get(url, timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group and wait for the child."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
        self.proc.wait(30)

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM the group; SIGKILL it after ``timeout_s``."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
            except ProcessLookupError:
                pass
        self._reader.join(5)
