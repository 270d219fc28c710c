"""Exotel StatusCallback parsing and the per-attempt token in the callback URL.

Two concerns, both pure (no Redis, no Celery, no web framework, no network):

**Tokens.** Every attempt gets its own StatusCallback URL,
``{base}/v1/callbacks/exotel/{attempt_id}?token={token}``, where the token is
HMAC-SHA256 over the attempt id keyed with the callback secret, base64url without
padding (43 characters). :func:`verify_attempt` compares in constant time and never raises.

**Parsing.** :func:`parse_callback` takes what the web layer received (method, the
Content-Type header, the raw body, the decoded query parameters) and returns the
normalised :class:`~dialer.models.CallUpdate` (``source="callback"``). It understands

* v1 ``StatusCallback`` (connect two numbers / connect to a flow): ``CallSid``, ``Status``,
  ``RecordingUrl``, ``DateUpdated``, ``CustomField``, ``EventType``, ``StartTime``,
  ``EndTime``, ``ConversationDuration``, ``Duration``, ``Price``, ``Digits`` and the leg
  statuses (``Legs[0][Status]`` form keys, a JSON ``"Legs": [{"Status": ...}, ...]`` array,
  or flat ``Leg1Status`` / ``Leg2Status``), sent as multipart/form-data,
  application/x-www-form-urlencoded, application/json, or as the query string of a GET;
* v3 ``status_callback``: ``{"event_details": {...}, "call_details": {...}}`` as a JSON
  body, as form fields, or as GET query parameters carrying JSON strings.

Normalisation: a missing, empty, whitespace-only or ``null``/``none`` value is ``None``
(and so never overwrites what is already known); statuses are stripped and lower-cased
(an unknown status is kept as is, and is not terminal); integers are parsed leniently
and out-of-range values dropped; over-long strings and values of the wrong JSON type
become ``None`` rather than truncated garbage.

Errors: a body larger than :data:`MAX_CALLBACK_BODY_BYTES`, a body that cannot be decoded,
or malformed JSON / multipart raises :class:`~dialer.errors.ValidationError` whose
``field`` names the culprit. Nothing else raises.
"""

from __future__ import annotations

import base64
import codecs
import hashlib
import hmac
import json
import math
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from email import policy as email_policy
from email.message import Message
from email.parser import BytesParser
from email.utils import collapse_rfc2231_value
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from dialer.errors import ValidationError
from dialer.models import EXOTEL_TERMINAL_STATUSES, CallUpdate

__all__ = [
    "CALLBACK_EVENTS",
    "FIELD_CAPS",
    "KNOWN_STATUSES",
    "MAX_CALLBACK_BODY_BYTES",
    "MAX_INT_VALUE",
    "TOKEN_LENGTH",
    "callback_path",
    "callback_url",
    "is_terminal",
    "parse_callback",
    "parse_v1",
    "parse_v3",
    "sign_attempt",
    "verify_attempt",
]

# ---------------------------------------------------------------------------------------
# Limits and vocabularies
# ---------------------------------------------------------------------------------------

MAX_CALLBACK_BODY_BYTES = 64 * 1024
"""A callback body (or, for a GET, the query parameters) larger than this is refused."""

MAX_INT_VALUE = 10**7
"""Durations above this (about 115 days) are nonsense and become ``None``."""

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
"""Longest accepted value (characters) of each string field of a parsed ``CallUpdate``."""

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

ATTEMPT_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
TOKEN_LENGTH = 43  # base64url of 32 bytes, without the "=" padding
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")

_NULL_WORDS = frozenset({"", "null", "none"})
_UNSET_TIME_PREFIXES = ("1970-01-01", "0000-00-00")  # "not set" timestamps
_INT_RE = re.compile(r"\+?(\d{1,9})(?:\.\d{0,9})?")
_PRICE_RE = re.compile(r"-?\d{1,12}(?:\.\d{1,8})?")
_URL_RE = re.compile(r"https?://[^\s\x00-\x1f\x7f]+", re.IGNORECASE)
_BOUNDARY_RE = re.compile(r"[\x21-\x7e][\x20-\x7e]{0,199}")
_V3_KEYS = ("call_details", "event_details")

# ---------------------------------------------------------------------------------------
# Per-attempt tokens
# ---------------------------------------------------------------------------------------


def _check_attempt_id(attempt_id: str) -> None:
    if not isinstance(attempt_id, str) or not ATTEMPT_ID_RE.fullmatch(attempt_id):
        raise ValueError("attempt id must match [A-Za-z0-9_-]{1,64}")


