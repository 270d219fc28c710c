"""The Exotel HTTP client: place a call (v1 or v3) and read its details.

One pooled ``requests.Session`` per client, HTTP basic auth in the header (never in a
URL), explicit (connect, read) timeouts on every request, no redirects followed: the
transport is :mod:`dialer.exotel.transport` (its lean path prepares each request directly
and reads the environment's proxy / CA settings once per host).

Failure policy:

* :meth:`ExotelClient.place` never raises an :class:`~dialer.errors.ExotelError` and never
  retries: it returns a :class:`PostResult` whose :class:`Outcome` says whether the call
  was placed, certainly not placed (refused with a 4xx, or never sent), or unknown (the
  request may have reached Exotel: read timeout, reset after sending, 5xx, a 2xx without
  a Sid). An unknown outcome must not be redialled blindly.
* GETs raise the :mod:`dialer.errors` class that says what to do, and are retried
  ``get_retries`` times with a short backoff on :class:`~dialer.errors.TransientError`
  only: a 429 (:class:`~dialer.errors.RateLimitedError`, not a ``TransientError``)
  surfaces at once. A bulk call details page (:meth:`ExotelClient.list_calls_page`) is
  exactly one request, never retried, so that a caller can take one rate-limit slot per
  page.
* Every :class:`~dialer.errors.RateLimitedError` (POST or GET) carries ``retry_after_s``
  (``Retry-After``), ``rate_limit_remaining`` and ``rate_limit_reset``
  (``X-RateLimit-Remaining`` / ``X-RateLimit-Reset``), each ``None`` when absent or junk.
* Transport exceptions are not chained to the errors raised: they hold the prepared
  request, whose headers carry the credentials. Their type and message are kept.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from enum import StrEnum
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode

import requests

from dialer.errors import (
    AuthenticationError,
    ExotelError,
    RateLimitedError,
    TransientError,
    ValidationError,
)
from dialer.exotel import bulk, responses
from dialer.exotel.bulk import IST, ListedCall
from dialer.exotel.classify import (
    error_class,
    never_sent,
    parse_remaining,
    parse_reset,
    parse_retry_after,
)
from dialer.exotel.models import ConnectToFlow, ConnectTwoNumbers, Request, V3Call
from dialer.exotel.transport import Transport, decode_body, without_userinfo
from dialer.models import CallUpdate
from dialer.settings import AccountSettings

__all__ = ["ExotelClient", "LegStatuses", "ListedCall", "Outcome", "PostResult",
           "PreparedPost"]

log = logging.getLogger("dialer.exotel")

_CALL_SID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_MAX_MESSAGE_CHARS = 300


class Outcome(StrEnum):
    PLACED = "placed"  # Exotel returned a call Sid
    NOT_PLACED = "not_placed"  # refused (4xx incl. 429) or never sent: safe to try again
    UNKNOWN = "unknown"  # may have reached Exotel: never redial blindly


@dataclass(frozen=True)
class PostResult:
    """What one POST achieved; ``error`` is set unless ``outcome`` is ``PLACED``."""

    outcome: Outcome
    call_sid: str | None = None
    error: ExotelError | None = None
    retry_after_s: float | None = None
    http_status: int | None = None


@dataclass(frozen=True)
class PreparedPost:
    """A POST ready to send (:meth:`ExotelClient.prepare_post`); ``failed``: what its
    sending returns instead when it could not be prepared (``request`` is then None)."""

    url: str
    request: requests.PreparedRequest | None = field(repr=False)
    sid_of: Callable[[Mapping[str, Any]], str | None] = field(repr=False)
    failed: PostResult | None = None


class LegStatuses(NamedTuple):
    leg1_status: str | None  # last entry of v3 legs ``from``
    leg2_status: str | None  # last entry of v3 legs ``to``


class ExotelClient:
    """A client for one Exotel account; create one per process (or thread) and reuse it."""

    def __init__(
        self,
        account: AccountSettings,
        *,
        connect_timeout_s: float = 3.05,
        read_timeout_s: float = 10.0,
        session: requests.Session | None = None,
        get_retries: int = 2,
        get_backoff_s: float = 0.2,
        pool_maxsize: int = 10,
        account_tz: tzinfo = IST,
    ) -> None:
        """``account_tz`` is the time zone of the account's timestamps (Exotel India: IST):
        bulk call details filters are written, and naive times read, in it."""
        if connect_timeout_s <= 0 or read_timeout_s <= 0:
            raise ValueError(f"timeouts must be > 0, got {connect_timeout_s}, {read_timeout_s}")
        self._account = account
        self._timeout = (connect_timeout_s, read_timeout_s)
        self._get_retries = max(0, get_retries)
        self._get_backoff_s = max(0.0, get_backoff_s)
        self._v1 = without_userinfo(account.v1_base_url)
        self._v3 = without_userinfo(account.v3_base_url)
        self._sid = quote(account.sid, safe="")
        self._tz = account_tz
        self._transport = Transport(account.api_key, account.api_token, self._timeout,
                                    session=session, pool_maxsize=pool_maxsize)

    def __repr__(self) -> str:
        return (
            f"ExotelClient(account={self._account.name!r}, sid={self._account.sid!r}, "
            f"v1={self._v1!r}, v3={self._v3!r})"
        )

    def close(self) -> None:
        """Close the session's pooled connections (only a session this client created)."""
        self._transport.close()

    def __enter__(self) -> ExotelClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- transport -------------------------------------------------------------------

    def _send(self, method: str, url: str, **kw: Any) -> requests.Response:
        return self._transport.send(method, url, **kw)

    @staticmethod
    def _transport_error(exc: requests.RequestException, method: str, url: str) -> TransientError:
        text = str(exc)[:_MAX_MESSAGE_CHARS]
        return TransientError(f"{type(exc).__name__}: {text}", method=method, url=url)

    @staticmethod
    def _http_error(
        resp: requests.Response, info: responses.ErrorInfo | None, method: str, url: str
    ) -> ExotelError:
        """The error for a refused request; judged by the body's status when it has one."""
        status = info.status if info and info.status else resp.status_code
        code = info.code if info else None
        message = (info.message if info else None) or resp.reason or f"HTTP {status}"
        cls = error_class(status, code, message)
        kw: dict[str, Any] = {
            "http_status": resp.status_code, "code": code, "method": method, "url": url,
        }
        if cls is RateLimitedError:
            return RateLimitedError(
                message[:_MAX_MESSAGE_CHARS],
                retry_after_s=parse_retry_after(resp.headers.get("Retry-After")),
                rate_limit_remaining=parse_remaining(resp.headers.get("X-RateLimit-Remaining")),
                rate_limit_reset=parse_reset(resp.headers.get("X-RateLimit-Reset")),
                **kw,
            )
        return cls(message[:_MAX_MESSAGE_CHARS], **kw)

    # --- POST ------------------------------------------------------------------------

    def place(self, request: Request) -> PostResult:
        """POST one call request; never retried, never raises for what Exotel answers."""
        return self.send_post(self.prepare_post(request))

    def prepare_post(self, request: Request) -> PreparedPost:
        """Everything of a POST but its sending (URL, headers, body), so that the send
        can follow a write it depends on at once (:meth:`send_post`)."""
        url, kw, sid_of = self._post_target(request)
        try:
            return PreparedPost(url, self._transport.prepare("POST", url, **kw), sid_of)
        except requests.RequestException as exc:  # e.g. a bad URL: nothing can be sent
            return PreparedPost(url, None, sid_of,
                                PostResult(Outcome.NOT_PLACED,
                                           error=self._transport_error(exc, "POST", url)))

    def send_post(self, post: PreparedPost) -> PostResult:
        """Send a POST made by :meth:`prepare_post`; never retried, never raises for what
        Exotel answers."""
        if post.request is None:
            assert post.failed is not None
            return post.failed
        try:
            resp = self._transport.send_prepared(post.request, post.url)
        except requests.RequestException as exc:
            outcome = Outcome.NOT_PLACED if never_sent(exc) else Outcome.UNKNOWN
            return PostResult(outcome, error=self._transport_error(exc, "POST", post.url))
        return self._judge_post(resp, post.url, post.sid_of)

    def _post_target(
        self, request: Request
    ) -> tuple[str, dict[str, Any], Callable[[Mapping[str, Any]], str | None]]:
        if isinstance(request, V3Call):
            url = f"{self._v3}/v3/accounts/{self._sid}/calls"
            return url, {"json": request.to_json()}, responses.v3_call_sid
        url = f"{self._v1}/v1/Accounts/{self._sid}/Calls/connect.json"
        if isinstance(request, ConnectToFlow):
            return url, {"data": request.to_form(self._account.sid)}, responses.v1_call_sid
        if isinstance(request, ConnectTwoNumbers):
            return url, {"data": request.to_form()}, responses.v1_call_sid
        raise TypeError(f"not an Exotel request: {type(request).__name__}")

    def _judge_post(
        self, resp: requests.Response, url: str,
        sid_of: Callable[[Mapping[str, Any]], str | None],
    ) -> PostResult:
        body = decode_body(resp)
        info = responses.error_info(body) if body is not None else None
        status = resp.status_code
        if 200 <= status < 300:
            if info is None or not info.status or info.status < 400:
                call_sid = sid_of(body) if body is not None else None
                if call_sid:
                    return PostResult(Outcome.PLACED, call_sid=call_sid, http_status=status)
                no_sid = TransientError("a 2xx answer without a call Sid", http_status=status,
                                        method="POST", url=url)
                return PostResult(Outcome.UNKNOWN, error=no_sid, http_status=status)
            status = info.status  # a 200 carrying a RestException: judged by its Status
        error = self._http_error(resp, info, "POST", url)
        refused = 300 <= status < 500
        retry_after_s = error.retry_after_s if isinstance(error, RateLimitedError) else None
        return PostResult(
            Outcome.NOT_PLACED if refused else Outcome.UNKNOWN,
            error=error, retry_after_s=retry_after_s, http_status=resp.status_code,
        )

    # --- GET -------------------------------------------------------------------------

    def _get(
        self, url: str, parse: Callable[[dict[str, Any]], Any], *, retries: int | None = None
    ) -> Any:
        """GET and parse a body, retrying transient failures; raise the error class."""
        retries = self._get_retries if retries is None else retries
        for attempt in range(retries + 1):
            try:
                return parse(self._get_once(url))
            except responses.MalformedResponseError as exc:
                error = TransientError(str(exc), http_status=200, method="GET", url=url)
            except TransientError as exc:
                error = exc
            if attempt >= retries:
                raise error
            delay_s = self._get_backoff_s * (2**attempt)
            log.info("GET %s: %s; retry %d in %.2f s", url, error.message, attempt + 1, delay_s)
            time.sleep(delay_s)
        raise AssertionError("unreachable")  # pragma: no cover

    def _get_once(self, url: str) -> dict[str, Any]:
        try:
            resp = self._send("GET", url)
        except requests.RequestException as exc:
            raise self._transport_error(exc, "GET", url) from None
        body = decode_body(resp)
        info = responses.error_info(body) if body is not None else None
        if not 200 <= resp.status_code < 300 or (info and info.status and info.status >= 400):
            raise self._http_error(resp, info, "GET", url)
        if body is None:
            raise TransientError("a 2xx answer without a readable body",
                                 http_status=resp.status_code, method="GET", url=url)
        return body

    def _call_path(self, call_sid: str) -> str:
        if not isinstance(call_sid, str) or not _CALL_SID.match(call_sid):
            raise ValidationError(f"call_sid: {call_sid!r} is not a call Sid", field="call_sid")
        return quote(call_sid, safe="")

    def get_call(self, call_sid: str, *, details: bool = True) -> CallUpdate:
        """v1 call details (with leg statuses when ``details``) as a poll update."""
        path = self._call_path(call_sid)
        url = f"{self._v1}/v1/Accounts/{self._sid}/Calls/{path}.json"
        if details:
            url += "?details=true"
        update: CallUpdate = self._get(url, responses.call_update_v1)
        return update

    def get_call_v3(self, call_sid: str) -> CallUpdate:
        """v3 call details as a poll update (no leg statuses: see :meth:`get_legs_v3`)."""
        url = f"{self._v3}/v3/accounts/{self._sid}/calls/{self._call_path(call_sid)}"
        update: CallUpdate = self._get(url, responses.call_update_v3)
        return update

    def get_legs_v3(self, call_sid: str) -> LegStatuses:
        """v3 legs: the status of the last ``from`` leg and of the last ``to`` leg."""
        url = f"{self._v3}/v3/accounts/{self._sid}/calls/{self._call_path(call_sid)}/legs"
        leg1, leg2 = self._get(url, responses.leg_statuses_v3)
        return LegStatuses(leg1, leg2)

    def get_call_v3_with_legs(self, call_sid: str) -> CallUpdate:
        """v3 call details merged with the leg statuses.

        A failure of the legs request (the legs API must be enabled per account) leaves the
        leg statuses unknown (``None``) instead of failing the poll, except authentication
        and rate-limit errors, which propagate.
        """
        update = self.get_call_v3(call_sid)
        try:
            legs = self.get_legs_v3(call_sid)
        except (AuthenticationError, RateLimitedError):
            raise
        except ExotelError as exc:
            log.warning("legs of %s unavailable: %s", call_sid, exc)
            return update
        return responses.with_legs(update, legs.leg1_status, legs.leg2_status)

    # --- bulk call details -----------------------------------------------------------

    def list_calls_page(
        self,
        *,
        to: str | Iterable[str] | None = None,
        from_: str | Iterable[str] | None = None,
        created_from: datetime,
        created_to: datetime,
        status: str | Iterable[str] | None = None,
        page_size: int = bulk.MAX_PAGE_SIZE,
        cursor: str | None = None,
    ) -> tuple[list[ListedCall], str | None]:
        """One page of bulk call details: (calls, cursor of the next page or ``None``).

        Exactly one request, never retried (take one rate-limit slot per call). Filters:
        ``to`` / ``from_`` (up to 5 numbers each, E.164 or as dialled), the creation
        window (aware datetimes, at most one month, sent in the account's time zone),
        ``status``, ``page_size`` (1..100); ``cursor`` is what the previous page returned.
        Bad filters raise :class:`~dialer.errors.ValidationError` before sending; Exotel's
        refusals raise the :mod:`dialer.errors` class (429: ``RateLimitedError``).
        Ongoing calls are not listed by Exotel.
        """
        query = bulk.list_query(
            to=to, from_=from_, created_from=created_from, created_to=created_to,
            tz=self._tz, status=status, page_size=page_size, cursor=cursor,
        )
        url = (f"{self._v1}/v1/Accounts/{self._sid}/Calls.json?"
               + urlencode(query, quote_via=quote, safe=",:;"))
        page: tuple[list[ListedCall], str | None] = self._get(
            url, lambda body: bulk.parse_page(body, self._tz), retries=0
        )
        return page

    def list_calls(
        self,
        *,
        to: str | Iterable[str] | None = None,
        from_: str | Iterable[str] | None = None,
        created_from: datetime,
        created_to: datetime,
        status: str | Iterable[str] | None = None,
        page_size: int = bulk.MAX_PAGE_SIZE,
        max_pages: int = 10,
    ) -> list[ListedCall]:
        """Every listed call, following ``NextPageUri`` for up to ``max_pages`` pages.

        A thin loop over :meth:`list_calls_page` (one request per page); an error on any
        page propagates. ``max_pages`` must be at least 1.
        """
        if isinstance(max_pages, bool) or not isinstance(max_pages, int) or max_pages < 1:
            raise ValidationError("max_pages must be >= 1", field="max_pages")
        calls: list[ListedCall] = []
        cursor: str | None = None
        for _ in range(max_pages):
            page, cursor = self.list_calls_page(
                to=to, from_=from_, created_from=created_from, created_to=created_to,
                status=status, page_size=page_size, cursor=cursor,
            )
            calls.extend(page)
            if cursor is None:
                break
        return calls
