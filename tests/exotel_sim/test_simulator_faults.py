"""Fault switches, run-time config, inspection endpoints, secrets, reset and throughput."""

from __future__ import annotations

import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from exotel_sim import SimConfig, Simulator
from exotel_sim.receiver import CallbackReceiver

SID, KEY, TOKEN = "AC_SIM", "sim_key", "sim_token"
AUTH = (KEY, TOKEN)
BASE = SimConfig(time_scale=0.01, seed=13)
pytestmark = pytest.mark.usefixtures("fresh")  # tests/exotel_sim/sim_fixtures.py
DATA = {"From": "09111111100", "To": "09222222200", "CallerId": "08030752400"}
V3 = {"from": {"contact_uri": "+919111111100"}, "to": {"contact_uri": "+919222222200"},
      "virtual_number": "+912241499102"}


def v1(sim: Simulator, json_: bool = True, timeout: float = 5, **extra: str) -> requests.Response:
    url = f"{sim.url}/v1/Accounts/{SID}/Calls/connect{'.json' if json_ else ''}"
    return requests.post(url, data={**DATA, **extra}, auth=AUTH, timeout=timeout)


def v3(sim: Simulator) -> requests.Response:
    return requests.post(f"{sim.url}/v3/accounts/{SID}/calls", json=V3, auth=AUTH, timeout=5)


def test_error_5xx_ratio_one_and_back_over_http(sim: Simulator) -> None:
    changed = requests.post(f"{sim.url}/_sim/config", json={"error_5xx_ratio": 1.0}, timeout=5)
    assert changed.status_code == 200 and changed.json()["error_5xx_ratio"] == 1.0
    assert v1(sim).json() == {"RestException": {"Status": 500, "Message": "Internal Server Error"}}
    assert v1(sim, json_=False).status_code == 500
    failed = v3(sim)
    assert failed.status_code == 500
    assert failed.json()["response"]["error_data"]["code"] == 1100
    assert sim.calls() == []
    requests.post(f"{sim.url}/_sim/config", json={"error_5xx_ratio": 0}, timeout=5)
    assert v1(sim).status_code == 200


def test_error_5xx_ratio_half_is_seeded(sim: Simulator) -> None:
    sim.configure(error_5xx_ratio=0.5, seed=99)
    codes = [v1(sim).status_code for _ in range(40)]
    assert 5 < codes.count(500) < 35 and codes.count(200) == len(sim.calls())


def test_accept_then_drop_ratio(sim: Simulator) -> None:
    sim.configure(accept_then_drop_ratio=1.0)
    with pytest.raises(requests.ConnectionError):
        v1(sim, CustomField="lost-answer")
    with pytest.raises(requests.ConnectionError):
        v3(sim)
    calls = requests.get(f"{sim.url}/_sim/calls", timeout=5).json()
    assert [c["api"] for c in calls] == ["v1-connect", "v3"]
    assert all(c["fault"] == "accept-then-drop" for c in calls)
    assert calls[0]["custom_field"] == "lost-answer"
    assert sim.wait_idle(5)
    assert {c["status"] for c in sim.calls()} == {"completed"}
    log = [r for r in requests.get(f"{sim.url}/_sim/requests", timeout=5).json()
           if r["method"] == "POST"]
    assert [(r["status_code"], r["fault"]) for r in log] == [(None, "accept-then-drop")] * 2
    assert [r["call_sid"] for r in log] == [c["sid"] for c in calls]


def test_latency_makes_a_client_time_out_after_the_call_exists(sim: Simulator) -> None:
    sim.configure(latency_s=0.4)
    started = time.monotonic()
    assert v1(sim).status_code == 200
    assert time.monotonic() - started >= 0.39
    with pytest.raises(requests.ReadTimeout):
        v1(sim, timeout=0.1)
    assert len(sim.calls()) == 2