def sign_attempt(secret: str, attempt_id: str) -> str:
    """The callback token of ``attempt_id``: base64url(HMAC-SHA256(secret, attempt_id)).

    Raises ``ValueError`` for an empty (or whitespace-only) secret or an invalid attempt id.
    """
    if not isinstance(secret, str) or not secret.strip():
        raise ValueError("the callback secret must not be empty")
    _check_attempt_id(attempt_id)
    mac = hmac.new(secret.encode("utf-8"), attempt_id.encode("ascii"), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")


def verify_attempt(secret: str, attempt_id: str, token: str | None) -> bool:
    """True when ``token`` is the callback token of ``attempt_id``. Never raises.

    False for a missing, empty, malformed or wrong-length token, an invalid attempt id,
    and always for an empty secret.
    """
    if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):
        return False
    try:
        expected = sign_attempt(secret, attempt_id)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(expected.encode("ascii"), token.encode("ascii"))


def callback_path(attempt_id: str) -> str:
    """The path part of an attempt's callback URL (``ValueError`` for a bad attempt id)."""
    _check_attempt_id(attempt_id)
    return f"/v1/callbacks/exotel/{attempt_id}"


def callback_url(public_base_url: str, secret: str, attempt_id: str) -> str:
    """``{base}/v1/callbacks/exotel/{attempt_id}?token={token}`` for Exotel's StatusCallback.

    ``public_base_url`` is an absolute http(s) URL without query or fragment; a trailing
    slash is ignored. Raises ``ValueError`` for a bad base URL, secret or attempt id.
    """
    path = callback_path(attempt_id)
    base = public_base_url.strip().rstrip("/") if isinstance(public_base_url, str) else ""
    parts = urlsplit(base)
    if (
        parts.scheme.lower() not in ("http", "https")
        or not parts.netloc
        or parts.query
        or parts.fragment
        or "?" in base
        or "#" in base
        or any(c.isspace() for c in base)
    ):
        raise ValueError("public base URL must be an absolute http(s) URL without query")
    return f"{base}{path}?token={sign_attempt(secret, attempt_id)}"


# ---------------------------------------------------------------------------------------
# Value normalisation: every helper returns None rather than raise
# ---------------------------------------------------------------------------------------


def _scalar_text(value: Any) -> str | None:
    """A stripped string for a string or number, None for null-like values and other types."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
    elif isinstance(value, int):
        if abs(value) >= 10**30:
            return None
        text = str(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            return None
        text = repr(value)
    else:
        return None
    return None if text.lower() in _NULL_WORDS else text


def _text(value: Any, cap: int) -> str | None:
    text = _scalar_text(value)
    if text is None or len(text) > cap:
        return None
    return text


def _status(value: Any) -> str | None:
    """A status: strings only, stripped and lower-cased; unknown values are kept."""
    if not isinstance(value, str):
        return None
    return _text(value.lower(), FIELD_CAPS["status"])


def _event(value: Any) -> str | None:
    event = _status(value)
    return event if event in CALLBACK_EVENTS else None


def _time(value: Any) -> str | None:
    """A timestamp as sent; the epoch / zero dates Exotel uses for "not set" are None."""
    if not isinstance(value, str):
        return None
    text = _text(value, FIELD_CAPS["end_time"])
    if text is None or text.startswith(_UNSET_TIME_PREFIXES):
        return None
    return text


def _int(value: Any) -> int | None:
    """A non-negative count of seconds: 12, 12.0, "12", "12.0" -> 12; junk -> None."""
    if isinstance(value, bool):
        return None
    number: int | None = None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        number = int(value) if math.isfinite(value) and value >= 0 else None
    elif isinstance(value, str):
        match = _INT_RE.fullmatch(value.strip())
        number = int(match.group(1)) if match else None
    if number is None or not 0 <= number <= MAX_INT_VALUE:
        return None
    return number


def _price(value: Any) -> str | None:
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
    text = _text(value, FIELD_CAPS["price"])
    if text is None or not _PRICE_RE.fullmatch(text):
        return None
    return text


def _url(value: Any) -> str | None:
    """An absolute http(s) URL without whitespace or control characters, or None."""
    if not isinstance(value, str):
        return None
    text = _text(value, FIELD_CAPS["recording_url"])
    if text is None or not _URL_RE.fullmatch(text):
        return None
    return text


def _lower_keys(data: Any) -> dict[str, Any]:
    """A mapping's string keys lower-cased (first occurrence wins); {} for a non-mapping."""
    if not isinstance(data, Mapping):
        return {}
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(key, str):
            out.setdefault(key.lower(), value)
    return out


