"""StatusCallbacks from the simulator to a real receiver: v1 multipart/JSON, v3 POST/GET,
events, failures and the callback fault switches."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from exotel_sim import SimConfig, Simulator
from exotel_sim.receiver import CallbackReceiver

SID, AUTH = "AC_SIM", ("sim_key", "sim_token")
BASE = SimConfig(time_scale=0.01, seed=5, duration_fill_delay_s=10)
pytestmark = pytest.mark.usefixtures("fresh")  # tests/exotel_sim/sim_fixtures.py
V1_DEFAULT = {"CallSid", "DateUpdated", "Status", "RecordingUrl"}  # the documented four
V1_FIELDS = {  # with StatusCallbackEvents
    "CallSid", "EventType", "Status", "RecordingUrl", "DateUpdated", "DateCreated", "To", "From",
    "PhoneNumberSid", "Direction", "StartTime", "EndTime", "ConversationDuration", "CustomField",
}


@pytest.fixture()
def rx() -> Iterator[CallbackReceiver]:
    with CallbackReceiver() as receiver:
        yield receiver


def v1_call(sim: Simulator, **extra: str) -> str:
    data = {"From": "09111111100", "To": "09222222200", "CallerId": "08030752400"}
    data.update(extra)
    response = requests.post(f"{sim.url}/v1/Accounts/{SID}/Calls/connect.json", data=data,
                             auth=AUTH, timeout=5)
    assert response.status_code == 200, response.text
    sid: str = response.json()["Call"]["Sid"]
    return sid


def v3_call(sim: Simulator, callbacks: list[dict[str, Any]], **extra: Any) -> str:
    data: dict[str, Any] = {
        "from": {"contact_uri": "+919111111100"},
        "to": {"contact_uri": "+919222222200"},
        "virtual_number": "+912241499102",
        "custom_field": "ctx-9",
        "status_callback": callbacks,
    }
    data.update(extra)
    response = requests.post(f"{sim.url}/v3/accounts/{SID}/calls", json=data, auth=AUTH,
                             timeout=5)
    assert response.status_code == 200, response.text
    sid: str = response.json()["response"]["call_details"]["sid"]
    return sid


def test_v1_terminal_callback_is_multipart_by_default(sim: Simulator, rx: CallbackReceiver) -> None:
    call_sid = v1_call(sim, StatusCallback=rx.url + "/cb", CustomField="order-1",
                       StatusCallbackEvents="terminal")
    assert sim.wait_idle(5)
    (hit,) = rx.wait_for(1)
    assert hit["method"] == "POST" and hit["path"] == "/cb"
    assert hit["content_type"].startswith("multipart/form-data")
    form = hit["form"]
    assert V1_FIELDS <= set(form)
    assert (form["CallSid"], form["Status"]) == (call_sid, "completed")
    assert form["EventType"] == "terminal"
    assert form["RecordingUrl"] == "" and form["CustomField"] == "order-1"
    assert (form["From"], form["To"]) == ("09111111100", "09222222200")
    assert form["ConversationDuration"] == "30" and form["EndTime"] > form["StartTime"]
    assert form["Legs[0][Status]"] == form["Legs[1][Status]"] == "completed"
    assert (form["Legs[0][OnCallDuration]"], form["Legs[1][OnCallDuration]"]) == ("35", "30")
    (record,) = sim.callbacks()
    assert record["delivered"] and record["response_status"] == 200 and not record["dropped"]
    assert sim.call(call_sid)["callbacks_sent"] == 1  # type: ignore[index]


def test_v1_json_with_answered_and_terminal(sim: Simulator, rx: CallbackReceiver) -> None:
    call_sid = v1_call(sim, StatusCallback=rx.url + "/json", Record="true",
                       StatusCallbackContentType="application/json",
                       **{"StatusCallbackEvents[0]": "answered",
                          "StatusCallbackEvents[1]": "terminal"})
    assert sim.wait_idle(5)
    hits = rx.wait_for(2)
    assert [h["json"]["EventType"] for h in hits] == ["answered", "terminal"]
    answered, terminal = (h["json"] for h in hits)
    assert answered["Status"] == "in-progress" and answered["EndTime"] is None
    assert terminal["Status"] == "completed" and terminal["CallSid"] == call_sid
    assert terminal["Legs"] == [{"OnCallDuration": 35, "Status": "completed"},
                                {"OnCallDuration": 30, "Status": "completed"}]
    assert terminal["RecordingUrl"].endswith(f"{call_sid}.mp3")


def test_v1_repeated_events_keys_and_busy_leg(sim: Simulator, rx: CallbackReceiver) -> None:
    data = [("From", "09111111100"), ("To", "09222222291"), ("CallerId", "080"),
            ("StatusCallback", rx.url), ("StatusCallbackEvents", "answered"),
            ("StatusCallbackEvents", "terminal")]
    response = requests.post(f"{sim.url}/v1/Accounts/{SID}/Calls/connect", data=data,
                             auth=AUTH, timeout=5)
    assert response.status_code == 200
    assert sim.wait_idle(5)
    (hit,) = rx.wait_for(1)  # leg 2 was busy: never connected, so no "answered"
    assert hit["form"]["Status"] == "busy" and hit["form"]["Legs[1][Status]"] == "busy"
    assert hit["form"]["Legs[0][Status]"] == "completed"


def test_v1_flow_callback_has_one_leg(sim: Simulator, rx: CallbackReceiver) -> None:
    v1_call(sim, To="", Url=f"http://my.exotel.com/{SID}/exoml/start_voice/5",
            StatusCallback=rx.url, **{"StatusCallbackEvents[]": "answered"})
    assert sim.wait_idle(5)
    answered, terminal = (h["form"] for h in rx.wait_for(2))
    assert answered["EventType"] == "answered" and terminal["Status"] == "completed"
    assert "Legs[1][Status]" not in terminal and terminal["Legs[0][Status]"] == "completed"


def test_v3_post_json_and_get_callbacks(sim: Simulator, rx: CallbackReceiver) -> None:
    call_sid = v3_call(sim, [
        {"event": "answered", "url": rx.url + "/a", "method": "POST",
         "content_type": "application/json"},
        {"event": "terminal", "url": rx.url + "/t", "method": "GET"},
        {"url": rx.url + "/m", "content_type": "multipart/form-data"},
    ])
    assert sim.wait_idle(5)
    hits = {h["path"]: h for h in rx.wait_for(3)}
    answered = hits["/a"]["json"]
    assert answered["event_details"] == {"event_type": "answered"}
    assert answered["call_details"]["state"] == "active"
    assert answered["call_details"]["sid"] == call_sid
    query = hits["/t"]["query"]
    assert hits["/t"]["method"] == "GET"
    assert json.loads(query["event_details"]) == {"event_type": "terminal"}
    terminal = json.loads(query["call_details"])
    assert (terminal["state"], terminal["status"], terminal["total_talk_time"]) == (
        "terminal", "completed", 30)
    assert terminal["custom_field"] == "ctx-9"
    multipart = hits["/m"]["form"]
    assert json.loads(multipart["call_details"])["status"] == "completed"


def test_failed_receiver_is_recorded_and_retried(sim: Simulator, rx: CallbackReceiver) -> None:
    sim.configure(callback_retry_delay_s=0.0)
    rx.status = 503
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{sock.getsockname()[1]}/cb"  # bound, not listening
    first = v1_call(sim, StatusCallback=rx.url)
    second = v1_call(sim, StatusCallback=dead_url)
    assert sim.wait_idle(10)
    by_call = {c["call_sid"]: c for c in sim.callbacks()}  # the last try of each
    assert len(sim.callbacks()) == 6 and len(rx.received()) == 3  # 1 try + 2 retries each
    assert sorted(c["attempt"] for c in sim.callbacks()) == [1, 1, 2, 2, 3, 3]
    assert by_call[first]["response_status"] == 503 and not by_call[first]["delivered"]
    assert by_call[second]["response_status"] is None and by_call[second]["error"]
    assert not by_call[second]["delivered"]


def test_no_callback_without_status_callback(sim: Simulator, rx: CallbackReceiver) -> None:
    v1_call(sim)
    assert sim.wait_idle(5)
    assert sim.callbacks() == [] and rx.received() == []


def test_no_second_callback_when_duration_is_filled(sim: Simulator,
                                                    rx: CallbackReceiver) -> None:
    sim.configure(duration_fill_delay_s=20)
    v1_call(sim, StatusCallback=rx.url)
    assert sim.wait_idle(5, settled=True)
    assert len(rx.wait_for(1)) == 1
    assert len(sim.callbacks()) == 1


def test_drop_fault(sim: Simulator, rx: CallbackReceiver) -> None:
    sim.configure(callback_drop_ratio=1.0)
    call_sid = v1_call(sim, StatusCallback=rx.url)
    assert sim.wait_idle(5)
    (record,) = sim.callbacks()
    assert record["dropped"] and not record["delivered"] and record["attempted_at"] is None
    view = sim.call(call_sid)
    assert view is not None and (view["callbacks_sent"], view["callbacks_dropped"]) == (0, 1)
    assert rx.received() == []


def test_duplicate_fault(sim: Simulator, rx: CallbackReceiver) -> None:
    requests.post(f"{sim.url}/_sim/config", json={"callback_duplicate_ratio": 1.0}, timeout=5)
    call_sid = v1_call(sim, StatusCallback=rx.url)
    assert sim.wait_idle(5)
    hits = rx.wait_for(2)
    assert [h["form"]["CallSid"] for h in hits] == [call_sid, call_sid]
    assert sorted(r["duplicate"] for r in sim.callbacks()) == [False, True]


def test_delay_fault(sim: Simulator, rx: CallbackReceiver) -> None:
    sim.configure(callback_delay_s=0.3)
    call_sid = v1_call(sim, StatusCallback=rx.url)
    (hit,) = rx.wait_for(1, timeout_s=5)
    ended = sim.call(call_sid)["ended_at"]  # type: ignore[index]
    assert hit["received_at"] - ended >= 0.29
    assert sim.wait_idle(5)


def test_reorder_fault(sim: Simulator, rx: CallbackReceiver) -> None:
    sim.configure(callback_reorder=True, callback_reorder_window_s=0.5, dial_delay_s=0,
                  callback_workers=4)
    sids = [v1_call(sim, StatusCallback=rx.url, CustomField=str(i)) for i in range(12)]
    assert sim.wait_idle(10)
    hits = rx.wait_for(12)
    ended = sorted(sids, key=lambda s: sim.call(s)["ended_at"])  # type: ignore[index]
    received = [h["form"]["CallSid"] for h in hits]
    assert sorted(received) == sorted(sids)
    assert received != ended
