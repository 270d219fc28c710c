"""dialer.exotel.responses: bodies → CallUpdate, errors, and the cleaning of values."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from dialer.exotel import responses
from dialer.exotel.responses import ErrorInfo, MalformedResponseError, parse_body
from dialer.models import CallUpdate
from tests.exotel.seed_bodies import (
    V1_CONNECT_JSON,
    V1_CONNECT_XML,
    V1_DETAILS_JSON,
    V1_DETAILS_XML,
    V3_DETAILS_ACTIVE,
    V3_DETAILS_TERMINAL,
    V3_LEGS,
    v3_error,
)


def test_v1_details_json() -> None:
    update = responses.call_update_v1(parse_body(V1_DETAILS_JSON))
    assert update == CallUpdate(
        source="poll",
        call_sid="c5797dcbaaeed7678c4062a4a3ed2f8a",
        status="completed",
        leg1_status="completed",
        leg2_status="completed",
        start_time="2017-03-03 10:48:33",
        end_time="2017-03-03 10:49:41",
        date_updated="2017-03-03 10:50:10",
        duration_s=68,
        talk_time_s=52,
        price="1.50",  # the JSON number's text, not a float
        recording_url="https://recordings.exotel.com/exotelrecordings/Exotel/c579.mp3",
    )


def test_v1_details_xml() -> None:
    update = responses.call_update_v1(parse_body(V1_DETAILS_XML))
    assert update == CallUpdate(
        source="poll",
        call_sid="b6cfaf5e5d8a0d1f4cb7c2d6bd1b5c16",
        status="no-answer",
        leg1_status="no-answer",
        leg2_status=None,
        start_time="2017-03-03 10:48:33",
        end_time="2017-03-03 10:49:01",
        date_updated="2017-03-03 10:49:02",
        duration_s=28,
        talk_time_s=0,
        price="0.000",
    )


def test_v1_connect_bodies_have_empty_and_null_fields_as_none() -> None:
    xml = responses.call_update_v1(parse_body(V1_CONNECT_XML))
    assert (xml.status, xml.duration_s, xml.price, xml.recording_url) == (
        "in-progress", None, None, None
    )
    assert xml.end_time == "2012-08-17 12:32:57"
    js = responses.call_update_v1(parse_body(V1_CONNECT_JSON))
    assert (js.end_time, js.duration_s, js.price, js.leg1_status) == (None, None, None, None)


def test_v1_custom_field_digits_and_case() -> None:
    body = {"Call": {"Sid": " CA1 ", "Status": "COMPLETED", "CustomField": "att-1|x",
                     "Digits": "\"1\"", "Details": {"Leg1Status": "Busy"}}}
    update = responses.call_update_v1(body)
    assert (update.call_sid, update.status, update.leg1_status) == ("CA1", "completed", "busy")
    assert (update.custom_field, update.digits) == ("att-1|x", '"1"')


def test_v3_details_active_means_not_ended() -> None:
    update = responses.call_update_v3(parse_body(V3_DETAILS_ACTIVE))
    assert update == CallUpdate(
        source="poll",
        call_sid="cabfb1dfa8c5e1c7f2c458423b7716b3",
        status=None,
        start_time="2022-11-03 22:54:57+05:30",
        end_time=None,  # "1970-01-01 05:30:00+05:30"
        date_updated="2022-11-03 22:54:58+05:30",
    )


def test_v3_details_terminal() -> None:
    update = responses.call_update_v3(parse_body(V3_DETAILS_TERMINAL))
    assert update == CallUpdate(
        source="poll",
        call_sid="cabfb1dfa8c5e1c7f2c458423b7716b3",
        status="completed",
        start_time="2022-11-03 22:54:57+05:30",
        end_time="2022-11-03 22:56:04+05:30",
        date_updated="2022-11-03 22:56:05+05:30",
        talk_time_s=59,
        recording_url="https://s3-ap-south-1.amazonaws.com/exotel-mum1-recordings/Exotel/"
        "cabfb1dfa8c5e1c7f2c458423b7716b3.mp3",
    )


def test_v3_response_as_a_list_of_blocks() -> None:
    data = json.loads(V3_DETAILS_TERMINAL)
    data["response"] = [data["response"]]
    assert responses.call_update_v3(data).status == "completed"


def test_v3_legs_take_the_last_entry_of_each_side() -> None:
    data = json.loads(V3_LEGS)
    data["response"]["leg_details"]["to"].reverse()
    assert responses.leg_statuses_v3(data) == ("completed", "no-answer")


@pytest.mark.parametrize(
    ("leg_details", "expected"),
    [
        ({"from": [], "to": []}, (None, None)),
        ({"from": [{"status": "busy"}]}, ("busy", None)),
        ({"from": {"status": "Failed"}, "to": [{"status": "null"}]}, ("failed", None)),
        ({"from": ["junk"], "to": [{"status": ""}]}, (None, None)),
    ],
)
def test_v3_legs_partial(leg_details: dict[str, Any], expected: tuple[Any, Any]) -> None:
    body = {"response": {"code": 200, "status": "success", "leg_details": leg_details}}
    assert responses.leg_statuses_v3(body) == expected


def test_with_legs_never_overwrites_with_none() -> None:
    update = CallUpdate(source="poll", call_sid="CA1", leg1_status="completed")
    assert responses.with_legs(update, None, "busy").leg1_status == "completed"
    assert responses.with_legs(update, "failed", None).leg1_status == "failed"
    assert responses.with_legs(update, None, "busy").leg2_status == "busy"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None), ("", None), ("   ", None), ("null", None), ("NULL", None),
        ("Null", None), (" x ", "x"), (0, "0"), (Decimal("1.50"), "1.50"), (True, None),
        ("a\x00b", None), ("\ud800", None),
        ({"a": 1}, None), ([1], None), ("nullable", "nullable"),
    ],
)
def test_clean(value: Any, expected: str | None) -> None:
    assert responses.clean(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None), ("", None), ("null", None), (68, 68), ("68", 68), (Decimal("68.0"), 68),
        ("68.9", 68), ("abc", None), ("1e999999", None), ("nan", None), ("inf", None),
    ],
)
def test_clean_int(value: Any, expected: int | None) -> None:
    assert responses.clean_int(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1970-01-01 05:30:00+05:30", None), ("1970-01-01 00:00:00", None),
        ("0000-00-00 00:00:00", None), ("null", None), ("", None),
        ("2022-11-03 22:56:04+05:30", "2022-11-03 22:56:04+05:30"),
    ],
)
def test_clean_time(value: Any, expected: str | None) -> None:
    assert responses.clean_time(value) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (v3_error(401, 1010, "Authentication failed"),
         ErrorInfo(401, 1010, "Authentication failed")),
        (v3_error(409, 10706, "User device is currently busy"),
         ErrorInfo(409, 10706, "User device is currently busy")),
        (v3_error(400, 1002, "Valid values for RecordingChannels are single, dual"),
         ErrorInfo(400, 1002, "Valid values for RecordingChannels are single, dual")),
        ('{"http_code": 500, "response": {"code": 500, "status": "failure"}}',
         ErrorInfo(500, 500, None)),
        ('{"http_code": 404, "response": {"code": 1021, "error_data": null}}',
         ErrorInfo(404, 1021, None)),
        ('{"http_code": 409, "response": {"error_data": {"code": 10706, "message": "User '
         'device is currently busy", "description": "+919876543210 is on a call"}}}',
         ErrorInfo(409, 10706, "User device is currently busy: +919876543210 is on a call")),
        ('{"http_code": 400, "response": {"error_data": {"code": 1001, "description": "x"}}}',
         ErrorInfo(400, 1001, "x")),
        ('{"http_code": 200, "response": {"code": 200, "status": "success"}}', None),
        (V3_DETAILS_TERMINAL, None),
        ('{"Call": {"Sid": "x"}}', None),
        ('{"RestException": {"Status": "429", "Message": " slow down "}}',
         ErrorInfo(429, 429, "slow down")),
    ],
)
def test_error_info(body: str, expected: ErrorInfo | None) -> None:
    assert responses.error_info(parse_body(body)) == expected


@pytest.mark.parametrize(
    "body",
    [
        "",
        "Internal Server Error",
        "[1, 2]",
        "{not json",
        "<TwilioResponse><Call>",
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><r>&lol;</r>',
        '<!DOCTYPE r SYSTEM "file:///etc/passwd"><r/>',
        "<r><!ENTITY x 'y'></r>",
        "{" + " " * responses.MAX_BODY_CHARS + "}",
        '{"a":' * 100_000 + "1" + "}" * 100_000,  # nesting deeper than the stack
        "<a>" * 100_000 + "</a>" * 100_000,
    ],
)
def test_malformed_bodies(body: str) -> None:
    with pytest.raises(MalformedResponseError):
        parse_body(body)


@pytest.mark.parametrize(
    ("body", "parse"),
    [
        ("{}", responses.call_update_v1),
        ('{"Call": null}', responses.call_update_v1),
        ("<html><body>502 Bad Gateway</body></html>", responses.call_update_v1),
        ('{"response": {"call_details": null}}', responses.call_update_v3),
        ('{"response": {"leg_details": []}}', responses.leg_statuses_v3),
    ],
)
def test_bodies_without_the_block(body: str, parse: Any) -> None:
    with pytest.raises(MalformedResponseError):
        parse(parse_body(body))


def test_xml_repeated_elements_become_lists() -> None:
    data = parse_body("<TwilioResponse><Call><Details><Legs><Leg><Id>1</Id></Leg>"
                      "<Leg><Id>2</Id></Leg></Legs></Details></Call></TwilioResponse>")
    assert data == {"Call": {"Details": {"Legs": {"Leg": [{"Id": "1"}, {"Id": "2"}]}}}}


def test_xml_other_root_is_kept() -> None:
    assert parse_body("<RestException><Status>401</Status></RestException>") == {
        "RestException": {"Status": "401"}
    }
