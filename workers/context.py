"""Per-process resources of a worker, built on first use from the app's settings.

A pool thread that places calls has a :class:`~dialer.dialing.DialContext` of its own
(:func:`dial`): the process's settings, Exotel clients and hooks, on a Redis client that
keeps one connection of the process's pool for the thread (``single_connection_client``),
so that a placed call's round trips do not take a connection from the pool and check it
for each (about a third of a short script's client time). One connection per thread
that dials: the threads, prefork and solo pools keep their threads. Not with Redis
Sentinel: a connection held through a failover would stay on the demoted primary (a
script's ``READONLY`` does not drop it, where the pool re-resolves the master for every
new connection), so there the thread's context uses the process's pooled client.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from datetime import timedelta, timezone
from typing import Any

import redis
from celery import Celery
from celery.signals import worker_process_init
from redis.sentinel import SentinelConnectionPool

from dialer.campaigns.dnd import make_dnd_hook
from dialer.campaigns.gate import make_gate
from dialer.campaigns.handoff import make_handoff
from dialer.caps import ContactCaps
from dialer.dialing import ClientLike, DialContext
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
_local = threading.local()


def _dial_context(settings: Settings, client: redis.Redis, clients: dict[str, ClientLike],
                  **hooks: Any) -> DialContext:
    store = Store(client, Keys(settings.key_prefix))
    # one budget per account for every Exotel request: dials, polls and look-ups
    limiter = SlidingWindowLimiter(client, settings.rate_limit_admitted,
                                   settings.rate_limit_window_s,
                                   lookup_max=settings.lookup_max,
                                   lookup_reserve=settings.lookup_reserve)
    return DialContext(settings, store, limiter, clients, random.Random(),
                       caps=ContactCaps(client, store.keys, settings), **hooks)


def build(app: Celery) -> WorkerContext:
    settings: Settings = app.dialer_settings
    client = client_for(settings, socket_timeout_s=max(5.0, settings.redis_connect_timeout_s),
                        health_check_interval=30)
    store = Store(client, Keys(settings.key_prefix))
    # get_retries=0: every request takes a slot of the account's budget; the poller asks
    # again on a later tick instead of retrying inside the client
    clients = {
        a.name: ExotelClient(a, connect_timeout_s=settings.http_connect_timeout_s,
                             read_timeout_s=settings.http_read_timeout_s, get_retries=0,
                             account_tz=timezone(timedelta(minutes=a.utc_offset_minutes)))
        for a in settings.accounts
    }
    dial = _dial_context(settings, client, dict(clients), gate=make_gate(store, settings),
                         on_dnd=make_dnd_hook(store, settings))
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


def dial(app: Celery) -> DialContext:
    """This thread's dial context (see the module's doc), made on its first call."""
    ctx = get(app)
    mine = getattr(_local, "dial", None)
    if mine is None or mine[0] is not ctx:
        shared = ctx.dial
        pool = ctx.redis.connection_pool
        if isinstance(pool, SentinelConnectionPool):
            # a held connection would stay on a demoted primary after a failover (a
            # script's READONLY does not drop it): a sentinel client takes one per command
            client = ctx.redis
        else:
            client = redis.Redis(connection_pool=pool, single_connection_client=True)
        mine = _local.dial = (ctx, _dial_context(ctx.settings, client, shared.clients,
                                                 gate=shared.gate, on_dnd=shared.on_dnd))
    return mine[1]


@worker_process_init.connect
def _reset_after_fork(**_: object) -> None:
    global _ctx
    _ctx = None
