"""Exotel's wire format, read one way: the value rules and the mapping of a call to an update.

A StatusCallback (pushed) and a call-details answer (polled, single or bulk) describe the
same call, so both are read by the same functions here, as stripe builds a verified
webhook's event with the deserialiser its API answers use:

* :func:`v1_update` maps a v1 ``Call`` object (``{"Sid": …, "Details": {…}}`` from a
  details or bulk answer) *or* the fields of a v1 StatusCallback (``CallSid``, ``Legs`` …)
  to a :class:`~dialer.models.CallUpdate`;
* :func:`v3_update` maps a v3 ``call_details`` block (and a callback's ``event_details``).

Value rules (every function returns ``None`` rather than raise, and never returns junk):

* a missing, empty, whitespace-only or ``null``/``none`` value is ``None``, so it never
  overwrites what is already known; so is a value of the wrong JSON type;
* a string holding NUL or a lone surrogate (``"\\ud800"``, which JSON can carry but UTF-8
  cannot encode) is ``None``: nothing downstream (Redis, JSON logs, events) can choke on it;
* over-long strings (:data:`FIELD_CAPS`) are ``None`` rather than truncated;
* statuses are stripped and lower-cased (unknown ones kept, never terminal), events are
  only :data:`CALLBACK_EVENTS`;
* durations are non-negative whole seconds up to :data:`MAX_INT_VALUE`;
* a price is a short decimal string (``"1.50"``); a URL an absolute http(s) URL without
  whitespace or control characters;
* the unset-time placeholders ``1970-01-01 …`` and ``0000-00-00 …`` are ``None``.

Keys are matched case-insensitively. Pure: no I/O, imports nothing but the models.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from dialer.models import CallUpdate

__all__ = [
    "CALLBACK_EVENTS",
    "FIELD_CAPS",
    "KNOWN_STATUSES",
    "MAX_INT_VALUE",
    "MAX_MESSAGE_CHARS",
    "event",
    "first",
    "lenient_json",
    "lower_keys",
    "price",
    "scalar_text",
    "seconds",
    "status",
    "text",
    "timestamp",
    "url",
    "v1_update",
    "v3_update",
]

MAX_INT_VALUE = 10**7
"""Durations above this (about 115 days) are nonsense and become ``None``."""

MAX_MESSAGE_CHARS = 1000
"""Longest error message kept from an error body."""

FIELD_CAPS: Mapping[str, int] = {
    "call_sid": 256,
    "event": 64,
    "status": 64,
    "leg1_status": 64,
    "leg2_status": 64,
    "start_time": 64,
    "end_time": 64,
    "date_updated": 64,
    "price": 32,
    "recording_url": 2048,
    "digits": 256,
    "custom_field": 256,
}
"""Longest accepted value (characters) of each string field of a ``CallUpdate``."""

PHONE_CAP = 64
"""Longest accepted ``From`` / ``To`` of a listed call."""

KNOWN_STATUSES = frozenset(
    {
        "queued",
        "ringing",
        "in-progress",
        "answered",
        "completed",
        "busy",
        "no-answer",
        "failed",
        "canceled",
    }
)
"""Call / leg statuses Exotel is known to send. Others are kept but are never terminal."""

CALLBACK_EVENTS = frozenset({"terminal", "answered"})
"""StatusCallback event types; any other value is dropped (``event=None``)."""

_NULL_WORDS = frozenset({"", "null", "none"})
_UNSET_TIME_PREFIXES = ("1970-01-01", "0000-00-00")  # "not set" timestamps
_UNSAFE_CHARS = re.compile(r"[\x00\ud800-\udfff]")  # NUL and lone surrogates
_INT_RE = re.compile(r"\+?(\d{1,9})(?:\.\d{0,9})?")
_PRICE_RE = re.compile(r"-?\d{1,12}(?:\.\d{1,8})?")
_URL_RE = re.compile(r"https?://[^\s\x00-\x1f\x7f]+", re.IGNORECASE)

T = TypeVar("T")

# --- values -------------------------------------------------------------------------------


def scalar_text(value: Any) -> str | None:
    """A stripped string for a string or number; None for null-like, unsafe or other values."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if _UNSAFE_CHARS.search(value):
            return None
        text_ = value.strip()
    elif isinstance(value, int):
        if abs(value) >= 10**30:
            return None
        text_ = str(value)
    elif isinstance(value, float | Decimal):
        # A float (callback JSON) reads like the Decimal of the same JSON text (poll JSON is
        # parsed with parse_float=Decimal): 1e+16 -> "10000000000000000", 1.5 -> "1.5".
        number = Decimal(repr(value)) if isinstance(value, float) else value
        if not number.is_finite() or number.adjusted() >= 30:
            return None
        text_ = format(number, "f")
    else:
        return None
    return None if text_.lower() in _NULL_WORDS else text_


