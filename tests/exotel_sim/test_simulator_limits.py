"""The account limit: N Voice API requests per sliding window per account, 429 after."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from exotel_sim import SimConfig, Simulator
from tests.stack import wait_for

SID, AUTH = "AC_SIM", ("sim_key", "sim_token")
BASE = SimConfig(time_scale=0.01, seed=11, limit_calls=20, limit_window_s=2.0)
pytestmark = pytest.mark.usefixtures("fresh")  # tests/exotel_sim/sim_fixtures.py
DATA = {"From": "09111111100", "To": "09222222200", "CallerId": "08030752400"}
V3 = {"from": {"contact_uri": "+919111111100"}, "to": {"contact_uri": "+919222222200"},
      "virtual_number": "+912241499102"}


def v1(sim: Simulator, session: requests.Session | None = None, json: bool = True,
       sid: str = SID, auth: tuple[str, str] = AUTH) -> requests.Response:
    url = f"{sim.url}/v1/Accounts/{sid}/Calls/connect{'.json' if json else ''}"
    return (session or requests).post(url, data=DATA, auth=auth, timeout=5)


def v3(sim: Simulator) -> requests.Response:
    return requests.post(f"{sim.url}/v3/accounts/{SID}/calls", json=V3, auth=AUTH, timeout=5)


def admitted_in_any_window(sim: Simulator, window_s: float) -> int:
    """The most admitted call POSTs found in any window of ``window_s``."""
    times = sorted(r["arrival_time"] for r in sim.requests()
                   if r["method"] == "POST" and r["status_code"] != 429)
    best = 0
    for i, start in enumerate(times):
        best = max(best, sum(1 for t in times[i:] if t < start + window_s))
    return best


def test_call_21_in_the_window_is_429_and_not_before(sim: Simulator) -> None:
    with requests.Session() as session:
        codes = [v1(sim, session).status_code for _ in range(20)]
        assert codes == [200] * 20
        limited = v1(sim, session)
    assert limited.status_code == 429
    assert limited.json() == {"RestException": {
        "Status": 429, "Message": "Rate limit exceeded. Max 20 requests per 2 seconds."}}
    retry_after = int(limited.headers["Retry-After"])
    assert 1 <= retry_after <= 2
    xml = v1(sim, json=False)
    assert xml.status_code == 429
    assert ET.fromstring(xml.content).findtext("RestException/Status") == "429"
    assert len(sim.calls()) == 20  # a 429 creates no call
    first = min(r["arrival_time"] for r in sim.requests())
    # wait for the oldest to leave the window
    response = wait_for(lambda: (r := v1(sim)).status_code != 429 and r, 5,
                        "a slot to free", interval_s=0.02)
    admitted = [r for r in sim.requests() if r["status_code"] == 200]
    assert admitted[-1]["arrival_time"] >= first + 2.0
    assert response.status_code == 200 and len(sim.calls()) == 21
    assert admitted_in_any_window(sim, 2.0) <= 20


def test_refused_requests_do_not_count(sim: Simulator) -> None:
    sim.configure(limit_calls=3, limit_window_s=0.5)
    assert [v1(sim).status_code for _ in range(6)] == [200, 200, 200, 429, 429, 429]
    start = min(r["arrival_time"] for r in sim.requests())
    wait_for(lambda: time.time() >= start + 0.52, 5, "the window to pass", interval_s=0.01)
    assert [v1(sim).status_code for _ in range(4)] == [200, 200, 200, 429]


def test_v1_and_v3_share_the_limit_and_v3_answers_10724(sim: Simulator) -> None:
    sim.configure(limit_calls=5)
    assert [v1(sim).status_code for _ in range(3)] + [v3(sim).status_code for _ in range(2)] == [
        200] * 5
    limited = v3(sim)
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    error = limited.json()["response"]["error_data"]
    assert error["code"] == 10724 and limited.json()["http_code"] == 429
    assert v1(sim).status_code == 429


def test_limit_is_per_account_and_bad_auth_does_not_count(sim: Simulator) -> None:
    sim.configure(limit_calls=2, accounts={SID: AUTH, "AC_B": ("b_key", "b_token")})
    assert [v1(sim, auth=(SID, "bad")).status_code for _ in range(3)] == [401] * 3
    assert [v1(sim).status_code for _ in range(3)] == [200, 200, 429]
    other = [v1(sim, sid="AC_B", auth=("b_key", "b_token")).status_code for _ in range(3)]
    assert other == [200, 200, 429]


def test_get_calls_count_unless_the_scope_is_posts(sim: Simulator) -> None:
    sim.configure(limit_calls=3)
    call_sid = v1(sim).json()["Call"]["Sid"]
    url = f"{sim.url}/v1/Accounts/{SID}/Calls/{call_sid}.json"
    assert [requests.get(url, auth=AUTH, timeout=5).status_code for _ in range(3)] == [
        200, 200, 429]
    sim.reset()
    sim.configure(limit_calls=1, limit_scope="posts")
    call_sid = v1(sim).json()["Call"]["Sid"]
    url = f"{sim.url}/v1/Accounts/{SID}/Calls/{call_sid}.json"
    assert {requests.get(url, auth=AUTH, timeout=5).status_code for _ in range(5)} == {200}


def test_concurrent_posts_admit_exactly_the_limit(sim: Simulator) -> None:
    sim.configure(limit_calls=100, limit_window_s=30)

    def burst(_: int) -> list[int]:
        with requests.Session() as session:
            return [v1(sim, session).status_code for _ in range(25)]

    with ThreadPoolExecutor(8) as pool:
        codes = [code for chunk in pool.map(burst, range(8)) for code in chunk]
    assert codes.count(200) == 100 and codes.count(429) == 100
    assert len(sim.calls()) == 100


def test_the_real_limit_is_200_per_minute(sim: Simulator) -> None:
    sim.configure(limit_calls=200, limit_window_s=60.0)
    with requests.Session() as session:
        codes = [v1(sim, session).status_code for _ in range(200)]
        assert codes == [200] * 200
        limited = v1(sim, session)
    assert limited.status_code == 429
    assert limited.json()["RestException"]["Message"] == (
        "Rate limit exceeded. Max 200 requests per minute.")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert sim.wait_idle(10)
    assert len(sim.calls()) == 200
