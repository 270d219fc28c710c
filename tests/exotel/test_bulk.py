"""ExotelClient.list_calls_page / list_calls (bulk call details) against a scripted server.

The answers follow the shape of Exotel's bulk call details document: a ``Metadata`` block
(``NextPageUri`` / ``PrevPageUri`` carrying ``After`` / ``Before`` cursors) and a ``Calls``
list of Call objects like the single call details.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from dialer.errors import RateLimitedError, TransientError, ValidationError
from dialer.exotel import ListedCall, responses
from dialer.exotel.bulk import IST, parse_page
from dialer.exotel.client import ExotelClient
from tests.exotel.loopback import (
    BASIC,
    SID,
    TOKEN,
    Reply,
    ScriptedExotel,
    make_account,
)

PATH = f"/v1/Accounts/{SID}/Calls.json"


START = datetime(2024, 5, 1, 4, 30, tzinfo=UTC)  # 10:00 IST
END = START + timedelta(minutes=30)


def call_obj(sid: str, *, to: str = "+919123456789", created: str = "2024-05-01 10:05:00",
             status: str = "completed", **extra: Any) -> dict[str, Any]:
    return {
        "Sid": sid, "ParentCallSid": None, "DateCreated": created,
        "DateUpdated": "2024-05-01 10:07:00", "AccountSid": SID, "To": to,
        "From": "+919876543210", "PhoneNumberSid": "08047471234", "Status": status,
        "StartTime": "2024-05-01 10:05:01", "EndTime": "2024-05-01 10:06:10",
        "Duration": "69", "Price": "0.50", "Direction": "outbound-api", "AnsweredBy": None,
        "ForwardedFrom": None, "CallerName": None,
        "Uri": f"/v1/Accounts/{SID}/Calls/{sid}.json", "RecordingUrl": None, **extra,
    }


def page(calls: list[Any], *, after: str | None = None, before: str | None = None) -> str:
    base = f"/v1/Accounts/{SID}/Calls.json?PageSize=2"
    meta = {
        "Total": None, "PageSize": 2, "FirstPageUri": base,
        "NextPageUri": f"{base}&After={after}" if after else None,
        "PrevPageUri": f"{base}&Before={before}" if before else None,
    }
    return json.dumps({"Metadata": meta, "Calls": calls})


def query_of(path: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(path).query, keep_blank_values=True))


def test_one_page_query_and_result(client: ExotelClient, server: ScriptedExotel) -> None:
    server.reply(Reply(200, page([call_obj("CA1", CustomField="att-1")])))
    calls, cursor = client.list_calls_page(to="+919123456789", from_=["09876543210"],
                                           created_from=START, created_to=END)
    assert cursor is None
    [seen] = server.seen
    assert seen.method == "GET" and urlsplit(seen.path).path == PATH
    assert "%2B919123456789" in seen.path  # "+" is encoded, never read back as a space
    assert query_of(seen.path) == {
        "To": "+919123456789", "From": "09876543210",
        "DateCreated": "gte:2024-05-01 10:00:00;lte:2024-05-01 10:30:00",
        "PageSize": "100",
    }
    assert seen.headers["Authorization"] == BASIC and TOKEN not in seen.path
    [listed] = calls
    assert isinstance(listed, ListedCall)
    assert (listed.sid, listed.from_, listed.to, listed.status, listed.custom_field) == (
        "CA1", "+919876543210", "+919123456789", "completed", "att-1")
    assert listed.date_created == datetime(2024, 5, 1, 10, 5, tzinfo=IST)
    assert listed.date_created.utcoffset() == timedelta(hours=5, minutes=30)
    # the same mapping as a single call-details answer
    single = responses.call_update_v1({"Call": call_obj("CA1", CustomField="att-1")})
    assert listed.update == single
    assert (single.source, single.duration_s, single.price) == ("poll", 69, "0.50")


def test_list_calls_follows_next_page_uri(client: ExotelClient,
                                          server: ScriptedExotel) -> None:
    server.reply(Reply(200, page([call_obj("CA1"), call_obj("CA2")], after="c_2Xy9")),
                 Reply(200, page([call_obj("CA3")], before="c_3")))
    calls = client.list_calls(to=["+919123456789", "+919000000001"],
                              created_from=START, created_to=END, page_size=2)
    assert [c.sid for c in calls] == ["CA1", "CA2", "CA3"]
    first, second = (query_of(s.path) for s in server.seen)
    assert "After" not in first and first["To"] == "+919123456789,+919000000001"
    assert second == {**first, "After": "c_2Xy9"}
    assert first["PageSize"] == "2"


def test_list_calls_stops_after_max_pages(client: ExotelClient,
                                          server: ScriptedExotel) -> None:
    server.default = Reply(200, page([call_obj("CA1")], after="again"))
    calls = client.list_calls(to="+919123456789", created_from=START, created_to=END,
                              max_pages=3)
    assert len(calls) == 3 and len(server.seen) == 3
    with pytest.raises(ValidationError):
        client.list_calls(created_from=START, created_to=END, max_pages=0)


def test_list_calls_page_returns_the_cursor(client: ExotelClient,
                                            server: ScriptedExotel) -> None:
    server.reply(Reply(200, page([], after="abc")), Reply(200, page([])))
    calls, cursor = client.list_calls_page(created_from=START, created_to=END)
    assert (calls, cursor) == ([], "abc")
    assert client.list_calls_page(created_from=START, created_to=END, cursor=cursor) == ([],
                                                                                        None)
    assert query_of(server.seen[1].path)["After"] == "abc"


def test_lenient_on_missing_and_bad_fields() -> None:
    body = json.loads(json.dumps({"Calls": [
        {"Sid": "CA1"},  # nothing else
        {"Status": "completed"},  # no Sid: skipped
        None, "junk", 5,
        {"Sid": "CA2", "DateCreated": "0000-00-00 00:00:00", "To": None, "From": "x" * 65,
         "Duration": "-5", "Price": "INR 1", "RecordingUrl": "ftp://h/a", "Status": "BUSY"},
        {"Sid": "CA3", "DateCreated": "2024-05-01T10:00:00+00:00"},
        {"Sid": "CA4", "DateCreated": "not a date"},
    ]}))
    calls, cursor = parse_page(body, IST)
    assert cursor is None
    assert [c.sid for c in calls] == ["CA1", "CA2", "CA3", "CA4"]
    one, two, three, four = calls
    assert (one.from_, one.to, one.date_created, one.status, one.custom_field) == (
        None, None, None, None, None)
    assert (two.date_created, two.to, two.from_, two.status) == (None, None, None, "busy")
    assert (two.update.duration_s, two.update.price, two.update.recording_url) == (
        None, None, None)
    assert three.date_created == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert four.date_created is None
    assert parse_page({"Metadata": {"NextPageUri": None}, "Calls": None}, IST) == ([], None)
    assert parse_page({"metadata": {"nextpageuri": "/x?after=k"}, "calls": []}, IST) == (
        [], "k")


def test_xml_page(client: ExotelClient, server: ScriptedExotel) -> None:
    xml = ("<TwilioResponse><Metadata><PageSize>2</PageSize><NextPageUri>/v1/Accounts/"
           f"{SID}/Calls?PageSize=2&amp;After=n1</NextPageUri></Metadata><Calls>"
           "<Call><Sid>CA1</Sid><To>09123456789</To><Status>no-answer</Status>"
           "<DateCreated>2024-05-01 10:05:00</DateCreated></Call>"
           "<Call><Sid>CA2</Sid><Status>failed</Status></Call></Calls></TwilioResponse>")
    server.reply(Reply(200, xml, "application/xml"))
    calls, cursor = client.list_calls_page(created_from=START, created_to=END)
    assert cursor == "n1"
    assert [(c.sid, c.status) for c in calls] == [("CA1", "no-answer"), ("CA2", "failed")]
    single = ("<TwilioResponse><Metadata/><Calls><Call><Sid>CA9</Sid></Call></Calls>"
              "</TwilioResponse>")
    server.reply(Reply(200, single, "application/xml"))
    assert [c.sid for c in client.list_calls_page(created_from=START, created_to=END)[0]] == [
        "CA9"]


@pytest.mark.parametrize(
    "kw",
    [
        {"to": [f"+9191234567{i:02d}" for i in range(6)]},
        {"from_": "+91 98765 43210"},
        {"to": "09123456789;DROP"},
        {"to": ["ok", 5]},
        {"created_from": datetime(2024, 5, 1, 10)},  # naive
        {"created_to": START - timedelta(seconds=1)},
        {"created_to": START + timedelta(days=32)},
        {"page_size": 0},
        {"page_size": 101},
        {"page_size": True},
        {"status": "exploded"},
        {"cursor": "a b"},
        {"cursor": "x" * 600},
    ],
)
def test_bad_filters_are_refused_before_sending(client: ExotelClient, server: ScriptedExotel,
                                                kw: dict[str, Any]) -> None:
    args: dict[str, Any] = {"created_from": START, "created_to": END, **kw}
    with pytest.raises(ValidationError):
        client.list_calls_page(**args)
    assert server.seen == []


def test_status_filter_and_account_time_zone(server: ScriptedExotel) -> None:
    server.default = Reply(200, page([call_obj("CA1", created="2024-05-01 04:35:00")]))
    utc = timezone.utc  # noqa: UP017
    with ExotelClient(make_account(server.url), account_tz=utc) as c:
        calls, _ = c.list_calls_page(created_from=START, created_to=END,
                                     status=["Completed", "busy"])
    q = query_of(server.seen[0].path)
    assert q["DateCreated"] == "gte:2024-05-01 04:30:00;lte:2024-05-01 05:00:00"
    assert q["Status"] == "completed,busy"
    assert calls[0].date_created == datetime(2024, 5, 1, 4, 35, tzinfo=UTC)


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(429, '{"RestException": {"Status": 429, "Message": "slow down"}}',
               headers={"Retry-After": "4", "X-RateLimit-Remaining": "0"}), RateLimitedError),
        (Reply(500, "down", "text/plain"), TransientError),
        (Reply(200, '{"Call": {"Sid": "CA1"}}'), TransientError),  # not a bulk answer
        (Reply(200, "<html>login</html>", "text/html"), TransientError),
    ],
)
def test_a_page_is_one_request_never_retried(client: ExotelClient, server: ScriptedExotel,
                                             reply: Reply, error: type[Exception]) -> None:
    server.reply(reply)
    server.default = Reply(200, page([call_obj("CA1")]))
    with pytest.raises(error) as info:
        client.list_calls(created_from=START, created_to=END)
    assert len(server.seen) == 1
    if isinstance(info.value, RateLimitedError):
        assert (info.value.retry_after_s, info.value.rate_limit_remaining) == (4.0, 0)