def text(value: Any, cap: int) -> str | None:
    """:func:`scalar_text`, or None when longer than ``cap`` characters."""
    text_ = scalar_text(value)
    if text_ is None or len(text_) > cap:
        return None
    return text_


def status(value: Any) -> str | None:
    """A status: strings only, stripped and lower-cased; unknown values are kept."""
    if not isinstance(value, str):
        return None
    return text(value.lower(), FIELD_CAPS["status"])


def event(value: Any) -> str | None:
    """A StatusCallback event type in :data:`CALLBACK_EVENTS`, or None."""
    kind = status(value)
    return kind if kind in CALLBACK_EVENTS else None


def timestamp(value: Any) -> str | None:
    """A timestamp as sent; the epoch / zero dates Exotel uses for "not set" are None."""
    if not isinstance(value, str):
        return None
    text_ = text(value, FIELD_CAPS["end_time"])
    if text_ is None or text_.startswith(_UNSET_TIME_PREFIXES):
        return None
    return text_


def seconds(value: Any) -> int | None:
    """A non-negative count of seconds: 12, 12.0, "12", "12.0" -> 12; junk -> None."""
    if isinstance(value, bool):
        return None
    number: int | None = None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float | Decimal):
        finite = math.isfinite(value) if isinstance(value, float) else value.is_finite()
        number = int(value) if finite and 0 <= value <= MAX_INT_VALUE else None
    elif isinstance(value, str) and not _UNSAFE_CHARS.search(value):
        match = _INT_RE.fullmatch(value.strip())
        number = int(match.group(1)) if match else None
    if number is None or not 0 <= number <= MAX_INT_VALUE:
        return None
    return number


def price(value: Any) -> str | None:
    """A short decimal string ("0.50"), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        try:
            value = format(Decimal(repr(value)), "f")
        except (InvalidOperation, ValueError):
            return None
    text_ = text(value, FIELD_CAPS["price"])
    if text_ is None or not _PRICE_RE.fullmatch(text_):
        return None
    return text_


def url(value: Any) -> str | None:
    """An absolute http(s) URL without whitespace or control characters, or None."""
    if not isinstance(value, str):
        return None
    text_ = text(value, FIELD_CAPS["recording_url"])
    if text_ is None or not _URL_RE.fullmatch(text_):
        return None
    return text_


def first(rule: Callable[[Any], T | None], *values: Any) -> T | None:
    """The first of ``values`` that ``rule`` accepts (not None), else None."""
    for value in values:
        got = rule(value)
        if got is not None:
            return got
    return None


# --- documents ----------------------------------------------------------------------------


def lower_keys(data: Any) -> dict[str, Any]:
    """A mapping's string keys lower-cased (first occurrence wins); {} for a non-mapping."""
    if not isinstance(data, Mapping):
        return {}
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(key, str):
            out.setdefault(key.lower(), value)
    return out


def lenient_json(value: Any) -> Any:
    """A string that holds JSON is decoded; bad JSON is None; anything else is returned as is."""
    if isinstance(value, str) and value.strip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return None
    return value


