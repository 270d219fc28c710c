"""Parse what Exotel answers: v1 JSON and XML, ``RestException`` errors, the v3 envelope.

Every call-details result becomes a :class:`dialer.models.CallUpdate` with
``source="poll"``, read by :mod:`dialer.exotel.wire`: the same value rules and the same
mapping as a StatusCallback, so a poll and a callback carrying the same values give the
same update (null words, placeholders such as ``1970-01-01 …``, bad URLs, prices and
durations, NUL and lone surrogates all become ``None``).

Failure policy: a body that is neither JSON nor safe XML, or lacks the block a function
needs, raises :class:`MalformedResponseError` (a ``ValueError``); the client turns it into
a :class:`~dialer.errors.TransientError` (GET) or an ``unknown`` outcome (POST). XML with a
DOCTYPE or entity declaration is refused, never expanded.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dialer.exotel import wire
from dialer.models import CallUpdate

MAX_BODY_CHARS = 1_000_000
_UNSAFE_XML = re.compile(r"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST)", re.IGNORECASE)


class MalformedResponseError(ValueError):
    """The body is not the JSON or XML Exotel sends, or lacks the expected block."""


@dataclass(frozen=True)
class ErrorInfo:
    """What an error body said: v1 ``RestException`` or the v3 envelope."""

    status: int | None  # v1 RestException Status / v3 http_code
    code: int | str | None  # v1: RestException Status; v3: error_data.code or response.code
    message: str | None


# --- bodies --------------------------------------------------------------------------


def parse_body(text: str) -> dict[str, Any]:
    """A JSON or XML body (sniffed from its first character) as a dict.

    XML ``<TwilioResponse><Call>…</Call></TwilioResponse>`` becomes ``{"Call": {…}}``,
    the same shape as the JSON; repeated elements become lists, empty ones ``None``.
    """
    if len(text) > MAX_BODY_CHARS:
        raise MalformedResponseError(f"body of {len(text)} characters is too long")
    head = text.lstrip()[:1]
    if head in ("{", "["):
        return _load_json(text)
    if head == "<":
        return _load_xml(text)
    raise MalformedResponseError(f"body is neither JSON nor XML: {text[:60]!r}")


def _load_json(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text, parse_float=Decimal)
    except (ValueError, RecursionError) as exc:
        raise MalformedResponseError(f"invalid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise MalformedResponseError(f"expected a JSON object, got {type(data).__name__}")
    return data


def _load_xml(text: str) -> dict[str, Any]:
    if _UNSAFE_XML.search(text):
        raise MalformedResponseError("XML with a DOCTYPE or entity declaration is refused")
    try:
        root = ET.fromstring(text.strip())
        value = _element(root)
    except (ET.ParseError, RecursionError) as exc:
        raise MalformedResponseError(f"invalid XML: {exc}") from exc
    if root.tag == "TwilioResponse":
        return value if isinstance(value, dict) else {}
    return {root.tag: value}


def _element(el: ET.Element) -> Any:
    children = list(el)
    if not children:
        return el.text.strip() if el.text and el.text.strip() else None
    out: dict[str, Any] = {}
    for child in children:
        value = _element(child)
        if child.tag not in out:
            out[child.tag] = value
        elif isinstance(out[child.tag], list):
            out[child.tag].append(value)
        else:
            out[child.tag] = [out[child.tag], value]
    return out


# --- values: the rules of dialer.exotel.wire, under their old names -------------------


def clean(value: Any) -> str | None:
    """A field as a stripped string (:func:`dialer.exotel.wire.scalar_text`, capped)."""
    return wire.text(value, wire.MAX_MESSAGE_CHARS)


def clean_int(value: Any) -> int | None:
    """Whole non-negative seconds (:func:`dialer.exotel.wire.seconds`), else ``None``."""
    return wire.seconds(value)


def clean_time(value: Any) -> str | None:
    """A timestamp; the placeholders ``1970-01-01 …`` / ``0000-00-00 …`` become ``None``."""
    return wire.timestamp(value)


def _lower(value: Any) -> str | None:
    return wire.status(value)


def _block(data: Any, key: str) -> dict[str, Any]:
    block = data.get(key) if isinstance(data, Mapping) else None
    if isinstance(block, list):  # v3 may answer a list of response blocks
        block = block[0] if block else None
    return block if isinstance(block, dict) else {}


# --- errors --------------------------------------------------------------------------


def error_info(body: Mapping[str, Any]) -> ErrorInfo | None:
    """The error a body reports (v1 ``RestException`` or a failed v3 envelope), if any."""
    rest = body.get("RestException")
    if isinstance(rest, Mapping):
        status = clean_int(rest.get("Status"))
        return ErrorInfo(status=status, code=status, message=clean(rest.get("Message")))
    if "response" not in body and "http_code" not in body:
        return None
    response = _block(body, "response")
    http_code = clean_int(body.get("http_code"))
    failed = response.get("status") == "failure" or bool(response.get("error_data"))
    if not failed and (http_code is None or http_code < 400):
        return None
    error_data = response.get("error_data")
    error_data = error_data if isinstance(error_data, Mapping) else {}
    code = clean_int(error_data.get("code")) or clean_int(response.get("code"))
    message = clean(error_data.get("message"))
    description = clean(error_data.get("description"))
    if description and description != message:
        message = f"{message}: {description}" if message else description
    return ErrorInfo(status=http_code, code=code, message=message)


# --- call sids and details -----------------------------------------------------------


def v1_call_sid(body: Mapping[str, Any]) -> str | None:
    """The ``Call.Sid`` of a v1 answer, or ``None``."""
    return wire.text(_block(body, "Call").get("Sid"), wire.FIELD_CAPS["call_sid"])


def v3_call_sid(body: Mapping[str, Any]) -> str | None:
    """The ``response.call_details.sid`` of a v3 answer, or ``None``."""
    sid = _block(_block(body, "response"), "call_details").get("sid")
    return wire.text(sid, wire.FIELD_CAPS["call_sid"])


def call_update_v1(body: Mapping[str, Any]) -> CallUpdate:
    """A v1 call-details answer (``{"Call": {…, "Details": {…}}}``) as a poll update."""
    call = _block(body, "Call")
    if not call:
        raise MalformedResponseError("v1 answer without a Call block")
    return wire.v1_update(call, source="poll")


def call_update_v3(body: Mapping[str, Any]) -> CallUpdate:
    """A v3 call-details envelope (``response.call_details``) as a poll update."""
    details = _block(_block(body, "response"), "call_details")
    if not details:
        raise MalformedResponseError("v3 answer without response.call_details")
    return wire.v3_update(details, source="poll")


def leg_statuses_v3(body: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(leg1, leg2) statuses of a v3 legs answer: the last entry of ``from`` and ``to``."""
    legs = _block(_block(body, "response"), "leg_details")
    if not legs:
        raise MalformedResponseError("v3 answer without response.leg_details")
    return _last_status(legs.get("from")), _last_status(legs.get("to"))


def _last_status(entries: Any) -> str | None:
    if isinstance(entries, Mapping):
        entries = [entries]
    if not isinstance(entries, list) or not entries or not isinstance(entries[-1], Mapping):
        return None
    return _lower(entries[-1].get("status"))


def with_legs(update: CallUpdate, leg1: str | None, leg2: str | None) -> CallUpdate:
    """``update`` with the leg statuses that are known; unknown ones stay as they were."""
    known = {k: v for k, v in (("leg1_status", leg1), ("leg2_status", leg2)) if v is not None}
    return update.model_copy(update=known)
