"""Exotel clients written by others, from PyPI (dev dependencies), against the simulator
unchanged but for where they send their requests:

* ``exotel`` 0.1.5 (github.com/sarathsp06/exotel-py): takes a ``baseurl`` argument;
  authenticates with (sid, token); its ``call_flow`` writes the older
  ``http://my.exotel.in/exoml/start/<flow_id>`` Url; TimeOut 30, TimeLimit 14400.
* ``pyexotel`` 1.0.3: hard-codes ``https://<domain>``; it is pointed at the simulator by
  replacing the ``requests`` module it calls with a Session whose adapter rewrites
  ``https://api.exotel.com`` to the simulator's address (mocking what is outside the
  project, nothing of it). Its ``connect_flow`` writes seed 001's
  ``http://my.exotel.com/<sid>/exoml/start_voice/<flow_id>``.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from exotel_sim import SimConfig, Simulator

exotel = pytest.importorskip("exotel")
pyexotel_module = pytest.importorskip("pyexotel.pyexotel")

SID, KEY, TOKEN = "AC_SIM", "sim_key", "sim_token"
BASE = SimConfig(time_scale=0.001, seed=9)
pytestmark = pytest.mark.usefixtures("fresh")  # tests/exotel_sim/sim_fixtures.py


class RewriteHost(HTTPAdapter):
    """Sends ``https://api.exotel.com/…`` to the simulator instead."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target.rstrip("/")

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        assert request.url is not None
        request.url = self.target + request.url.split("api.exotel.com", 1)[1]
        return super().send(request, **kwargs)


@pytest.fixture()
def pyexotel_client(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    session = requests.Session()
    session.trust_env = False
    session.mount("https://api.exotel.com", RewriteHost(sim.url))
    shim = types.SimpleNamespace(post=session.post, get=session.get, put=session.put,
                                 delete=session.delete)
    monkeypatch.setattr(pyexotel_module, "requests", shim)
    yield pyexotel_module.Exotel(KEY, TOKEN, SID)
    session.close()


def test_exotel_package_places_a_call_and_reads_it(sim: Simulator) -> None:
    client = exotel.Exotel(SID, TOKEN, baseurl=sim.url + "/")
    response = client.call_number("09111111100", "08030752400", "09222222200",
                                  custom_data="order-7")
    assert response.status_code == 200, response.text
    call_sid = response.json()["Call"]["Sid"]
    assert sim.wait_idle(5)
    details = client.call_details(call_sid)
    assert details.status_code == 200
    call = details.json()["Call"]
    assert (call["Sid"], call["Status"], call["To"]) == (call_sid, "completed", "09222222200")
    assert sim.call(call_sid)["custom_field"] == "order-7"  # type: ignore[index]


def test_exotel_package_connects_to_a_flow_its_way(sim: Simulator) -> None:
    client = exotel.Exotel(SID, TOKEN, baseurl=sim.url + "/")
    response = client.call_flow("09111111100", "08030752400", "31337")
    assert response.status_code == 200, response.text
    call_sid = response.json()["Call"]["Sid"]
    (post,) = [r for r in sim.requests() if r["method"] == "POST"]
    assert post["params"]["Url"] == "http://my.exotel.in/exoml/start/31337"
    assert sim.call(call_sid)["app_id"] == "31337"  # type: ignore[index]


def test_pyexotel_places_a_call_connects_a_flow_and_reads_details(
        sim: Simulator, pyexotel_client: Any) -> None:
    placed = pyexotel_client.call("09111111100", "09222222200", "08030752400")
    call_sid = placed["Call"]["Sid"]
    flow = pyexotel_client.connect_flow("09111111101", "08030752400", "4242")
    assert sim.call(flow["Call"]["Sid"])["app_id"] == "4242"  # type: ignore[index]
    assert sim.wait_idle(5)
    info = pyexotel_client.get_call_info(call_sid)
    assert info["Call"]["Status"] == "completed"
    assert info["Call"]["RecordingUrl"].endswith(f"{call_sid}.mp3")  # it asks Record=true
    assert {r["method"] for r in sim.counted_requests()} == {"POST", "GET"}
