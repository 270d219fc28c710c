"""Every error the dialer raises, grouped by what the caller must do.

``DialerError``
├── ``SettingsError``            fix the configuration; raised at start-up
├── ``ValidationError``          fix the request; nothing was written or sent
│   └── ``InvalidNumberError``   a phone number that cannot be normalised
├── ``NotFoundError``            an unknown call, campaign or account
├── ``RedisUnavailableError``    Redis does not answer; fail closed
└── ``ExotelError``              Exotel answered with an error, or did not answer
    ├── ``AuthenticationError``  401 / v3 1010: fix the credentials, don't retry
    ├── ``InvalidRequestError``  400, v3 1001/1002 …: fix the request, don't retry
    ├── ``ExotelNotFoundError``  404: unknown call sid / account / virtual number
    ├── ``DndError``             v1 403 "… because of TRAI NDNC regulations": the number is
    │                            on the Do-Not-Disturb register; not placed, never retried
    ├── ``RateLimitedError``     429: wait (``retry_after_s``) and try again, spends no retry
    ├── ``DeviceBusyError``      v3 409 10705/10706, 1012: the user device is busy/unavailable
    └── ``TransientError``       5xx, timeouts, resets: outcome may be unknown for a POST

Every ``ExotelError`` carries the HTTP status, Exotel's code, the method and the URL —
never credentials.
"""

from __future__ import annotations


class DialerError(Exception):
    """Base of every error raised by the dialer."""


class SettingsError(DialerError):
    """A setting is missing or invalid; the message names the variable."""


class ValidationError(DialerError):
    """A request is invalid; ``field`` names the offending field."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ConflictError(ValidationError):
    """The request is valid but the current state does not allow it (HTTP 409)."""


class InvalidNumberError(ValidationError):
    """A phone number could not be parsed or is not dialable."""


class NotFoundError(DialerError):
    """An unknown call, attempt, campaign or account."""


class RedisUnavailableError(DialerError):
    """Redis did not answer; the operation was not performed."""


class ExotelError(DialerError):
    """Exotel refused the request or did not answer."""

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        code: int | str | None = None,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.code = code
        self.method = method
        self.url = url

    def __str__(self) -> str:
        parts = [self.message]
        if self.http_status is not None:
            parts.append(f"http {self.http_status}")
        if self.code is not None:
            parts.append(f"code {self.code}")
        if self.method and self.url:
            parts.append(f"{self.method} {self.url}")
        return " | ".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class AuthenticationError(ExotelError):
    """401 / v3 1010: credentials are wrong. Do not retry."""


class InvalidRequestError(ExotelError):
    """400 and v3 validation codes: the request is wrong. Do not retry."""


class ExotelNotFoundError(ExotelError):
    """404: the call, account or virtual number does not exist."""


class DndError(ExotelError):
    """v1 403 for a number on the DND / NDNC register (TRAI): a refusal, not an auth error.

    The call was not placed and must not be retried (calling again gives the same answer);
    ``reason`` is ``"dnd"``.
    """

    reason = "dnd"


class RateLimitedError(ExotelError):
    """429: too many requests. Wait ``retry_after_s`` (when given) and try again.

    ``retry_after_s`` comes from ``Retry-After``; ``rate_limit_remaining`` and
    ``rate_limit_reset`` are the ``X-RateLimit-Remaining`` / ``X-RateLimit-Reset`` header
    values as sent (the reset is a number whose unit Exotel does not document: seconds
    until the reset, or a Unix time). Each is ``None`` when absent or unreadable.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after_s: float | None = None,
        rate_limit_remaining: int | None = None,
        rate_limit_reset: float | None = None,
        **kw: object,
    ) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after_s = retry_after_s
        self.rate_limit_remaining = rate_limit_remaining
        self.rate_limit_reset = rate_limit_reset


class DeviceBusyError(ExotelError):
    """v3 409 10705/10706/1012: the user (agent) device is busy or unavailable."""


class TransientError(ExotelError):
    """5xx, timeout, connection reset: try again later; a POST's outcome may be unknown."""
