"""A call as people and other services read it: typed, every time ISO 8601 with its offset.

:class:`CallView` is the answer of ``GET /v1/calls/{id}`` and of ``dialer status --json``
(OpenAPI documents it): numbers are numbers, every time is ISO 8601 with its offset —
Redis's clock in UTC for the dialer's own times, Exotel's local times (IST unless they
carry their own offset) for the call's start and end.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from dialer.models import AttemptState, Mode
from dialer.store import Store

EXOTEL_TZ = timezone(timedelta(minutes=330))  # Exotel India's timestamps (IST)
_OFFSET = re.compile(r"[+-]\d{2}:?\d{2}$|Z$")


class CallState(StrEnum):
    """Where a call stands (``state``); the last eight are final."""

    QUEUED = "queued"  # its attempt waits for a worker (or in the due set: see waiting_for)
    DIALING = "dialing"  # a worker is placing it
    IN_PROGRESS = "in-progress"  # Exotel accepted it; its status is awaited
    RETRY_WAIT = "retry-wait"  # an attempt ended; the next one waits for its backoff
    AWAITING_EVIDENCE = "awaiting-evidence"  # ended; the legs are looked up to decide a retry
    UNKNOWN = "unknown"  # the POST's outcome is unknown: looked up, never redialled blindly
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"
    REJECTED = "rejected"  # Exotel refused the request (never placed)
    CANCELLED = "cancelled"  # cancelled before it was dialled
    ABSENT = "absent"  # its outcome was unknown, then it was proven never created
    CAPPED = "capped"  # not dialled: the customer number's attempt cap was reached


FINAL_CALL_STATES = frozenset({CallState.COMPLETED, CallState.BUSY, CallState.NO_ANSWER,
                               CallState.FAILED, CallState.REJECTED, CallState.CANCELLED,
                               CallState.ABSENT, CallState.CAPPED})
# nothing more happens to these on its own: final, or unknown (reported, never redialled)
SETTLED_CALL_STATES = frozenset({*FINAL_CALL_STATES, CallState.UNKNOWN})


class AttemptView(BaseModel):
    """One attempt (one POST to Exotel) of a call."""

    id: str = Field(description="<call id>-<n>")
    n: int = Field(description="1 for the first attempt, 2 for the first retry …")
    state: AttemptState
    call_sid: str | None = Field(default=None, description="Exotel's CallSid")
    status: str | None = Field(default=None, description="Exotel's overall status")
    leg1_status: str | None = Field(default=None, description="first leg (the agent / From)")
    leg2_status: str | None = Field(default=None, description="second leg (the customer / To)")
    start_time: datetime | None = None
    end_time: datetime | None = None
    duration_s: int | None = None
    talk_time_s: int | None = None
    price: float | None = None
    recording_url: str | None = None
    digits: str | None = None
    detail: str | None = Field(default=None, description="why it ended or was refused")
    last_wait: str | None = Field(default=None, description="why it last waited")
    http_429: int = Field(default=0, description="429s Exotel answered it")
    transport_failures: int = 0
    decision: Literal["retry", "final", "pending"] | None = Field(
        default=None, description="pending: waits for leg evidence")
    decision_reason: str | None = Field(default=None, description="why it was (not) retried")
    created_at: datetime | None = None
    claimed_at: datetime | None = None
    posting_at: datetime | None = None
    outcome_at: datetime | None = None
    terminal_at: datetime | None = None
    decided_at: datetime | None = None


class CallView(BaseModel):
    """A call: what was asked, every attempt, and where it stands."""

    id: str
    account: str
    mode: Mode
    state: CallState
    final_status: CallState | None = Field(default=None, description="once final")
    from_number: str | None = Field(default=None, description="the agent (connect, v3) or "
                                    "the customer (flow)")
    to_number: str | None = Field(default=None, description="the customer (connect, v3)")
    waiting_for: str | None = Field(default=None, description="why it waits, while it does")
    duration_s: int | None = Field(default=None, description="of the last attempt")
    price: float | None = Field(default=None, description="of the last attempt")
    recording_url: str | None = Field(default=None, description="of the last attempt")
    attempts: list[AttemptView]
    request: dict[str, Any]
    custom_field: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = None
    campaign_id: str | None = None
    created_at: datetime | None = None
    ended_at: datetime | None = None


def iso_ms(ms: str | None) -> str | None:
    """Redis milliseconds as ISO 8601 (UTC, with its offset)."""
    when = _ms_time(ms)
    return when.isoformat(timespec="milliseconds") if when else None


def _ms_time(ms: str | None) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(ms) / 1000, UTC) if ms else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def exotel_time(text: str | None) -> datetime | None:
    """Exotel's ``2026-12-01 15:30:00`` (IST) or ``… +05:30``, aware; None when unreadable."""
    if not text:
        return None
    value = text.strip().replace(" ", "T", 1)
    m = re.search(r"([+-]\d{2})(\d{2})$", value)
    if m and ":" not in value[-6:]:
        value = value[: m.start()] + f"{m.group(1)}:{m.group(2)}"
    try:
        parsed = datetime.fromisoformat(value.removesuffix("Z") + ("+00:00" if
                                                                   value.endswith("Z") else ""))
    except ValueError:
        return None
    return parsed if _OFFSET.search(value) else parsed.replace(tzinfo=EXOTEL_TZ)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def attempt_view(a: dict[str, str]) -> AttemptView:
    text = {k: (a.get(k) or None) for k in (
        "call_sid", "status", "leg1_status", "leg2_status", "recording_url", "digits",
        "detail", "last_wait", "decision", "decision_reason")}
    return AttemptView(
        id=a.get("id", ""), n=_int(a.get("n")) or 1, state=a.get("state", ""), **text,
        start_time=exotel_time(a.get("start_time")), end_time=exotel_time(a.get("end_time")),
        duration_s=_int(a.get("duration_s")), talk_time_s=_int(a.get("talk_time_s")),
        price=_float(a.get("price")), http_429=_int(a.get("http_429")) or 0,
        transport_failures=_int(a.get("transport_failures")) or 0,
        **{k: _ms_time(a.get(k)) for k in ("created_at", "claimed_at", "posting_at",
                                           "outcome_at", "terminal_at", "decided_at")},
    )