def _lenient_json(value: Any) -> Any:
    """A string that holds JSON is decoded; anything else (or bad JSON) is returned as is."""
    if isinstance(value, str) and value.strip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return None
    return value


# ---------------------------------------------------------------------------------------
# v1 and v3 field mapping
# ---------------------------------------------------------------------------------------


def _leg_entries(value: Any) -> list[Any]:
    """Legs[0] and Legs[1] of a JSON array (or a {"0": ..., "1": ...} object)."""
    value = _lenient_json(value)
    if isinstance(value, list):
        return value[:2]
    if isinstance(value, Mapping):
        return [value.get("0", value.get(0)), value.get("1", value.get(1))]
    return []


def _leg_statuses(fields: Mapping[str, Any]) -> tuple[str | None, str | None]:
    entries = _leg_entries(fields.get("legs"))
    result: list[str | None] = []
    for index in (0, 1):
        entry = _lower_keys(entries[index]) if index < len(entries) else {}
        candidates = (
            entry.get("status"),
            fields.get(f"legs[{index}][status]"),
            fields.get(f"leg{index + 1}status"),
        )
        result.append(next((s for s in map(_status, candidates) if s is not None), None))
    return result[0], result[1]


def parse_v1(fields: Mapping[str, Any]) -> CallUpdate:
    """A v1 StatusCallback's fields (form fields or a decoded JSON object) as a CallUpdate.

    Keys are matched case-insensitively. Never raises.
    """
    f = _lower_keys(fields)
    leg1, leg2 = _leg_statuses(f)
    return CallUpdate(
        source="callback",
        call_sid=_text(f.get("callsid"), FIELD_CAPS["call_sid"]),
        event=_event(f.get("eventtype")),
        status=_status(f.get("status")),
        leg1_status=leg1,
        leg2_status=leg2,
        start_time=_time(f.get("starttime")),
        end_time=_time(f.get("endtime")),
        date_updated=_time(f.get("dateupdated")),
        duration_s=_int(f.get("duration")),
        talk_time_s=_int(f.get("conversationduration")),
        price=_price(f.get("price")),
        recording_url=_url(f.get("recordingurl")),
        digits=_text(f.get("digits"), FIELD_CAPS["digits"]),
        custom_field=_text(f.get("customfield"), FIELD_CAPS["custom_field"]),
    )


def _first_recording_url(value: Any) -> str | None:
    value = _lenient_json(value)
    if isinstance(value, str):
        return _url(value)
    if not isinstance(value, list):
        return None
    for item in value[:16]:
        url = _url(_lower_keys(item).get("url"))
        if url is not None:
            return url
    return None


def parse_v3(payload: Mapping[str, Any], *, source: str = "callback") -> CallUpdate:
    """A v3 status_callback (``{"event_details": ..., "call_details": ...}``) as a CallUpdate.

    The two blocks may be objects or JSON strings; anything of the wrong type is ignored.
    The call details API's envelope (``{"response": {"call_details": ...}}``) is accepted
    too, so a poller can reuse this with ``source="poll"``. Never raises.
    """
    p = _lower_keys(payload)
    if "call_details" not in p and isinstance(p.get("response"), Mapping):
        p = _lower_keys(p["response"])  # the call details API envelope
    call = _lower_keys(_lenient_json(p.get("call_details")))
    event = _lower_keys(_lenient_json(p.get("event_details")))
    return CallUpdate(
        source=source,
        call_sid=_text(call.get("sid"), FIELD_CAPS["call_sid"]),
        event=_event(event.get("event_type")),
        status=_status(call.get("status")),
        start_time=_time(call.get("start_time")),
        end_time=_time(call.get("end_time")),
        date_updated=_time(call.get("updated_time")),
        duration_s=_int(call.get("total_duration")),
        talk_time_s=_int(call.get("total_talk_time")),
        recording_url=_first_recording_url(call.get("recordings")),
        digits=_text(call.get("digits"), FIELD_CAPS["digits"]),
        custom_field=_text(call.get("custom_field"), FIELD_CAPS["custom_field"]),
    )


# ---------------------------------------------------------------------------------------
# Request decoding
# ---------------------------------------------------------------------------------------


