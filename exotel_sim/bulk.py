"""v1 bulk call details: ``GET /v1/Accounts/<sid>/Calls[.json]`` (XML unless .json).

As developer.exotel.com/api/call-details-bulk and /docs/voice-v1/api-reference/call-details
document it:

* filters: ``Sid`` (comma list, at most 100), ``DateCreated``
  (``gte:YYYY-MM-DD HH:MM:SS;lte:YYYY-MM-DD HH:MM:SS`` in the account's zone, IST; a range
  of at most 1 month (31 days), records at most 6 months old; default the last 31 days),
  ``To`` / ``From`` / ``PhoneNumber`` (comma lists, at most 5; numbers compared by their
  last 10 digits), ``Status`` (comma list), ``Duration`` (``gte:10s;lte:45s``,
  ``eq:30s``), ``Price`` (``gte:0.10;lte:1.0``), ``Direction``, ``PageSize`` (default
  50, at most 100), ``SortBy`` (``DateCreated:asc``, default ``DateCreated:desc``),
  ``Before`` / ``After`` (cursors taken from PrevPageUri / NextPageUri),
  ``RecordingUrlValidity`` (5..60);
* "Bulk Call Details will not provide ongoing calls' details": only ended calls are listed;
* a filter out of bounds answers 400 (RestException) with a message naming it.

The answer: ``{"Metadata": {"Total", "PageSize", "FirstPageUri", "PrevPageUri",
"NextPageUri"}, "Calls": [<Call>, …]}`` — each Call exactly as single call details show it
(Sid, ParentCallSid, DateCreated, DateUpdated, AccountSid, To, From, PhoneNumberSid,
Status, StartTime, EndTime, Duration, Price, Direction, AnsweredBy, ForwardedFrom,
CallerName, Uri, RecordingUrl). A listed Call carries NO CustomField: the documents list
none for call details, so a client must match listed calls on From / To / DateCreated
(or Sid). In XML: ``<TwilioResponse><Metadata>…</Metadata><Calls><Call>…</Call>…``.
The cursor is the Sid of the last (After) or first (Before) call of the page it came from.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from fastapi.responses import JSONResponse, Response

from exotel_sim.calls import SimCall
from exotel_sim.outcomes import number_key
from exotel_sim.render_v1 import XML_HEAD, XML_TYPE, _xml_value, call_dict
from exotel_sim.v1_params import PREFIX, ParamError

MAX_SIDS = 100
MAX_NUMBERS = 5
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
MAX_RANGE = timedelta(days=31)  # "maximum date range of 1 month"
MAX_AGE = timedelta(days=183)  # "call records only up to 6 months old"
DEFAULT_RANGE = timedelta(days=31)  # "Default if not set: Last 31 days"
STAMP = "%Y-%m-%d %H:%M:%S"
_OP = re.compile(r"^(gte|lte|eq):(.+)$")
SORTS = ("DateCreated:desc", "DateCreated:asc")
FILTER_KEYS = ("Sid", "DateCreated", "To", "From", "Status", "Duration", "Price",
               "Direction", "PhoneNumber", "SortBy", "RecordingUrlValidity")


@dataclass
class BulkQuery:
    """The validated query."""

    sids: set[str] | None = None
    since: float = 0.0
    until: float = 0.0
    to: set[str] | None = None
    from_: set[str] | None = None
    phone_numbers: set[str] | None = None
    statuses: set[str] | None = None
    direction: str | None = None
    checks: list[Callable[[SimCall], bool]] = field(default_factory=list)
    page_size: int = DEFAULT_PAGE_SIZE
    ascending: bool = False
    before: str | None = None
    after: str | None = None


def _bad(message: str) -> ParamError:
    return ParamError(f"{PREFIX}{message}")


def _list(params: dict[str, str], name: str, most: int) -> set[str] | None:
    raw = params.get(name, "").strip()
    if not raw:
        return None
    items = [item.strip() for item in raw.split(",") if item.strip()]
    if len(items) > most:
        raise _bad(f"{name} accepts at most {most} comma-separated values")
    return set(items)


def _stamp(text: str, tz: timezone, name: str) -> float:
    try:
        return datetime.strptime(text.strip(), STAMP).replace(tzinfo=tz).timestamp()
    except ValueError:
        raise _bad(f"{name} must look like gte:YYYY-MM-DD HH:MM:SS;lte:YYYY-MM-DD HH:MM:SS"
                   ) from None


def _ops(raw: str, name: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in raw.split(";"):
        match = _OP.match(part.strip())
        if not match:
            raise _bad(f"{name} takes gte:, lte: or eq: operators separated by ';'")
        out[match.group(1)] = match.group(2).strip()
    return out


def _date_range(params: dict[str, str], tz: timezone, now: float) -> tuple[float, float]:
    raw = params.get("DateCreated", "").strip()
    if not raw:
        return now - DEFAULT_RANGE.total_seconds(), now
    ops = _ops(raw, "DateCreated")
    if "eq" in ops:
        raise _bad("DateCreated supports the gte and lte operators")
    until = _stamp(ops["lte"], tz, "DateCreated") if "lte" in ops else now
    since = (_stamp(ops["gte"], tz, "DateCreated") if "gte" in ops
             else until - DEFAULT_RANGE.total_seconds())
    if since > until:
        raise _bad("DateCreated gte must not be after lte")
    if until - since > MAX_RANGE.total_seconds():
        raise _bad("DateCreated range can be at most 1 month")
    if since < now - MAX_AGE.total_seconds():
        raise _bad("DateCreated can query call records only up to 6 months old")
    return since, until


def _range_check(
    params: dict[str, str], name: str, unit: str, value: Callable[[SimCall], float | None]
) -> Callable[[SimCall], bool] | None:
    raw = params.get(name, "").strip()
    if not raw:
        return None
    bounds: dict[str, float] = {}
    for op, text in _ops(raw, name).items():
        try:
            bounds[op] = float(text.removesuffix(unit)) if unit else float(text)
        except ValueError:
            kind = " of seconds (10s)" if unit else ""
            raise _bad(f"{name} values must be numbers{kind}") from None

    def check(call: SimCall) -> bool:
        got = value(call)
        if got is None:
            return False
        return (got >= bounds.get("gte", got) and got <= bounds.get("lte", got)
                and ("eq" not in bounds or got == bounds["eq"]))

    return check


def _int(params: dict[str, str], name: str, low: int, high: int, default: int) -> int:
    raw = params.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise _bad(f"{name} must be an integer between {low} and {high}")
    return value


def parse_bulk(params: dict[str, str], offset_minutes: int, now: float) -> BulkQuery:
    """Validate the filters; raises ParamError (400)."""
    tz = timezone(timedelta(minutes=offset_minutes))
    since, until = _date_range(params, tz, now)
    sort = params.get("SortBy", "").strip() or SORTS[0]
    if sort not in SORTS:
        raise _bad(f"Valid values for SortBy are {', '.join(SORTS)}")
    _int(params, "RecordingUrlValidity", 5, 60, 5)
    query = BulkQuery(
        sids=_list(params, "Sid", MAX_SIDS),
        since=since,
        until=until,
        to=_list(params, "To", MAX_NUMBERS),
        from_=_list(params, "From", MAX_NUMBERS),
        phone_numbers=_list(params, "PhoneNumber", MAX_NUMBERS),
        statuses=_list(params, "Status", 20),
        direction=params.get("Direction", "").strip() or None,
        page_size=_int(params, "PageSize", 1, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE),
        ascending=sort == SORTS[1],
        before=params.get("Before", "").strip() or None,
        after=params.get("After", "").strip() or None,
    )
    for check in (_range_check(params, "Duration", "s", lambda c: c.duration_s()
                               if c.filled else None),
                  _range_check(params, "Price", "", lambda c: c.price() if c.filled else None)):
        if check is not None:
            query.checks.append(check)
    return query


def _numbers(values: set[str] | None) -> set[str] | None:
    return None if values is None else {number_key(v) for v in values}


def matches(call: SimCall, query: BulkQuery) -> bool:
    """Whether an ENDED call passes every filter."""
    spec = call.spec
    if not call.terminal:
        return False  # "Bulk Call Details will not provide ongoing calls' details"
    if query.sids is not None and call.sid not in query.sids:
        return False
    if not query.since <= call.created_at <= query.until:
        return False
    for wanted, number in ((query.to, call.to_display), (query.from_, spec.from_number),
                           (query.phone_numbers, spec.caller_id)):
        keys = _numbers(wanted)
        if keys is not None and number_key(number) not in keys:
            return False
    if query.statuses is not None and call.status not in query.statuses:
        return False
    if query.direction is not None and query.direction != "outbound-api":
        return False
    return all(check(call) for check in query.checks)


@dataclass
class Page:
    calls: list[SimCall]
    total: int
    prev_cursor: str | None
    next_cursor: str | None


def paginate(calls: list[SimCall], query: BulkQuery) -> Page:
    """Sort, then cut the page at the cursor."""
    ordered = sorted(calls, key=lambda c: (c.created_at, c.sid), reverse=not query.ascending)
    sids = [c.sid for c in ordered]
    size = query.page_size
    if query.after is not None:
        start = sids.index(query.after) + 1 if query.after in sids else len(sids)
        page = ordered[start:start + size]
    elif query.before is not None:
        end = sids.index(query.before) if query.before in sids else 0
        start = max(end - size, 0)
        page = ordered[start:end]
    else:
        start = 0
        page = ordered[:size]
    has_prev = start > 0
    has_next = start + len(page) < len(ordered)
    return Page(
        calls=page,
        total=len(ordered),
        prev_cursor=page[0].sid if page and has_prev else None,
        next_cursor=page[-1].sid if page and has_next else None,
    )


def _uri(base: str, params: dict[str, str], size: int, **cursor: str) -> str:
    kept = [(k, params[k]) for k in FILTER_KEYS if params.get(k)]
    return f"{base}?{urlencode([*kept, ('PageSize', str(size)), *cursor.items()])}"


def metadata(page: Page, base: str, params: dict[str, str], size: int) -> dict[str, Any]:
    return {
        "Total": page.total,
        "PageSize": size,
        "FirstPageUri": _uri(base, params, size),
        "PrevPageUri": _uri(base, params, size, Before=page.prev_cursor)
        if page.prev_cursor else None,
        "NextPageUri": _uri(base, params, size, After=page.next_cursor)
        if page.next_cursor else None,
    }


def bulk_response(
    page: Page, meta: dict[str, Any], offset_minutes: int, *, as_json: bool
) -> Response:
    calls = [call_dict(call, offset_minutes, json_uri=as_json) for call in page.calls]
    if as_json:
        return JSONResponse({"Metadata": meta, "Calls": calls})
    head = "".join(f"  {_xml_value(k, v)}\n" for k, v in meta.items())
    body = "".join(
        " <Call>\n" + "".join(f"  {_xml_value(k, v)}\n" for k, v in call.items()) + " </Call>\n"
        for call in calls
    )
    xml = (f"{XML_HEAD}<TwilioResponse>\n <Metadata>\n{head} </Metadata>\n"
           f" <Calls>\n{body} </Calls>\n</TwilioResponse>\n")
    return Response(xml, media_type=XML_TYPE)

