"""The Celery app: configuration, queues, routes and the beat schedule.

This is an edge: it reads the settings from the environment once, at import.
At-least-once delivery that cannot turn into double dialing: late acks, reject on worker
lost, prefetch 1, a visibility timeout longer than any task — and every attempt is
claimed atomically in Redis before its POST, so a redelivered message stops there.
"""

from __future__ import annotations

from celery import Celery

from dialer import publisher as names
from dialer.errors import SettingsError
from dialer.redis_conn import broker_conf, broker_transport_options, broker_url
from dialer.settings import Settings, load_settings


def create_app(settings: Settings) -> Celery:
    if not settings.redis_url:
        raise SettingsError(
            "DIALER_REDIS_URL is empty: workers, beat and the web app must share one Redis. "
            "Run `dialer redis` (bundled server) or point DIALER_REDIS_URL at yours."
        )
    app = Celery("dialer", broker=broker_url(settings),
                 include=["workers.tasks", "workers.campaign_tasks"])
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_consumer="workers.consumer:Consumer",  # survives a broker drop (consumer.py)
        broker_transport_options={"visibility_timeout": settings.task_visibility_timeout_s,
                                  **broker_transport_options(settings)},  # sentinel://
        broker_use_ssl=broker_conf(settings).get("broker_use_ssl"),
        # one scheduler per host is safe: only the holder of the lease sends (scheduler.py)
        beat_scheduler="dialer.scheduler:LeaseScheduler",
        broker_connection_retry_on_startup=True,
        task_queues=names.queues(),
        task_default_queue=names.CALLS_QUEUE,
        task_routes={
            names.PLACE_CALL: {"queue": names.CALLS_QUEUE},
            names.ENQUEUE_CALL: {"queue": names.CALLS_QUEUE},
            names.RECONCILE: {"queue": names.RESULTS_QUEUE},
            names.PUMP_DUE: {"queue": names.SCHEDULING_QUEUE},
            names.SWEEP: {"queue": names.SCHEDULING_QUEUE},
            names.POLL_CALLS: {"queue": names.SCHEDULING_QUEUE},
            names.CAMPAIGN_TICK: {"queue": names.SCHEDULING_QUEUE},
        },
        worker_send_task_events=True,
        task_send_sent_event=True,
        worker_hijack_root_logger=False,
        beat_schedule={
            "pump-due": {
                "task": names.PUMP_DUE,
                "schedule": settings.pump_interval_s,
                "options": {"expires": max(1.0, settings.pump_interval_s * 5)},
            },
            "sweep": {
                "task": names.SWEEP,
                "schedule": settings.sweep_interval_s,
                "options": {"expires": max(1.0, settings.sweep_interval_s * 2)},
            },
            "campaign-tick": {
                "task": names.CAMPAIGN_TICK,
                "schedule": settings.campaign_tick_s,
                "options": {"expires": max(1.0, settings.campaign_tick_s * 3)},
            },
            "poll-calls": {
                "task": names.POLL_CALLS,
                "schedule": settings.poll_tick_s,
                "options": {"expires": max(1.0, settings.poll_tick_s * 5)},
            },
        },
    )
    # Kept off app.conf: workers report their conf (to Flower, `celery inspect conf`).
    app.dialer_settings = settings
    return app


app = create_app(load_settings())
