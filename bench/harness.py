"""The benchmarks' view of the local stack (:mod:`dialer.devstack` owns every command line).

``with Fleet(dialer_env(redis_url, sim_url), tmp) as fleet: fleet.worker("w1")`` — by
default a worker of ``bench.worker_app`` (exactly ``workers.app`` plus a no-op task and a
ready line), without heartbeats.
"""

from __future__ import annotations

from typing import Any

from dialer.devstack import QUEUES, ROOT, SIM_ACCOUNT, DevStack, stack_env
from dialer.processes import Child

__all__ = ["NOOP_TASK", "QUEUES", "READY_LINE", "ROOT", "SIM_ACCOUNT", "Fleet", "dialer_env"]

READY_LINE = "bench-worker-ready"  # printed by bench.worker_app once the worker consumes
NOOP_TASK = "bench.noop"  # a task that does nothing, in bench.worker_app


def dialer_env(redis_url: str, sim_url: str, web_url: str | None = None,
               **settings: Any) -> dict[str, str]:
    """The environment of a worker / beat / web process of a benchmark."""
    return stack_env(redis_url, sim_url, web_url, callback_secret="bench-callback-secret",
                     api_token="bench-api-token", **settings)


class Fleet(DevStack):
    """The child processes of one benchmark run."""

    def worker(self, name: str = "w1", *, ready: str | None = None,
               env: dict[str, str] | None = None, **options: Any) -> Child:
        options.setdefault("app", "bench.worker_app")
        options.setdefault("loglevel", "WARNING")
        options.setdefault("heartbeat", False)
        default_ready = READY_LINE if options["app"].startswith("bench.") else None
        return super().worker(name, ready=ready or default_ready, env=env, **options)
