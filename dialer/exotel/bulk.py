"""Exotel's bulk call details (``GET /v1/Accounts/<sid>/Calls.json``): the query and the pages.

This is how an attempt whose POST outcome was unknown is found again: list the calls to
its number created in a short window around the POST and match them (by ``CustomField``
or time). Pure: the HTTP request is made by :meth:`ExotelClient.list_calls_page
<dialer.exotel.client.ExotelClient.list_calls_page>`.

The query (Exotel's documented filters):

* ``To`` / ``From``: up to :data:`MAX_NUMBERS` numbers each, comma separated, E.164 or as
  dialled;
* ``DateCreated=gte:YYYY-MM-DD HH:MM:SS;lte:YYYY-MM-DD HH:MM:SS``: at most one month
  (:data:`MAX_RANGE`), written in the account's time zone (Exotel India: IST, +05:30);
* ``Status`` (optional), ``PageSize`` ≤ :data:`MAX_PAGE_SIZE`, and ``After`` — the cursor
  taken from the previous page's ``Metadata.NextPageUri``.

The answer: ``{"Metadata": {…, "NextPageUri": …, "PrevPageUri": …}, "Calls": [Call, …]}``
(XML: ``<Metadata>`` and ``<Calls><Call>…</Call></Calls>``), each Call object like the
single call details, read by :func:`dialer.exotel.wire.v1_update`. Missing fields are
``None``; a Call without a usable Sid is skipped.

Note: bulk call details do not include ongoing calls, so a call missing from a page may
still be in progress — absence alone never proves that a POST did not place a call.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from dialer.errors import ValidationError
from dialer.exotel import wire
from dialer.exotel.responses import MalformedResponseError
from dialer.models import CallUpdate

__all__ = [
    "IST",
    "MAX_NUMBERS",
    "MAX_PAGE_SIZE",
    "MAX_RANGE",
    "ListedCall",
    "list_query",
    "parse_page",
]

IST = timezone(timedelta(hours=5, minutes=30), "IST")
"""India Standard Time: the time zone of an Exotel India account's timestamps."""

MAX_PAGE_SIZE = 100
MAX_NUMBERS = 5
MAX_RANGE = timedelta(days=31)
MAX_CURSOR_CHARS = 512

_NUMBER_RE = re.compile(r"\+?[0-9]{3,16}")
_CURSOR_RE = re.compile(r"[A-Za-z0-9._~:=+/-]{1,512}")
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class ListedCall:
    """One call of a bulk call details page.

    ``update`` is the call read by the same mapping as a callback or a single poll
    (``source="poll"``); ``date_created`` is aware (the account's time zone when Exotel
    sent no offset); every other field is ``None`` when missing or unreadable.
    """

    sid: str
    from_: str | None
    to: str | None
    date_created: datetime | None
    status: str | None
    custom_field: str | None
    update: CallUpdate


# --- the query ----------------------------------------------------------------------------


def _numbers(value: str | Iterable[str] | None, field: str) -> str | None:
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    numbers = [n.strip() if isinstance(n, str) else n for n in items]
    numbers = [n for n in numbers if n != ""]
    if not numbers:
        return None
    if len(numbers) > MAX_NUMBERS:
        raise ValidationError(f"{field}: at most {MAX_NUMBERS} numbers, got {len(numbers)}",
                              field=field)
    for number in numbers:
        if not isinstance(number, str) or not _NUMBER_RE.fullmatch(number):
            shown = number[:20] if isinstance(number, str) else type(number).__name__
            raise ValidationError(f"{field}: {shown!r} is not a phone number", field=field)
    return ",".join(numbers)


