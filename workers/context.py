"""Per-process resources of a worker, built on first use from the app's settings."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from datetime import timedelta, timezone

import redis
from celery import Celery
from celery.signals import worker_process_init

from dialer.campaigns.dnd import make_dnd_hook
from dialer.campaigns.gate import make_gate
from dialer.campaigns.handoff import make_handoff
from dialer.caps import ContactCaps
from dialer.dialing import DialContext
from dialer.exotel.client import ExotelClient
from dialer.keys import Keys
from dialer.monitor.labels import Labeler
from dialer.publisher import CeleryPublisher
from dialer.ratelimit import SlidingWindowLimiter
from dialer.reconcile import OnFinal
from dialer.redis_conn import client_for
from dialer.settings import Settings
from dialer.store import Store


@dataclass
class WorkerContext:
    settings: Settings
    redis: redis.Redis
    store: Store
    dial: DialContext
    publisher: CeleryPublisher
    on_final: OnFinal  # a campaign call ended: its agent's next contact, at once


_lock = threading.Lock()
_ctx: WorkerContext | None = None


def build(app: Celery) -> WorkerContext:
    settings: Settings = app.dialer_settings
    client = client_for(settings, socket_timeout_s=max(5.0, settings.redis_connect_timeout_s),
                        health_check_interval=30)
    store = Store(client, Keys(settings.key_prefix))
    # one budget per account for every Exotel request: dials, polls and look-ups
    limiter = SlidingWindowLimiter(client, settings.rate_limit_admitted,
                                   settings.rate_limit_window_s,
                                   lookup_max=settings.lookup_max,
                                   lookup_reserve=settings.lookup_reserve)
    # get_retries=0: every request takes a slot of the account's budget; the poller asks
    # again on a later tick instead of retrying inside the client
    clients = {
        a.name: ExotelClient(a, connect_timeout_s=settings.http_connect_timeout_s,
                             read_timeout_s=settings.http_read_timeout_s, get_retries=0,
                             account_tz=timezone(timedelta(minutes=a.utc_offset_minutes)))
        for a in settings.accounts
    }
    dial = DialContext(settings, store, limiter, dict(clients), random.Random(),
                       gate=make_gate(store, settings), on_dnd=make_dnd_hook(store, settings),
                       caps=ContactCaps(client, store.keys, settings))
    labels = Labeler(client, store.keys, settings.max_retries)  # Flower's view of each call
    publisher = CeleryPublisher(app, labels)
    return WorkerContext(settings, client, store, dial, publisher,
                         make_handoff(store, settings, publisher.publish))


def get(app: Celery) -> WorkerContext:
    global _ctx
    with _lock:
        if _ctx is None:
            _ctx = build(app)
        return _ctx


@worker_process_init.connect
def _reset_after_fork(**_: object) -> None:
    global _ctx
    _ctx = None
