"""StatusCallback parsing (v1 and v3, every transport) and the per-attempt URL token."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
import urllib3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialer.errors import ValidationError
from dialer.models import CallUpdate
from dialer.webhooks import (
    FIELD_CAPS,
    MAX_CALLBACK_BODY_BYTES,
    MAX_INT_VALUE,
    is_terminal,
    parse_callback,
    parse_v1,
    parse_v3,
)

# The example bodies of seed 002 (v3 CCM API), verbatim, split only to fit the line length.
SEED_V3_CREATE_RESPONSE = (
    '{ "request_id": "1e2acb77c0f84db4821e765510fdecff", "method": "POST", "http_code": 200, '
    '"metadata": null, "response": { "code": 200, "error_data": null, "status": "success", '
    '"call_details": { "sid": "3f3fedf8f0928550a60bfa6302dc16b2", "direction": "outbound", '
    '"virtual_number": "02241499102", "state": "active", "status": null, "legs": "/v3/'
    'accounts/Exotel/calls/3f3fedf8f0928550a60bfa6302dc16b2/legs", "created_time": '
    '"2022-11-02 23:49:51+05:30", "updated_time": "2022-11-02 23:49:52+05:30", "start_time": '
    '"2022-11-02 23:49:52+05:30", "end_time": null, "total_duration": null, '
    '"total_talk_time": null, "custom_field": "bilbo_test_call", "app_id": null, "app_name": '
    'null, "digits": null, "recordings": null } } }'
)

SEED_V3_STATUS_CALLBACK = (
    '{ "event_details": { "event_type": "terminal" }, "call_details": { "sid": '
    '"0ed3bd4755078e1f9f64d2de75ce16b3", "direction": "outbound", "virtual_number": '
    '"+912241499102", "state": "terminal", "status": "completed", "legs": "/v3/accounts/'
    'Exotel/calls/0ed3bd4755078e1f9f64d2de75ce16b3/legs", "created_time": "2022-11-03 '
    '00:18:32+05:30", "updated_time": "2022-11-03 00:19:02+05:30", "start_time": "2022-11-03 '
    '00:18:38+05:30", "end_time": "2022-11-03 00:19:02+05:30", "total_duration": null, '
    '"total_talk_time": 11, "custom_field": "bilbo_test_call", "app_id": null, "app_name": '
    'null, "digits": null, "recordings": [ { "url": "https://s3-ap-south-1.amazonaws.com/'
    'exotel-mum1-recordings/Exotel/0ed3bd4755078e1f9f64d2de75ce16b3.mp3" } ] } }'
)

SEED_V3_DETAILS_ACTIVE = (
    '{ "request_id": "62bd4015e8c04ecea3a5fbd7272f95ae", "method": "GET", "http_code": 200, '
    '"metadata": null, "response": { "code": 200, "error_data": null, "status": "success", '
    '"call_details": { "sid": "cabfb1dfa8c5e1c7f2c458423b7716b3", "direction": "outbound", '
    '"virtual_number": "+911414941199", "state": "active", "status": null, "legs": "/v3/'
    'accounts/Exotel/calls/cabfb1dfa8c5e1c7f2c458423b7716b3/legs", "created_time": '
    '"2022-11-03 22:54:40+05:30", "updated_time": "2022-11-03 22:54:58+05:30", "start_time": '
    '"2022-11-03 22:54:57+05:30", "end_time": "1970-01-01 05:30:00+05:30", "total_duration": '
    'null, "total_talk_time": null, "custom_field": null, "app_id": null, "app_name": null, '
    '"digits": null, "recordings": null } } }'
)

SEED_V3_DETAILS_COMPLETED = (
    '{ "request_id": "9107ba6bdfc5493e806b7ea82706f2e0", "method": "GET", "http_code": 200, '
    '"metadata": null, "response": { "code": 200, "error_data": null, "status": "success", '
    '"call_details": { "sid": "cabfb1dfa8c5e1c7f2c458423b7716b3", "direction": "outbound", '
    '"virtual_number": "+911414941199", "state": "terminal", "status": "completed", "legs": '
    '"/v3/accounts/Exotel/calls/cabfb1dfa8c5e1c7f2c458423b7716b3/legs", "created_time": '
    '"2022-11-03 22:54:40+05:30", "updated_time": "2022-11-03 22:56:05+05:30", "start_time": '
    '"2022-11-03 22:54:57+05:30", "end_time": "2022-11-03 22:56:04+05:30", "total_duration": '
    'null, "total_talk_time": 59, "custom_field": null, "app_id": null, "app_name": null, '
    '"digits": null, "recordings": [ { "url": "https://s3-ap-south-1.amazonaws.com/'
    'exotel-mum1-recordings/Exotel/cabfb1dfa8c5e1c7f2c458423b7716b3.mp3" } ] } } }'
)


def multipart_urllib3(fields: dict[str, str]) -> tuple[str, bytes]:
    body, content_type = urllib3.encode_multipart_formdata(fields)
    return content_type, body


def multipart_requests(fields: dict[str, str]) -> tuple[str, bytes]:
    files = {name: (None, value) for name, value in fields.items()}
    prepared = requests.Request("POST", "https://example.test/cb", files=files).prepare()
    assert isinstance(prepared.body, bytes)
    return prepared.headers["Content-Type"], prepared.body


def urlencoded(fields: dict[str, str] | list[tuple[str, str]]) -> tuple[str, bytes]:
    return "application/x-www-form-urlencoded", urlencode(fields).encode()


def as_json(obj: Any) -> tuple[str, bytes]:
    return "application/json", json.dumps(obj).encode()


def update(**fields: Any) -> CallUpdate:
    return CallUpdate(source="callback", **fields)


# A complete v1 StatusCallback (seed 004: StatusCallbackEvents, leg details).
V1_FIELDS = {
    "CallSid": "b6cfaf0a0a6f3f1b8b1f5d4f6c1b2a3c",
    "Status": "completed",
    "RecordingUrl": "https://recordings.exotel.com/exotelrecordings/acme/b6cf.mp3",
    "DateUpdated": "2024-05-01 10:00:12",
    "CustomField": "order-42",
    "EventType": "terminal",
    "StartTime": "2024-05-01 09:59:30",
    "EndTime": "2024-05-01 10:00:10",
    "ConversationDuration": "25",
    "Duration": "40",
    "Price": "0.75",
    "Digits": "1-2",
    "Legs[0][Status]": "completed",
    "Legs[1][Status]": "completed",
}
V1_EXPECTED = update(
    call_sid="b6cfaf0a0a6f3f1b8b1f5d4f6c1b2a3c",
    event="terminal",
    status="completed",
    leg1_status="completed",
    leg2_status="completed",
    start_time="2024-05-01 09:59:30",
    end_time="2024-05-01 10:00:10",
    date_updated="2024-05-01 10:00:12",
    duration_s=40,
    talk_time_s=25,
    price="0.75",
    recording_url="https://recordings.exotel.com/exotelrecordings/acme/b6cf.mp3",
    digits="1-2",
    custom_field="order-42",
)
V1_JSON = {
    **{k: v for k, v in V1_FIELDS.items() if not k.startswith("Legs[")},
    "ConversationDuration": 25,
    "Duration": 40.0,
    "Price": 0.75,
    "Legs": [
        {"Status": "completed", "OnCallDuration": 30},
        {"Status": "no-answer", "OnCallDuration": 0},
    ],
}
# Seeds 000/003: the four parameters of the original StatusCallback.
V1_CLASSIC = {
    "CallSid": "c5797dcbaaeed7678c4062a4a3ed2f8a",
    "Status": "no-answer",
    "RecordingUrl": "",
    "DateUpdated": "2017-03-03 10:49:33",
}
V1_CLASSIC_EXPECTED = update(
    call_sid="c5797dcbaaeed7678c4062a4a3ed2f8a",
    status="no-answer",
    date_updated="2017-03-03 10:49:33",
)

V3_DOC = json.loads(SEED_V3_STATUS_CALLBACK)
V3_EXPECTED = update(
    call_sid="0ed3bd4755078e1f9f64d2de75ce16b3",
    event="terminal",
    status="completed",
    start_time="2022-11-03 00:18:38+05:30",
    end_time="2022-11-03 00:19:02+05:30",
    date_updated="2022-11-03 00:19:02+05:30",
    talk_time_s=11,
    recording_url=(
        "https://s3-ap-south-1.amazonaws.com/exotel-mum1-recordings/Exotel/"
        "0ed3bd4755078e1f9f64d2de75ce16b3.mp3"
    ),
    custom_field="bilbo_test_call",
)
V3_QUERY = [
    ("event_details", json.dumps(V3_DOC["event_details"])),
    ("call_details", json.dumps(V3_DOC["call_details"])),
    ("token", "abc"),
]
V3_ANSWERED = {
    "event_details": {"event_type": "answered"},
    "call_details": {**V3_DOC["call_details"], "status": "in-progress", "recordings": None},
}
TOKEN_QUERY = {"token": "t0k3n"}


def _case(
    name: str,
    method: str,
    wire: tuple[str | None, bytes],
    query: Any,
    expected: CallUpdate,
) -> Any:
    return pytest.param(method, wire[0], wire[1], query, expected, id=name)


PARSE_CASES = [
    _case("v1-multipart-urllib3", "POST", multipart_urllib3(V1_FIELDS), TOKEN_QUERY, V1_EXPECTED),
    _case("v1-multipart-requests", "POST", multipart_requests(V1_FIELDS), [], V1_EXPECTED),
    _case("v1-multipart-classic", "POST", multipart_urllib3(V1_CLASSIC), {}, V1_CLASSIC_EXPECTED),
    _case("v1-urlencoded", "POST", urlencoded(V1_FIELDS), TOKEN_QUERY, V1_EXPECTED),
    _case(
        "v1-urlencoded-charset",
        "POST",
        ("application/x-www-form-urlencoded; charset=UTF-8", urlencoded(V1_FIELDS)[1]),
        {},
        V1_EXPECTED,
    ),
    _case(
        "v1-json-legs-array",
        "POST",
        as_json(V1_JSON),
        TOKEN_QUERY,
        V1_EXPECTED.model_copy(update={"leg2_status": "no-answer"}),
    ),
    _case(
        "v1-json-charset-param",
        "post",
        ("Application/JSON; charset=utf-8", json.dumps(V1_CLASSIC).encode()),
        {},
        V1_CLASSIC_EXPECTED,
    ),
    _case(
        "v1-get-query-pairs", "GET", (None, b""), [*V1_FIELDS.items(), ("token", "x")], V1_EXPECTED
    ),
    _case("v1-get-query-mapping", "GET", ("application/json", b""), V1_FIELDS, V1_EXPECTED),
    _case("v1-post-empty-body-uses-query", "POST", (None, b""), V1_CLASSIC, V1_CLASSIC_EXPECTED),
    _case(
        "v1-flat-leg-statuses",
        "POST",
        urlencoded({**V1_CLASSIC, "Leg1Status": "Completed", "Leg2Status": " BUSY "}),
        {},
        V1_CLASSIC_EXPECTED.model_copy(update={"leg1_status": "completed", "leg2_status": "busy"}),
    ),
    _case(
        "v1-answered-event",
        "POST",
        multipart_urllib3({"CallSid": "abc", "Status": "in-progress", "EventType": "answered"}),
        {},
        update(call_sid="abc", status="in-progress", event="answered"),
    ),
    _case(
        "v1-case-insensitive-keys",
        "POST",
        urlencoded({"callsid": "abc", "STATUS": "Busy", "legs[1][status]": "busy"}),
        {},
        update(call_sid="abc", status="busy", leg2_status="busy"),
    ),
    _case(
        "v1-sniff-json", "POST", (None, json.dumps(V1_CLASSIC).encode()), {}, V1_CLASSIC_EXPECTED
    ),
    _case(
        "v1-sniff-form", "POST", ("text/plain", urlencoded(V1_CLASSIC)[1]), {}, V1_CLASSIC_EXPECTED
    ),
    _case(
        "v1-multipart-boundary-missing-from-header",
        "POST",
        ("multipart/form-data", multipart_urllib3(V1_CLASSIC)[1]),
        {},
        V1_CLASSIC_EXPECTED,
    ),
    _case(
        "v1-repeated-field-first-wins",
        "POST",
        urlencoded([("CallSid", "first"), ("CallSid", "second")]),
        {},
        update(call_sid="first"),
    ),
    _case("v3-post-json-seed", "POST", as_json(V3_DOC), TOKEN_QUERY, V3_EXPECTED),
    _case(
        "v3-post-json-no-content-type",
        "POST",
        (None, SEED_V3_STATUS_CALLBACK.encode()),
        {},
        V3_EXPECTED,
    ),
    _case(
        "v3-post-json-answered",
        "POST",
        as_json(V3_ANSWERED),
        {},
        V3_EXPECTED.model_copy(
            update={"event": "answered", "status": "in-progress", "recording_url": None}
        ),
    ),
    _case("v3-get-query-pairs", "GET", ("application/json", b""), V3_QUERY, V3_EXPECTED),
    _case("v3-get-query-mapping", "GET", (None, b""), dict(V3_QUERY), V3_EXPECTED),
    _case("v3-post-urlencoded", "POST", urlencoded(V3_QUERY), {}, V3_EXPECTED),
    _case("v3-post-multipart", "POST", multipart_urllib3(dict(V3_QUERY)), {}, V3_EXPECTED),
    _case("v3-post-json-string-blocks", "POST", as_json(dict(V3_QUERY)), {}, V3_EXPECTED),
    _case(
        "v3-call-details-only",
        "GET",
        (None, b""),
        [("call_details", json.dumps(V3_DOC["call_details"]))],
        V3_EXPECTED.model_copy(update={"event": None}),
    ),
]


@pytest.mark.parametrize(("method", "content_type", "body", "query", "expected"), PARSE_CASES)
def test_parse_callback_shapes(
    method: str, content_type: str | None, body: bytes, query: Any, expected: CallUpdate
) -> None:
    assert parse_callback(method, content_type, body, query) == expected


# --- seed 002 bodies verbatim ----------------------------------------------------------


def test_seed_v3_status_callback_verbatim() -> None:
    got = parse_callback("POST", "application/json", SEED_V3_STATUS_CALLBACK.encode(), {})
    assert got == V3_EXPECTED
    assert is_terminal(got)


def test_seed_v3_create_response_is_not_terminal() -> None:
    got = parse_callback("POST", "application/json", SEED_V3_CREATE_RESPONSE.encode(), {})
    assert got == update(
        call_sid="3f3fedf8f0928550a60bfa6302dc16b2",
        start_time="2022-11-02 23:49:52+05:30",
        date_updated="2022-11-02 23:49:52+05:30",
        custom_field="bilbo_test_call",
    )
    assert not is_terminal(got)


def test_seed_v3_details_active_epoch_end_time_is_none() -> None:
    got = parse_v3(json.loads(SEED_V3_DETAILS_ACTIVE), source="poll")
    assert got.source == "poll"
    assert got.call_sid == "cabfb1dfa8c5e1c7f2c458423b7716b3"
    assert got.end_time is None  # "1970-01-01 05:30:00+05:30" means not ended
    assert got.status is None
    assert not is_terminal(got)


def test_seed_v3_details_completed() -> None:
    got = parse_callback("POST", "application/json", SEED_V3_DETAILS_COMPLETED.encode(), {})
    assert got == update(
        call_sid="cabfb1dfa8c5e1c7f2c458423b7716b3",
        status="completed",
        start_time="2022-11-03 22:54:57+05:30",
        end_time="2022-11-03 22:56:04+05:30",
        date_updated="2022-11-03 22:56:05+05:30",
        talk_time_s=59,
        recording_url=(
            "https://s3-ap-south-1.amazonaws.com/exotel-mum1-recordings/Exotel/"
            "cabfb1dfa8c5e1c7f2c458423b7716b3.mp3"
        ),
    )
    assert is_terminal(got)


# --- normalisation --------------------------------------------------------------------

NULL_LIKE = ["", "   ", "\t\n", "null", "NULL", "Null", "None", " none ", None]


@pytest.mark.parametrize("value", NULL_LIKE)
def test_null_like_values_are_none(value: Any) -> None:
    keys = [k for k in V1_FIELDS if not k.startswith("Legs[")]
    fields = {k: value for k in [*keys, "Leg1Status", "Leg2Status"]}
    assert parse_v1(fields) == update()
    call = {k: value for k in ("sid", "status", "start_time", "end_time", "custom_field")}
    assert parse_v3({"event_details": {"event_type": value}, "call_details": call}) == update()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12", 12),
        ("12.0", 12),
        (" 7 ", 7),
        ("+5", 5),
        (12, 12),
        (12.0, 12),
        (12.9, 12),
        ("0", 0),
        (MAX_INT_VALUE, MAX_INT_VALUE),
        (MAX_INT_VALUE + 1, None),
        (str(MAX_INT_VALUE + 1), None),
        ("99999999999", None),
        ("abc", None),
        ("-3", None),
        (-3, None),
        (-0.5, None),
        ("1e3", None),
        ("12 s", None),
        (True, None),
        (float("nan"), None),
        (float("inf"), None),
        ([12], None),
        ({"v": 12}, None),
        (10**400, None),
    ],
)
def test_integers_are_parsed_leniently(raw: Any, expected: int | None) -> None:
    assert parse_v1({"Duration": raw}).duration_s == expected
    assert parse_v1({"ConversationDuration": raw}).talk_time_s == expected
    assert parse_v3({"call_details": {"total_talk_time": raw}}).talk_time_s == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" Completed ", "completed"),
        ("NO-ANSWER", "no-answer"),
        ("canceled", "canceled"),
        ("ringing", "ringing"),
        ("Some-New-Status", "some-new-status"),  # kept, never terminal
        ("x" * 65, None),
        (12, None),
        (["completed"], None),
        ({"status": "completed"}, None),
        (True, None),
    ],
)
def test_statuses_are_lower_cased_and_typed(raw: Any, expected: str | None) -> None:
    got = parse_v1({"Status": raw, "Legs": [{"Status": raw}, {"Status": raw}]})
    assert (got.status, got.leg1_status, got.leg2_status) == (expected, expected, expected)
    assert parse_v3({"call_details": {"status": raw}}).status == expected


def test_unknown_status_is_not_terminal() -> None:
    got = parse_v1({"Status": "Terminated-By-Operator"})
    assert got.status == "terminated-by-operator"
    assert not is_terminal(got)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0.75", "0.75"),
        (" 1.50 ", "1.50"),
        (0.75, "0.75"),
        (1e-05, "0.00001"),
        (2, "2"),
        ("-0.25", "-0.25"),
        ("INR 1.00", None),
        ("1e5", None),
        ("1" * 40, None),
        (1e30, None),
        (float("nan"), None),
        (True, None),
        (["0.75"], None),
    ],
)
def test_price_is_a_short_decimal_string(raw: Any, expected: str | None) -> None:
    assert parse_v1({"Price": raw}).price == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ANSWERED", "answered"),
        (" terminal ", "terminal"),
        ("ringing", None),
        (1, None),
        ([], None),
    ],
)
def test_event_type(raw: Any, expected: str | None) -> None:
    assert parse_v1({"EventType": raw}).event == expected
    assert parse_v3({"event_details": {"event_type": raw}, "call_details": {}}).event == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-05-01 10:00:10", "2024-05-01 10:00:10"),
        ("2022-11-03 22:56:04+05:30", "2022-11-03 22:56:04+05:30"),
        ("1970-01-01 05:30:00+05:30", None),
        ("1970-01-01 00:00:00", None),
        ("0000-00-00 00:00:00", None),
        ("9" * 65, None),
        (1700000000, None),
    ],
)
def test_times(raw: Any, expected: str | None) -> None:
    got = parse_v1({"StartTime": raw, "EndTime": raw, "DateUpdated": raw})
    assert (got.start_time, got.end_time, got.date_updated) == (expected, expected, expected)
    call = {"start_time": raw, "end_time": raw, "updated_time": raw}
    got = parse_v3({"call_details": call})
    assert (got.start_time, got.end_time, got.date_updated) == (expected, expected, expected)


@pytest.mark.parametrize(
    ("raw", "ok"),
    [
        ("https://s3.amazonaws.com/r/a.mp3", True),
        ("HTTP://host/a.mp3?x=1&y=2", True),
        ("https://h/" + "a" * (FIELD_CAPS["recording_url"] - 10), True),
        ("https://h/" + "a" * (FIELD_CAPS["recording_url"] - 9), False),
        ("javascript:alert(1)", False),
        ("ftp://host/a.mp3", False),
        ("/relative/a.mp3", False),
        ("https://host/a b.mp3", False),
        ("https://host/a\x00.mp3", False),
        (42, False),
        ({"url": "https://h/a"}, False),
    ],
)
def test_recording_url(raw: Any, ok: bool) -> None:
    expected = raw.strip() if ok else None
    assert parse_v1({"RecordingUrl": raw}).recording_url == expected
    assert parse_v3({"call_details": {"recordings": [{"url": raw}]}}).recording_url == expected


@pytest.mark.parametrize(
    "recordings",
    [None, "null", [], [None], [{}], [{"url": None}], {"url": "https://h/a"}, 5, "[{bad json"],
)
def test_v3_recordings_of_the_wrong_shape(recordings: Any) -> None:
    assert parse_v3({"call_details": {"recordings": recordings}}).recording_url is None


def test_v3_first_usable_recording_wins() -> None:
    recs = [{"url": "not a url"}, {"URL": "https://h/1.mp3"}, {"url": "https://h/2.mp3"}]
    assert parse_v3({"call_details": {"recordings": recs}}).recording_url == "https://h/1.mp3"


@pytest.mark.parametrize(
    ("field", "key", "cap"),
    [
        ("custom_field", "CustomField", FIELD_CAPS["custom_field"]),
        ("call_sid", "CallSid", FIELD_CAPS["call_sid"]),
        ("digits", "Digits", FIELD_CAPS["digits"]),
    ],
)
def test_over_long_strings_become_none(field: str, key: str, cap: int) -> None:
    assert getattr(parse_v1({key: "a" * cap}), field) == "a" * cap
    assert getattr(parse_v1({key: "a" * (cap + 1)}), field) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("order-42", "order-42"),
        ("  order-42  ", "order-42"),
        ("ünïcödé ✓", "ünïcödé ✓"),
        (42, "42"),
        (1.5, "1.5"),
        (True, None),
        (["order-42"], None),
        ({"id": 42}, None),
    ],
)
def test_custom_field_types(raw: Any, expected: str | None) -> None:
    assert parse_v1({"CustomField": raw}).custom_field == expected
    assert parse_v3({"call_details": {"custom_field": raw}}).custom_field == expected


def test_non_ascii_values_survive_every_transport() -> None:
    fields = {"CallSid": "abc", "CustomField": "ऑर्डर-४२ ✓"}
    for wire in (multipart_urllib3(fields), multipart_requests(fields), urlencoded(fields)):
        assert parse_callback("POST", wire[0], wire[1], {}).custom_field == "ऑर्डर-४२ ✓"


def test_multipart_latin1_part_charset_and_file_parts() -> None:
    body = (
        b'--B\r\nContent-Disposition: form-data; name="CustomField"\r\n'
        b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\ncaf\xe9\r\n"
        b'--B\r\nContent-Disposition: form-data; name="CallSid"; filename="x.txt"\r\n\r\n'
        b"from-a-file\r\n"
        b"--B\r\nContent-Disposition: form-data\r\n\r\nnameless\r\n"
        b"--B--\r\n"
    )
    got = parse_callback("POST", "multipart/form-data; boundary=B", body, {})
    assert got == update(custom_field="café")


@pytest.mark.parametrize(
    ("legs", "expected"),
    [
        ([{"Status": "completed"}, {"status": "busy"}], ("completed", "busy")),
        ([{"Status": "completed"}], ("completed", None)),
        ({"0": {"Status": "failed"}, "1": {"Status": "no-answer"}}, ("failed", "no-answer")),
        ('[{"Status": "completed"}, {"Status": "busy"}]', ("completed", "busy")),
        (["completed", 5], (None, None)),
        ("not json", (None, None)),
        ([], (None, None)),
        (None, (None, None)),
    ],
)
def test_leg_statuses_from_a_legs_array(legs: Any, expected: tuple[Any, Any]) -> None:
    got = parse_v1({"Legs": legs})
    assert (got.leg1_status, got.leg2_status) == expected


def test_legs_array_wins_over_flat_keys_which_fill_gaps() -> None:
    got = parse_v1({"Legs": [{"Status": "completed"}], "Leg1Status": "busy", "Leg2Status": "busy"})
    assert (got.leg1_status, got.leg2_status) == ("completed", "busy")


def test_legs_json_string_in_a_form() -> None:
    legs = json.dumps([{"Status": "completed"}, {"Status": "no-answer"}])
    ct, body = urlencoded({"CallSid": "abc", "Legs": legs})
    got = parse_callback("POST", ct, body, {})
    assert (got.leg1_status, got.leg2_status) == ("completed", "no-answer")


def test_v3_wrong_block_types_are_ignored() -> None:
    assert parse_v3({"event_details": "terminal", "call_details": [1, 2]}) == update()
    got = parse_callback("POST", "application/json", b'{"call_details": null}', {})
    assert got == update()
    # In a JSON body a block that is a string but not JSON is a wrong type, not an error.
    body = json.dumps({"event_details": "{oops", "call_details": ":"}).encode()
    assert parse_callback("POST", "application/json", body, {}) == update()


# --- errors -----------------------------------------------------------------------------


def test_body_at_the_limit_is_accepted_and_one_byte_more_is_refused() -> None:
    doc = json.dumps({"CallSid": "abc"}).encode()
    at_limit = doc + b" " * (MAX_CALLBACK_BODY_BYTES - len(doc))
    assert parse_callback("POST", "application/json", at_limit, {}).call_sid == "abc"
    with pytest.raises(ValidationError) as info:
        parse_callback("POST", "application/json", at_limit + b" ", {})
    assert info.value.field == "body"
    assert "larger" in str(info.value)


def test_oversized_body_is_refused_even_for_get() -> None:
    with pytest.raises(ValidationError):
        parse_callback("GET", None, b"x" * (MAX_CALLBACK_BODY_BYTES + 1), {})


def test_oversized_query_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        parse_callback("GET", None, b"", {"CustomField": "x" * MAX_CALLBACK_BODY_BYTES})
    assert info.value.field == "query"


@pytest.mark.parametrize(
    ("content_type", "body", "field", "words"),
    [
        ("application/json", b'{"CallSid": "abc"', "body", "JSON"),
        ("application/json", b"[1, 2]", "body", "object"),
        ("application/json", b'"completed"', "body", "object"),
        ("application/json", b"[" * 50_000, "body", "JSON"),
        ("application/json", b'{"CallSid": "\xff\xfe"}', "body", "utf-8"),
        ("application/json; charset=no-such-charset", b"{}", "content_type", "charset"),
        ("application/json; charset=base64", b"{}", "content_type", "charset"),
        ("application/x-www-form-urlencoded", b"CallSid=\xff", "body", "utf-8"),
        ("application/x-www-form-urlencoded", b"CallSid=%ff%fe", "body", "utf-8"),
        ("multipart/form-data", b"CallSid=abc", "content_type", "boundary"),
        (
            "multipart/form-data; boundary=nope",
            b"--other\r\n\r\nx\r\n--other--",
            "body",
            "multipart",
        ),
        (
            "multipart/form-data; boundary=B",
            b'--B\r\nContent-Disposition: form-data; name="CallSid"\r\n\r\n\xff\r\n--B--',
            "body",
            "CallSid",
        ),
        (None, b'{"CallSid": ', "body", "JSON"),
    ],
)
def test_malformed_bodies_raise_validation_error(
    content_type: str | None, body: bytes, field: str, words: str
) -> None:
    with pytest.raises(ValidationError) as info:
        parse_callback("POST", content_type, body, {})
    assert info.value.field == field
    assert words in str(info.value)


@pytest.mark.parametrize("block", ["call_details", "event_details"])
def test_v3_get_with_malformed_json_block_raises(block: str) -> None:
    query = {"call_details": "{}", "event_details": "{}", block: "{not json"}
    with pytest.raises(ValidationError) as info:
        parse_callback("GET", None, b"", query)
    assert info.value.field == block


def test_v3_get_with_null_blocks_is_empty() -> None:
    assert parse_callback("GET", None, b"", {"call_details": "null"}) == update()


def test_lenient_inputs() -> None:
    """Beyond the declared types: a raw query string, bytearray, None, junk query items."""
    loose: Any = parse_callback
    assert loose("GET", None, b"", "CallSid=abc&Status=busy") == update(
        call_sid="abc", status="busy"
    )
    assert loose("POST", None, bytearray(b"CallSid=abc"), None) == update(call_sid="abc")
    assert loose("POST", "application/x-www-form-urlencoded", b"  \r\n", {}) == update()
    junk = [("CallSid",), ("a", 1), ("CallSid", "x")]
    assert loose("GET", None, b"", junk) == update(call_sid="x")


# --- is_terminal --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "event", "terminal"),
    [
        ("completed", None, True),
        ("completed", "terminal", True),
        ("busy", None, True),
        ("no-answer", "terminal", True),
        ("failed", None, True),
        ("canceled", None, True),
        ("completed", "answered", False),
        ("in-progress", "answered", False),
        ("in-progress", None, False),
        ("ringing", None, False),
        ("queued", "terminal", False),
        ("something-else", "terminal", False),
        (None, "terminal", False),
    ],
)
def test_is_terminal(status: str | None, event: str | None, terminal: bool) -> None:
    assert is_terminal(update(status=status, event=event)) is terminal


def test_module_is_pure() -> None:
    import subprocess
    import sys

    code = (
        "import sys, dialer.webhooks\n"
        "bad = [m for m in ('redis', 'celery', 'fastapi', 'starlette', 'requests', 'httpx')"
        " if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --- properties ---------------------------------------------------------------------------

V1_KEYS = [
    "CallSid",
    "Status",
    "RecordingUrl",
    "DateUpdated",
    "CustomField",
    "EventType",
    "StartTime",
    "EndTime",
    "ConversationDuration",
    "Duration",
    "Price",
    "Digits",
    "Legs",
    "Legs[0][Status]",
    "Legs[1][Status]",
    "Leg1Status",
    "Leg2Status",
    "callsid",
    "STATUS",
]
V3_CALL_KEYS = [
    "sid",
    "status",
    "start_time",
    "end_time",
    "updated_time",
    "total_duration",
    "total_talk_time",
    "custom_field",
    "digits",
    "recordings",
    "legs",
    "state",
]
LONG_TEXT = st.sampled_from([63, 64, 65, 255, 256, 257, 2047, 2048, 2049, 4000]).flatmap(
    lambda n: st.sampled_from(["a" * n, "https://h/" + "a" * max(n - 10, 0), " " * n])
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["null", "None", " ", "12.0", "-1", "completed", "ANSWERED", "1970-01-01"])
    | st.sampled_from(["https://h/r.mp3", "0.50", "1e400", "NaN"])
    | LONG_TEXT
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["url", "Status", "status", "x"]), inner, max_size=3)
    ),
    max_leaves=8,
)
V1_DOCS = st.dictionaries(st.sampled_from(V1_KEYS), JSON_VALUES, max_size=len(V1_KEYS))
V3_DOCS = st.fixed_dictionaries(
    {
        "event_details": st.dictionaries(st.sampled_from(["event_type"]), JSON_VALUES)
        | JSON_VALUES,
        "call_details": st.dictionaries(st.sampled_from(V3_CALL_KEYS), JSON_VALUES) | JSON_VALUES,
    }
)


def assert_within_caps(got: CallUpdate) -> None:
    assert got.source == "callback"
    for name, cap in FIELD_CAPS.items():
        value = getattr(got, name)
        if value is not None:
            assert isinstance(value, str)
            assert 0 < len(value) <= cap, name
            assert value == value.strip(), name
            assert value.lower() not in ("null", "none"), name
    for name in ("status", "leg1_status", "leg2_status", "event"):
        value = getattr(got, name)
        assert value is None or value == value.lower()
    assert got.event in (None, "terminal", "answered")
    for name in ("duration_s", "talk_time_s"):
        value = getattr(got, name)
        assert value is None or (type(value) is int and 0 <= value <= MAX_INT_VALUE)


def _parse_or_validation_error(method: str, content_type: Any, body: bytes, query: Any) -> None:
    try:
        got = parse_callback(method, content_type, body, query)
    except ValidationError:
        return
    assert isinstance(got, CallUpdate)
    assert_within_caps(got)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=V1_DOCS | V3_DOCS)
def test_json_documents_with_random_value_types_never_raise(doc: dict[str, Any]) -> None:
    assert_within_caps(parse_v1(doc))
    assert_within_caps(parse_v3(doc))
    body = json.dumps(doc).encode()
    if len(body) <= MAX_CALLBACK_BODY_BYTES:
        assert_within_caps(parse_callback("POST", "application/json", body, {}))


FORM_VALUES = st.text(max_size=30) | LONG_TEXT | SCALARS.map(lambda v: json.dumps(v))
FORM_PAIRS = st.lists(
    st.tuples(st.sampled_from([*V1_KEYS, "event_details", "call_details"]), FORM_VALUES),
    max_size=8,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pairs=FORM_PAIRS, transport=st.sampled_from(["urlencoded", "multipart", "get"]))
def test_form_fields_with_random_values_never_raise(
    pairs: list[tuple[str, str]], transport: str
) -> None:
    if transport == "get":
        _parse_or_validation_error("GET", None, b"", pairs)
        return
    if transport == "multipart":
        body, content_type = urllib3.encode_multipart_formdata(pairs)
    else:
        content_type, body = urlencoded(pairs)
    _parse_or_validation_error("POST", content_type, body, {})


CONTENT_TYPES = (
    st.none()
    | st.sampled_from(
        [
            "application/json",
            "application/json; charset=latin-1",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "multipart/form-data; boundary=B",
            'multipart/form-data; boundary="a b"',
            "multipart/form-data; boundary=",
            "multipart/form-data; charset=utf-16; boundary=B",
            "text/plain",
            "application/xml",
        ]
    )
    | st.text(max_size=60)
)
BODY_FRAGMENTS = st.sampled_from(
    [
        b"--B\r\n",
        b"--B--\r\n",
        b'Content-Disposition: form-data; name="CallSid"\r\n\r\n',
        b"Content-Disposition: form-data; name*=utf-8''Status\r\n\r\n",
        b"Content-Transfer-Encoding: base64\r\n",
        b"Content-Type: text/plain; charset=bogus\r\n",
        b"\r\n",
        b"{",
        b"}",
        b'"call_details": ',
        b'"Legs": [',
        b"CallSid=abc&",
        b"%ff",
        b"\xff\xfe",
        b"null",
        b"completed",
    ]
)
BODIES = st.binary(max_size=400) | st.lists(
    BODY_FRAGMENTS | st.binary(max_size=8), max_size=12
).map(b"".join)
QUERIES = (
    st.lists(st.tuples(st.text(max_size=20), st.text(max_size=40)), max_size=5)
    | st.dictionaries(st.sampled_from([*V1_KEYS, "call_details", "event_details"]), FORM_VALUES)
    | st.text(max_size=80)
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(["POST", "GET", "post", "HEAD", "PUT"]) | st.text(max_size=6),
    content_type=CONTENT_TYPES,
    body=BODIES,
    query=QUERIES,
)
def test_arbitrary_requests_give_an_update_or_validation_error(
    method: str, content_type: str | None, body: bytes, query: Any
) -> None:
    _parse_or_validation_error(method, content_type, body, query)
