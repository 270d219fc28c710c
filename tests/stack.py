"""Real processes for end-to-end tests: Celery workers, beat, the web app.

A thin layer over :class:`dialer.devstack.DevStack` (which owns every command line): each
process is started with its own handle and stopped by the test (SIGTERM, then SIGKILL);
its output is kept for assertions and shown when a test fails.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from dialer.devstack import ROOT, DevStack, stack_env
from dialer.embedded import free_port
from dialer.processes import Child
from dialer.processes import wait_for as _wait_for
from dialer.settings import Settings, settings_from_env

__all__ = ["API_TOKEN", "CALLBACK_SECRET", "ROOT", "Proc", "Stack", "wait_for"]

CALLBACK_SECRET = "test-callback-secret"
API_TOKEN = "test-api-token"


def wait_for(condition: Callable[[], Any], timeout_s: float, what: str,
             interval_s: float = 0.05) -> Any:
    """Poll ``condition`` until it returns something truthy, or fail naming ``what``."""
    try:
        return _wait_for(condition, timeout_s, what, interval_s)
    except TimeoutError as exc:
        raise AssertionError(str(exc)) from None


Proc = Child


class Stack:
    """Workers, beat and web for one test, configured by ``DIALER_*`` variables."""

    def __init__(self, redis_url: str, sim_url: str, tmp: Path, **settings: Any) -> None:
        self.tmp = tmp
        self.web_port = free_port()
        self.web_url = f"http://127.0.0.1:{self.web_port}"
        self.env = stack_env(redis_url, sim_url, self.web_url,
                             callback_secret=settings.pop("callback_secret", CALLBACK_SECRET),
                             api_token=settings.pop("api_token", API_TOKEN), **settings)
        self.dev = DevStack(self.env, tmp)

    @property
    def procs(self) -> list[Proc]:
        return self.dev.procs

    def settings(self) -> Settings:
        """The settings the stack's processes read."""
        return settings_from_env(self.env)

    def start_worker(self, name: str = "w1", concurrency: int = 8, pool: str = "threads") -> Proc:
        return self.dev.worker(name, concurrency=concurrency, pool=pool)

    def start_beat(self, name: str = "beat") -> Proc:
        return self.dev.beat(name)

    def start_web(self) -> Proc:
        try:
            return self.dev.web(self.web_port)
        except RuntimeError as exc:
            raise AssertionError(str(exc)) from None

    def start_all(self, workers: int = 1) -> None:
        self.start_web()
        for i in range(workers):
            self.start_worker(f"w{i + 1}")
        self.start_beat()

    def stop(self) -> None:
        self.dev.stop()

    def dump(self) -> str:
        return self.dev.dump()
