"""One thread running timers from a heap (never one thread per call)."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class Scheduler:
    """``call_later(delay_s, fn, *args)`` runs ``fn(*args)`` on the scheduler thread."""

    def __init__(self, name: str = "exotel-sim-scheduler") -> None:
        self._name = name
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Callable[..., Any], tuple[Any, ...]]] = []
        self._seq = itertools.count()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._cond:
            if self._thread is not None:
                return
            self._stopped = False
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def call_later(self, delay_s: float, fn: Callable[..., Any], *args: Any) -> None:
        due = time.monotonic() + max(delay_s, 0.0)
        with self._cond:
            heapq.heappush(self._heap, (due, next(self._seq), fn, args))
            if self._heap[0][0] == due:
                self._cond.notify()

    def clear(self) -> None:
        """Forget every pending timer."""
        with self._cond:
            self._heap.clear()

    def pending(self) -> int:
        with self._cond:
            return len(self._heap)

    def stop(self, timeout_s: float = 5.0) -> None:
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)

    def _next(self) -> tuple[Callable[..., Any], tuple[Any, ...]] | None:
        with self._cond:
            while not self._stopped:
                if self._heap:
                    wait = self._heap[0][0] - time.monotonic()
                    if wait <= 0:
                        _, _, fn, args = heapq.heappop(self._heap)
                        return fn, args
                    self._cond.wait(wait)
                else:
                    self._cond.wait()
            return None

    def _run(self) -> None:
        while True:
            item = self._next()
            if item is None:
                return
            fn, args = item
            try:
                fn(*args)
            except Exception:  # a bad timer must not stop the clock
                log.exception("simulator timer %s failed", getattr(fn, "__name__", fn))
