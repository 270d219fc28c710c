"""``@exclusive(name)``: a beat-driven task runs under its job's lock (dialer.periodic).

Put it under ``@app.task``; the task's name stays what it was. The message's fencing
token (header ``dialer_epoch``, set by :class:`dialer.scheduler.LeaseScheduler`) and its
origin (``pid@host`` of the sender) come from the task's request.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, TypeVar

from celery import current_task

from dialer.periodic import JobRunner, as_int
from dialer.scheduler import EPOCH_HEADER, SENDER_HEADER
from workers import context
from workers.app import app

F = TypeVar("F", bound=Callable[..., Any])
_runners: dict[int, JobRunner] = {}


def _runner(ctx: context.WorkerContext) -> JobRunner:
    runner = _runners.get(id(ctx))
    if runner is None:
        _runners.clear()
        runner = _runners[id(ctx)] = JobRunner(ctx.redis, ctx.store.keys)
    return runner


def exclusive(job: str) -> Callable[[F], F]:
    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            request = getattr(current_task, "request", None)
            epoch = as_int(getattr(request, EPOCH_HEADER, 0))
            origin = str(getattr(request, SENDER_HEADER, "") or "")
            if not origin:  # Celery's origin header: "gen<pid>@<host>"
                raw = str(getattr(request, "origin", "") or "")
                m = re.match(r"^(?:gen)?(\d+)@(.+)$", raw)
                origin = f"{m.group(2)} pid {m.group(1)}" if m else raw
            return _runner(context.get(app)).run(job, lambda: fn(*args, **kwargs), epoch,
                                                 origin)

        return run  # type: ignore[return-value]

    return wrap
