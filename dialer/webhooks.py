"""Exotel StatusCallback requests: decode what the web layer received into a CallUpdate.

Pure (no Redis, no Celery, no web framework, no network). :func:`parse_callback` takes
the method, the Content-Type header, the raw body and the decoded query parameters and
returns the normalised :class:`~dialer.models.CallUpdate` (``source="callback"``). This
module only decodes the request; the fields are read by :mod:`dialer.exotel.wire`, the
same mapping the call-details poll answers go through, so a callback and a poll with the
same values give the same update. It understands

* v1 ``StatusCallback`` (connect two numbers / connect to a flow): ``CallSid``, ``Status``,
  ``RecordingUrl``, ``DateUpdated``, ``CustomField``, ``EventType``, ``StartTime``,
  ``EndTime``, ``ConversationDuration``, ``Duration``, ``Price``, ``Digits`` and the leg
  statuses (``Legs[0][Status]`` form keys, a JSON ``"Legs": [{"Status": ...}, ...]`` array,
  or flat ``Leg1Status`` / ``Leg2Status``), sent as multipart/form-data,
  application/x-www-form-urlencoded, application/json, or as the query string of a GET;
* v3 ``status_callback``: ``{"event_details": {...}, "call_details": {...}}`` as a JSON
  body, as form fields, or as GET query parameters carrying JSON strings.

The value rules (null words, caps, NUL / lone surrogates, URL, price and integer checks)
are those of :mod:`dialer.exotel.wire`.

The per-attempt callback token lives in :mod:`dialer.callback_token`; its names are
re-exported here for compatibility.

Errors: a body larger than :data:`MAX_CALLBACK_BODY_BYTES`, a body that cannot be decoded,
or malformed JSON / multipart raises :class:`~dialer.errors.ValidationError` whose
``field`` names the culprit. Nothing else raises.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable, Mapping
from email import policy as email_policy
from email.message import Message
from email.parser import BytesParser
from email.utils import collapse_rfc2231_value
from typing import Any
from urllib.parse import parse_qsl

from dialer.callback_token import (
    ATTEMPT_ID_RE,
    TOKEN_LENGTH,
    callback_path,
    callback_url,
    sign_attempt,
    verify_attempt,
)
from dialer.errors import ValidationError
from dialer.exotel import wire
from dialer.exotel.wire import CALLBACK_EVENTS, FIELD_CAPS, KNOWN_STATUSES, MAX_INT_VALUE
from dialer.models import EXOTEL_TERMINAL_STATUSES, CallUpdate

__all__ = [
    "ATTEMPT_ID_RE",
    "CALLBACK_EVENTS",
    "FIELD_CAPS",
    "KNOWN_STATUSES",
    "MAX_CALLBACK_BODY_BYTES",
    "MAX_INT_VALUE",
    "TOKEN_LENGTH",
    "ValidationError",
    "callback_path",
    "callback_url",
    "is_terminal",
    "parse_callback",
    "parse_v1",
    "parse_v3",
    "sign_attempt",
    "verify_attempt",
]

MAX_CALLBACK_BODY_BYTES = 64 * 1024
"""A callback body (or, for a GET, the query parameters) larger than this is refused."""

_BOUNDARY_RE = re.compile(r"[\x21-\x7e][\x20-\x7e]{0,199}")
_V3_KEYS = ("call_details", "event_details")


def parse_v1(fields: Mapping[str, Any]) -> CallUpdate:
    """A v1 StatusCallback's fields (form fields or a decoded JSON object) as a CallUpdate.

    Keys are matched case-insensitively. Never raises.
    """
    return wire.v1_update(fields, source="callback")


def parse_v3(payload: Mapping[str, Any], *, source: str = "callback") -> CallUpdate:
    """A v3 status_callback (``{"event_details": ..., "call_details": ...}``) as a CallUpdate.

    The two blocks may be objects or JSON strings; anything of the wrong type is ignored.
    The call details API's envelope (``{"response": {"call_details": ...}}``) is accepted
    too. Never raises.
    """
    p = wire.lower_keys(payload)
    if "call_details" not in p and isinstance(p.get("response"), Mapping):
        p = wire.lower_keys(p["response"])  # the call details API envelope
    return wire.v3_update(p.get("call_details"), p.get("event_details"), source=source)


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


def _refuse_invalid_unicode(obj: Any, where: str) -> None:
    """JSON may escape a lone surrogate (``"\\ud800"``): no text Exotel sends holds one, and
    it cannot be stored or sent on, so such a request is refused, naming the field."""
    stack: list[tuple[str, Any]] = [(where, obj)]
    while stack:
        name, value = stack.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValidationError(f"{name[:60]} holds invalid Unicode (a lone surrogate)",
                                      field=name[:60]) from None
        elif isinstance(value, dict):
            for key, item in value.items():
                stack.append((str(key), key))
                stack.append((str(key), item))
        elif isinstance(value, list):
            stack.extend((name, item) for item in value)


def _load_json(raw: bytes, charset: str | None) -> dict[str, Any]:
    text = _decode_text(raw, charset, "JSON body")
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ValidationError(f"malformed JSON body: {str(exc)[:120]}", field="body") from exc
    if not isinstance(obj, dict):
        raise ValidationError("JSON body must be an object", field="body")
    _refuse_invalid_unicode(obj, "body")
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
    if not isinstance(value, str) or wire.scalar_text(value) is None:
        return value
    try:
        block = json.loads(value)
    except (ValueError, RecursionError) as exc:
        raise ValidationError(f"{name} is not valid JSON", field=name) from exc
    _refuse_invalid_unicode(block, name)
    return block


def _from_document(doc: Mapping[str, Any], *, form: bool) -> CallUpdate:
    """v3 when a call_details / event_details block is present, else v1.

    Blocks that arrived as form fields or query parameters must be valid JSON; in a JSON
    body a block of the wrong type is merely ignored. A call details API response
    (``{"response": {"call_details": ...}}``) posted as is also reads as v3.
    """
    lower = wire.lower_keys(doc)
    is_v3 = any(key in lower for key in _V3_KEYS)
    if is_v3 and form:
        return parse_v3({key: _strict_json_block(lower.get(key), key) for key in _V3_KEYS})
    if is_v3 or "call_details" in wire.lower_keys(lower.get("response")):
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
