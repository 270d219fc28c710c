"""Everything the simulator remembers: calls, requests, callbacks; one lock guards it all."""

from __future__ import annotations

import threading
import time
from typing import Any

from exotel_sim.calls import SimCall
from exotel_sim.outcomes import number_key


class SimState:
    """Thread-safe store with idle tracking (active calls, pending callbacks)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._idle = threading.Condition(self.lock)
        self.calls: dict[str, SimCall] = {}
        self.requests: list[dict[str, Any]] = []
        self.callbacks: list[dict[str, Any]] = []
        self.generation = 0
        self.active_calls = 0
        self.unfilled_calls = 0
        self.pending_callbacks = 0
        self._busy: dict[tuple[str, str], str] = {}  # (account, number key) -> call sid

    # calls
    def add_call(self, call: SimCall) -> None:
        with self.lock:
            self.calls[call.sid] = call
            self.active_calls += 1
            self.unfilled_calls += 1
            if call.spec.state_management:
                self._busy[(call.spec.account_sid, number_key(call.spec.from_number))] = call.sid

    def get_call(self, account_sid: str, call_sid: str) -> SimCall | None:
        with self.lock:
            call = self.calls.get(call_sid)
            return call if call and call.spec.account_sid == account_sid else None

    def is_current(self, call: SimCall) -> bool:
        """False once a reset has dropped the call."""
        with self.lock:
            return call.generation == self.generation and self.calls.get(call.sid) is call

    def busy_with(self, account_sid: str, number: str) -> str | None:
        """The sid of an active state-managed call from ``number``, if any."""
        with self.lock:
            return self._busy.get((account_sid, number_key(number)))

    def call_ended(self, call: SimCall) -> None:
        with self.lock:
            key = (call.spec.account_sid, number_key(call.spec.from_number))
            if self._busy.get(key) == call.sid:
                del self._busy[key]
            self.active_calls -= 1
            self._idle.notify_all()

    def call_filled(self) -> None:
        with self.lock:
            self.unfilled_calls -= 1
            self._idle.notify_all()

    # requests and callbacks
    def add_request(self, record: dict[str, Any]) -> None:
        with self.lock:
            self.requests.append(record)

    def add_callback(self, record: dict[str, Any]) -> None:
        with self.lock:
            self.callbacks.append(record)

    def callbacks_scheduled(self, count: int) -> None:
        with self.lock:
            self.pending_callbacks += count

    def callback_done(self, generation: int) -> bool:
        """Account for one finished delivery; False if it belongs to a reset generation."""
        with self.lock:
            if generation != self.generation:
                return False
            self.pending_callbacks -= 1
            self._idle.notify_all()
            return True

    # idle and reset
    def is_idle(self, *, settled: bool = False) -> bool:
        with self.lock:
            busy = self.active_calls or self.pending_callbacks
            return not busy and not (settled and self.unfilled_calls)

    def wait_idle(self, timeout_s: float, *, settled: bool = False) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while not self.is_idle(settled=settled):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
            return True

    def reset(self) -> None:
        with self.lock:
            self.generation += 1
            self.calls.clear()
            self.requests.clear()
            self.callbacks.clear()
            self._busy.clear()
            self.active_calls = 0
            self.unfilled_calls = 0
            self.pending_callbacks = 0
            self._idle.notify_all()

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return {
                "calls": len(self.calls),
                "active_calls": self.active_calls,
                "pending_callbacks": self.pending_callbacks,
                "unfilled_calls": self.unfilled_calls,
            }
