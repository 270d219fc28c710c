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
    ExotelError,
    ExotelNotFoundError,
    InvalidRequestError,
    RateLimitedError,
    TransientError,
)
from dialer.exotel.classify import error_class, never_sent, parse_retry_after


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
