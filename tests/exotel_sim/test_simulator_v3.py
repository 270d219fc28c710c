"""The Exotel simulator's v3 CCM API over real HTTP: create, details, legs, errors."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from exotel_sim import SimConfig, Simulator

SID, KEY, TOKEN = "AC_SIM", "sim_key", "sim_token"
AUTH = (KEY, TOKEN)
BASE = SimConfig(time_scale=0.01, seed=3, duration_fill_delay_s=0)
pytestmark = pytest.mark.usefixtures("fresh")  # tests/exotel_sim/sim_fixtures.py
DETAIL_KEYS = [
    "sid", "direction", "virtual_number", "state", "status", "legs", "created_time",
    "updated_time", "start_time", "end_time", "total_duration", "total_talk_time",
    "custom_field", "app_id", "app_name", "digits", "recordings",
]


def body(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "from": {"contact_uri": "+919111111100", "state_management": True},
        "to": {"contact_uri": "+919222222200"},
        "virtual_number": "+912241499102",
        "custom_field": "bilbo_test_call",
    }
    data.update(extra)
    return {k: v for k, v in data.items() if v is not None}


def create(sim: Simulator, auth: Any = AUTH, **extra: Any) -> requests.Response:
    return requests.post(f"{sim.url}/v3/accounts/{SID}/calls", json=body(**extra), auth=auth,
                         timeout=5)


def details(sim: Simulator, call_sid: str, legs: bool = False) -> requests.Response:
    url = f"{sim.url}/v3/accounts/{SID}/calls/{call_sid}" + ("/legs" if legs else "")
    return requests.get(url, auth=AUTH, timeout=5)


def error_of(response: requests.Response) -> tuple[int, int, int]:
    payload = response.json()
    assert payload["response"]["status"] == "failure"
    assert payload["http_code"] == response.status_code == payload["response"]["code"]
    return response.status_code, payload["response"]["error_data"]["code"], payload["http_code"]


def test_create_is_seed_002_envelope(sim: Simulator) -> None:
    response = create(sim)
    assert response.status_code == 200
    payload = response.json()
    assert list(payload) == ["request_id", "method", "http_code", "metadata", "response"]
    assert (payload["method"], payload["http_code"], payload["metadata"]) == ("POST", 200, None)
    assert len(payload["request_id"]) == 32
    inner = payload["response"]
    assert (inner["code"], inner["error_data"], inner["status"]) == (200, None, "success")
    call = inner["call_details"]
    assert list(call) == DETAIL_KEYS
    assert (call["direction"], call["state"], call["status"]) == ("outbound", "active", None)
    assert call["end_time"] is None and call["custom_field"] == "bilbo_test_call"
    assert call["legs"] == f"/v3/accounts/{SID}/calls/{call['sid']}/legs"
    assert call["created_time"].endswith("+05:30")


def test_details_active_then_terminal(sim: Simulator) -> None:
    sim.configure(talk_s=1000)
    call_sid = create(sim, recording={"record": "true", "channels": "dual",
                                      "format": "mp3-hq"}).json()["response"]["call_details"]["sid"]
    active = details(sim, call_sid).json()
    assert active["method"] == "GET"
    call = active["response"]["call_details"]
    assert (call["state"], call["status"]) == ("active", None)
    assert call["end_time"] == "1970-01-01 05:30:00+05:30"  # Exotel's placeholder
    sim.configure(talk_s=30)
    sim.reset()
    call_sid = create(sim, recording={"record": True}).json()["response"]["call_details"]["sid"]
    assert sim.wait_idle(5, settled=True)
    done = details(sim, call_sid).json()["response"]["call_details"]
    assert (done["state"], done["status"], done["total_talk_time"]) == ("terminal", "completed", 30)
    assert done["total_duration"] == 41
    assert done["recordings"][0]["url"].endswith(f"{call_sid}.mp3")
    assert done["end_time"] > done["start_time"]


def test_legs(sim: Simulator) -> None:
    call_sid = create(sim, to={"contact_uri": "+919222222291"}).json()["response"][
        "call_details"]["sid"]
    assert sim.wait_idle(5)
    legs = details(sim, call_sid, legs=True).json()["response"]["leg_details"]
    assert legs["call_sid"] == call_sid and legs["account_sid"] == SID
    assert [leg["status"] for leg in legs["from"]] == ["completed"]
    assert [leg["status"] for leg in legs["to"]] == ["busy"]
    assert legs["from"][0]["contact_uri"] == "+919111111100"
    assert set(legs["to"][0]) == {"sid", "name", "contact_uri", "date_created", "date_updated",
                                  "status", "group_id", "group_name"}
    status = details(sim, call_sid).json()["response"]["call_details"]["status"]
    assert status == "busy"


def test_leg_one_not_answering_leaves_to_empty(sim: Simulator) -> None:
    call_sid = create(sim, **{"from": {"contact_uri": "+919111111193"}}).json()["response"][
        "call_details"]["sid"]
    assert sim.wait_idle(5)
    legs = details(sim, call_sid, legs=True).json()["response"]["leg_details"]
    assert [leg["status"] for leg in legs["from"]] == ["failed"] and legs["to"] == []
    assert sim.call(call_sid)["status"] == "failed"  # type: ignore[index]


@pytest.mark.parametrize("auth", [(KEY, "nope"), (SID, "nope"), None])
def test_auth_failure_is_401_1010(sim: Simulator, auth: Any) -> None:
    assert error_of(create(sim, auth=auth))[:2] == (401, 1010)
    got = requests.get(f"{sim.url}/v3/accounts/{SID}/calls/abc", auth=auth, timeout=5)
    assert got.status_code == 401 and got.json()["response"]["error_data"]["code"] == 1010


def test_auth_by_account_sid_and_unknown_account(sim: Simulator) -> None:
    assert create(sim, auth=(SID, TOKEN)).status_code == 200
    other = requests.post(f"{sim.url}/v3/accounts/AC_NOPE/calls", json=body(), auth=AUTH,
                          timeout=5)
    assert error_of(other)[:2] == (404, 1017)


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        ({"from": None}, 1001, "from is mandatory"),
        ({"from": {"state_management": True}}, 1001, "from is mandatory"),
        ({"to": None}, 1001, "to is mandatory"),
        ({"virtual_number": None}, 1001, "virtual_number is mandatory"),
        ({"recording": {"record": True, "channels": "stereo"}}, 1002,
         "Valid values for RecordingChannels are single, dual"),
        ({"recording": {"format": "wav"}}, 1001, "Valid values for recording.format are mp3, "
                                                 "mp3-hq"),
        ({"max_time_limit": 14401}, 1001, "max_time_limit must be an integer between 1 and 14400"),
        ({"status_callback": [{"url": "http://x", "event": "ringing"}]}, 1001,
         "Valid values for status_callback[].event are terminal, answered"),
        ({"status_callback": [{"url": "http://x", "method": "PUT"}]}, 1001,
         "Valid values for status_callback[].method are GET, POST"),
        ({"status_callback": {"url": "http://x"}}, 1001, "status_callback must be an array"),
    ],
)
def test_invalid_body_is_400(sim: Simulator, extra: dict[str, Any], code: int,
                             message: str) -> None:
    response = create(sim, **extra)
    assert error_of(response)[:2] == (400, code)
    assert response.json()["response"]["error_data"]["message"] == message
    assert not sim.calls()


def test_body_that_is_not_json_is_400(sim: Simulator) -> None:
    response = requests.post(f"{sim.url}/v3/accounts/{SID}/calls", data="from=1", auth=AUTH,
                             timeout=5)
    assert error_of(response)[:2] == (400, 1001)


def test_unknown_virtual_number_is_404_10716(sim: Simulator) -> None:
    sim.configure(virtual_numbers=["02241499102"])
    assert create(sim).status_code == 200  # +912241499102 matches by its last 10 digits
    response = create(sim, virtual_number="+918000000000")
    assert error_of(response)[:2] == (404, 10716)
    assert response.json()["response"]["error_data"]["message"] == "Given virtual_number not found"


def test_state_managed_from_busy_is_409_10706(sim: Simulator) -> None:
    sim.configure(talk_s=1000)
    first = create(sim)
    assert first.status_code == 200
    second = create(sim, **{"from": {"contact_uri": "09111111100"}})  # same last 10 digits
    assert error_of(second)[:2] == (409, 10706)
    assert second.json()["response"]["error_data"]["message"] == "User device is currently busy"
    relaxed = create(sim, **{"from": {"contact_uri": "+919333333300", "state_management": False}})
    assert relaxed.status_code == 200
    again = create(sim, **{"from": {"contact_uri": "+919333333300", "state_management": "true"}})
    assert again.status_code == 200  # the active call from it is not state-managed
    sim.reset()
    sim.configure(talk_s=0)
    assert create(sim).status_code == 200
    assert sim.wait_idle(5)
    assert create(sim).status_code == 200  # free again once the call ended


def test_unknown_call_is_404(sim: Simulator) -> None:
    got = details(sim, "f" * 32)
    assert error_of(got)[:2] == (404, 1021)
    assert got.json()["response"]["call_details"] is None
    legs = details(sim, "f" * 32, legs=True)
    assert error_of(legs)[:2] == (404, 10744)


def test_magic_96_and_95_use_from(sim: Simulator) -> None:
    failed = create(sim, **{"from": {"contact_uri": "+919111111196"}})
    assert error_of(failed)[:2] == (500, 1100)
    assert not sim.calls()
    with pytest.raises(requests.ConnectionError):
        create(sim, **{"from": {"contact_uri": "+919111111195"}})
    (call,) = sim.calls()
    assert call["api"] == "v3" and call["fault"] == "accept-then-drop"
    assert sim.wait_idle(5)
    assert sim.call(call["sid"])["status"] == "completed"  # type: ignore[index]