def _aware(value: datetime, field: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(f"{field}: an aware datetime is required", field=field)
    return value


def date_created_filter(created_from: datetime, created_to: datetime, tz: tzinfo) -> str:
    """``gte:…;lte:…`` in the account's time zone; ValidationError for a bad range."""
    start = _aware(created_from, "created_from").astimezone(tz)
    end = _aware(created_to, "created_to").astimezone(tz)
    if end < start:
        raise ValidationError("created_to is before created_from", field="created_to")
    if end - start > MAX_RANGE:
        raise ValidationError("DateCreated range is longer than one month", field="created_to")
    return f"gte:{start.strftime(_TIME_FORMAT)};lte:{end.strftime(_TIME_FORMAT)}"


def list_query(
    *,
    to: str | Iterable[str] | None,
    from_: str | Iterable[str] | None,
    created_from: datetime,
    created_to: datetime,
    tz: tzinfo,
    status: str | Iterable[str] | None = None,
    page_size: int = MAX_PAGE_SIZE,
    cursor: str | None = None,
) -> list[tuple[str, str]]:
    """The query parameters of one bulk call details request (ValidationError if bad)."""
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not (
        1 <= page_size <= MAX_PAGE_SIZE
    ):
        raise ValidationError(f"page_size must be 1..{MAX_PAGE_SIZE}", field="page_size")
    query: list[tuple[str, str]] = []
    for name, value in (("To", _numbers(to, "to")), ("From", _numbers(from_, "from_"))):
        if value is not None:
            query.append((name, value))
    query.append(("DateCreated", date_created_filter(created_from, created_to, tz)))
    if status is not None:
        statuses = [status] if isinstance(status, str) else list(status)
        cleaned = [wire.status(s) for s in statuses]
        if not cleaned or any(s is None or s not in wire.KNOWN_STATUSES for s in cleaned):
            raise ValidationError("status: unknown call status", field="status")
        query.append(("Status", ",".join(s for s in cleaned if s)))
    query.append(("PageSize", str(page_size)))
    if cursor is not None:
        if not isinstance(cursor, str) or not _CURSOR_RE.fullmatch(cursor):
            raise ValidationError("cursor: not a page cursor", field="cursor")
        query.append(("After", cursor))
    return query


# --- the answer ---------------------------------------------------------------------------


def parse_date(value: Any, tz: tzinfo) -> datetime | None:
    """An aware datetime from ``2017-03-03 10:48:33`` (in ``tz``), ISO with an offset, or
    an RFC 2822 date; None for placeholders and junk."""
    text = wire.timestamp(value)
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    return when.replace(tzinfo=tz) if when.tzinfo is None else when


def _call_list(value: Any) -> list[Any]:
    if isinstance(value, Mapping) and set(value) == {"Call"}:
        value = value["Call"]  # XML <Calls><Call>…</Call>…</Calls>
    if isinstance(value, Mapping):
        return [value]
    return list(value) if isinstance(value, list) else []


def next_cursor(metadata: Any) -> str | None:
    """The ``After`` value of ``Metadata.NextPageUri`` (None on the last page)."""
    meta = wire.lower_keys(metadata)
    uri = wire.text(meta.get("nextpageuri"), 4096)
    if uri is None:
        return None
    try:
        params = parse_qsl(urlsplit(uri).query, keep_blank_values=True)
    except ValueError:
        return None
    for name, value in params:
        if name.lower() == "after" and _CURSOR_RE.fullmatch(value):
            return value
    return None


def listed_call(call: Any, tz: tzinfo) -> ListedCall | None:
    """One Call object as a ListedCall; None when it has no usable Sid."""
    if not isinstance(call, Mapping):
        return None
    update = wire.v1_update(call, source="poll")
    if update.call_sid is None:
        return None
    f = wire.lower_keys(call)
    return ListedCall(
        sid=update.call_sid,
        from_=wire.text(f.get("from"), wire.PHONE_CAP),
        to=wire.text(f.get("to"), wire.PHONE_CAP),
        date_created=parse_date(f.get("datecreated"), tz),
        status=update.status,
        custom_field=update.custom_field,
        update=update,
    )


def parse_page(body: Mapping[str, Any], tz: tzinfo) -> tuple[list[ListedCall], str | None]:
    """(calls, cursor of the next page or None) of one bulk call details answer.

    Raises :class:`MalformedResponseError` for an answer with neither ``Calls`` nor
    ``Metadata``: an empty list must mean "no such call", never "unreadable answer".
    """
    doc = wire.lower_keys(body)
    if "calls" not in doc and "metadata" not in doc:
        raise MalformedResponseError("bulk call details answer without Calls or Metadata")
    calls = [c for c in (listed_call(item, tz) for item in _call_list(doc.get("calls"))) if c]
    return calls, next_cursor(doc.get("metadata"))
