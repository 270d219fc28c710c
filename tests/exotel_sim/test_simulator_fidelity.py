"""One contract test per row of the fidelity table (exotel_sim/fidelity.py), over real HTTP
against a simulator with Exotel's documented defaults (only the clock is scaled)."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from exotel_sim import SimConfig, Simulator, inspect
from exotel_sim.fidelity import ROWS
from exotel_sim.receiver import CallbackReceiver
from tests.stack import wait_for

SID, AUTH = "AC_SIM", ("sim_key", "sim_token")
BASE = SimConfig(time_scale=0.001, seed=3)
pytestmark = pytest.mark.usefixtures("fresh")  # tests/exotel_sim/sim_fixtures.py
DEFAULT_FOUR = {"CallSid", "DateUpdated", "Status", "RecordingUrl"}
EXTENDED = DEFAULT_FOUR | {"EventType", "DateCreated", "To", "From", "PhoneNumberSid",
                           "StartTime", "EndTime", "ConversationDuration", "Direction",
                           "CustomField"}
V3_BODY = {"from": {"contact_uri": "+919111111100"}, "to": {"contact_uri": "+919222222200"},
           "virtual_number": "+912241499102"}
IST = timezone(timedelta(minutes=330))


@pytest.fixture()
def rx() -> Iterator[CallbackReceiver]:
    with CallbackReceiver() as receiver:
        yield receiver


def connect(sim: Simulator, json: bool = True, session: Any = requests,
            **extra: str) -> requests.Response:
    data = {"From": "09111111100", "To": "09222222200", "CallerId": "08030752400"}
    data.update(extra)
    data = {k: v for k, v in data.items() if v}
    return session.post(f"{sim.url}/v1/Accounts/{SID}/Calls/connect{'.json' if json else ''}",
                        data=data, auth=AUTH, timeout=10)


def place(sim: Simulator, **extra: str) -> str:
    response = connect(sim, **extra)
    assert response.status_code == 200, response.text
    sid: str = response.json()["Call"]["Sid"]
    return sid


def details(sim: Simulator, call_sid: str, **params: str) -> dict[str, Any]:
    response = requests.get(f"{sim.url}/v1/Accounts/{SID}/Calls/{call_sid}.json",
                            params=params, auth=AUTH, timeout=5)
    assert response.status_code == 200, response.text
    call: dict[str, Any] = response.json()["Call"]
    return call


def v3_post(sim: Simulator, **changes: Any) -> requests.Response:
    body = {**V3_BODY, **changes}
    return requests.post(f"{sim.url}/v3/accounts/{SID}/calls", json=body, auth=AUTH, timeout=5)


def message_of(response: requests.Response) -> str:
    return str(response.json()["RestException"]["Message"])


def test_every_row_is_in_help_and_readme() -> None:
    from click.testing import CliRunner

    from exotel_sim.cli import simulator

    help_text = " ".join(CliRunner().invoke(simulator, ["--help"], terminal_width=400)
                         .output.split())
    with open("README.md", encoding="utf-8") as fh:
        readme = fh.read()
    for behaviour, default, source in ROWS:
        assert " ".join(f"{behaviour}: {default} [{source}]".split()) in help_text, behaviour
        assert f"| {behaviour} | {default} | {source} |" in readme, behaviour


# --- StatusCallbacks -----------------------------------------------------------------------

@pytest.mark.parametrize("content_type", ["multipart/form-data", "application/json"])
def test_v1_callback_without_events_has_exactly_the_four_fields(
        sim: Simulator, rx: CallbackReceiver, content_type: str) -> None:
    call_sid = place(sim, StatusCallback=rx.url + "/cb", CustomField="order-1",
                     StatusCallbackContentType=content_type)
    (hit,) = rx.wait_for(1)
    assert hit["content_type"].startswith(content_type)
    body = hit["json"] if content_type == "application/json" else hit["form"]
    assert set(body) == DEFAULT_FOUR
    assert (body["CallSid"], body["Status"]) == (call_sid, "completed")
    assert body["RecordingUrl"] in ("", None)
    assert sim.wait_idle(5) and len(rx.received()) == 1  # no "answered" callback


@pytest.mark.parametrize("content_type", ["multipart/form-data", "application/json"])
def test_v1_callback_with_events_is_extended(
        sim: Simulator, rx: CallbackReceiver, content_type: str) -> None:
    call_sid = place(sim, StatusCallback=rx.url + "/cb", CustomField="order-1",
                     StatusCallbackContentType=content_type,
                     **{"StatusCallbackEvents[0]": "terminal"})
    (hit,) = rx.wait_for(1)
    assert sim.wait_idle(5) and len(rx.received()) == 1  # terminal only: no "answered"
    if content_type == "application/json":
        body = hit["json"]
        assert body["Legs"] == [{"OnCallDuration": 35, "Status": "completed"},
                                {"OnCallDuration": 30, "Status": "completed"}]
    else:
        body = hit["form"]
        assert body["Legs[1][Status]"] == "completed"
    assert EXTENDED <= set(body)
    assert (body["CallSid"], body["EventType"], body["CustomField"]) == (
        call_sid, "terminal", "order-1")
    assert str(body["ConversationDuration"]) == "30"


def test_v1_answered_callback_only_when_subscribed(sim: Simulator, rx: CallbackReceiver) -> None:
    place(sim, StatusCallback=rx.url, StatusCallbackEvents="answered")
    hits = rx.wait_for(2)
    assert [h["form"]["EventType"] for h in hits] == ["answered", "terminal"]
    assert hits[0]["form"]["Status"] == "in-progress"


def test_v1_old_rich_callback_is_a_switch(sim: Simulator, rx: CallbackReceiver) -> None:
    sim.configure(v1_callback_always_extended=True)
    place(sim, StatusCallback=rx.url)
    (hit,) = rx.wait_for(1)
    assert EXTENDED <= set(hit["form"])


def test_v3_callback_is_event_details_and_call_details(
        sim: Simulator, rx: CallbackReceiver) -> None:
    response = v3_post(sim, custom_field="c1",
                       status_callback=[{"event": "terminal", "url": rx.url}])
    assert response.status_code == 200, response.text
    (hit,) = rx.wait_for(1)
    assert set(hit["json"]) == {"event_details", "call_details"}
    assert hit["json"]["event_details"] == {"event_type": "terminal"}
    call = hit["json"]["call_details"]
    assert call["custom_field"] == "c1" and call["status"] == "completed"
    assert isinstance(call["legs"], str)  # a URL: the legs API gives the legs


# --- callback delivery ---------------------------------------------------------------------

def test_callback_defaults_are_documented() -> None:
    cfg = SimConfig()
    assert (cfg.callback_timeout_s, cfg.callback_retries) == (15.0, 2)


def test_receiver_answering_500_twice_gets_three_deliveries(
        sim: Simulator, rx: CallbackReceiver) -> None:
    sim.configure(callback_retry_delay_s=0.05)
    rx.script(500, 500)
    call_sid = place(sim, StatusCallback=rx.url)
    hits = rx.wait_for(3)
    assert sim.wait_idle(5)
    assert len(rx.received()) == 3 and len(hits) == 3
    tries = [c for c in sim.callbacks() if c["call_sid"] == call_sid]
    assert [(c["attempt"], c["response_status"], c["delivered"]) for c in tries] == [
        (1, 500, False), (2, 500, False), (3, 200, True)]


def test_receiver_answering_200_gets_one_delivery(sim: Simulator, rx: CallbackReceiver) -> None:
    place(sim, StatusCallback=rx.url)
    rx.wait_for(1)
    assert sim.wait_idle(5)
    assert len(rx.received()) == 1 and [c["attempt"] for c in sim.callbacks()] == [1]


def test_a_slow_receiver_is_a_failed_try(sim: Simulator) -> None:
    sim.configure(callback_timeout_s=0.2, callback_retry_delay_s=0.0, callback_retries=1)
    with CallbackReceiver(delay_s=0.5) as slow:
        place(sim, StatusCallback=slow.url)
        assert len(slow.wait_for(2)) == 2
        assert sim.wait_idle(5)
    tries = sim.callbacks()
    assert [c["attempt"] for c in tries] == [1, 2]
    assert all(not c["delivered"] and "Timeout" in c["error"] for c in tries)


# --- the account limit ---------------------------------------------------------------------

def _mixed(sim: Simulator, session: requests.Session, count: int) -> list[requests.Response]:
    """``count`` Voice API requests alternating call POSTs and GETs of every kind."""
    first = connect(sim, session=session)
    call_sid = first.json()["Call"]["Sid"]
    gets = [f"/v1/Accounts/{SID}/Calls/{call_sid}.json", f"/v1/Accounts/{SID}/Calls.json",
            f"/v3/accounts/{SID}/calls/{call_sid}", f"/v3/accounts/{SID}/calls/{call_sid}/legs"]
    out = [first]
    for i in range(1, count):
        if i % 2:
            out.append(session.get(sim.url + gets[i % len(gets)], auth=AUTH, timeout=10))
        else:
            out.append(connect(sim, session=session))
    return out


def test_the_201st_voice_api_request_in_a_minute_is_429(sim: Simulator) -> None:
    assert (sim.config.limit_calls, sim.config.limit_window_s) == (200, 60.0)
    with requests.Session() as session:
        answers = _mixed(sim, session, 201)
    assert [r.status_code for r in answers[:200]].count(429) == 0
    last = answers[200]
    assert last.status_code == 429
    headers = last.headers
    assert headers["X-RateLimit-Limit"] == "200" and headers["X-RateLimit-Remaining"] == "0"
    assert 1 <= int(headers["Retry-After"]) <= 60
    first_at = sim.counted_requests()[0]["arrival_time"]
    assert abs(int(headers["X-RateLimit-Reset"]) - (first_at + 60)) <= 1.5
    assert answers[0].headers["X-RateLimit-Remaining"] == "199"
    counted = sim.counted_requests(SID)
    assert len(counted) == 200 and {r["method"] for r in counted} == {"GET", "POST"}
    times = [r["arrival_time"] for r in counted]
    assert inspect.max_in_window(times, 60.0) == 200
    over_http = requests.get(f"{sim.url}/_sim/counted", params={"account_sid": SID},
                             timeout=5).json()
    assert [r["id"] for r in over_http] == [r["id"] for r in counted]


def test_scaled_window_refuses_then_admits_again(sim: Simulator) -> None:
    sim.configure(limit_calls=10, limit_window_s=1.0)
    with requests.Session() as session:
        answers = _mixed(sim, session, 11)
        assert [r.status_code for r in answers] == [200] * 10 + [429]
        v3_limited = session.get(f"{sim.url}/v3/accounts/{SID}/calls/x/legs", auth=AUTH,
                                 timeout=5)
        assert v3_limited.status_code == 429
        assert v3_limited.json()["response"]["error_data"]["code"] == 10724
        assert "X-RateLimit-Reset" in v3_limited.headers
        wait_for(lambda: connect(sim, session=session).status_code == 200, 5, "a free slot",
                 interval_s=0.05)
    times = [r["arrival_time"] for r in inspect.counted_requests(sim.requests())]
    assert inspect.max_in_window(times, 1.0) <= 10


# --- DND -----------------------------------------------------------------------------------

@pytest.mark.parametrize("json", [True, False])
def test_dnd_number_is_403(sim: Simulator, json: bool) -> None:
    response = connect(sim, json=json, To="09222222294")
    assert response.status_code == 403
    if json:
        assert message_of(response).startswith(
            "Call to [09222222294] can not be made because of TRAI NDNC regulations.")
    else:
        assert "TRAI NDNC regulations" in (ET.fromstring(response.content)
                                           .findtext("RestException/Message") or "")
    flow = connect(sim, From="09111111194", To="",
                   Url=f"http://my.exotel.com/{SID}/exoml/start_voice/123")
    assert flow.status_code == 403
    v3 = v3_post(sim, to={"contact_uri": "+919222222294"})
    assert v3.status_code == 403 and "NDNC" in v3.json()["response"]["error_data"]["description"]
    assert sim.calls() == []


def test_dnd_list_and_switch(sim: Simulator) -> None:
    sim.configure(dnd_numbers=["+919222222201"])
    assert connect(sim, To="09222222201").status_code == 403
    assert connect(sim, From="09222222201").status_code == 200  # the agent is not checked
    sim.configure(dnd_check=False)
    assert connect(sim, To="09222222294").status_code == 200


# --- parameters ----------------------------------------------------------------------------

@pytest.mark.parametrize("url", [
    f"http://my.exotel.com/{SID}/exoml/start_voice/4242",
    f"https://my.exotel.com/{SID}/exoml/start_voice/4242",
    "http://my.exotel.in/exoml/start/4242",
    "https://my.exotel.com/exoml/start/4242",
])
def test_flow_url_forms(sim: Simulator, url: str) -> None:
    call_sid = place(sim, To="", Url=url)
    assert sim.call(call_sid)["app_id"] == "4242"  # type: ignore[index]


@pytest.mark.parametrize("url", ["http://evil.example.com/AC_SIM/exoml/start_voice/1",
                                 "http://my.exotel.com/OTHER_SID/exoml/start_voice/1"])
def test_flow_url_of_another_host_or_account_is_400(sim: Simulator, url: str) -> None:
    response = connect(sim, To="", Url=url)
    assert response.status_code == 400
    assert message_of(response).startswith("Invalid Call Parameters: Url")


@pytest.mark.parametrize(("extra", "ok"), [
    ({"TimeOut": "60"}, True), ({"TimeOut": "61"}, False),
    ({"TimeLimit": "14400"}, True), ({"TimeLimit": "14401"}, False),
    ({"CustomField": "x" * 128}, True), ({"CustomField": "x" * 129}, False),
    ({"WaitUrl": "https://example.com/wait.wav"}, True), ({"WaitUrl": "ftp://x/y.wav"}, False),
    ({"StartPlaybackValueNew": "http://example.com/a.wav"}, True),
    ({"StartPlaybackValueNew": "nope"}, False),
    ({"StreamUrl": "wss://example.com/s", "StreamBegin": "Leg2Connect"}, True),
    ({"StreamUrl": "https://example.com/s"}, False),
    ({"StreamUrl": "ws://example.com/s", "StreamBegin": "Leg3Connect"}, False),
])
def test_documented_parameter_bounds(sim: Simulator, extra: dict[str, str], ok: bool) -> None:
    response = connect(sim, **extra)
    assert response.status_code == (200 if ok else 400), response.text
    if not ok:
        assert message_of(response).startswith("Invalid Call Parameters: ")


# --- call lifecycle and details ------------------------------------------------------------

def test_status_goes_queued_ringing_in_progress_completed(sim: Simulator) -> None:
    sim.configure(time_scale=0.05, limit_calls=100_000)
    response = connect(sim)
    assert response.json()["Call"]["Status"] == "in-progress"  # seeds 000 / 004
    call_sid = response.json()["Call"]["Sid"]
    seen: list[str] = []

    def observe() -> bool:
        status = details(sim, call_sid)["Status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        return status == "completed"

    wait_for(observe, 10, "the call to complete", interval_s=0.01)
    assert seen == ["queued", "ringing", "in-progress", "completed"][-len(seen):]
    assert {"ringing", "in-progress", "completed"} <= set(seen)


def test_a_call_not_connected_yet_can_be_canceled(sim: Simulator, rx: CallbackReceiver) -> None:
    sim.configure(ring_s=100_000, ring_timeout_s=100_000)  # leg 1 rings for 100 s real
    call_sid = place(sim, StatusCallback=rx.url)
    wait_for(lambda: details(sim, call_sid)["Status"] == "ringing", 5, "ringing",
             interval_s=0.01)
    assert requests.post(f"{sim.url}/_sim/calls/{call_sid}/cancel", timeout=5).json() == {
        "canceled": True}
    assert details(sim, call_sid, details="true")["Details"]["Leg1Status"] == "canceled"
    (hit,) = rx.wait_for(1)
    assert hit["form"]["Status"] == "canceled"
    assert not sim.cancel(call_sid)


def test_details_true_has_the_documented_shape(sim: Simulator) -> None:
    call_sid = place(sim)
    assert sim.wait_idle(5)
    got = details(sim, call_sid, details="true")["Details"]
    assert got == {"ConversationDuration": 30, "Leg1Status": "completed",
                   "Leg2Status": "completed",
                   "Legs": [{"Leg": {"Id": 1, "OnCallDuration": 35}},
                            {"Leg": {"Id": 2, "OnCallDuration": 30}}]}


def test_duration_price_endtime_fill_later(sim: Simulator) -> None:
    sim.configure(duration_fill_delay_s=3000)  # 3 s real at this scale
    call_sid = place(sim)
    assert sim.wait_idle(5)
    early = details(sim, call_sid)
    assert early["Status"] == "completed"
    assert (early["Duration"], early["Price"], early["EndTime"]) == (None, None, None)
    assert sim.wait_idle(10, settled=True)
    late = details(sim, call_sid)
    assert late["Duration"] == 41 and late["EndTime"] and late["Price"] is not None


# --- bulk call details ---------------------------------------------------------------------

BULK_CALL_KEYS = {"Sid", "ParentCallSid", "DateCreated", "DateUpdated", "AccountSid", "To",
                  "From", "PhoneNumberSid", "Status", "StartTime", "EndTime", "Duration",
                  "Price", "Direction", "AnsweredBy", "ForwardedFrom", "CallerName", "Uri",
                  "RecordingUrl"}


def bulk(sim: Simulator, json: bool = True, path: str | None = None,
         **params: str) -> requests.Response:
    url = sim.url + (path or f"/v1/Accounts/{SID}/Calls{'.json' if json else ''}")
    return requests.get(url, params=params or None, auth=AUTH, timeout=5)


def test_bulk_lists_ended_calls_with_paging(sim: Simulator) -> None:
    ended = [place(sim, To=f"0922222220{i}", CustomField=f"c{i}") for i in range(5)]
    assert sim.wait_idle(5)
    sim.configure(talk_s=100_000)
    ongoing = place(sim)
    first = bulk(sim, PageSize="2")
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"Metadata", "Calls"}
    meta = body["Metadata"]
    assert set(meta) == {"Total", "PageSize", "FirstPageUri", "PrevPageUri", "NextPageUri"}
    assert (meta["Total"], meta["PageSize"], meta["PrevPageUri"]) == (5, 2, None)
    assert all(set(call) == BULK_CALL_KEYS for call in body["Calls"])  # no CustomField
    listed = [c["Sid"] for c in body["Calls"]]
    uri = meta["NextPageUri"]
    while uri:
        page = bulk(sim, path=uri).json()
        listed += [c["Sid"] for c in page["Calls"]]
        uri = page["Metadata"]["NextPageUri"]
    assert listed == list(reversed(ended))  # newest first by default
    assert ongoing not in listed
    back = bulk(sim, PageSize="2", After=listed[1]).json()["Metadata"]["PrevPageUri"]
    assert [c["Sid"] for c in bulk(sim, path=back).json()["Calls"]] == listed[:2]
    ascending = bulk(sim, SortBy="DateCreated:asc").json()["Calls"]
    assert [c["Sid"] for c in ascending] == ended


def test_bulk_filters(sim: Simulator) -> None:
    a = place(sim, To="09222222201")
    b = place(sim, To="09222222291")  # busy
    assert sim.wait_idle(5)
    assert [c["Sid"] for c in bulk(sim, To="+919222222201").json()["Calls"]] == [a]
    assert [c["Sid"] for c in bulk(sim, Status="busy").json()["Calls"]] == [b]
    assert [c["Sid"] for c in bulk(sim, Sid=f"{a},{b}").json()["Calls"]] == [b, a]
    now = datetime.now(IST)
    window = (f"gte:{(now - timedelta(hours=1)):%Y-%m-%d %H:%M:%S};"
              f"lte:{(now + timedelta(minutes=1)):%Y-%m-%d %H:%M:%S}")
    assert len(bulk(sim, DateCreated=window).json()["Calls"]) == 2
    stamp = "%Y-%m-%d %H:%M:%S"
    old = (f"gte:{(now - timedelta(days=3)).strftime(stamp)};"
           f"lte:{(now - timedelta(days=2)).strftime(stamp)}")
    assert bulk(sim, DateCreated=old).json()["Calls"] == []
    xml = bulk(sim, json=False)
    root = ET.fromstring(xml.content)
    assert xml.headers["content-type"].startswith("application/xml")
    assert root.findtext("Metadata/Total") == "2" and len(root.findall("Calls/Call")) == 2


@pytest.mark.parametrize("params", [
    {"PageSize": "101"},
    {"Sid": ",".join(f"{i:032x}" for i in range(101))},
    {"To": ",".join(f"0922222220{i}" for i in range(6))},
    {"DateCreated": "gte:2024-01-01 00:00:00;lte:2024-02-15 00:00:00"},
    {"DateCreated": "yesterday"},
])
def test_bulk_limits_are_400(sim: Simulator, params: dict[str, str]) -> None:
    response = bulk(sim, **params)
    assert response.status_code == 400
    assert message_of(response).startswith("Invalid Call Parameters: ")


# --- v3 errors -----------------------------------------------------------------------------

@pytest.mark.parametrize(("endpoint", "code", "http"), [
    ("create", 1012, 409), ("create", 10705, 409), ("create", 10703, 404),
    ("create", 10706, 409), ("create", 10712, 405), ("create", 10731, 404),
    ("create", 10806, 404), ("create", 10702, 404), ("details", 1021, 404),
    ("details", 1022, 404), ("legs", 10743, 500), ("legs", 10715, 500), ("legs", 10724, 429),
])
def test_v3_faults_answer_seed_002_codes(sim: Simulator, endpoint: str, code: int,
                                         http: int) -> None:
    call_sid = v3_post(sim).json()["response"]["call_details"]["sid"]
    sim.configure(v3_faults={endpoint: code})
    if endpoint == "create":
        response = v3_post(sim)
    else:
        tail = "/legs" if endpoint == "legs" else ""
        response = requests.get(f"{sim.url}/v3/accounts/{SID}/calls/{call_sid}{tail}",
                                auth=AUTH, timeout=5)
    assert response.status_code == http
    assert response.json()["response"]["error_data"]["code"] == code
    assert response.json()["http_code"] == http


def test_v3_sip_needs_voip(sim: Simulator) -> None:
    response = v3_post(sim, **{"from": {"contact_uri": "sip:agent1"}})
    assert response.status_code == 405
    assert response.json()["response"]["error_data"]["code"] == 10712
    sim.configure(voip_enabled=True)
    assert v3_post(sim, **{"from": {"contact_uri": "sip:agent1"}}).status_code == 200


# --- v1 errors and timestamps --------------------------------------------------------------

def test_v1_errors_are_rest_exceptions(sim: Simulator) -> None:
    missing = connect(sim, To="")
    assert missing.status_code == 400
    assert message_of(missing) == "Invalid Call Parameters: No 'To' specified"
    denied = requests.post(f"{sim.url}/v1/Accounts/{SID}/Calls/connect.json", data={},
                           auth=("x", "y"), timeout=5)
    assert denied.status_code == 401 and denied.json()["RestException"]["Status"] == 401
    unknown = requests.get(f"{sim.url}/v1/Accounts/{SID}/Calls/{'0' * 32}.json", auth=AUTH,
                           timeout=5)
    assert (unknown.status_code, message_of(unknown)) == (404, "No matching results")


def test_timestamps_are_ist(sim: Simulator) -> None:
    before = time.time()
    call = connect(sim).json()["Call"]
    created = datetime.strptime(call["DateCreated"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=IST)
    assert abs(created.timestamp() - before) < 2
    v3 = v3_post(sim).json()["response"]["call_details"]
    assert v3["created_time"].endswith("+05:30")
