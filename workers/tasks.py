"""Thin Celery tasks: decode plain-JSON arguments, call ``dialer.*``.

Stable names (see the README) so that any Celery client can send them:
``dialer.place_call(attempt_id)``, ``dialer.enqueue_call(request)``,
``dialer.reconcile(attempt_id, update)``, and the beat-driven ``dialer.pump_due``,
``dialer.sweep`` and ``dialer.poll_calls``.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import beat_init

from dialer import publisher as names
from dialer.agent_holds import AgentHolds
from dialer.caps import CapReachedError
from dialer.dialing import place_attempt
from dialer.errors import DialerError
from dialer.models import CallUpdate
from dialer.monitor.labels import reconcile_result
from dialer.polling import poll_due
from dialer.producer import Producer
from dialer.reconcile import reconcile as reconcile_update
from workers import context
from workers.app import app
from workers.periodic import exclusive

log = logging.getLogger("dialer.tasks")

# Beat's housekeeping (pump, sweep, poll; the campaign tick) runs every second or so and
# sends no task events: Flower lists the calls, not thousands of pump rows. Their work
# shows in the domain metrics (due-set depth and age, requests, ticks) at ``dialer web``'s
# /metrics; their failures are logged. A worker's INFO log is about calls: Celery's
# "received" / "succeeded" lines of housekeeping tasks (and beat's "Sending due task"),
# and the periodic runs' bookkeeping (``dialer.periodic``) are logged at DEBUG (``-l DEBUG``
# shows them); their warnings and errors keep their level.
HOUSEKEEPING = frozenset({names.PUMP_DUE, names.SWEEP, names.POLL_CALLS, names.CAMPAIGN_TICK})
CELERY_TASK_LOGGERS = ("celery.worker.strategy", "celery.app.trace", "celery.beat")
HOUSEKEEPING_LOGGERS = ("dialer.periodic",)


class HousekeepingAtDebug(logging.Filter):
    """Turns a housekeeping INFO record into a DEBUG one (dropped unless DEBUG is on)."""

    def __init__(self, every_info: bool) -> None:
        super().__init__()
        self.every_info = every_info  # False: only records naming a housekeeping task

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        args = record.args
        named = [args.get("name")] if isinstance(args, dict) else list(args or ())
        if not self.every_info and not any(n in HOUSEKEEPING for n in named
                                           if isinstance(n, str)):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def install_log_levels() -> None:
    """Once per process (the worker imports this module; so does each prefork child)."""
    for names_, every in ((CELERY_TASK_LOGGERS, False), (HOUSEKEEPING_LOGGERS, True)):
        for logger_name in names_:
            target = logging.getLogger(logger_name)
            if not any(isinstance(f, HousekeepingAtDebug) for f in target.filters):
                target.addFilter(HousekeepingAtDebug(every))


install_log_levels()


@beat_init.connect
def _beat_sends_no_sent_events(sender: Any = None, **_: Any) -> None:
    """Beat publishes only housekeeping: no ``task-sent`` events (Flower rows) for it."""
    if sender is not None:
        sender.app.conf.task_send_sent_event = False


@app.task(name=names.PLACE_CALL)
def place_call(attempt_id: str) -> str:
    return place_attempt(context.dial(app), attempt_id)


@app.task(name=names.ENQUEUE_CALL)
def enqueue_call(request: dict[str, Any]) -> str:
    """Validate and enqueue a call sent by a non-Python service; returns the call id."""
    ctx = context.get(app)
    try:
        return Producer(ctx.redis, ctx.settings, ctx.publisher).enqueue(request)
    except DialerError as exc:
        log.error("enqueue_call refused: %s", exc)
        # the producer learns it from the stream: a 'refused' event with its idempotency key
        if not isinstance(exc, CapReachedError):  # the producer wrote that one already
            ctx.store.refused(request, str(exc))
        return f"refused: {exc}"


@app.task(name=names.RECONCILE)
def reconcile(attempt_id: str, update: dict[str, Any]) -> str:
    ctx = context.get(app)
    try:
        parsed = CallUpdate.model_validate(update)
    except ValueError as exc:
        log.error("reconcile for %s: malformed update dropped: %s", attempt_id, exc)
        return "malformed"
    a = reconcile_update(ctx.store, ctx.settings, attempt_id, parsed, on_final=ctx.on_final)
    return reconcile_result(a.state, a.changed, a.became_terminal, a.retried,
                            a.awaiting_evidence)


@app.task(name=names.PUMP_DUE, send_events=False)
@exclusive(names.PUMP_DUE)
def pump_due() -> int:
    """Move due attempts onto the calls queue, keeping the queue short."""
    ctx = context.get(app)
    room = ctx.settings.queue_high_water - int(ctx.redis.llen(names.CALLS_QUEUE))
    if room <= 0:
        return 0
    ids = ctx.store.take_due(min(room, ctx.settings.pump_batch))
    ctx.publisher.publish(ids)
    return len(ids)


@app.task(name=names.SWEEP, send_events=False)
@exclusive(names.SWEEP)
def sweep() -> dict[str, int]:
    ctx = context.get(app)
    s = ctx.settings
    swept = ctx.store.sweep(int(s.dialing_timeout_s * 1000), int(s.pending_redeliver_s * 1000))
    # holds whose release a failover lost: the agent would look busy the whole hold
    swept["stale_agent_holds"] = AgentHolds(ctx.redis, ctx.store.keys).prune_some()
    return swept


@app.task(name=names.POLL_CALLS, send_events=False)
@exclusive(names.POLL_CALLS)
def poll_calls() -> dict[str, int]:
    ctx = context.get(app)
    report = poll_due(ctx.store, ctx.settings, ctx.dial.clients, ctx.dial.limiter,  # type: ignore[arg-type]
                      ctx.on_final)
    return dict(report.__dict__)
