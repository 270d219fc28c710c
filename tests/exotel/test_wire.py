"""dialer.exotel.wire: a callback and a poll answer carrying the same values read the same.

Each case sends the same (often bad) values once as a StatusCallback request through
``dialer.webhooks.parse_callback`` and once as a call-details answer through
``dialer.exotel.responses`` (``parse_body`` + ``call_update_v1`` / ``call_update_v3``), and
checks that the two updates are equal but for ``source``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialer.errors import ValidationError
from dialer.exotel import responses, wire
from dialer.models import CallUpdate
from dialer.webhooks import parse_callback

V1_POLL_KEYS = {  # callback field -> where a v1 Call object carries it
    "CallSid": "Sid",
    "Status": "Status",
    "StartTime": "StartTime",
    "EndTime": "EndTime",
    "DateUpdated": "DateUpdated",
    "Duration": "Duration",
    "Price": "Price",
    "RecordingUrl": "RecordingUrl",
    "Digits": "Digits",
    "CustomField": "CustomField",
}


def v1_callback_form(fields: dict[str, Any]) -> CallUpdate:
    body = urlencode(fields).encode()
    return parse_callback("POST", "application/x-www-form-urlencoded", body, {})


def has_surrogate(fields: dict[str, Any]) -> bool:
    return any(isinstance(v, str) and any(0xD800 <= ord(c) <= 0xDFFF for c in v)
               for v in fields.values())


def v1_callback_json(fields: dict[str, Any]) -> CallUpdate:
    return parse_callback("POST", "application/json", json.dumps(fields).encode(), {})


def v1_poll(fields: dict[str, Any], *, xml: bool = False) -> CallUpdate:
    call = {V1_POLL_KEYS.get(k, k): v for k, v in fields.items() if k in V1_POLL_KEYS}
    details = {k: v for k, v in fields.items() if k in ("ConversationDuration",
                                                        "Leg1Status", "Leg2Status")}
    if details:
        call["Details"] = details
    if xml:
        inner = "".join(f"<{k}>{v}</{k}>" for k, v in call.items() if k != "Details")
        inner += "<Details>" + "".join(f"<{k}>{v}</{k}>" for k, v in details.items())
        inner += "</Details>"
        text = f"<TwilioResponse><Call>{inner}</Call></TwilioResponse>"
    else:
        text = json.dumps({"Call": call})
    return responses.call_update_v1(responses.parse_body(text))


def as_poll(update: CallUpdate) -> CallUpdate:
    return update.model_copy(update={"source": "poll", "event": None})


GOOD = {"CallSid": "c5797dcbaaeed7678c4062a4a3ed2f8a", "Status": "completed"}

BAD_V1_VALUES: list[tuple[str, Any, str, Any]] = [
    # (field, value, CallUpdate attribute, expected)
    ("Duration", "-3", "duration_s", None),
    ("Duration", "1e3", "duration_s", None),
    ("Duration", "12 s", "duration_s", None),
    ("Duration", "99999999999", "duration_s", None),
    ("Duration", "12.9", "duration_s", 12),
    ("Duration", "null", "duration_s", None),
    ("ConversationDuration", "-1", "talk_time_s", None),
    ("ConversationDuration", "abc", "talk_time_s", None),
    ("Price", "INR 1.00", "price", None),
    ("Price", "1e5", "price", None),
    ("Price", "1" * 40, "price", None),
    ("Price", " 1.50 ", "price", "1.50"),
    ("RecordingUrl", "javascript:alert(1)", "recording_url", None),
    ("RecordingUrl", "ftp://host/a.mp3", "recording_url", None),
    ("RecordingUrl", "/relative/a.mp3", "recording_url", None),
    ("RecordingUrl", "https://host/a b.mp3", "recording_url", None),
    ("RecordingUrl", "https://h/" + "a" * 2048, "recording_url", None),
    ("CustomField", "a" * 257, "custom_field", None),
    ("CustomField", "None", "custom_field", None),
    ("CustomField", " order-42 ", "custom_field", "order-42"),
    ("Status", "x" * 65, "status", None),
    ("Status", " NO-ANSWER ", "status", "no-answer"),
    ("EndTime", "1970-01-01 05:30:00", "end_time", None),
    ("EndTime", "0000-00-00 00:00:00", "end_time", None),
    ("StartTime", "9" * 65, "start_time", None),
    ("Leg1Status", "BUSY", "leg1_status", "busy"),
    ("Leg2Status", "y" * 65, "leg2_status", None),
]


@pytest.mark.parametrize(("field", "value", "attr", "expected"), BAD_V1_VALUES)
def test_v1_callback_and_poll_read_bad_values_alike(field: str, value: Any, attr: str,
                                                    expected: Any) -> None:
    fields = {**GOOD, field: value}
    poll = v1_poll(fields)
    assert getattr(poll, attr) == expected
    assert as_poll(v1_callback_form(fields)) == poll
    assert as_poll(v1_callback_json(fields)) == poll
    if "&" not in str(value) and "<" not in str(value):
        assert v1_poll(fields, xml=True) == poll


@pytest.mark.parametrize(
    ("value", "expected"),
    [(68, 68), (68.0, 68), (12.9, 12), (-3, None), (10**8, None), (True, None), ("68", 68)],
)
def test_json_numbers_read_alike_as_float_and_decimal(value: Any, expected: int | None) -> None:
    fields = {**GOOD, "Duration": value, "Price": value}
    poll = v1_poll(fields)  # parsed with parse_float=Decimal
    assert poll.duration_s == expected
    assert as_poll(v1_callback_json(fields)) == poll


def test_v1_poll_reads_callback_style_legs_and_details() -> None:
    call = {"Sid": "CA1", "Details": {"ConversationDuration": 52,
                                      "Legs": [{"Status": "completed"}, {"Status": "busy"}]}}
    update = responses.call_update_v1({"Call": call})
    assert (update.leg1_status, update.leg2_status, update.talk_time_s) == (
        "completed", "busy", 52)
    xml = ("<TwilioResponse><Call><Sid>CA1</Sid><Details><Legs><Leg><Status>failed</Status>"
           "</Leg><Leg><Status>no-answer</Status></Leg></Legs></Details></Call>"
           "</TwilioResponse>")
    update = responses.call_update_v1(responses.parse_body(xml))
    assert (update.leg1_status, update.leg2_status) == ("failed", "no-answer")


V3_BAD_VALUES: list[tuple[str, Any, str, Any]] = [
    ("total_talk_time", -1, "talk_time_s", None),
    ("total_talk_time", "1e3", "talk_time_s", None),
    ("total_duration", 10**9, "duration_s", None),
    ("end_time", "1970-01-01 05:30:00+05:30", "end_time", None),
    ("recordings", [{"url": "ftp://h/a"}, {"url": "https://h/b.mp3"}], "recording_url",
     "https://h/b.mp3"),
    ("recordings", [{"url": "javascript:x"}], "recording_url", None),
    ("custom_field", "a" * 257, "custom_field", None),
    ("custom_field", True, "custom_field", None),
    ("status", ["completed"], "status", None),
]


@pytest.mark.parametrize(("key", "value", "attr", "expected"), V3_BAD_VALUES)
def test_v3_callback_and_poll_read_bad_values_alike(key: str, value: Any, attr: str,
                                                    expected: Any) -> None:
    call = {"sid": "cabfb1dfa8c5e1c7f2c458423b7716b3", "status": "completed", key: value}
    callback = parse_callback(
        "POST", "application/json",
        json.dumps({"event_details": {"event_type": "terminal"}, "call_details": call}).encode(),
        {},
    )
    poll = responses.call_update_v3(responses.parse_body(json.dumps(
        {"http_code": 200, "response": {"status": "success", "call_details": call}})))
    assert getattr(poll, attr) == expected
    assert callback.event == "terminal"
    assert as_poll(callback) == poll


# --- NUL and lone surrogates ----------------------------------------------------------------

UNSAFE = ["\ud800", "ab\udfffcd", "a\x00b", "\x00", "completed\ud83d"]


@pytest.mark.parametrize("value", UNSAFE)
def test_unsafe_strings_are_none_in_every_field(value: str) -> None:
    """A poll answer's unsafe values are None; a callback holding a lone surrogate is
    refused whole (it cannot come from Exotel), one with NUL reads like the poll."""
    fields = {k: value for k in (*V1_POLL_KEYS, "ConversationDuration", "EventType",
                                 "Leg1Status", "Leg2Status")}
    body = json.dumps(fields).encode()  # JSON escapes: "\ud800", "\u0000"
    surrogate = any(0xD800 <= ord(ch) <= 0xDFFF for ch in value)
    if surrogate:
        with pytest.raises(ValidationError, match="invalid Unicode"):
            parse_callback("POST", "application/json", body, {})
    else:
        assert parse_callback("POST", "application/json", body, {}) == CallUpdate(
            source="callback")
    poll = v1_poll(fields)
    assert poll == CallUpdate(source="poll")
    v3 = {"sid": value, "status": value, "custom_field": value, "digits": value,
          "recordings": [{"url": "https://h/" + value}], "start_time": value}
    v3_body = json.dumps({"call_details": v3, "event_details": {"event_type": value}}).encode()
    if surrogate:
        with pytest.raises(ValidationError, match="invalid Unicode"):
            parse_callback("POST", "application/json", v3_body, {})
    else:
        assert parse_callback("POST", "application/json", v3_body, {}) == CallUpdate(
            source="callback")
    v3_poll = responses.call_update_v3({"response": {"call_details": v3}})
    assert v3_poll == CallUpdate(source="poll")


def test_a_callback_with_a_surrogate_is_refused_and_a_poll_answer_drops_it() -> None:
    body = b'{"CallSid": "CA\\ud800", "Status": "completed", "CustomField": "ok"}'
    with pytest.raises(ValidationError, match="CallSid holds invalid Unicode"):
        parse_callback("POST", "application/json", body, {})
    poll = v1_poll({"CallSid": "CA\ud800", "Status": "completed"})
    assert (poll.call_sid, poll.status) == (None, "completed")
    poll.model_dump_json().encode("utf-8")  # downstream (Redis, events) can encode it
    assert responses.v1_call_sid({"Call": {"Sid": "CA\ud800"}}) is None
    assert responses.error_info({"RestException": {"Status": 400, "Message": "\ud800"}}) == (
        responses.ErrorInfo(400, 400, None))


# --- properties -------------------------------------------------------------------------------

VALUES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**12), max_value=10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["null", " ", "12.0", "-1", "1e3", "INR 1", "https://h/r.mp3",
                       "ftp://h/r", "1970-01-01 00:00:00", "\ud800", "a\x00", "COMPLETED"])
)
V1_FIELDS = st.dictionaries(
    st.sampled_from([*V1_POLL_KEYS, "ConversationDuration", "Leg1Status", "Leg2Status"]),
    VALUES,
).map(lambda d: {"CallSid": "CA1", **d})
V3_BLOCKS = st.dictionaries(
    st.sampled_from(["sid", "status", "start_time", "end_time", "updated_time",
                     "total_duration", "total_talk_time", "custom_field", "digits"]),
    VALUES,
).map(lambda d: {"state": "terminal", **d})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=V1_FIELDS)
def test_property_v1_callback_json_equals_poll(fields: dict[str, Any]) -> None:
    poll = v1_poll(fields)
    if has_surrogate(fields):
        with pytest.raises(ValidationError):  # a lone surrogate: the callback is refused
            v1_callback_json(fields)
        return
    assert as_poll(v1_callback_json(fields)) == poll
    poll.model_dump_json().encode("utf-8")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(call=V3_BLOCKS)
def test_property_v3_callback_equals_poll(call: dict[str, Any]) -> None:
    body = json.dumps({"call_details": call, "event_details": {"event_type": "terminal"}})
    if has_surrogate(call):
        with pytest.raises(ValidationError):  # a lone surrogate: the callback is refused
            parse_callback("POST", "application/json", body.encode(), {})
        return
    callback = parse_callback("POST", "application/json", body.encode(), {})
    poll = responses.call_update_v3(responses.parse_body(
        json.dumps({"response": {"call_details": call}})))
    assert as_poll(callback) == poll
    poll.model_dump_json().encode("utf-8")


@pytest.mark.parametrize(
    ("rule", "value", "expected"),
    [
        (wire.seconds, Decimal("68.0"), 68),
        (wire.seconds, Decimal("1e999999"), None),
        (wire.seconds, Decimal("NaN"), None),
        (wire.price, Decimal("1.50"), "1.50"),
        (wire.price, Decimal("1E+30"), None),
        (wire.scalar_text, Decimal("Infinity"), None),
        (wire.timestamp, "2022-11-03 22:56:04+05:30", "2022-11-03 22:56:04+05:30"),
        (wire.url, "https://h/\ud800", None),
    ],
)
def test_rules_on_poll_values(rule: Any, value: Any, expected: Any) -> None:
    assert rule(value) == expected
