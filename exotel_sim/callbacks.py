"""StatusCallback delivery: a few sender threads, each with its own requests.Session.

Faults, rolled per callback: ``callback_drop_ratio`` (never sent, recorded as dropped),
``callback_duplicate_ratio`` (sent twice), ``callback_delay_s`` (held that long, real
seconds), ``callback_reorder`` (held a further random 0..``callback_reorder_window_s``, so
callbacks of different calls arrive out of order).

Delivery as developer.exotel.com/docs/references/webhooks documents it: the receiver must
answer 2xx within ``callback_timeout_s`` (15 s); a try that times out, fails to connect or
answers non-2xx is retried up to ``callback_retries`` (2) more times, ``callback_retry_delay_s``
apart (the delay is not documented; real seconds). Every try is one record in
``/_sim/callbacks`` with its ``attempt`` (1, 2, 3).
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import requests

from exotel_sim.callback_payloads import build_payload, request_kwargs, wire_body
from exotel_sim.calls import CallbackTarget, SimCall
from exotel_sim.config import SimConfig
from exotel_sim.faults import Dice
from exotel_sim.scheduler import Scheduler
from exotel_sim.state import SimState

log = logging.getLogger(__name__)
DUPLICATE_GAP_S = 0.005


@dataclass(frozen=True)
class Delivery:
    """One callback to send."""

    id: int
    call: SimCall
    generation: int
    target: CallbackTarget
    body: dict[str, Any]
    duplicate: bool = False
    attempt: int = 1


class CallbackDispatcher:
    """Rolls the callback faults, holds delayed callbacks, sends the rest."""

    def __init__(
        self, state: SimState, scheduler: Scheduler, dice: Dice, config: Callable[[], SimConfig]
    ) -> None:
        self._state = state
        self._scheduler = scheduler
        self._dice = dice
        self._config = config
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._ids = itertools.count(1)
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for i in range(self._config().callback_workers):
            thread = threading.Thread(target=self._work, name=f"exotel-sim-callback-{i}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float = 2.0) -> None:
        for _ in self._threads:
            self._queue.put(None)
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0.01))
        self._threads.clear()

    def submit(self, call: SimCall, event: str) -> None:
        """Queue the callbacks of ``call`` for ``event``; call under the state lock."""
        cfg = self._config()
        for target in call.spec.callbacks:
            if target.event != event:
                continue
            payload = build_payload(call, target, cfg.utc_offset_minutes)
            body = wire_body(call.spec.api, target, payload)
            delivery = Delivery(next(self._ids), call, call.generation, target, body)
            if self._dice.chance(cfg.callback_drop_ratio):
                call.callbacks_dropped += 1
                self._state.add_callback(self._record(delivery, dropped=True))
                continue
            copies = 2 if self._dice.chance(cfg.callback_duplicate_ratio) else 1
            delay = cfg.callback_delay_s
            if cfg.callback_reorder:
                delay += self._dice.uniform(0.0, cfg.callback_reorder_window_s)
            self._state.callbacks_scheduled(copies)
            for copy in range(copies):
                item = delivery if copy == 0 else replace(delivery, id=next(self._ids),
                                                          duplicate=True)
                self._hold(item, delay + copy * DUPLICATE_GAP_S)

    def _hold(self, delivery: Delivery, delay_s: float) -> None:
        if delay_s <= 0:
            self._queue.put(delivery)
        else:
            self._scheduler.call_later(delay_s, self._queue.put, delivery)

    def _work(self) -> None:
        session = requests.Session()
        session.trust_env = False  # no proxy from the environment between us and receivers
        try:
            while True:
                delivery = self._queue.get()
                if delivery is None:
                    return
                if delivery.generation != self._state.generation:
                    continue
                record = self._send(session, delivery)
                with self._state.lock:
                    if not record["delivered"] and delivery.generation == self._state.generation:
                        self._retry(delivery)
                    if self._state.callback_done(delivery.generation):
                        delivery.call.callbacks_sent += 1
                        self._state.add_callback(record)
        finally:
            session.close()

    def _retry(self, delivery: Delivery) -> None:
        """Schedule the next try of a failed delivery, if tries are left (under the lock)."""
        cfg = self._config()
        if delivery.attempt > cfg.callback_retries:
            return
        again = replace(delivery, id=next(self._ids), attempt=delivery.attempt + 1)
        self._state.callbacks_scheduled(1)
        self._hold(again, cfg.callback_retry_delay_s)

    def _send(self, session: requests.Session, delivery: Delivery) -> dict[str, Any]:
        target = delivery.target
        record = self._record(delivery)
        record["attempted_at"] = started = time.time()
        try:
            response = session.request(
                target.method,
                target.url,
                timeout=self._config().callback_timeout_s,
                **request_kwargs(target, delivery.body),
            )
            record["response_status"] = response.status_code
            record["delivered"] = 200 <= response.status_code < 300
        except requests.RequestException as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
            log.info("callback %s to %s failed: %s", delivery.id, target.url, type(exc).__name__)
        record["elapsed_ms"] = round((time.time() - started) * 1000, 3)
        return record

    @staticmethod
    def _record(delivery: Delivery, *, dropped: bool = False) -> dict[str, Any]:
        target = delivery.target
        return {
            "id": delivery.id,
            "call_sid": delivery.call.sid,
            "event": target.event,
            "url": target.url,
            "method": target.method,
            "content_type": None if target.method == "GET" else target.content_type,
            "body": delivery.body,
            "duplicate": delivery.duplicate,
            "attempt": delivery.attempt,
            "dropped": dropped,
            "attempted_at": None,
            "delivered": False,
            "response_status": None,
            "error": None,
            "elapsed_ms": None,
        }
