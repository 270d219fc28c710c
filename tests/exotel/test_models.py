"""dialer.exotel.models: every parameter, every bound, the wire forms, the error messages."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError as PydanticValidationError

from dialer.errors import InvalidNumberError, ValidationError
from dialer.exotel.models import (
    ConnectToFlow,
    ConnectTwoNumbers,
    V3Call,
    build_request,
)

CONNECT = {"From": "09876543210", "To": "09123456789", "CallerId": "08047471234"}
FLOW = {"From": "09876543210", "CallerId": "08047471234", "app_id": "215432"}
V3 = {"from_contact_uri": "09876543210", "to_contact_uri": "09123456789",
      "virtual_number": "08047471234"}
CB = {"StatusCallback": "https://cb.example.com/v1/callbacks/exotel/a1?token=t"}
URL = "https://files.example.com/audio/wait.wav?v=2"

# --- v1 connect two numbers ------------------------------------------------------------


def _connect(extra: dict[str, Any]) -> ConnectTwoNumbers:
    request = build_request("connect", {**CONNECT, **extra})
    assert isinstance(request, ConnectTwoNumbers)
    return request


CONNECT_OK: list[tuple[dict[str, Any], list[tuple[str, str]]]] = [
    ({"CallType": "trans"}, [("CallType", "trans")]),
    ({"TimeLimit": 1}, [("TimeLimit", "1")]),
    ({"TimeLimit": 14400}, [("TimeLimit", "14400")]),
    ({"TimeLimit": "60"}, [("TimeLimit", "60")]),
    ({"TimeOut": 1}, [("TimeOut", "1")]),
    ({"TimeOut": 3600}, [("TimeOut", "3600")]),
    (CB, list(CB.items())),
    ({"StatusCallback": "http://10.0.0.1:8080/cb"}, [("StatusCallback", "http://10.0.0.1:8080/cb")]),
    ({**CB, "StatusCallbackEvents": ["terminal"]}, [("StatusCallbackEvents[0]", "terminal")]),
    ({**CB, "StatusCallbackEvents": ["terminal", "answered"]},
     [("StatusCallbackEvents[0]", "terminal"), ("StatusCallbackEvents[1]", "answered")]),
    ({**CB, "StatusCallbackContentType": "application/json"},
     [("StatusCallbackContentType", "application/json")]),
    ({**CB, "StatusCallbackContentType": "multipart/form-data"},
     [("StatusCallbackContentType", "multipart/form-data")]),
    ({"Record": True}, [("Record", "true")]),
    ({"Record": False}, [("Record", "false")]),
    ({"Record": "true"}, [("Record", "true")]),
    ({"RecordingChannels": "single"}, [("RecordingChannels", "single")]),
    ({"RecordingChannels": "dual"}, [("RecordingChannels", "dual")]),
    ({"RecordingFormat": "mp3"}, [("RecordingFormat", "mp3")]),
    ({"RecordingFormat": "mp3-hq"}, [("RecordingFormat", "mp3-hq")]),
    ({"WaitUrl": URL}, [("WaitUrl", URL)]),
    ({"StreamUrl": "wss://bot.example.com/s"}, [("StreamUrl", "wss://bot.example.com/s")]),
    ({"StreamUrl": "ws://bot.example.com/s", "StreamBegin": "Leg1Connect"},
     [("StreamUrl", "ws://bot.example.com/s"), ("StreamBegin", "Leg1Connect")]),
    ({"StreamUrl": "wss://b.example.com", "StreamBegin": "Leg2Connect"},
     [("StreamBegin", "Leg2Connect")]),
    ({"CustomField": "c" * 128}, [("CustomField", "c" * 128)]),
    ({"CustomField": ""}, [("CustomField", "")]),
    ({"StartPlaybackValueNew": URL}, [("StartPlaybackValueNew", URL)]),
    ({"StartPlaybackToNew": "Callee", "StartPlaybackValueNew": URL},
     [("StartPlaybackToNew", "Callee")]),
    ({"StartPlaybackToNew": "Both", "StartPlaybackValueNew": URL},
     [("StartPlaybackToNew", "Both")]),
    ({"MaxRetries": 0}, [("MaxRetries", "0")]),
    ({"MaxRetries": 10}, [("MaxRetries", "10")]),
    ({"From": "+91 98765 43210"}, [("From", "+919876543210")]),
    ({"To": "080 3075 2400"}, [("To", "+918030752400")]),
    ({"CallerId": "+91 80 4747 1234"}, [("CallerId", "+918047471234")]),
]


@pytest.mark.parametrize(("extra", "pairs"), CONNECT_OK)
def test_connect_accepts(extra: dict[str, Any], pairs: list[tuple[str, str]]) -> None:
    form = _connect(extra).to_form()
    for pair in pairs:
        assert pair in form


CONNECT_BAD: list[tuple[dict[str, Any], str]] = [
    ({"TimeLimit": 0}, "TimeLimit"),
    ({"TimeLimit": 14401}, "TimeLimit"),
    ({"TimeLimit": -5}, "TimeLimit"),
    ({"TimeLimit": True}, "TimeLimit"),
    ({"TimeLimit": 1.5}, "TimeLimit"),
    ({"TimeLimit": "an hour"}, "TimeLimit"),
    ({"TimeOut": 0}, "TimeOut"),
    ({"TimeOut": 3601}, "TimeOut"),
    ({"StatusCallback": "ftp://cb.example.com/x"}, "StatusCallback"),
    ({"StatusCallback": "cb.example.com/x"}, "StatusCallback"),
    ({"StatusCallback": "https://"}, "StatusCallback"),
    ({"StatusCallback": "https://cb.example.com/a b"}, "StatusCallback"),
    ({"StatusCallback": "https://[::1"}, "StatusCallback"),
    ({"StatusCallback": "https://x.example.com/" + "a" * 2048}, "StatusCallback"),
    ({**CB, "StatusCallbackEvents": ["completed"]}, "StatusCallbackEvents[0]"),
    ({**CB, "StatusCallbackEvents": []}, "StatusCallbackEvents"),
    ({**CB, "StatusCallbackEvents": ["terminal", "answered", "terminal"]},
     "StatusCallbackEvents"),
    ({**CB, "StatusCallbackEvents": "terminal"}, "StatusCallbackEvents"),
    ({**CB, "StatusCallbackContentType": "text/plain"}, "StatusCallbackContentType"),
    ({"Record": "maybe"}, "Record"),
    ({"RecordingChannels": "stereo"}, "RecordingChannels"),
    ({"RecordingFormat": "wav"}, "RecordingFormat"),
    ({"WaitUrl": "ws://x.example.com/a.wav"}, "WaitUrl"),
    ({"StreamUrl": "https://bot.example.com"}, "StreamUrl"),
    ({"StreamUrl": "wss://b.example.com", "StreamBegin": "Leg3Connect"}, "StreamBegin"),
    ({"CustomField": "c" * 129}, "CustomField"),
    ({"StartPlaybackToNew": "Caller", "StartPlaybackValueNew": URL}, "StartPlaybackToNew"),
    ({"StartPlaybackValueNew": "file:///a.wav"}, "StartPlaybackValueNew"),
    ({"MaxRetries": -1}, "MaxRetries"),
    ({"MaxRetries": 11}, "MaxRetries"),
    ({"MaxRetries": False}, "MaxRetries"),
    ({"CallType": "promo"}, "CallType"),
    ({"Url": "http://my.exotel.com/x/exoml/start_voice/1"}, "Url"),
    ({"Foo": 1}, "Foo"),
    ({"from_number": "09876543210"}, "from_number"),  # given twice: name and alias
    ({"From": None}, "From"),
    ({"To": 9876543210}, "To"),
    # a field that needs another one
    ({"StatusCallbackEvents": ["terminal"]}, "StatusCallbackEvents"),
    ({"StatusCallbackContentType": "application/json"}, "StatusCallbackContentType"),
    ({"StreamBegin": "Leg1Connect"}, "StreamBegin"),
    ({"StartPlaybackToNew": "Both"}, "StartPlaybackToNew"),
]


@pytest.mark.parametrize(("extra", "field"), CONNECT_BAD)
def test_connect_refuses(extra: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        build_request("connect", {**CONNECT, **extra})
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")


@pytest.mark.parametrize("missing", ["From", "To", "CallerId"])
def test_connect_mandatory_fields(missing: str) -> None:
    params = {k: v for k, v in CONNECT.items() if k != missing}
    with pytest.raises(ValidationError, match=f"^{missing}: is required$") as info:
        build_request("connect", params)
    assert info.value.field == missing


@pytest.mark.parametrize(
    ("field", "value"),
    [("From", "12ab"), ("To", "0XXXXX38847"), ("CallerId", "0XXXXXX4890"), ("To", "")],
)
def test_connect_bad_numbers_raise_invalid_number(field: str, value: str) -> None:
    with pytest.raises(InvalidNumberError) as info:
        build_request("connect", {**CONNECT, field: value})
    assert info.value.field == field
    assert f"{field}: {value!r} is not a valid" in str(info.value) or "is empty" in str(
        info.value
    )


def test_error_shows_the_bad_value() -> None:
    with pytest.raises(ValidationError) as info:
        build_request("connect", {**CONNECT, "TimeLimit": 14401})
    assert str(info.value) == "TimeLimit: Input should be less than or equal to 14400 (got 14401)"


def test_every_bad_field_is_named_at_once() -> None:
    with pytest.raises(ValidationError) as info:
        build_request("connect", {**CONNECT, "From": "12ab", "TimeLimit": 0, "Zap": 1})
    assert not isinstance(info.value, InvalidNumberError)
    assert info.value.field == "From, TimeLimit, Zap"
    text = str(info.value)
    assert "From: '12ab' is not a valid phone number" in text
    assert "TimeLimit:" in text and "(got 0)" in text
    assert "Zap: is not a parameter of this request" in text


def test_only_numbers_wrong_gives_invalid_number_error_naming_both() -> None:
    with pytest.raises(InvalidNumberError) as info:
        build_request("connect", {**CONNECT, "From": "12ab", "To": "34cd"})
    assert info.value.field == "From, To"


def test_long_values_are_shortened_in_messages() -> None:
    with pytest.raises(ValidationError) as info:
        build_request("connect", {**CONNECT, "CustomField": "c" * 5000})
    assert len(str(info.value)) < 200


def test_connect_full_wire_form_in_order() -> None:
    request = build_request("connect", {
        **CONNECT, **CB, "TimeLimit": 600, "TimeOut": 30,
        "StatusCallbackEvents": ["terminal", "answered"],
        "StatusCallbackContentType": "application/json", "Record": True,
        "RecordingChannels": "dual", "RecordingFormat": "mp3-hq", "WaitUrl": URL,
        "StreamUrl": "wss://bot.example.com/s", "StreamBegin": "Leg2Connect",
        "CustomField": "a1|order-7", "StartPlaybackToNew": "Both",
        "StartPlaybackValueNew": URL, "MaxRetries": 0,
    })
    assert isinstance(request, ConnectTwoNumbers)
    assert request.to_form() == [
        ("From", "+919876543210"), ("To", "+919123456789"), ("CallerId", "08047471234"),
        ("CallType", "trans"), ("TimeLimit", "600"), ("TimeOut", "30"),
        ("StatusCallback", CB["StatusCallback"]),
        ("StatusCallbackEvents[0]", "terminal"), ("StatusCallbackEvents[1]", "answered"),
        ("StatusCallbackContentType", "application/json"), ("Record", "true"),
        ("RecordingChannels", "dual"), ("RecordingFormat", "mp3-hq"), ("WaitUrl", URL),
        ("StreamUrl", "wss://bot.example.com/s"), ("StreamBegin", "Leg2Connect"),
        ("CustomField", "a1|order-7"), ("StartPlaybackToNew", "Both"),
        ("StartPlaybackValueNew", URL), ("MaxRetries", "0"),
    ]


def test_minimal_form_omits_unset_fields() -> None:
    assert _connect({}).to_form() == [
        ("From", "+919876543210"), ("To", "+919123456789"), ("CallerId", "08047471234"),
        ("CallType", "trans"),
    ]


def test_snake_case_and_wire_names_build_the_same_request() -> None:
    by_name = ConnectTwoNumbers(
        from_number="09876543210", to="09123456789", caller_id="08047471234",
        time_limit_s=60, time_out_s=30, record=True, custom_field="x",
    )
    by_alias = ConnectTwoNumbers.model_validate({
        **CONNECT, "TimeLimit": 60, "TimeOut": 30, "Record": True, "CustomField": "x"
    })
    assert by_name == by_alias
    assert by_name.from_number == "+919876543210"


def test_direct_construction_raises_pydantic_errors() -> None:
    with pytest.raises(PydanticValidationError):
        ConnectTwoNumbers.model_validate({**CONNECT, "TimeLimit": 0})


def test_requests_are_frozen() -> None:
    request = build_request("connect", CONNECT)
    with pytest.raises(PydanticValidationError):
        request.custom_field = "changed"  # type: ignore[misc]


@pytest.mark.parametrize("params", [CONNECT, {**CONNECT, **CB, "TimeLimit": 60,
                                              "StatusCallbackEvents": ["terminal"]}])
def test_dump_by_alias_validates_again(params: dict[str, Any]) -> None:
    first = build_request("connect", params)
    again = build_request("connect", first.model_dump(by_alias=True, exclude_none=True,
                                                      mode="json"))
    assert again == first


# --- v1 connect to a flow --------------------------------------------------------------


def test_flow_wire_form() -> None:
    request = build_request("flow", {**FLOW, **CB, "TimeLimit": 300, "TimeOut": 40,
                                     "StatusCallbackEvents": ["terminal"],
                                     "CustomField": "a1", "Record": False})
    assert isinstance(request, ConnectToFlow)
    assert request.to_form("AC_x") == [
        ("From", "+919876543210"), ("CallerId", "08047471234"),
        ("Url", "http://my.exotel.com/AC_x/exoml/start_voice/215432"),
        ("CallType", "trans"), ("TimeLimit", "300"), ("TimeOut", "40"),
        ("StatusCallback", CB["StatusCallback"]), ("StatusCallbackEvents[0]", "terminal"),
        ("CustomField", "a1"), ("Record", "false"),
    ]


def test_flow_url_quotes_the_sid() -> None:
    request = build_request("flow", FLOW)
    assert isinstance(request, ConnectToFlow)
    assert request.flow_url("a/b") == "http://my.exotel.com/a%2Fb/exoml/start_voice/215432"


@pytest.mark.parametrize(("app_id", "stored"), [(215432, "215432"), (" 42 ", "42"), ("0", "0")])
def test_flow_app_id_accepts(app_id: Any, stored: str) -> None:
    request = build_request("flow", {**FLOW, "app_id": app_id})
    assert isinstance(request, ConnectToFlow) and request.app_id == stored


FLOW_BAD: list[tuple[dict[str, Any], str]] = [
    ({"app_id": "abc"}, "app_id"),
    ({"app_id": -1}, "app_id"),
    ({"app_id": True}, "app_id"),
    ({"app_id": "12a"}, "app_id"),
    ({"app_id": "1" * 21}, "app_id"),
    ({"app_id": 1.5}, "app_id"),
    ({"To": "09123456789"}, "To"),
    ({"TimeLimit": 14401}, "TimeLimit"),
    ({"TimeOut": 0}, "TimeOut"),
    ({"CustomField": "c" * 129}, "CustomField"),
    ({"CallType": "promo"}, "CallType"),
    ({"StatusCallback": "mailto:x@example.com"}, "StatusCallback"),
    ({"StatusCallbackEvents": ["terminal"]}, "StatusCallbackEvents"),
    ({"StatusCallbackContentType": "application/json"}, "StatusCallbackContentType"),
    ({"RecordingChannels": "quad"}, "RecordingChannels"),
    ({"RecordingFormat": "ogg"}, "RecordingFormat"),
    ({"From": "12ab"}, "From"),
]


@pytest.mark.parametrize(("extra", "field"), FLOW_BAD)
def test_flow_refuses(extra: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        build_request("flow", {**FLOW, **extra})
    assert info.value.field == field


@pytest.mark.parametrize("missing", ["From", "CallerId", "app_id"])
def test_flow_mandatory_fields(missing: str) -> None:
    with pytest.raises(ValidationError, match=f"^{missing}: is required$"):
        build_request("flow", {k: v for k, v in FLOW.items() if k != missing})


# --- v3 --------------------------------------------------------------------------------


def test_v3_full_json() -> None:
    request = build_request("v3", {
        **V3, "state_management": True,
        "recording": {"record": True, "channels": "dual", "format": "mp3-hq"},
        "wait_audio_url": URL, "max_time_limit_s": 4000, "attempt_time_out_s": 45,
        "custom_field": "a1",
        "status_callback": [
            {"event": "answered", "url": "https://cb.example.com/a", "method": "POST",
             "content_type": "application/json"},
            {"event": "terminal", "url": "https://cb.example.com/t", "method": "GET"},
        ],
        "playback": [{"event": "start", "to": "both", "value": URL}],
        "streaming": {"url": "wss://bot.example.com/s", "begin": "from_leg_connect"},
    })
    assert isinstance(request, V3Call)
    assert request.to_json() == {
        "from": {"contact_uri": "+919876543210", "state_management": True},
        "to": {"contact_uri": "+919123456789"},
        "virtual_number": "08047471234",
        "recording": {"record": True, "channels": "dual", "format": "mp3-hq"},
        "wait_audio_url": URL,
        "max_time_limit": 4000,
        "attempt_time_out": 45,
        "custom_field": "a1",
        "status_callback": [
            {"event": "answered", "url": "https://cb.example.com/a", "method": "POST",
             "content_type": "application/json"},
            {"event": "terminal", "url": "https://cb.example.com/t", "method": "GET"},
        ],
        "playback": [{"event": "start", "to": "both", "value": URL}],
        "streaming": {"url": "wss://bot.example.com/s", "begin": "from_leg_connect"},
    }


def test_v3_minimal_json() -> None:
    request = build_request("v3", V3)
    assert isinstance(request, V3Call)
    assert request.to_json() == {
        "from": {"contact_uri": "+919876543210"}, "to": {"contact_uri": "+919123456789"},
        "virtual_number": "08047471234",
    }


def test_v3_accepts_the_nested_wire_json_and_a_sip_agent() -> None:
    request = V3Call.model_validate({
        "from": {"contact_uri": "sip:agent7", "state_management": False},
        "to": {"contact_uri": "+919123456789"}, "virtual_number": "+918047471234",
        "max_time_limit": 60, "attempt_time_out": 20,
    })
    assert (request.from_contact_uri, request.state_management) == ("sip:agent7", False)
    assert (request.max_time_limit_s, request.attempt_time_out_s) == (60, 20)
    assert V3Call.model_validate(request.to_json()) == request


def test_v3_dump_by_alias_validates_again() -> None:
    first = build_request("v3", {**V3, "recording": {"record": True}, "max_time_limit": 90})
    dumped = first.model_dump(by_alias=True, exclude_none=True, mode="json")
    assert build_request("v3", dumped) == first


V3_OK: list[dict[str, Any]] = [
    {"max_time_limit_s": 1}, {"max_time_limit_s": 14400}, {"attempt_time_out_s": 3600},
    {"custom_field": "c" * 128}, {"recording": {"record": False}},
    {"recording": {"channels": "single", "format": "mp3"}},
    {"status_callback": [{"event": "terminal", "url": "http://cb.example.com/t",
                          "content_type": "multipart/form-data"}]},
    {"streaming": {"url": "ws://bot.example.com"}},
    {"to": "+14155550100"},
]


@pytest.mark.parametrize("extra", V3_OK)
def test_v3_accepts(extra: dict[str, Any]) -> None:
    assert isinstance(build_request("v3", {**V3, **extra}), V3Call)


V3_BAD: list[tuple[dict[str, Any], str]] = [
    ({"max_time_limit_s": 0}, "max_time_limit"),
    ({"max_time_limit": 14401}, "max_time_limit"),
    ({"attempt_time_out_s": 3601}, "attempt_time_out"),
    ({"attempt_time_out": True}, "attempt_time_out"),
    ({"custom_field": "c" * 129}, "custom_field"),
    ({"state_management": "sometimes"}, "from.state_management"),
    ({"from_contact_uri": "12ab"}, "from.contact_uri"),
    ({"from_contact_uri": "sip:bad id"}, "from.contact_uri"),
    ({"to_contact_uri": "sip:agent7"}, "to.contact_uri"),
    ({"virtual_number": "0XXXXXX4890"}, "virtual_number"),
    ({"recording": {"channels": "stereo"}}, "recording.channels"),
    ({"recording": {"format": "wav"}}, "recording.format"),
    ({"recording": {"record": True, "bitrate": 8}}, "recording.bitrate"),
    ({"wait_audio_url": "ftp://x.example.com/a.wav"}, "wait_audio_url"),
    ({"status_callback": []}, "status_callback"),
    ({"status_callback": [{"event": "ringing", "url": "https://cb.example.com"}]},
     "status_callback[0].event"),
    ({"status_callback": [{"event": "terminal", "url": "https://cb.example.com",
                           "method": "PUT"}]}, "status_callback[0].method"),
    ({"status_callback": [{"event": "terminal", "url": "https://cb.example.com",
                           "content_type": "text/xml"}]}, "status_callback[0].content_type"),
    ({"status_callback": [{"event": "terminal"}]}, "status_callback[0].url"),
    ({"playback": [{"event": "start", "to": "both", "value": "ws://x.example.com"}]},
     "playback[0].value"),
    ({"playback": [{"event": "start now!", "to": "both", "value": URL}]}, "playback[0].event"),
    ({"streaming": {"url": "https://bot.example.com"}}, "streaming.url"),
    ({"from": {"contact_uri": "09876543210", "name": "x"}}, "from.name"),
    ({"CallerId": "08047471234"}, "CallerId"),
]


@pytest.mark.parametrize(("extra", "field"), V3_BAD)
def test_v3_refuses(extra: dict[str, Any], field: str) -> None:
    params = {**V3, **extra}
    if "from" in extra:
        params.pop("from_contact_uri")
    with pytest.raises(ValidationError) as info:
        build_request("v3", params)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("missing", "field"),
    [("from_contact_uri", "from.contact_uri"), ("to_contact_uri", "to.contact_uri"),
     ("virtual_number", "virtual_number")],
)
def test_v3_mandatory_fields(missing: str, field: str) -> None:
    with pytest.raises(ValidationError, match=f"^{field}: is required$"):
        build_request("v3", {k: v for k, v in V3.items() if k != missing})


# --- build_request ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["", "promo", "V3", None])
def test_build_request_refuses_unknown_modes(mode: Any) -> None:
    with pytest.raises(ValidationError, match="mode") as info:
        build_request(mode, CONNECT)
    assert info.value.field == "mode"


def test_build_request_accepts_the_mode_enum() -> None:
    from dialer.models import Mode

    assert isinstance(build_request(Mode.V3, V3), V3Call)
    assert isinstance(build_request(Mode.FLOW, FLOW), ConnectToFlow)


@pytest.mark.parametrize("params", [None, [("From", "x")], "From=x"])
def test_build_request_refuses_non_mappings(params: Any) -> None:
    with pytest.raises(ValidationError, match="params: expected a mapping"):
        build_request("connect", params)