def _numbers(mode: str, request: dict[str, Any]) -> tuple[str | None, str | None]:
    if mode == "v3":
        return request.get("from_contact_uri"), request.get("to_contact_uri")
    return request.get("From"), request.get("To")


def _waiting_for(state: str, last: AttemptView | None) -> str | None:
    if last is None:
        return None
    if state == "awaiting-evidence":
        return "the legs' statuses, to decide on a retry"
    if state == "retry-wait":
        return f"the retry's backoff ({last.decision_reason or 'retry scheduled'})"
    if state == "queued" and last.last_wait:
        return last.last_wait
    if state == "unknown":
        return "a look-up of Exotel's call details (the POST's outcome is unknown)"
    return None


def build_view(call: dict[str, str], attempts: list[dict[str, str]]) -> CallView:
    """The typed view of a call hash and its attempt hashes."""
    views = [attempt_view(a) for a in attempts]
    request = json.loads(call.get("request") or "{}")
    from_number, to_number = _numbers(call.get("mode", ""), request)
    last = views[-1] if views else None
    # the retry's attempt is still pending: duration, price and recording are the last
    # attempt's that reached Exotel
    dialled = next((v for v in reversed(views) if v.call_sid), last)
    return CallView(
        id=call["id"], account=call.get("account", ""), mode=call.get("mode", ""),
        state=call.get("state", ""), final_status=call.get("final_status") or None,
        from_number=from_number, to_number=to_number,
        waiting_for=_waiting_for(call.get("state", ""), last),
        duration_s=dialled.duration_s if dialled else None,
        price=dialled.price if dialled else None,
        recording_url=dialled.recording_url if dialled else None,
        attempts=views, request=request, custom_field=call.get("custom_field") or None,
        metadata=json.loads(call.get("metadata") or "{}"),
        idempotency_key=call.get("idem_key") or None,
        campaign_id=call.get("campaign_id") or None,
        created_at=_ms_time(call.get("created_at")), ended_at=_ms_time(call.get("ended_at")),
    )


def call_model(store: Store, call_id: str) -> CallView:
    """The view of ``call_id``. Raises ``NotFoundError``."""
    return build_view(store.get_call(call_id), store.attempts_of(call_id))


def call_view(store: Store, call_id: str) -> dict[str, Any]:
    """The JSON view of ``call_id`` (:class:`CallView`). Raises ``NotFoundError``."""
    return call_model(store, call_id).model_dump(mode="json")
