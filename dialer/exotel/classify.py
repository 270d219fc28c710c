"""Pure decisions about a failed exchange: which error class, was it sent, how long to wait.

* :func:`error_class` maps an HTTP status, Exotel's code and (for a 403) the message to
  the :mod:`dialer.errors` class that says what the caller must do;
* :func:`is_dnd_refusal` recognises Exotel's 403 for a number on the DND register
  ("Call to 09XXXXXXXXX can not be made because of TRAI NDNC regulations");
* :func:`never_sent` tells a failure to connect (the request never left) from a failure
  after sending (Exotel may have acted on it);
* :func:`parse_retry_after` reads a ``Retry-After`` header (seconds or an HTTP date);
  :func:`parse_remaining` / :func:`parse_reset` read ``X-RateLimit-Remaining`` / ``-Reset``.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests
from urllib3.exceptions import NewConnectionError

from dialer.errors import (
    AuthenticationError,
    DeviceBusyError,
    DndError,
    ExotelError,
    ExotelNotFoundError,
    InvalidRequestError,
    RateLimitedError,
    TransientError,
)

AUTH_CODES = frozenset({1010})  # v3: authentication failed
DEVICE_BUSY_CODES = frozenset({1012, 10705, 10706})  # v3: user device unavailable / busy
INVALID_REQUEST_CODES = frozenset({1001, 1002})  # v3: a mandatory or invalid parameter
RATE_LIMIT_CODES = frozenset({10724})  # v3: too many requests

# Exotel's v1 403 for a DND number reads "Call to <number> can not be made because of TRAI
# NDNC regulations" (also "cannot"); any 403 naming DND, NDNC, NCPR or TRAI is that refusal.
_DND_WORDS = re.compile(r"\b(?:DND|NDNC|NCPR|TRAI)\b|do[ -]not[ -]disturb", re.IGNORECASE)
_MAX_HEADER_CHARS = 64

# requests raises these before anything is written to the socket. Not InvalidHeader: a bad
# header of ours is refused when the request is prepared (never by a send), and one raised
# by a send is the answer's (conflicting Content-Length values): the POST was sent.
_PRE_SEND = (
    requests.exceptions.ConnectTimeout,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidURL,
)


def _int_code(code: int | str | None) -> int | None:
    try:
        return int(code) if code is not None else None
    except ValueError:
        return None


def is_dnd_refusal(status: int | None, message: str | None) -> bool:
    """True for a 403 whose message names the DND / NDNC register (or TRAI's rules)."""
    return status == 403 and isinstance(message, str) and bool(_DND_WORDS.search(message))


def error_class(
    status: int | None, code: int | str | None, message: str | None = None
) -> type[ExotelError]:
    """The error class for an HTTP ``status`` (or v1 RestException Status), v3 ``code``,
    and the ``message`` (which tells a DND refusal from a plain 403)."""
    c = _int_code(code)
    if is_dnd_refusal(status, message):
        return DndError
    if status in (401, 403) or c in AUTH_CODES:
        return AuthenticationError
    if c in DEVICE_BUSY_CODES:
        return DeviceBusyError
    if status == 429 or c in RATE_LIMIT_CODES:
        return RateLimitedError
    if c in INVALID_REQUEST_CODES:
        return InvalidRequestError
    if status is None or status >= 500:
        return TransientError
    if status == 404:
        return ExotelNotFoundError
    if 300 <= status < 500:  # a redirect means a wrong base URL: fix the configuration
        return InvalidRequestError
    return TransientError


def never_sent(exc: BaseException) -> bool:
    """True when ``exc`` proves the request never reached the server.

    That is a connect timeout, an invalid URL, or a connection error caused by a failure to
    establish the connection (refused, DNS, unreachable). Resets, read timeouts and closed
    connections after sending return False: the server may have acted.
    """
    if isinstance(exc, _PRE_SEND):
        return True
    if not isinstance(exc, requests.exceptions.ConnectionError):
        return False
    if isinstance(exc, requests.exceptions.SSLError | requests.exceptions.ProxyError):
        return False  # cannot tell a handshake failure from one after sending
    return _caused_by_new_connection(exc)


def _caused_by_new_connection(exc: BaseException) -> bool:
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        cur = todo.pop()
        if not isinstance(cur, BaseException) or id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, NewConnectionError):  # includes NameResolutionError
            return True
        todo.extend(cur.args)
        todo.extend((getattr(cur, "reason", None), cur.__cause__))
        if not cur.__suppress_context__:  # raised "from None": the context is not its cause
            todo.append(cur.__context__)
    return False


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _header_number(value: str | None) -> float | None:
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_HEADER_CHARS:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def parse_remaining(value: str | None) -> int | None:
    """``X-RateLimit-Remaining``: a non-negative whole number, else None."""
    number = _header_number(value)
    return int(number) if number is not None and number < 10**12 else None


def parse_reset(value: str | None) -> float | None:
    """``X-RateLimit-Reset`` as sent (seconds or a Unix time): a non-negative number, else None."""
    return _header_number(value)
