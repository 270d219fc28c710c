"""The dialer's Celery app, unchanged, plus a no-op task and a line once the worker consumes.

``celery -A bench.worker_app worker …`` runs exactly ``workers.app`` (same tasks, same
configuration: late acks, prefetch 1, JSON). ``bench.noop`` is the baseline of the
dispatch benchmark: a task that does nothing, on the same broker, app and pool. The
benchmarks run workers at log level WARNING, so they need the ready line.
"""

from __future__ import annotations

from celery.signals import worker_ready

from bench.harness import NOOP_TASK, READY_LINE
from workers.app import app

__all__ = ["app", "noop"]


@app.task(name=NOOP_TASK)
def noop() -> None:
    return None


@worker_ready.connect
def _ready(**_: object) -> None:
    print(READY_LINE, flush=True)
