"""The local stack, in one place: the environment and every command line of worker, beat,
web (and the simulator account they dial), for the demo, the tests, the benchmarks and
the chaos runs. Nothing else builds a Celery or uvicorn command line for them.

Each child is a :class:`dialer.processes.Child`: started by its own handle, in its own
process group, stopped by its owner (SIGTERM, then SIGKILL), and SIGTERMed by Linux if
its owner dies first — a ``make test`` killed mid-run leaves nothing running.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

from dialer.processes import Child, wait_for

ROOT = Path(__file__).resolve().parents[1]
QUEUES = "calls,results,scheduling"
SIM_ACCOUNT = {"name": "main", "sid": "AC_SIM", "api_key": "sim_key", "api_token": "sim_token",
               "caller_id": "08030752400"}

# Short timings: simulated calls last a few hundred milliseconds, so a run of seconds or
# minutes sees every mechanism (pump, sweeper, polls, evidence, retries) work many times.
FAST_SETTINGS: dict[str, Any] = {
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


def stack_env(redis_url: str, sim_url: str, web_url: str | None = None, *,
              callback_secret: str = "dev-callback-secret", api_token: str = "dev-api-token",
              fast: bool = True, **settings: Any) -> dict[str, str]:
    """The environment of a worker / beat / web process: ``DIALER_*`` for one Redis and the
    simulator's account, nothing inherited from the caller's ``DIALER_*``."""
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "accounts": json.dumps([{**SIM_ACCOUNT, "base_url": sim_url}]),
        "callback_secret": callback_secret,
        "api_token": api_token,
        **(FAST_SETTINGS if fast else {}),
    }
    if web_url:
        values["public_base_url"] = web_url
    values.update(settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
    env.update({f"DIALER_{k.upper()}": str(v) for k, v in values.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


def worker_args(name: str, *, concurrency: int = 8, pool: str = "threads",
                queues: str = QUEUES, app: str = "workers.app", loglevel: str = "INFO",
                heartbeat: bool = True) -> list[str]:
    """``celery worker`` of ``app``; no gossip or mingle (nothing to learn from peers)."""
    args = [sys.executable, "-m", "celery", "-A", app, "worker", "-n", f"{name}@%h",
            "-P", pool, "-c", str(concurrency), "-Q", queues, "-l", loglevel,
            "--without-gossip", "--without-mingle"]
    return args if heartbeat else [*args, "--without-heartbeat"]


def beat_args(schedule: Path, loglevel: str = "INFO") -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "workers.app", "beat", "-l", loglevel,
            "-s", str(schedule)]


def web_args(port: int, host: str = "127.0.0.1") -> list[str]:
    return [sys.executable, "-m", "uvicorn", "--factory", "dialer.web:app_from_env",
            "--host", host, "--port", str(port), "--log-level", "warning"]


class DevStack:
    """The child processes of one run — workers, beats, the web app — each stopped by its
    own handle, newest first."""

    WORKER_READY = "ready."  # Celery's line once a worker consumes

    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        self.env = env
        self.tmp = tmp
        self.procs: list[Child] = []
        self._beats = 0

    def worker(self, name: str = "w1", *, ready: str | None = None,
               env: dict[str, str] | None = None, **options: Any) -> Child:
        """A Celery worker (:func:`worker_args` options), once it prints ``ready``."""
        child = self.start(name, worker_args(name, **options), env)
        child.wait_output(ready or self.WORKER_READY, 60)
        return child

    def beat(self, name: str = "beat") -> Child:
        self._beats += 1
        child = self.start(name, beat_args(self.tmp / f"beat-schedule-{self._beats}"))
        child.wait_output("beat: Starting", 60)
        return child

    def web(self, port: int) -> Child:
        """The web app, once ``/healthz`` answers 200."""
        child = self.start("web", web_args(port))
        url = f"http://127.0.0.1:{port}/healthz"
        wait_for(lambda: child.answers(url), 30, "the web app to answer /healthz")
        return child

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Child:
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

    def __enter__(self) -> DevStack:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
