"""Shared models: statuses and the normalised view of what Exotel told us about a call."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

# CustomField carries "<attempt id>|<your value>"; attempt ids are at most 27 characters.
ATTEMPT_ID_MAX_LEN = 27
CUSTOM_FIELD_MAX_LEN = 128 - ATTEMPT_ID_MAX_LEN - 1


class Mode(StrEnum):
    CONNECT = "connect"  # v1 connect two numbers (From = agent, To = customer)
    FLOW = "flow"  # v1 connect a number to a call flow (app id)
    V3 = "v3"  # v3 CCM calls API


class AttemptState(StrEnum):
    PENDING = "pending"  # created, waiting for a worker (or in the due set)
    DIALING = "dialing"  # claimed by a worker; the POST is being made
    PLACED = "placed"  # Exotel returned a call Sid; waiting for the final status
    UNKNOWN = "unknown"  # the POST may or may not have reached Exotel; never redialled blindly
    COMPLETED = "completed"  # both legs answered, the call ended normally
    BUSY = "busy"  # a leg was busy
    NO_ANSWER = "no-answer"  # a leg did not answer within TimeOut
    FAILED = "failed"  # a leg could not be completed
    REJECTED = "rejected"  # Exotel refused the request (4xx other than 429); not placed
    CANCELLED = "cancelled"  # cancelled before it was placed
    ABSENT = "absent"  # unknown, then proven never created by Exotel (redial_proven_absent)
    CAPPED = "capped"  # not dialled: the customer number's attempt cap was reached


TERMINAL_ATTEMPT_STATES = frozenset(
    {
        AttemptState.COMPLETED,
        AttemptState.BUSY,
        AttemptState.NO_ANSWER,
        AttemptState.FAILED,
        AttemptState.REJECTED,
        AttemptState.CANCELLED,
        AttemptState.ABSENT,
        AttemptState.CAPPED,
    }
)

# Exotel's final call statuses (v1 Status and v3 status), as they arrive on the wire.
EXOTEL_TERMINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})


class CallUpdate(BaseModel):
    """What one StatusCallback or one call-details poll said about a call.

    Every field is optional: a missing, empty or "null" value is ``None`` and never
    overwrites what is already known.
    """

    model_config = ConfigDict(extra="forbid")

    source: str = Field(default="callback", description="callback | poll")
    call_sid: str | None = None
    event: str | None = None  # "terminal" | "answered" | None
    status: str | None = None  # Exotel's overall status, lower case
    leg1_status: str | None = None  # first leg (From / agent)
    leg2_status: str | None = None  # second leg (To / customer)
    start_time: str | None = None
    end_time: str | None = None
    date_updated: str | None = None
    duration_s: int | None = None
    talk_time_s: int | None = None
    price: str | None = None
    recording_url: str | None = None
    digits: str | None = None
    custom_field: str | None = None
