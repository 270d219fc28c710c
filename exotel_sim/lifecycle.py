"""A call's life on the scaled clock, driven by scheduler timers.

created (Status queued, leg 1 queued) --dial_delay_s--> leg 1 ringing (Status ringing)
  --ring_s--> answered | --busy_s--> busy | --TimeOut--> no-answer | --failed_s--> failed.
Two numbers: leg 1 answered -> leg 2 ringing -> same choices; both answered -> connected
("answered" callbacks) -> talk_s, capped by TimeLimit -> completed. A flow has leg 1 only:
answered -> the flow runs talk_s -> completed. Status is in-progress from leg 1's answer
on. Otherwise the call ends with the status of the
first leg that did not answer (an answered leg 1 is then "completed"). Duration, Price and
EndTime are filled ``duration_fill_delay_s`` later, with no second callback. ``cancel`` ends
a call not connected yet with Status "canceled" (``sim.cancel(sid)``, POST
/_sim/calls/<sid>/cancel).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from exotel_sim.callbacks import CallbackDispatcher
from exotel_sim.calls import Leg, SimCall
from exotel_sim.config import SimConfig
from exotel_sim.scheduler import Scheduler
from exotel_sim.state import SimState


class Lifecycle:
    """Moves calls through their states; every step runs under the state lock."""

    def __init__(
        self,
        state: SimState,
        scheduler: Scheduler,
        dispatcher: CallbackDispatcher,
        config: Callable[[], SimConfig],
    ) -> None:
        self._state = state
        self._scheduler = scheduler
        self._dispatcher = dispatcher
        self._config = config

    def start(self, call: SimCall) -> None:
        self._after(call, self._config().dial_delay_s, self._dial, 0)

    def _after(self, call: SimCall, sim_s: float, step: Callable[..., None], *args: Any) -> None:
        delay = sim_s * self._config().time_scale
        self._scheduler.call_later(delay, self._run, call, sim_s, step, args)

    def _run(self, call: SimCall, sim_s: float, step: Callable[..., None], args: tuple) -> None:
        with self._state.lock:
            if not self._state.is_current(call):
                return
            if call.terminal and step != self._fill:
                return  # canceled: the steps still pending do nothing
            call.t += sim_s
            step(call, *args)

    def cancel(self, call: SimCall) -> bool:
        """End a call that is not connected yet with Status "canceled"; under the lock."""
        if call.terminal or call.connected_at is not None:
            return False
        for leg in call.legs:
            if leg.status in ("queued", "ringing"):
                leg.status = "canceled"
                leg.ended_at = call.t
        self._end(call, "canceled")
        return True

    def _ring_time(self, call: SimCall, leg: Leg) -> float:
        cfg = self._config()
        timeout = float(call.spec.time_out_s or cfg.ring_timeout_s)
        return {
            "answered": min(cfg.ring_s, timeout),
            "busy": min(cfg.busy_s, timeout),
            "failed": cfg.failed_s,
            "no-answer": timeout,
        }[leg.outcome]

    def _dial(self, call: SimCall, index: int) -> None:
        leg = call.legs[index]
        leg.status = "ringing"
        leg.dialed_at = call.t
        if index == 0:
            call.status = "ringing"
        self._after(call, self._ring_time(call, leg), self._ring_done, index)

    def _ring_done(self, call: SimCall, index: int) -> None:
        leg = call.legs[index]
        if leg.outcome != "answered":
            leg.status = leg.outcome
            leg.ended_at = call.t
            self._end(call, leg.outcome)
            return
        leg.status = "in-progress"
        leg.answered_at = call.t
        call.status = "in-progress"
        if index + 1 < len(call.legs):
            self._dial(call, index + 1)
        else:
            self._connect(call)

    def _connect(self, call: SimCall) -> None:
        call.connected_at = call.t
        self._dispatcher.submit(call, "answered")
        talk = self._config().talk_s
        if call.spec.time_limit_s:
            talk = min(talk, float(call.spec.time_limit_s))
        self._after(call, talk, self._end, "completed")

    def _end(self, call: SimCall, status: str) -> None:
        for leg in call.legs:
            if leg.status == "in-progress":
                leg.status = "completed"
                leg.ended_at = call.t
        call.status = status
        call.state = "terminal"
        call.ended_at = call.t
        call.ended_wall = time.time()
        if call.spec.record and call.connected_at is not None:
            call.recording_url = (
                f"{call.base_url}/_sim/recordings/{call.spec.account_sid}/{call.sid}.mp3"
            )
        self._dispatcher.submit(call, "terminal")
        self._state.call_ended(call)
        self._after(call, self._config().duration_fill_delay_s, self._fill)

    def _fill(self, call: SimCall) -> None:
        call.t = call.ended_at if call.ended_at is not None else call.t  # not a status change
        call.filled = True
        self._state.call_filled()
