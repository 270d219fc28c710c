"""A simulated call: what was asked (CallSpec), its legs, and where its life stands (SimCall).

Times inside a call are simulated seconds since it was created (``t``, ``ended_at`` …);
``wall(offset)`` turns one into the epoch shown in timestamps.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from typing import Any

API_CONNECT = "v1-connect"
API_FLOW = "v1-flow"
API_V3 = "v3"

TERMINAL = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})


def new_sid() -> str:
    """A 32-character hex identifier, like Exotel's."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class CallbackTarget:
    """Where and how to tell about one event of a call."""

    url: str
    event: str  # "terminal" | "answered"
    method: str = "POST"
    content_type: str = "multipart/form-data"
    # v1: the extended payload (the request subscribed with StatusCallbackEvents); v1
    # without it gets the four documented fields only. v3 ignores it.
    extended: bool = True


@dataclass
class CallSpec:
    """A validated call request, v1 or v3."""

    api: str
    account_sid: str
    from_number: str
    to_number: str | None  # None for a flow
    caller_id: str  # CallerId / virtual_number
    time_limit_s: int | None = None
    time_out_s: int | None = None
    custom_field: str | None = None
    record: bool = False
    recording_channels: str = "single"
    recording_format: str = "mp3"
    app_id: str | None = None
    state_management: bool = False
    callbacks: list[CallbackTarget] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def leg_numbers(self) -> list[str]:
        """Leg 1 then (two-number calls) leg 2."""
        if self.to_number is None:
            return [self.from_number]
        return [self.from_number, self.to_number]

    @property
    def customer_number(self) -> str:
        """The customer's number, checked against the DND registry: To (connect), From
        (flow), to (v3)."""
        return self.to_number if self.to_number is not None else self.from_number

    @property
    def fault_number(self) -> str:
        """The number whose suffix picks a call-level fault (95 / 96)."""
        return self.to_number if self.api == API_CONNECT and self.to_number else self.from_number


@dataclass
class Leg:
    """One leg; ``status`` None until it is dialled."""

    number: str
    outcome: str
    sid: str = field(default_factory=new_sid)
    status: str | None = None
    dialed_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None

    def on_call_s(self) -> int:
        if self.answered_at is None or self.ended_at is None:
            return 0
        return round(self.ended_at - self.answered_at)


@dataclass
class SimCall:
    """A call and its progress; mutated only under the state lock."""

    sid: str
    spec: CallSpec
    created_at: float
    legs: list[Leg]
    generation: int
    base_url: str = ""
    status: str = "queued"  # queued -> ringing -> in-progress -> completed|busy|…
    state: str = "active"
    t: float = 0.0
    connected_at: float | None = None
    ended_at: float | None = None
    ended_wall: float | None = None
    filled: bool = False
    recording_url: str | None = None
    fault: str | None = None
    price_per_minute: float = 0.0
    callbacks_sent: int = 0
    callbacks_dropped: int = 0

    def wall(self, offset: float | None) -> float | None:
        return None if offset is None else self.created_at + offset

    @property
    def terminal(self) -> bool:
        return self.state == "terminal"

    @property
    def to_display(self) -> str:
        """To as Exotel shows it; for a flow, the ExoPhone that was 'called'."""
        return self.spec.to_number or self.spec.caller_id

    def conversation_s(self) -> int:
        if self.connected_at is None or self.ended_at is None:
            return 0
        return round(self.ended_at - self.connected_at)

    def duration_s(self) -> int | None:
        return None if self.ended_at is None else round(self.ended_at)

    def price(self) -> float | None:
        """Charged by the started minute of the answered part; 0 when nobody answered."""
        if self.ended_at is None:
            return None
        answered = [leg.answered_at for leg in self.legs if leg.answered_at is not None]
        if not answered:
            return 0.0
        minutes = math.ceil(max(self.ended_at - min(answered), 1) / 60)
        return round(minutes * self.price_per_minute, 4)
