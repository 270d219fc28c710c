"""Real processes for end-to-end tests: Celery workers, beat, the web app.

Each process is started with its own handle and stopped by the test (SIGTERM, then
SIGKILL); its output is kept for assertions and shown when a test fails.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from dialer.embedded import free_port
from dialer.processes import Child
from dialer.processes import wait_for as _wait_for
from dialer.settings import Settings, settings_from_env

ROOT = Path(__file__).resolve().parents[1]
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
        accounts = [{
            "name": "main", "sid": "AC_SIM", "api_key": "sim_key", "api_token": "sim_token",
            "base_url": sim_url, "caller_id": "08030752400",
        }]
        values: dict[str, Any] = {
            "redis_url": redis_url,
            "accounts": json.dumps(accounts),
            "public_base_url": self.web_url,
            "callback_secret": CALLBACK_SECRET,
            "api_token": API_TOKEN,
            "pump_interval_s": 0.2,
            "sweep_interval_s": 1.0,
            "poll_tick_s": 0.5,
            "poll_after_s": 5.0,
            "poll_interval_s": 2.0,
            "fill_poll_after_s": 2.0,
            "evidence_delay_s": 0.3,
            "evidence_interval_s": 0.5,
            "retry_backoff_base_s": 0.2,
            "retry_backoff_max_s": 1.0,
            "agent_busy_wait_s": 0.2,
            "transport_retry_base_s": 0.2,
            "dialing_timeout_s": 10.0,
            "pending_redeliver_s": 10.0,
            "http_read_timeout_s": 3.0,
        }
        values.update(settings)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
        self.env.update({f"DIALER_{k.upper()}": str(v) for k, v in values.items()})
        self.env["PYTHONUNBUFFERED"] = "1"
        self.procs: list[Proc] = []

    def settings(self) -> Settings:
        """The settings the stack's processes read."""
        return settings_from_env(self.env)

    def start_worker(self, name: str = "w1", concurrency: int = 8, pool: str = "threads") -> Proc:
        args = [sys.executable, "-m", "celery", "-A", "workers.app", "worker", "-n",
                f"{name}@%h", "-P", pool, "-c", str(concurrency), "-Q",
                "calls,results,scheduling", "-l", "INFO", "--without-gossip",
                "--without-mingle"]
        p = Proc(name, args, self.env, ROOT)
        self.procs.append(p)
        p.wait_output("ready.", 60)
        return p

    def start_beat(self) -> Proc:
        args = [sys.executable, "-m", "celery", "-A", "workers.app", "beat", "-l", "INFO",
                "-s", str(self.tmp / "beat-schedule")]
        p = Proc("beat", args, self.env, ROOT)
        self.procs.append(p)
        p.wait_output("beat: Starting", 60)
        return p

    def start_web(self) -> Proc:
        args = [sys.executable, "-m", "uvicorn", "--factory", "dialer.web:app_from_env",
                "--host", "127.0.0.1", "--port", str(self.web_port), "--log-level", "warning"]
        p = Proc("web", args, self.env, ROOT)
        self.procs.append(p)

        def healthy() -> bool:
            if p.proc.poll() is not None:
                raise AssertionError(f"web exited:\n{p.output[-4000:]}")
            try:
                return requests.get(f"{self.web_url}/healthz", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_for(healthy, 30, "the web app to answer /healthz")
        return p

    def start_all(self, workers: int = 1) -> None:
        self.start_web()
        for i in range(workers):
            self.start_worker(f"w{i + 1}")
        self.start_beat()

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.stop()

    def dump(self) -> str:
        return "\n".join(f"===== {p.name} =====\n{p.output[-3000:]}" for p in self.procs)