def _parse_content_type(value: str | None) -> tuple[str, dict[str, str]]:
    """(media type in lower case, parameters with lower-case names) of a Content-Type."""
    if not isinstance(value, str):
        return "", {}
    media, _, rest = value.partition(";")
    params: dict[str, str] = {}
    for piece in rest.split(";"):
        name, sep, raw = piece.partition("=")
        if not sep:
            continue
        raw = raw.strip()
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            raw = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        params.setdefault(name.strip().lower(), raw)
    return media.strip().lower(), params


def _codec(charset: str | None) -> str:
    """The codec name for a charset parameter (utf-8 when absent)."""
    if not charset:
        return "utf-8"
    try:
        name = codecs.lookup(charset.strip()).name
        b"x".decode(name, "ignore")  # rejects bytes-to-bytes "codecs" such as base64
    except (LookupError, ValueError, TypeError) as exc:
        raise ValidationError(
            f"unsupported charset {charset[:40]!r}", field="content_type"
        ) from exc
    return name


def _decode_text(raw: bytes, charset: str | None, what: str) -> str:
    codec = _codec(charset)
    try:
        text = raw.decode(codec)
    except (UnicodeError, ValueError, LookupError) as exc:
        raise ValidationError(f"{what} is not valid {codec}", field="body") from exc
    return text.removeprefix("\ufeff")


def _load_json(raw: bytes, charset: str | None) -> dict[str, Any]:
    text = _decode_text(raw, charset, "JSON body")
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ValidationError(f"malformed JSON body: {str(exc)[:120]}", field="body") from exc
    if not isinstance(obj, dict):
        raise ValidationError("JSON body must be an object", field="body")
    return obj


def _parse_urlencoded(raw: bytes, charset: str | None) -> list[tuple[str, str]]:
    codec = _codec(charset)
    text = _decode_text(raw, codec, "form body")
    try:
        return parse_qsl(text.strip(), keep_blank_values=True, encoding=codec, errors="strict")
    except (UnicodeError, ValueError) as exc:
        raise ValidationError(f"form body is not valid {codec}", field="body") from exc


def _sniff_boundary(raw: bytes) -> str | None:
    first = raw.lstrip(b"\r\n").split(b"\n", 1)[0].rstrip(b"\r \t")
    if not first.startswith(b"--") or len(first) < 3:
        return None
    return first[2:].decode("latin-1")


def _multipart_field(part: Message, default_charset: str | None) -> tuple[str, str] | None:
    """(name, text value) of one form-data part; None for files and nameless parts."""
    if part.is_multipart() or part.get_filename() is not None:
        return None
    name = part.get_param("name", header="content-disposition")
    if isinstance(name, tuple):
        name = collapse_rfc2231_value(name)
    payload = part.get_payload(decode=True)
    if not isinstance(name, str) or not isinstance(payload, bytes):
        return None
    charset = part.get_content_charset() or default_charset
    return name, _decode_text(payload, charset, f"multipart field {name[:40]!r}")


def _parse_multipart(raw: bytes, params: Mapping[str, str]) -> list[tuple[str, str]]:
    boundary = params.get("boundary") or _sniff_boundary(raw)
    if not boundary or not _BOUNDARY_RE.fullmatch(boundary) or '"' in boundary or "\\" in boundary:
        raise ValidationError("multipart body without a usable boundary", field="content_type")
    header = (
        f'Content-Type: multipart/form-data; boundary="{boundary}"\r\nMIME-Version: 1.0\r\n\r\n'
    ).encode("ascii")
    message = BytesParser(policy=email_policy.compat32).parsebytes(header + raw)
    parts = message.get_payload()
    if not message.is_multipart() or not isinstance(parts, list):
        raise ValidationError("malformed multipart body (boundary not found)", field="body")
    pairs: list[tuple[str, str]] = []
    for part in parts:
        if isinstance(part, Message):
            field = _multipart_field(part, params.get("charset"))
            if field is not None:
                pairs.append(field)
    return pairs


def _body_kind(media: str, raw: bytes) -> str:
    """The body format (json, multipart or form): from the media type, else sniffed."""
    if media in ("application/json", "text/json") or media.endswith("+json"):
        return "json"
    if media == "multipart/form-data":
        return "multipart"
    if media == "application/x-www-form-urlencoded":
        return "form"
    start = raw.lstrip()
    if start.startswith((b"{", b"\xef\xbb\xbf{")):
        return "json"
    if start.startswith(b"--"):
        return "multipart"
    return "form"


