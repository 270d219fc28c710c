"""The Exotel simulator's v1 API over real HTTP: shapes, auth, errors, outcomes, scenarios."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import pytest
import requests

from exotel_sim import SimConfig, Simulator
from tests.stack import wait_for

SID, KEY, TOKEN = "AC_SIM", "sim_key", "sim_token"
AUTH = (KEY, TOKEN)
BASE = SimConfig(time_scale=0.01, seed=1, duration_fill_delay_s=60)
pytestmark = pytest.mark.usefixtures("fresh")  # tests/exotel_sim/sim_fixtures.py
JSON_KEYS = [
    "Sid", "ParentCallSid", "DateCreated", "DateUpdated", "AccountSid", "To", "From",
    "PhoneNumberSid", "Status", "StartTime", "EndTime", "Duration", "Price", "Direction",
    "AnsweredBy", "ForwardedFrom", "CallerName", "Uri", "RecordingUrl",
]
XML_TAGS = [k for k in JSON_KEYS if k not in ("Uri", "RecordingUrl")] + ["RecordingUrl", "Uri"]


def connect_url(sim: Simulator, json: bool = True, sid: str = SID) -> str:
    return f"{sim.url}/v1/Accounts/{sid}/Calls/connect{'.json' if json else ''}"


def call_url(sim: Simulator, call_sid: str, json: bool = True) -> str:
    return f"{sim.url}/v1/Accounts/{SID}/Calls/{call_sid}{'.json' if json else ''}"


def form(**extra: str | None) -> dict[str, str]:
    data: dict[str, str | None] = {"From": "09111111100", "To": "09222222200",
                                   "CallerId": "08030752400"}
    data.update(extra)
    return {k: v for k, v in data.items() if v is not None}


def post(sim: Simulator, json: bool = True, auth: Any = AUTH,
         **extra: str | None) -> requests.Response:
    return requests.post(connect_url(sim, json), data=form(**extra), auth=auth, timeout=5)


def place(sim: Simulator, **extra: str | None) -> str:
    response = requests.post(connect_url(sim), data=form(**extra), auth=AUTH, timeout=5)
    assert response.status_code == 200, response.text
    sid: str = response.json()["Call"]["Sid"]
    return sid


def until(check: Callable[[], Any], timeout_s: float = 5.0) -> Any:
    """Poll ``check`` until it returns something truthy."""
    return wait_for(check, timeout_s, "the condition", interval_s=0.01)


def error_of(response: requests.Response, json: bool) -> tuple[int, str]:
    if json:
        block = response.json()["RestException"]
        return block["Status"], block["Message"]
    root = ET.fromstring(response.content)
    assert root.tag == "TwilioResponse"
    status = int(root.findtext("RestException/Status") or 0)
    return status, root.findtext("RestException/Message") or ""


# --- shapes -------------------------------------------------------------------------------


def test_connect_json_is_seed_004_shape(sim: Simulator) -> None:
    response = post(sim)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    call = response.json()["Call"]
    assert list(call) == JSON_KEYS
    assert call["Status"] == "in-progress"
    assert call["EndTime"] is None and call["Duration"] is None and call["Price"] is None
    assert call["To"] == "09222222200" and call["From"] == "09111111100"
    assert call["PhoneNumberSid"] == "08030752400" and call["AccountSid"] == SID
    assert call["Direction"] == "outbound-api" and len(call["Sid"]) == 32
    assert call["Uri"] == f"/v1/Accounts/{SID}/Calls.json/{call['Sid']}"
    assert call["DateCreated"] == call["StartTime"]
    time.strptime(call["DateCreated"], "%Y-%m-%d %H:%M:%S")


def test_connect_xml_is_seed_000_shape(sim: Simulator) -> None:
    response = post(sim, json=False)
    assert response.status_code == 200
    assert response.text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(response.content)
    assert root.tag == "TwilioResponse"
    call = root.find("Call")
    assert call is not None
    assert [child.tag for child in call] == XML_TAGS
    assert call.findtext("Status") == "in-progress"
    assert call.findtext("Duration") == "" and call.findtext("Price") == ""
    assert call.findtext("Uri") == f"/v1/Accounts/{SID}/Calls/{call.findtext('Sid')}"
    assert "<Duration></Duration>" in response.text and "<ParentCallSid/>" in response.text


def test_get_call_json_and_xml_with_details(sim: Simulator) -> None:
    call_sid = place(sim)
    assert sim.wait_idle(5)
    plain = requests.get(call_url(sim, call_sid), auth=AUTH, timeout=5).json()["Call"]
    assert plain["Status"] == "completed" and "Details" not in plain
    body = requests.get(call_url(sim, call_sid) + "?details=true", auth=AUTH, timeout=5).json()
    details = body["Call"]["Details"]
    assert details == {
        "ConversationDuration": 30,
        "Leg1Status": "completed",
        "Leg2Status": "completed",
        "Legs": [  # developer.exotel.com/docs/voice-v1/api-reference/call-details
            {"Leg": {"Id": 1, "OnCallDuration": 35}},
            {"Leg": {"Id": 2, "OnCallDuration": 30}},
        ],
    }
    xml = requests.get(call_url(sim, call_sid, json=False), params={"details": "true"},
                       auth=AUTH, timeout=5)
    root = ET.fromstring(xml.content)
    assert root.findtext("Call/Status") == "completed"
    assert root.findtext("Call/Details/Leg2Status") == "completed"
    assert root.findtext("Call/Details/ConversationDuration") == "30"
    assert [leg.findtext("Id") for leg in root.findall("Call/Details/Legs/Leg")] == ["1", "2"]
    alias = requests.get(f"{sim.url}/v1/Accounts/{SID}/Calls.json/{call_sid}", auth=AUTH,
                         timeout=5)
    assert alias.json()["Call"]["Sid"] == call_sid


def test_status_is_in_progress_while_the_call_runs(sim: Simulator) -> None:
    sim.configure(talk_s=1000)
    call_sid = place(sim)
    body = requests.get(call_url(sim, call_sid) + "?details=true", auth=AUTH, timeout=5).json()
    assert body["Call"]["Status"] in ("queued", "ringing", "in-progress")
    assert body["Call"]["Details"]["Leg1Status"] in ("queued", "ringing", "in-progress")
    until(lambda: sim.call(call_sid)["leg2_status"] == "in-progress")  # type: ignore[index]
    assert sim.call(call_sid)["state"] == "active"  # type: ignore[index]
    again = requests.get(call_url(sim, call_sid), auth=AUTH, timeout=5).json()["Call"]
    assert again["Status"] == "in-progress"


@pytest.mark.parametrize("json", [True, False])
def test_unknown_call_sid_is_404(sim: Simulator, json: bool) -> None:
    response = requests.get(call_url(sim, "0" * 32, json), auth=AUTH, timeout=5)
    assert response.status_code == 404
    assert error_of(response, json) == (404, "No matching results")


def test_third_party_client_works_unchanged(sim: Simulator) -> None:
    base = sim.url
    resp = requests.post(
        base + f"/v1/Accounts/{SID}/Calls/connect.json",
        data={"From": "+919876543210", "To": "+919123456789", "CallerId": "08047112345",
              "Record": "true", "CallType": "trans"},
        auth=(SID, TOKEN),
        timeout=5,
    )
    assert resp.status_code == 200
    call_sid = resp.json()["Call"]["Sid"]
    assert sim.wait_idle(5)
    got = requests.get(base + f"/v1/Accounts/{SID}/Calls/{call_sid}.json", auth=(SID, TOKEN),
                       timeout=5)
    call = got.json()["Call"]
    assert call["Status"] == "completed"
    assert call["RecordingUrl"].endswith(f"{call_sid}.mp3")
    assert requests.get(call["RecordingUrl"], timeout=5).headers["content-type"] == "audio/mpeg"


# --- auth ---------------------------------------------------------------------------------


@pytest.mark.parametrize("user", [KEY, SID])
def test_auth_by_api_key_or_account_sid(sim: Simulator, user: str) -> None:
    assert post(sim, auth=(user, TOKEN)).status_code == 200


@pytest.mark.parametrize("json", [True, False])
@pytest.mark.parametrize("auth", [(KEY, "wrong"), ("nobody", TOKEN), None])
def test_bad_auth_is_401(sim: Simulator, json: bool, auth: Any) -> None:
    response = post(sim, json=json, auth=auth)
    assert response.status_code == 401
    message = "Authentication failed. Verify your API key and token."
    assert error_of(response, json) == (401, message)
    get = requests.get(call_url(sim, "x" * 32, json), auth=auth, timeout=5)
    assert get.status_code == 401
    assert not sim.calls()


def test_unknown_account_and_foreign_account(sim: Simulator) -> None:
    sim.configure(accounts={SID: (KEY, TOKEN), "AC_OTHER": ("other_key", "other_token")})
    unknown = requests.post(connect_url(sim, sid="AC_NOPE"), data=form(), auth=AUTH, timeout=5)
    assert unknown.status_code == 404
    assert error_of(unknown, True)[1] == "AccountSid AC_NOPE not found"
    foreign = requests.post(connect_url(sim, sid="AC_OTHER"), data=form(), auth=AUTH, timeout=5)
    assert foreign.status_code == 401
    own = requests.post(connect_url(sim, sid="AC_OTHER"), data=form(),
                        auth=("other_key", "other_token"), timeout=5)
    assert own.status_code == 200
    call_sid = own.json()["Call"]["Sid"]
    wrong_account = requests.get(call_url(sim, call_sid), auth=AUTH, timeout=5)
    assert wrong_account.status_code == 404  # calls belong to their account


# --- parameter errors ---------------------------------------------------------------------


@pytest.mark.parametrize("json", [True, False])
@pytest.mark.parametrize("missing", ["From", "To", "CallerId"])
def test_missing_mandatory_parameter(sim: Simulator, json: bool, missing: str) -> None:
    response = post(sim, json=json, **{missing: None})
    assert response.status_code == 400
    assert error_of(response, json) == (400, f"Invalid Call Parameters: No '{missing}' specified")
    assert not sim.calls()


BAD_PARAMS: list[tuple[dict[str, str], str]] = [
    ({"TimeLimit": "14401"}, "TimeLimit must be an integer between 1 and 14400"),
    ({"TimeLimit": "soon"}, "TimeLimit must be an integer between 1 and 14400"),
    ({"TimeOut": "0"}, "TimeOut must be an integer between 1 and 60"),
    ({"TimeOut": "61"}, "TimeOut must be an integer between 1 and 60"),
    ({"MaxRetries": "-1"}, "MaxRetries must be an integer between 0 and 10"),
    ({"CustomField": "x" * 129}, "CustomField must be at most 128 characters"),
    ({"RecordingChannels": "stereo"}, "Valid values for RecordingChannels are single, dual"),
    ({"RecordingFormat": "wav"}, "Valid values for RecordingFormat are mp3, mp3-hq"),
    ({"Record": "maybe"}, "Record must be true or false"),
    ({"CallType": "promo"}, "CallType must be 'trans' ('promo' is no longer supported)"),
    ({"StartPlaybackToNew": "Caller"}, "Valid values for StartPlaybackToNew are Callee, Both"),
    ({"StatusCallback": "ftp://x"}, "StatusCallback must be an http(s) URL"),
    ({"StatusCallbackContentType": "text/plain"},
     "Valid values for StatusCallbackContentType are multipart/form-data, application/json"),
    ({"StatusCallbackEvents[0]": "ringing"},
     "Valid values for StatusCallbackEvents are terminal, answered"),
    ({"From": "agent-one"}, "'From' is not a valid phone number"),
    ({"Url": "http://my.exotel.com/AC_SIM/flows/1"},
     "Url must look like http://my.exotel.com/<sid>/exoml/start_voice/<app_id>"),
]


@pytest.mark.parametrize(("extra", "message"), BAD_PARAMS)
def test_invalid_parameter_is_400(sim: Simulator, extra: dict[str, str], message: str) -> None:
    for json in (True, False):
        response = post(sim, json=json, **extra)
        assert response.status_code == 400
        assert error_of(response, json) == (400, f"Invalid Call Parameters: {message}")
    assert not sim.calls()


def test_limits_of_time_limit_and_custom_field_are_accepted(sim: Simulator) -> None:
    assert post(sim, TimeLimit="14400", CustomField="y" * 128).status_code == 200


def test_caller_id_must_be_a_configured_virtual_number(sim: Simulator) -> None:
    sim.configure(virtual_numbers=["+918030752400"])
    assert post(sim, CallerId="08030752400").status_code == 200  # compared by last 10 digits
    response = post(sim, CallerId="08099999999")
    assert response.status_code == 400
    assert "is not an ExoPhone" in error_of(response, True)[1]


def test_every_documented_parameter_is_accepted(sim: Simulator) -> None:
    sim.configure(talk_s=10)
    fields = {
        "From": "+919111111100", "To": "+919222222200", "CallerId": "08030752400",
        "CallType": "trans", "TimeLimit": "5", "TimeOut": "20", "WaitUrl": "http://x/w.wav",
        "Record": "true", "RecordingChannels": "dual", "RecordingFormat": "mp3-hq",
        "StreamUrl": "wss://x/s", "StreamBegin": "Leg1Connect", "CustomField": "order-42",
        "StartPlaybackToNew": "Both", "StartPlaybackValueNew": "http://x/p.wav",
        "StatusCallback": "http://127.0.0.1:9/cb", "StatusCallbackEvents[0]": "terminal",
        "StatusCallbackEvents[1]": "answered", "StatusCallbackContentType": "application/json",
        "MaxRetries": "2",
    }
    multipart = {key: (None, value) for key, value in fields.items()}
    response = requests.post(connect_url(sim), files=multipart, auth=AUTH, timeout=5)
    assert response.status_code == 200, response.text
    call_sid = response.json()["Call"]["Sid"]
    assert sim.wait_idle(5)
    call = sim.call(call_sid)
    assert call is not None
    assert call["params"] == fields
    assert call["custom_field"] == "order-42" and call["status"] == "completed"
    assert call["conversation_duration"] == 5  # TimeLimit caps talk_s
    assert call["recording_url"].endswith(".mp3")


# --- flows, outcomes, magic numbers -------------------------------------------------------


def test_connect_to_flow(sim: Simulator) -> None:
    url = f"http://my.exotel.com/{SID}/exoml/start_voice/926"
    response = post(sim, To=None, Url=url, CustomField="flow-ctx")
    assert response.status_code == 200
    call = response.json()["Call"]
    assert call["To"] == "08030752400"  # a flow "calls" the ExoPhone
    assert sim.wait_idle(5)
    view = sim.call(call["Sid"])
    assert view is not None
    assert (view["api"], view["app_id"], view["status"]) == ("v1-flow", "926", "completed")
    assert view["leg2_status"] is None and view["conversation_duration"] == 30
    details = requests.get(call_url(sim, call["Sid"]) + "?details=true", auth=AUTH,
                           timeout=5).json()["Call"]["Details"]
    assert details["Leg2Status"] is None and len(details["Legs"]) == 1


MAGIC = [
    ("09111111191", "09222222200", "busy", "busy", None),
    ("09111111192", "09222222200", "no-answer", "no-answer", None),
    ("09111111193", "09222222200", "failed", "failed", None),
    ("09111111100", "09222222291", "busy", "completed", "busy"),
    ("09111111100", "09222222292", "no-answer", "completed", "no-answer"),
    ("09111111100", "09222222293", "failed", "completed", "failed"),
    ("09111111100", "09222222200", "completed", "completed", "completed"),
    ("09111111192", "09222222291", "no-answer", "no-answer", None),
]


def test_magic_numbers_per_leg(sim: Simulator) -> None:
    sids = [place(sim, From=f, To=t) for f, t, *_ in MAGIC]
    assert sim.wait_idle(5)
    for call_sid, (_, _, status, leg1, leg2) in zip(sids, MAGIC, strict=True):
        view = sim.call(call_sid)
        assert view is not None
        assert (view["status"], view["leg1_status"], view["leg2_status"]) == (status, leg1, leg2)
        details = requests.get(call_url(sim, call_sid) + "?details=true", auth=AUTH,
                               timeout=5).json()["Call"]
        assert details["Status"] == status
        assert (details["Details"]["Leg1Status"], details["Details"]["Leg2Status"]) == (leg1, leg2)


def test_magic_flow_leg_uses_from(sim: Simulator) -> None:
    url = f"http://my.exotel.com/{SID}/exoml/start_voice/1"
    call_sid = place(sim, From="09111111191", To=None, Url=url)
    assert sim.wait_idle(5)
    assert sim.call(call_sid)["status"] == "busy"  # type: ignore[index]


@pytest.mark.parametrize("json", [True, False])
def test_magic_96_answers_500_and_creates_no_call(sim: Simulator, json: bool) -> None:
    response = post(sim, json=json, To="09222222296")
    assert response.status_code == 500
    assert error_of(response, json) == (500, "Internal Server Error")
    assert not sim.calls()
    url = f"http://my.exotel.com/{SID}/exoml/start_voice/1"
    flow = post(sim, json=json, From="09111111196", To=None, Url=url)
    assert flow.status_code == 500


def test_magic_95_accepts_then_drops(sim: Simulator) -> None:
    with pytest.raises(requests.ConnectionError):
        post(sim, To="09222222295", CustomField="dropped")
    calls = sim.calls()
    assert len(calls) == 1 and calls[0]["fault"] == "accept-then-drop"
    assert sim.wait_idle(5)
    assert sim.call(calls[0]["sid"])["status"] == "completed"  # type: ignore[index]
    logged = [r for r in sim.requests() if r["method"] == "POST"]
    assert logged[0]["fault"] == "accept-then-drop" and logged[0]["status_code"] is None
    assert logged[0]["call_sid"] == calls[0]["sid"]
    assert post(sim).status_code == 200  # the server carries on


# --- scenarios and odds -------------------------------------------------------------------


def test_scenario_over_http_is_consumed_per_call(sim: Simulator) -> None:
    scenario = {"numbers": {"+919800000001": ["no-answer", "no-answer", "answered"]}}
    set_resp = requests.post(f"{sim.url}/_sim/scenario", json=scenario, timeout=5)
    assert set_resp.status_code == 200
    sids = [place(sim, From="09800000001") for _ in range(4)]
    assert sim.wait_idle(5)
    statuses = [sim.call(s)["status"] for s in sids]  # type: ignore[index]
    assert statuses == ["no-answer", "no-answer", "completed", "completed"]
    left = requests.get(f"{sim.url}/_sim/scenario", timeout=5).json()
    assert left == {"numbers": {"+919800000001": []}}


def test_scenario_wins_over_magic_and_only_scripts_leg_one(sim: Simulator) -> None:
    sim.set_scenario({"09111111191": ["answered"], "09222222200": ["busy"]})
    first = place(sim, From="09111111191")  # scripted answered, despite 91
    second = place(sim, From="09111111191")  # scenario used up: the suffix says busy
    third = place(sim, From="09111111100", To="9222222200")  # To is leg 2: not scripted
    assert sim.wait_idle(5)
    assert [sim.call(s)["status"] for s in (first, second, third)] == [  # type: ignore[index]
        "completed", "busy", "completed"]


def test_bad_scenario_is_400(sim: Simulator) -> None:
    bad = requests.post(f"{sim.url}/_sim/scenario", json={"numbers": {"1": ["ringing"]}},
                        timeout=5)
    assert bad.status_code == 400
    with pytest.raises(ValueError):
        sim.set_scenario({"numbers": "nope"})


def test_seeded_odds_are_deterministic(sim: Simulator) -> None:
    odds = {"answered": 0.4, "busy": 0.2, "no-answer": 0.2, "failed": 0.2}

    def run() -> list[list[str]]:
        sim.reset()
        sim.configure(outcomes=odds, seed=7)
        for _ in range(30):
            place(sim)
        assert sim.wait_idle(5)
        return [c["leg_outcomes"] for c in sim.calls()]

    first, second = run(), run()
    assert first == second
    flat = {o for pair in first for o in pair}
    assert {"answered", "busy"} <= flat
    for call in sim.calls():
        legs = call["leg_outcomes"]
        expected = "completed" if legs == ["answered", "answered"] else next(
            o for o in legs if o != "answered")
        assert call["status"] == expected


def test_per_leg_odds(sim: Simulator) -> None:
    sim.configure(leg1_outcomes={"answered": 1}, leg2_outcomes={"failed": 1})
    call_sid = place(sim)
    assert sim.wait_idle(5)
    assert sim.call(call_sid)["status"] == "failed"  # type: ignore[index]


# --- timing ---------------------------------------------------------------------------------


def test_duration_price_end_time_are_filled_later(sim: Simulator) -> None:
    sim.configure(duration_fill_delay_s=50)  # 0.5 s real
    call_sid = place(sim)
    assert sim.wait_idle(5)
    early = requests.get(call_url(sim, call_sid), auth=AUTH, timeout=5).json()["Call"]
    assert early["Status"] == "completed"
    assert (early["Duration"], early["Price"], early["EndTime"]) == (None, None, None)
    late = until(lambda: (c := requests.get(call_url(sim, call_sid), auth=AUTH,
                                            timeout=5).json()["Call"])["Duration"] and c)
    assert late["Duration"] == 41  # dial 1 + ring 5 + ring 5 + talk 30
    assert late["Price"] == 0.5 and late["EndTime"] > late["StartTime"]
    assert sim.wait_idle(1, settled=True)


def test_time_out_sets_the_no_answer_ring_time(sim: Simulator) -> None:
    sim.configure(duration_fill_delay_s=0)
    call_sid = place(sim, From="09111111192", TimeOut="20")
    assert sim.wait_idle(5, settled=True)
    call = requests.get(call_url(sim, call_sid), auth=AUTH, timeout=5).json()["Call"]
    assert (call["Status"], call["Duration"], call["Price"]) == ("no-answer", 21, 0.0)