def test_bad_config_changes_are_refused(sim: Simulator) -> None:
    for change in ({"error_5xx_ratio": 2}, {"no_such_switch": 1}, {"outcomes": {"maybe": 1}}):
        response = requests.post(f"{sim.url}/_sim/config", json=change, timeout=5)
        assert response.status_code == 400, change
    assert requests.post(f"{sim.url}/_sim/config", data="[]", timeout=5).status_code == 400
    with pytest.raises(ValueError):
        sim.configure(time_scale=0)
    assert sim.config.error_5xx_ratio == 0


def test_tokens_never_show(sim: Simulator) -> None:
    v1(sim, ApiToken="leaked?")
    requests.get(f"{sim.url}/v1/Accounts/{SID}/Calls/x.json", auth=AUTH,
                 params={"token": TOKEN}, timeout=5)
    texts = [requests.get(f"{sim.url}/_sim/{name}", timeout=5).text
             for name in ("requests", "calls", "config", "callbacks")]
    basic = base64.b64encode(f"{KEY}:{TOKEN}".encode()).decode()
    for text in texts + [json.dumps(sim.requests()), repr(sim.config)]:
        assert TOKEN not in text and basic not in text and "leaked?" not in text
    log = sim.requests()
    assert log[0]["params"]["ApiToken"] == "***" and log[1]["query"]["token"] == "***"


def test_request_log_fields(sim: Simulator) -> None:
    before = time.time()
    call_sid = v1(sim).json()["Call"]["Sid"]
    requests.get(f"{sim.url}/v1/Accounts/{SID}/Calls/{call_sid}.json?details=true", auth=AUTH,
                 timeout=5)
    post, get = sim.requests()
    assert post["method"] == "POST" and post["path"] == f"/v1/Accounts/{SID}/Calls/connect.json"
    assert post["account_sid"] == SID and post["status_code"] == 200
    assert post["call_sid"] == call_sid and post["params"] == DATA
    assert before <= post["arrival_time"] <= time.time()
    assert get["query"] == {"details": "true"} and get["call_sid"] == call_sid


def test_reset_over_http(sim: Simulator) -> None:
    sim.configure(limit_calls=1)
    sim.set_scenario({"09111111100": ["busy"]})
    assert v1(sim).status_code == 200 and v1(sim).status_code == 429
    assert requests.post(f"{sim.url}/_sim/reset", timeout=5).json() == {"ok": True}
    assert sim.calls() == [] and sim.requests() == [] and sim.callbacks() == []
    assert sim.scenario() == {}
    assert v1(sim).status_code == 200  # the limiter forgot too


def test_idle_endpoint(sim: Simulator) -> None:
    v1(sim)
    answer = requests.get(f"{sim.url}/_sim/idle", params={"timeout_s": 5}, timeout=10).json()
    assert answer["idle"] is True and answer["active_calls"] == 0 and answer["calls"] == 1


def test_600_calls_at_time_scale_001_in_a_few_seconds(sim: Simulator) -> None:
    sim.configure(limit_calls=10_000, outcomes={"answered": 0.7, "busy": 0.1, "no-answer": 0.1,
                                                 "failed": 0.1})
    with CallbackReceiver() as rx:
        started = time.monotonic()

        def burst(worker: int) -> list[int]:
            with requests.Session() as session:
                url = f"{sim.url}/v1/Accounts/{SID}/Calls/connect.json"
                data = {**DATA, "StatusCallback": rx.url, "CustomField": str(worker)}
                return [session.post(url, data=data, auth=AUTH, timeout=10).status_code
                        for _ in range(75)]

        with ThreadPoolExecutor(8) as pool:
            codes = [code for chunk in pool.map(burst, range(8)) for code in chunk]
        assert codes == [200] * 600
        assert sim.wait_idle(20)
        elapsed = time.monotonic() - started
        assert len(rx.wait_for(600, timeout_s=10)) == 600
    calls = sim.calls()
    assert len(calls) == 600 and all(c["state"] == "terminal" for c in calls)
    assert len({c["status"] for c in calls}) >= 3
    assert elapsed < 15, elapsed