def _decode_body(raw: bytes, content_type: str | None) -> tuple[dict[str, Any], bool]:
    """The body as a document, and whether it came from form fields (rather than JSON)."""
    media, params = _parse_content_type(content_type)
    kind = _body_kind(media, raw)
    if kind == "json":
        return _load_json(raw, params.get("charset")), False
    if kind == "multipart":
        return _pairs_to_doc(_parse_multipart(raw, params)), True
    return _pairs_to_doc(_parse_urlencoded(raw, params.get("charset"))), True


def _pairs_to_doc(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for key, value in pairs:
        doc.setdefault(key, value)  # a repeated field: the first one wins
    return doc


def _query_pairs(query: Any) -> list[tuple[str, str]]:
    """The query parameters as (name, value) pairs, refusing an oversized query."""
    if query is None:
        return []
    if isinstance(query, bytes | bytearray):
        query = bytes(query).decode("latin-1")
    if isinstance(query, str):
        items: Iterable[Any] = parse_qsl(query.lstrip("?"), keep_blank_values=True)
    elif isinstance(query, Mapping):
        multi = getattr(query, "multi_items", None)  # starlette's QueryParams
        items = multi() if callable(multi) else query.items()
    else:
        items = query
    pairs: list[tuple[str, str]] = []
    total = 0
    for item in items:
        if not isinstance(item, tuple | list) or len(item) != 2:
            continue
        key, value = item
        if isinstance(key, str) and isinstance(value, str):
            total += len(key) + len(value) + 2
            if total > MAX_CALLBACK_BODY_BYTES:
                raise ValidationError("query string is too long", field="query")
            pairs.append((key, value))
    return pairs


def _strict_json_block(value: Any, name: str) -> Any:
    """A v3 block sent as a form field / query parameter must be valid JSON (or null-like)."""
    if not isinstance(value, str) or _scalar_text(value) is None:
        return value
    try:
        return json.loads(value)
    except (ValueError, RecursionError) as exc:
        raise ValidationError(f"{name} is not valid JSON", field=name) from exc


def _from_document(doc: Mapping[str, Any], *, form: bool) -> CallUpdate:
    """v3 when a call_details / event_details block is present, else v1.

    Blocks that arrived as form fields or query parameters must be valid JSON; in a JSON
    body a block of the wrong type is merely ignored. A call details API response
    (``{"response": {"call_details": ...}}``) posted as is also reads as v3.
    """
    lower = _lower_keys(doc)
    is_v3 = any(key in lower for key in _V3_KEYS)
    if is_v3 and form:
        return parse_v3({key: _strict_json_block(lower.get(key), key) for key in _V3_KEYS})
    if is_v3 or "call_details" in _lower_keys(lower.get("response")):
        return parse_v3(lower)
    return parse_v1(doc)


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes | bytearray | memoryview):
        raw = bytes(body)
    elif isinstance(body, str):
        raw = body.encode("utf-8", "surrogatepass")
    else:
        raise ValidationError("callback body must be bytes", field="body")
    if len(raw) > MAX_CALLBACK_BODY_BYTES:
        raise ValidationError(
            f"callback body is larger than {MAX_CALLBACK_BODY_BYTES} bytes", field="body"
        )
    return raw


def parse_callback(
    method: str,
    content_type: str | None,
    body: bytes,
    query: Mapping[str, str] | list[tuple[str, str]],
) -> CallUpdate:
    """One StatusCallback request (v1 or v3, any method and content type) as a CallUpdate.

    A GET (or a request without a body) is read from ``query``; otherwise the body is
    decoded according to ``content_type`` (sniffed when absent or unknown). A v3 payload
    is recognised by its ``call_details`` / ``event_details`` blocks; anything else is v1.

    Raises :class:`~dialer.errors.ValidationError` for an oversized, undecodable or
    malformed request; never anything else.
    """
    raw = _body_bytes(body)
    pairs = _query_pairs(query)
    verb = method.strip().upper() if isinstance(method, str) else "POST"
    if verb in ("GET", "HEAD") or not raw.strip():
        return _from_document(_pairs_to_doc(pairs), form=True)
    doc, form = _decode_body(raw, content_type)
    return _from_document(doc, form=form)


def is_terminal(update: CallUpdate) -> bool:
    """True when the update reports a final call status (an "answered" event never does)."""
    return update.status in EXOTEL_TERMINAL_STATUSES and update.event != "answered"
