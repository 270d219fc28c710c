"""Send the dialer's Celery messages from anywhere that has the broker URL.

Task names and keyword arguments are stable and plain JSON, so a service in another
language can send the same messages with any Celery client (see the README).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from celery import Celery
from kombu import Exchange, Queue

if TYPE_CHECKING:
    from dialer.settings import Settings

PLACE_CALL = "dialer.place_call"  # kwargs: attempt_id
ENQUEUE_CALL = "dialer.enqueue_call"  # kwargs: request (a CallRequest as JSON)
RECONCILE = "dialer.reconcile"  # kwargs: attempt_id, update (a CallUpdate as JSON)
PUMP_DUE = "dialer.pump_due"
SWEEP = "dialer.sweep"
POLL_CALLS = "dialer.poll_calls"
CAMPAIGN_TICK = "dialer.campaign_tick"  # starts due campaigns and feeds them at their pace

CALLS_QUEUE = "calls"
RESULTS_QUEUE = "results"
SCHEDULING_QUEUE = "scheduling"


def queues() -> list[Queue]:
    """The three queues, each on its own direct exchange (the same in every app)."""
    return [Queue(name, Exchange(name, type="direct"), routing_key=name)
            for name in (CALLS_QUEUE, RESULTS_QUEUE, SCHEDULING_QUEUE)]


def broker_app(broker: str | Settings) -> Celery:
    """A minimal Celery app that only sends (the workers' app lives in ``workers.app``).

    ``broker`` is a ``redis://`` URL, or the settings (needed for ``sentinel://``: the
    master name and the sentinels' password are transport options)."""
    from dialer.redis_conn import broker_conf

    url = broker if isinstance(broker, str) else broker.redis_url
    app = Celery("dialer-producer", broker=url, set_as_current=False)
    app.conf.update(task_serializer="json", accept_content=["json"], task_queues=queues(),
                    broker_connection_retry_on_startup=True)
    if not isinstance(broker, str):
        app.conf.update(broker_conf(broker))
    return app


class Labels(Protocol):
    """Names calls for people (see :class:`dialer.monitor.labels.Labeler`)."""

    def labels(self, attempt_ids: Sequence[str]) -> Mapping[str, str]: ...


class CeleryPublisher:
    """Publishes ``dialer.place_call`` / ``dialer.reconcile`` messages on their queues.

    With ``labels``, each message carries a display form of its kwargs (``kwargsrepr``:
    account, campaign, masked customer, attempt n of N) for Flower; the task name and the
    kwargs themselves never change.
    """

    def __init__(self, app: Celery, labels: Labels | None = None) -> None:
        self.app = app
        self.labels = labels

    def _labels(self, attempt_ids: Sequence[str]) -> Mapping[str, str]:
        return self.labels.labels(attempt_ids) if self.labels is not None else {}

    def publish(self, attempt_ids: Sequence[str]) -> None:
        if not attempt_ids:
            return
        from dialer.monitor.labels import place_call_repr

        labels = self._labels(attempt_ids)
        with self.app.producer_or_acquire() as producer:
            for aid in attempt_ids:
                shown = {"kwargsrepr": place_call_repr(aid, labels[aid])} if aid in labels else {}
                self.app.send_task(PLACE_CALL, kwargs={"attempt_id": aid}, queue=CALLS_QUEUE,
                                   producer=producer, **shown)

    def reconcile(self, attempt_id: str, update: dict[str, Any]) -> None:
        from dialer.monitor.labels import reconcile_repr

        label = self._labels([attempt_id]).get(attempt_id)
        shown = {"kwargsrepr": reconcile_repr(attempt_id, label, update)} if label else {}
        self.app.send_task(RECONCILE, kwargs={"attempt_id": attempt_id, "update": update},
                           queue=RESULTS_QUEUE, **shown)