def _leg_entries(value: Any) -> list[Any]:
    """Legs[0] and Legs[1]: a JSON array, a {"0": …, "1": …} object, or XML's {"Leg": […]}."""
    value = lenient_json(value)
    if isinstance(value, Mapping) and len(value) == 1 and "Leg" in value:
        value = value["Leg"]  # XML <Legs><Leg>…</Leg><Leg>…</Leg></Legs>
    if isinstance(value, list):
        entries = value[:2]
    elif isinstance(value, Mapping):
        entries = [value.get("0", value.get(0)), value.get("1", value.get(1))]
    else:
        return []
    return [e["Leg"] if isinstance(e, Mapping) and set(e) == {"Leg"} else e for e in entries]


def _leg_statuses(
    f: Mapping[str, Any], details: Mapping[str, Any]
) -> tuple[str | None, str | None]:
    entries = _leg_entries(f["legs"] if f.get("legs") is not None else details.get("legs"))
    result: list[str | None] = []
    for index in (0, 1):
        entry = lower_keys(entries[index]) if index < len(entries) else {}
        result.append(
            first(
                status,
                entry.get("status"),
                f.get(f"legs[{index}][status]"),
                f.get(f"leg{index + 1}status"),
                details.get(f"leg{index + 1}status"),
            )
        )
    return result[0], result[1]


def v1_update(call: Mapping[str, Any], *, source: str) -> CallUpdate:
    """A v1 Call object (poll) or v1 StatusCallback fields (callback) as a CallUpdate.

    ``CallSid`` or ``Sid``; leg statuses from ``Legs`` (array, form keys, XML) or the flat
    ``Leg1Status`` / ``Leg2Status``, top level or under ``Details``; ``ConversationDuration``
    top level or under ``Details``. Never raises.
    """
    f = lower_keys(call)
    details = lower_keys(lenient_json(f.get("details")))
    leg1, leg2 = _leg_statuses(f, details)
    return CallUpdate(
        source=source,
        call_sid=first(lambda v: text(v, FIELD_CAPS["call_sid"]), f.get("callsid"), f.get("sid")),
        event=event(f.get("eventtype")),
        status=status(f.get("status")),
        leg1_status=leg1,
        leg2_status=leg2,
        start_time=timestamp(f.get("starttime")),
        end_time=timestamp(f.get("endtime")),
        date_updated=timestamp(f.get("dateupdated")),
        duration_s=seconds(f.get("duration")),
        talk_time_s=first(
            seconds, f.get("conversationduration"), details.get("conversationduration")
        ),
        price=price(f.get("price")),
        recording_url=url(f.get("recordingurl")),
        digits=text(f.get("digits"), FIELD_CAPS["digits"]),
        custom_field=text(f.get("customfield"), FIELD_CAPS["custom_field"]),
    )


def _first_recording_url(value: Any) -> str | None:
    value = lenient_json(value)
    if isinstance(value, str):
        return url(value)
    if not isinstance(value, list):
        return None
    items: Iterable[Any] = value[:16]
    return first(url, *(lower_keys(item).get("url") for item in items))


def v3_update(call_details: Any, event_details: Any = None, *, source: str) -> CallUpdate:
    """A v3 ``call_details`` block (and a callback's ``event_details``) as a CallUpdate.

    Either block may be a mapping or a JSON string; anything else reads as empty.
    v3 carries no leg statuses. Never raises.
    """
    call = lower_keys(lenient_json(call_details))
    ev = lower_keys(lenient_json(event_details))
    return CallUpdate(
        source=source,
        call_sid=text(call.get("sid"), FIELD_CAPS["call_sid"]),
        event=event(ev.get("event_type")),
        status=status(call.get("status")),
        start_time=timestamp(call.get("start_time")),
        end_time=timestamp(call.get("end_time")),
        date_updated=timestamp(call.get("updated_time")),
        duration_s=seconds(call.get("total_duration")),
        talk_time_s=seconds(call.get("total_talk_time")),
        recording_url=_first_recording_url(call.get("recordings")),
        digits=text(call.get("digits"), FIELD_CAPS["digits"]),
        custom_field=text(call.get("custom_field"), FIELD_CAPS["custom_field"]),
    )
