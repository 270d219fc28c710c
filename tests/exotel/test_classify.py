"""dialer.exotel.classify: error classes, "was it sent?", Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests
from urllib3.exceptions import (
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

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
from dialer.exotel.classify import (
    error_class,
    is_dnd_refusal,
    never_sent,
    parse_remaining,
    parse_reset,
    parse_retry_after,
)


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (401, 401, AuthenticationError),
        (403, None, AuthenticationError),
        (401, 1010, AuthenticationError),
        (200, 1010, AuthenticationError),
        (400, 400, InvalidRequestError),
        (400, 1001, InvalidRequestError),
        (400, 1002, InvalidRequestError),
        (405, 10712, InvalidRequestError),  # VOIP calls are not allowed
        (422, None, InvalidRequestError),
        (302, None, InvalidRequestError),
        (404, 404, ExotelNotFoundError),
        (404, 1017, ExotelNotFoundError),
        (404, 10716, ExotelNotFoundError),
        (409, 10705, DeviceBusyError),
        (409, 10706, DeviceBusyError),
        (404, 10706, DeviceBusyError),  # the table lists 10706 under 404 too
        (409, 1012, DeviceBusyError),
        (409, "1012", DeviceBusyError),
        (429, 429, RateLimitedError),
        (429, 10724, RateLimitedError),
        (500, 1100, TransientError),
        (500, 10743, TransientError),
        (502, None, TransientError),
        (503, "n/a", TransientError),
        (None, None, TransientError),
        (200, None, TransientError),
    ],
)
def test_error_class(status: int | None, code: int | str | None, cls: type[ExotelError]) -> None:
    assert error_class(status, code) is cls


def _refused() -> requests.ConnectionError:
    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111]")  # type: ignore[arg-type]
    return requests.ConnectionError(MaxRetryError(None, "/x", reason))  # type: ignore[arg-type]


def _dns() -> requests.ConnectionError:
    reason = NameResolutionError("nx.invalid", None, OSError("Name or service not known"))  # type: ignore[arg-type]
    return requests.ConnectionError(MaxRetryError(None, "/x", reason))  # type: ignore[arg-type]


def _reset() -> requests.ConnectionError:
    reason = ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))
    return requests.ConnectionError(reason)


def _chained_refused() -> requests.ConnectionError:
    try:
        try:
            raise NewConnectionError(None, "refused")  # type: ignore[arg-type]
        except NewConnectionError as inner:
            raise requests.ConnectionError("wrapped") from inner
    except requests.ConnectionError as exc:
        return exc


def _after_a_refusal_from_none() -> requests.ConnectionError:
    """A failure after sending, raised (``from None``) while a refusal was being handled:
    the refusal is its context, not its cause."""
    try:
        try:
            raise NewConnectionError(None, "refused")  # type: ignore[arg-type]
        except NewConnectionError:
            raise requests.ConnectionError("Connection aborted.") from None
    except requests.ConnectionError as exc:
        return exc


@pytest.mark.parametrize(
    ("exc", "sent"),
    [
        (requests.ConnectTimeout("connect timed out"), False),
        (_refused(), False),
        (_dns(), False),
        (_chained_refused(), False),
        (requests.exceptions.InvalidURL("bad"), False),
        (requests.exceptions.MissingSchema("no scheme"), False),
        (requests.ReadTimeout(ReadTimeoutError(None, "/x", "read timed out")), True),  # type: ignore[arg-type]
        (_reset(), True),
        (requests.ConnectionError("Connection aborted."), True),
        (requests.exceptions.ChunkedEncodingError("broken"), True),
        (requests.exceptions.SSLError("EOF occurred in violation of protocol"), True),
        (requests.exceptions.ProxyError(_refused()), True),
        (requests.RequestException("something"), True),
        (_after_a_refusal_from_none(), True),
        # raised by a send only for the answer's headers (conflicting Content-Length)
        (requests.exceptions.InvalidHeader("conflicting Content-Length"), True),
        (requests.exceptions.ContentDecodingError("not gzip"), True),
    ],
)
def test_never_sent(exc: requests.RequestException, sent: bool) -> None:
    assert never_sent(exc) is (not sent)


NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("", None),
        ("  ", None),
        ("7", 7.0),
        (" 120 ", 120.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("nan", None),
        ("inf", None),
        ("soon", None),
        ("Wed, 01 May 2024 12:00:30 GMT", 30.0),
        ("Wed, 01 May 2024 11:59:00 GMT", 0.0),  # in the past: go now
        ("Wed, 01 May 2024 12:01:00", 60.0),  # no zone: UTC
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


# --- DND refusals -------------------------------------------------------------------------

# Exotel's wording of the refusal, as Exotel clients have recorded it.
DND_MESSAGES = [
    "Call to 09812345678 can not be made because of TRAI NDNC regulations",
    "Call to [09812345678] can not be made because of TRAI NDNC regulations",
    "Call to ****** cannot be made because of TRAI NDNC regulations",
    "Call cannot be made as the recipient's number is blocked by TRAI NDNC regulations.",
    "The number is registered in DND",
    "number on the ncpr (Do Not Disturb) register",
]


@pytest.mark.parametrize("message", DND_MESSAGES)
def test_a_403_naming_dnd_is_a_dnd_refusal(message: str) -> None:
    cls = error_class(403, 403, message)
    assert cls is DndError
    assert not issubclass(cls, AuthenticationError | TransientError | RateLimitedError)
    assert DndError("x").reason == "dnd"
    assert is_dnd_refusal(403, message)


@pytest.mark.parametrize(
    ("status", "message", "cls"),
    [
        (403, None, AuthenticationError),
        (403, "Forbidden", AuthenticationError),
        (403, "Your credentials are valid, but you don't have access", AuthenticationError),
        (403, "Account suspended", AuthenticationError),
        (403, "ATTRAIT is not a word boundary match", AuthenticationError),
        (400, "Call to 0981 can not be made because of TRAI NDNC regulations",
         InvalidRequestError),  # only a 403 is the refusal
        (401, "TRAI", AuthenticationError),
    ],
)
def test_other_refusals_stay_what_they_are(status: int, message: str | None,
                                           cls: type[ExotelError]) -> None:
    assert error_class(status, status, message) is cls


# --- rate-limit headers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "remaining", "reset"),
    [
        ("0", 0, 0.0),
        (" 17 ", 17, 17.0),
        ("12.0", 12, 12.0),
        ("1700000000", 1700000000, 1700000000.0),
        ("-1", None, None),
        ("soon", None, None),
        ("nan", None, None),
        ("inf", None, None),
        ("", None, None),
        (None, None, None),
        ("9" * 100, None, None),
    ],
)
def test_rate_limit_headers_are_read_leniently(value: str | None, remaining: int | None,
                                               reset: float | None) -> None:
    assert parse_remaining(value) == remaining
    assert parse_reset(value) == reset
