"""Real processes for the benchmarks and the chaos runs: workers, beat, the web app.

Every process is a :class:`dialer.processes.Child` started by its own handle and stopped
by that handle (SIGTERM to its group, then SIGKILL), also when the run fails:
``with Fleet(env, tmp) as fleet: fleet.worker("w1")``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

from dialer.processes import Child, wait_for

ROOT = Path(__file__).resolve().parents[1]
SIM_ACCOUNT = {"name": "main", "sid": "AC_SIM", "api_key": "sim_key", "api_token": "sim_token",
               "caller_id": "08030752400"}
QUEUES = "calls,results,scheduling"
READY_LINE = "bench-worker-ready"  # printed by bench.worker_app once the worker consumes
NOOP_TASK = "bench.noop"  # a task that does nothing, in bench.worker_app

# Short timings so that a run of a few minutes sees every mechanism work many times.
FAST_SETTINGS: dict[str, Any] = {
    "pump_interval_s": 0.2,
    "sweep_interval_s": 1.0,
    "poll_tick_s": 0.5,
    "poll_after_s": 5.0,
    "poll_interval_s": 2.0,
    "evidence_delay_s": 0.5,
    "evidence_interval_s": 1.0,
    "retry_backoff_base_s": 0.2,
    "retry_backoff_max_s": 1.0,
    "agent_busy_wait_s": 0.2,
    "transport_retry_base_s": 0.2,
    "dialing_timeout_s": 10.0,
    "pending_redeliver_s": 10.0,
    "http_read_timeout_s": 3.0,
}


def dialer_env(redis_url: str, sim_url: str, web_url: str | None = None,
               **settings: Any) -> dict[str, str]:
    """The environment of a worker / beat / web process: ``DIALER_*`` and nothing inherited."""
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "accounts": json.dumps([{**SIM_ACCOUNT, "base_url": sim_url}]),
        "callback_secret": "bench-callback-secret",
        "api_token": "bench-api-token",
        **FAST_SETTINGS,
    }
    if web_url:
        values["public_base_url"] = web_url
    values.update(settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
    env.update({f"DIALER_{k.upper()}": str(v) for k, v in values.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Fleet:
    """The child processes of one run, each stopped by its own handle."""

    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        self.env = env
        self.tmp = tmp
        self.procs: list[Child] = []

    def worker(self, name: str, concurrency: int = 8, pool: str = "threads",
               queues: str = QUEUES, app: str = "bench.worker_app", loglevel: str = "WARNING",
               env: dict[str, str] | None = None) -> Child:
        """A Celery worker of ``app`` (by default the dialer's, plus a ready line)."""
        args = [sys.executable, "-m", "celery", "-A", app, "worker", "-n", f"{name}@%h",
                "-P", pool, "-c", str(concurrency), "-Q", queues, "-l", loglevel,
                "--without-gossip", "--without-mingle", "--without-heartbeat"]
        child = self._start(name, args, env)
        child.wait_output(READY_LINE, 60)
        return child

    def beat(self) -> Child:
        args = [sys.executable, "-m", "celery", "-A", "workers.app", "beat", "-l", "INFO",
                "-s", str(self.tmp / "beat-schedule")]
        child = self._start("beat", args)
        child.wait_output("beat: Starting", 60)
        return child

    def web(self, port: int) -> Child:
        args = [sys.executable, "-m", "uvicorn", "--factory", "dialer.web:app_from_env",
                "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        child = self._start("web", args)
        url = f"http://127.0.0.1:{port}/healthz"

        def healthy() -> bool:
            if child.proc.poll() is not None:
                raise RuntimeError(f"web exited:\n{child.output[-4000:]}")
            try:
                return requests.get(url, timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_for(healthy, 30, "the web app to answer /healthz")
        return child

    def _start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Child:
        child = Child(name, args, env or self.env, ROOT)
        self.procs.append(child)
        return child

    def stop(self) -> None:
        """Stop every child, newest first; one that fails to stop does not stop the rest."""
        errors: list[BaseException] = []
        for child in reversed(self.procs):
            try:
                child.stop()
            except Exception as exc:  # keep stopping the others
                errors.append(exc)
        self.procs.clear()
        if errors:
            raise errors[0]

    def dump(self, tail: int = 3000) -> str:
        return "\n".join(f"===== {p.name} =====\n{p.output[-tail:]}" for p in self.procs)

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
