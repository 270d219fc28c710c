"""The simulator's core, without HTTP: config, limiter, dice, calls, lifecycle, callbacks."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from exotel_sim.auth import AuthResult, authenticate
from exotel_sim.callbacks import CallbackDispatcher
from exotel_sim.calls import CallSpec, Leg, SimCall, new_sid
from exotel_sim.config import SimConfig
from exotel_sim.faults import Dice
from exotel_sim.lifecycle import Lifecycle
from exotel_sim.limiter import SlidingWindowLimiter
from exotel_sim.outcomes import (
    DND_SUFFIX,
    OutcomeDecider,
    call_fault,
    number_key,
    parse_scenario,
    suffix,
)
from exotel_sim.scheduler import Scheduler
from exotel_sim.state import SimState


class Gate(Enum):
    """Why a call-creating POST may not go on."""

    OPEN = "open"
    AUTH_FAILED = "auth-failed"
    UNKNOWN_ACCOUNT = "unknown-account"
    LIMITED = "limited"
    INJECTED_5XX = "injected-5xx"


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    at: float
    retry_after_s: float = 0.0
    counted: bool = False  # the request counted against the account limit
    headers: dict[str, str] = field(default_factory=dict)  # X-RateLimit-*, Retry-After


@dataclass(frozen=True)
class Placement:
    """The result of placing a validated call: ``call`` None means answer 500."""

    call: SimCall | None
    drop: bool = False


class Engine:
    """Owns every moving part; thread-safe."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self._config = config or SimConfig()
        self._config_lock = threading.Lock()
        self.state = SimState()
        self.limiter = SlidingWindowLimiter()
        self.scheduler = Scheduler()
        self.dice = Dice(self._config.seed)
        self.decider = OutcomeDecider(self._config.seed)
        self.dispatcher = CallbackDispatcher(self.state, self.scheduler, self.dice, self.current)
        self.lifecycle = Lifecycle(self.state, self.scheduler, self.dispatcher, self.current)
        self._running = False

    # configuration
    @property
    def config(self) -> SimConfig:
        return self._config

    def current(self) -> SimConfig:
        return self._config

    def configure(self, **changes: Any) -> SimConfig:
        """Apply validated changes at run time (pydantic ValidationError on bad values)."""
        with self._config_lock:
            new = self._config.updated(**changes)
            if "seed" in changes:
                self.dice.reseed(new.seed)
                self.decider.reseed(new.seed)
            self._config = new
            return new

    def set_scenario(self, data: dict[str, Any]) -> dict[str, list[str]]:
        numbers = parse_scenario(data)
        self.decider.set_scenario(numbers)
        return self.decider.scenario()

    # running
    def start(self) -> None:
        if self._running:
            return
        self._running = True
        self.scheduler.start()
        self.dispatcher.start()

    def stop(self) -> None:
        if not self._running:
            return
        self._running = False
        self.scheduler.stop()
        self.dispatcher.stop()

    def reset(self) -> None:
        """Forget calls, requests, callbacks, the limiter and the scenario."""
        with self.state.lock:
            self.state.reset()
            self.scheduler.clear()
        self.limiter.reset()
        self.decider.clear()

    # requests
    def authenticate(self, sid: str, authorization: str | None) -> AuthResult:
        return authenticate(self._config, sid, authorization)

    def gate(self, sid: str, authorization: str | None, *, post: bool = True) -> GateResult:
        """Auth, then the account limit, then (call POSTs only) the 5xx dice.

        ``post`` False is a Voice API GET (v1 details, bulk details, v3 details and legs):
        it counts against the limit unless ``limit_scope`` is "posts".
        """
        cfg = self._config
        auth = authenticate(cfg, sid, authorization)
        if auth is not AuthResult.OK:
            failed = auth is AuthResult.FAILED
            return GateResult(Gate.AUTH_FAILED if failed else Gate.UNKNOWN_ACCOUNT, time.time())
        if not post and cfg.limit_scope == "posts":
            return GateResult(Gate.OPEN, time.time())
        admission = self.limiter.admit(sid, cfg.limit_calls, cfg.limit_window_s)
        headers = admission.headers()
        if not admission.admitted:
            return GateResult(Gate.LIMITED, admission.at, admission.retry_after_s,
                              headers=headers)
        if post and self.dice.chance(cfg.error_5xx_ratio):
            return GateResult(Gate.INJECTED_5XX, admission.at, counted=True, headers=headers)
        return GateResult(Gate.OPEN, admission.at, counted=True, headers=headers)

    def is_dnd(self, number: str | None) -> bool:
        """On the DND (NDNC) registry: ends in 94, or listed in ``dnd_numbers``."""
        cfg = self._config
        if not cfg.dnd_check or not number:
            return False
        return suffix(number) == DND_SUFFIX or number_key(number) in {
            number_key(n) for n in cfg.dnd_numbers
        }

    def known_virtual_number(self, number: str) -> bool:
        allowed = self._config.virtual_numbers
        return not allowed or number_key(number) in {number_key(n) for n in allowed}

    def busy_with(self, account_sid: str, number: str) -> str | None:
        return self.state.busy_with(account_sid, number)

    def place(self, spec: CallSpec, *, created_at: float, base_url: str) -> Placement:
        """Create and start the call unless its number asks for a 500 (suffix 96)."""
        fault = call_fault(spec.fault_number)
        if fault == "error":
            return Placement(None)
        cfg = self._config
        outcomes = self.decider.leg_outcomes(spec.leg_numbers, cfg)
        legs = [Leg(number=n, outcome=o) for n, o in zip(spec.leg_numbers, outcomes, strict=True)]
        legs[0].status = "queued"  # the call is "queued" until leg 1 rings
        drop = fault == "drop" or self.dice.chance(cfg.accept_then_drop_ratio)
        with self.state.lock:
            call = SimCall(
                sid=new_sid(),
                spec=spec,
                created_at=created_at,
                legs=legs,
                generation=self.state.generation,
                base_url=base_url.rstrip("/"),
                fault="accept-then-drop" if drop else None,
                price_per_minute=cfg.price_per_minute,
            )
            self.state.add_call(call)
        self.lifecycle.start(call)
        return Placement(call, drop)

    def cancel(self, call_sid: str) -> bool:
        """Cancel a call that is not connected yet (Status "canceled"); False otherwise."""
        with self.state.lock:
            call = self.state.calls.get(call_sid)
            return call is not None and self.lifecycle.cancel(call)

    def wait_idle(self, timeout_s: float = 10.0, *, settled: bool = False) -> bool:
        """True once every call is terminal and every due callback was attempted
        (``settled``: and Duration/Price were filled)."""
        return self.state.wait_idle(timeout_s, settled=settled)
