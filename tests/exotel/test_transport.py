"""The lean HTTP path of :mod:`dialer.exotel.transport`: what it sends is what requests
would send, a proxy still applies, and a pool the pool manager closed is found again."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from pydantic import SecretStr

from dialer.exotel.client import ExotelClient, Outcome
from dialer.exotel.models import build_request
from dialer.exotel.transport import Transport, new_session
from tests.exotel.loopback import Reply, ScriptedExotel, make_account
from tests.exotel.seed_bodies import V1_CONNECT_JSON, V1_DETAILS_JSON

CONNECT = {"From": "+919876543210", "To": "+919812345678", "CallerId": "08030752400"}


def transport(**kw: Any) -> Transport:
    return Transport("key", SecretStr("token"), (1.0, 2.0), **kw)


@pytest.mark.parametrize("kw", [
    {"data": [("From", "+91 98765"), ("To", "x&y=z"), ("Empty", None), ("Name", "नमस्ते")]},
    {"data": {"A": "1", "B": ["2", "3"], "C": None}},
    {"json": {"to": "+919812345678", "nested": [{"event": "terminal"}], "name": "नमस्ते"}},
    {},
])
def test_a_request_is_prepared_as_requests_prepares_it(kw: dict[str, Any]) -> None:
    url = "http://127.0.0.1:9/v1/Accounts/AC%201/Calls/connect.json"
    mine = transport().prepare("POST", url, **kw)
    session = new_session(2)
    theirs = session.prepare_request(requests.Request("POST", url, auth=("key", "token"),
                                                      **kw))
    assert (mine.method, mine.url, mine.body) == (theirs.method, theirs.url, theirs.body)
    assert dict(mine.headers) == dict(theirs.headers)


def test_a_get_has_no_body_and_no_length() -> None:
    got = transport().prepare("GET", "http://127.0.0.1:9/v1/Accounts/AC1/Calls/CA1.json")
    assert got.body is None and "Content-Length" not in got.headers


def test_a_proxy_still_applies(server: ScriptedExotel, monkeypatch: pytest.MonkeyPatch) -> None:
    """With HTTP_PROXY set the request goes to the proxy (here the scripted server), in
    the absolute form a proxy is sent, not to the host of the URL (which does not exist)."""
    monkeypatch.setenv("HTTP_PROXY", server.url)
    monkeypatch.setenv("NO_PROXY", "")
    server.reply(Reply(200, V1_CONNECT_JSON))
    with ExotelClient(make_account("http://exotel.invalid"), read_timeout_s=2.0) as client:
        result = client.place(build_request("connect", CONNECT))
    assert result.outcome is Outcome.PLACED
    assert server.seen[0].path.startswith("http://exotel.invalid/v1/Accounts/")


def test_a_pool_closed_by_the_pool_manager_is_found_again(server: ScriptedExotel) -> None:
    server.default = Reply(200, V1_DETAILS_JSON)
    session = new_session(2)
    with ExotelClient(make_account(server.url), session=session) as client:
        client.get_call("CA1")
        session.get_adapter(server.url).poolmanager.clear()  # closes every pool
        client.get_call("CA1")
        assert client.place(build_request("connect", CONNECT)).outcome is Outcome.PLACED
    assert [s.method for s in server.seen] == ["GET", "GET", "POST"]
    session.close()


def test_a_callers_own_adapter_is_used(server: ScriptedExotel) -> None:
    sent: list[str] = []

    class Watching(requests.adapters.HTTPAdapter):
        def send(self, request: requests.PreparedRequest, *a: Any, **kw: Any
                 ) -> requests.Response:
            sent.append(str(request.url))
            return super().send(request, *a, **kw)

    session = requests.Session()
    session.mount("http://", Watching())
    server.reply(Reply(200, V1_CONNECT_JSON))
    with ExotelClient(make_account(server.url), session=session) as client:
        assert client.place(build_request("connect", CONNECT)).outcome is Outcome.PLACED
    assert len(sent) == 1 and sent[0].endswith("/Calls/connect.json")
    session.close()
