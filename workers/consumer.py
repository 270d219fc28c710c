"""The worker's consumer: Celery's own, surviving a broker that drops under a running task.

Celery 5.7.0 on a lost broker connection drops the kombu transport of the old connection
and then (1) closes that connection a second time, restoring the messages of the tasks
still running through the dropped transport, and (2) acks each of those tasks, when it
ends, on its message's old channel. Both raise ``AttributeError: 'NoneType' object has
no attribute 'hostname'``, which is not a connection error, so the worker stopped
("Unrecoverable error") on every Redis restart or Sentinel failover that found a task in
flight. Here both are skipped with a warning: the old connection is already released,
and the message of a task that ran across the drop comes back by the visibility timeout
like any unacknowledged message (each attempt is fenced in Redis, so a redelivered
message never dials twice). Releases without the fault never reach either guard.
``tests/test_broker_restart.py`` restarts Redis under a dial in flight.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from celery.worker.consumer.consumer import Consumer as CeleryConsumer

log = logging.getLogger(__name__)


def _on_a_live_channel(ack: Callable[..., Any]) -> Callable[..., Any]:
    """``ack`` (a message's ack or reject), skipped when its channel lost its transport."""

    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return ack(*args, **kwargs)
        except AttributeError:
            log.warning("a task's ack was skipped: its broker connection dropped while it "
                        "ran; the message comes back after the visibility timeout")
            return None

    return guarded


class Consumer(CeleryConsumer):
    def on_connection_error_after_connected(self, exc: Exception) -> None:
        connection = self.connection
        if connection is not None:
            close = connection.close

            def close_collected() -> None:
                with contextlib.suppress(AttributeError):  # its transport is gone already
                    close()

            connection.close = close_collected  # this one connection object only
        super().on_connection_error_after_connected(exc)

    def call_soon_ack(self, p: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return super().call_soon_ack(_on_a_live_channel(p), *args, **kwargs)
