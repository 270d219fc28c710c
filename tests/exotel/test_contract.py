"""The client against the simulator (``exotel_sim``) over HTTP: every operation, every
documented error it produces.

The simulator's magic numbers (last two digits): 91 busy, 92 no-answer, 93 failed (per
leg); on To (flows and v3: on from) 95 accept-then-drop, 96 answers 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from dialer.errors import (
    AuthenticationError,
    DeviceBusyError,
    ExotelError,
    ExotelNotFoundError,
    InvalidRequestError,
    RateLimitedError,
    TransientError,
)
from dialer.exotel.client import ExotelClient, LegStatuses, Outcome
from dialer.exotel.models import (
    ConnectTwoNumbers,
    V3Call,
    V3Recording,
    build_request,
)
from dialer.settings import AccountSettings
from exotel_sim import SimConfig, Simulator

AGENT = "09876543210"
CUSTOMER = "09123456789"
EXOPHONE = "08047471234"
SIM_SID, SIM_KEY, SIM_TOKEN = "AC_SIM", "sim_key", "sim_token"


def _magic(suffix: str) -> str:
    return "098765432" + suffix


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    with Simulator(SimConfig(time_scale=0.001, seed=7)) as sim:
        yield sim


@pytest.fixture()
def sim(simulator: Simulator) -> Iterator[Simulator]:
    base = simulator.config.model_dump()
    simulator.reset()
    yield simulator
    simulator.configure(**base)
    simulator.reset()


def make_client(sim: Simulator, *, sid: str = SIM_SID, token: str = SIM_TOKEN,
                **kw: Any) -> ExotelClient:
    account = AccountSettings(name="sim", sid=sid, api_key=SIM_KEY, api_token=SecretStr(token),
                              base_url=sim.url)
    return ExotelClient(account, connect_timeout_s=2.0, read_timeout_s=5.0,
                        get_backoff_s=0.01, **kw)


@pytest.fixture()
def client(sim: Simulator) -> Iterator[ExotelClient]:
    with make_client(sim) as c:
        yield c


def connect(to: str = CUSTOMER, from_: str = AGENT, **extra: Any) -> Any:
    return build_request("connect", {"From": from_, "To": to, "CallerId": EXOPHONE, **extra})


def flow(from_: str = AGENT, **extra: Any) -> Any:
    return build_request("flow", {"From": from_, "CallerId": EXOPHONE, "app_id": 4242, **extra})


def v3(from_: str = AGENT, to: str = CUSTOMER, **extra: Any) -> Any:
    return build_request("v3", {"from_contact_uri": from_, "to_contact_uri": to,
                                "virtual_number": EXOPHONE, **extra})


def _placed(client: ExotelClient, request: Any) -> str:
    result = client.place(request)
    assert result.outcome is Outcome.PLACED, result
    assert result.call_sid and result.error is None
    return result.call_sid


# --- operations ------------------------------------------------------------------------


def test_connect_then_call_details(sim: Simulator, client: ExotelClient) -> None:
    call_sid = _placed(client, connect(Record=True, CustomField="att-1", TimeLimit=600,
                                       StatusCallbackEvents=None))
    [seen] = sim.requests()
    assert seen["path"] == f"/v1/Accounts/{SIM_SID}/Calls/connect.json"
    assert seen["params"]["From"] == "+919876543210"
    assert seen["params"]["To"] == "+919123456789"
    assert sim.wait_idle(10, settled=True)
    update = client.get_call(call_sid)
    assert (update.source, update.call_sid, update.status) == ("poll", call_sid, "completed")
    assert (update.leg1_status, update.leg2_status) == ("completed", "completed")
    assert update.duration_s is not None and update.talk_time_s is not None
    assert update.price is not None and update.end_time is not None
    assert update.recording_url
    assert sim.requests()[-1]["query"] == {"details": "true"}


@pytest.mark.parametrize(
    ("from_", "to", "status", "leg1", "leg2"),
    [
        (AGENT, _magic("91"), "busy", "completed", "busy"),
        (AGENT, _magic("92"), "no-answer", "completed", "no-answer"),
        (AGENT, _magic("93"), "failed", "completed", "failed"),
        (_magic("91"), CUSTOMER, "busy", "busy", None),
        (_magic("92"), CUSTOMER, "no-answer", "no-answer", None),
    ],
)
def test_connect_leg_outcomes(sim: Simulator, client: ExotelClient, from_: str, to: str,
                              status: str, leg1: str, leg2: str | None) -> None:
    call_sid = _placed(client, connect(to=to, from_=from_))
    assert sim.wait_idle(10)
    update = client.get_call(call_sid)
    assert (update.status, update.leg1_status, update.leg2_status) == (status, leg1, leg2)


def test_flow_then_call_details(sim: Simulator, client: ExotelClient) -> None:
    call_sid = _placed(client, flow(CustomField="att-2"))
    [seen] = sim.requests()
    assert seen["params"]["Url"] == f"http://my.exotel.com/{SIM_SID}/exoml/start_voice/4242"
    assert sim.wait_idle(10)
    update = client.get_call(call_sid)
    assert (update.status, update.leg1_status, update.leg2_status) == (
        "completed", "completed", None)


def test_call_details_without_details(sim: Simulator, client: ExotelClient) -> None:
    call_sid = _placed(client, connect())
    assert sim.wait_idle(10)
    update = client.get_call(call_sid, details=False)
    assert update.status == "completed" and update.leg1_status is None
    assert sim.requests()[-1]["query"] == {}


def test_v3_then_details_and_legs(sim: Simulator, client: ExotelClient) -> None:
    call_sid = _placed(client, v3(recording={"record": True, "channels": "dual"},
                                  custom_field="att-3", max_time_limit_s=600))
    [seen] = sim.requests()
    assert seen["path"] == f"/v3/accounts/{SIM_SID}/calls"
    assert seen["params"]["from"] == {"contact_uri": "+919876543210"}
    assert sim.wait_idle(10, settled=True)
    details = client.get_call_v3(call_sid)
    assert (details.status, details.custom_field, details.end_time is not None) == (
        "completed", "att-3", True)
    assert details.recording_url
    assert client.get_legs_v3(call_sid) == LegStatuses("completed", "completed")
    merged = client.get_call_v3_with_legs(call_sid)
    assert (merged.status, merged.leg1_status, merged.leg2_status) == (
        "completed", "completed", "completed")


def test_v3_first_leg_not_answered(sim: Simulator, client: ExotelClient) -> None:
    call_sid = _placed(client, v3(from_=_magic("92")))
    assert sim.wait_idle(10)
    merged = client.get_call_v3_with_legs(call_sid)
    assert (merged.status, merged.leg1_status, merged.leg2_status) == (
        "no-answer", "no-answer", None)


def test_v3_active_call_has_no_end_time(sim: Simulator, client: ExotelClient) -> None:
    sim.configure(time_scale=1.0)
    call_sid = _placed(client, v3())
    update = client.get_call_v3(call_sid)
    assert (update.status, update.end_time) == (None, None)  # "1970-01-01 …" placeholder
    assert update.start_time is not None


# --- errors ----------------------------------------------------------------------------


def _refused(result: Any, cls: type[ExotelError], code: Any, http: int) -> ExotelError:
    assert result.outcome is Outcome.NOT_PLACED, result
    assert type(result.error) is cls, result.error
    assert (result.error.code, result.error.http_status) == (code, http)
    assert result.error.method == "POST"
    return result.error


def test_wrong_token_is_401(sim: Simulator) -> None:
    with make_client(sim, token="not-the-token") as bad:
        _refused(bad.place(connect()), AuthenticationError, 401, 401)
        _refused(bad.place(flow()), AuthenticationError, 401, 401)
        _refused(bad.place(v3()), AuthenticationError, 1010, 401)
        for get in (bad.get_call, bad.get_call_v3, bad.get_legs_v3,
                    bad.get_call_v3_with_legs):
            with pytest.raises(AuthenticationError):
                get("0123456789abcdef")
    assert sim.calls() == []
    assert len(sim.requests()) == 7  # no GET was retried


def test_unknown_account_is_404(sim: Simulator) -> None:
    with make_client(sim, sid="AC_OTHER") as other:
        _refused(other.place(connect()), ExotelNotFoundError, 404, 404)
        _refused(other.place(v3()), ExotelNotFoundError, 1017, 404)


def test_unknown_call_sid_is_404(sim: Simulator, client: ExotelClient) -> None:
    for get, code in ((client.get_call, 404), (client.get_call_v3, 1021),
                      (client.get_legs_v3, 10744)):
        with pytest.raises(ExotelNotFoundError) as info:
            get("0123456789abcdef")
        assert info.value.code == code and info.value.method == "GET"


def test_missing_and_invalid_v1_params_are_400(sim: Simulator, client: ExotelClient) -> None:
    # Our models refuse these before sending; model_construct skips that to see Exotel's 400.
    no_from = ConnectTwoNumbers.model_construct(from_number="", to="+919123456789",
                                                caller_id=EXOPHONE)
    error = _refused(client.place(no_from), InvalidRequestError, 400, 400)
    assert "No 'From' specified" in str(error)
    too_long = ConnectTwoNumbers.model_construct(from_number="+919876543210",
                                                 to="+919123456789", caller_id=EXOPHONE,
                                                 time_limit_s=99999)
    error = _refused(client.place(too_long), InvalidRequestError, 400, 400)
    assert "TimeLimit" in str(error)
    assert sim.calls() == []


def test_missing_and_invalid_v3_params_are_400(sim: Simulator, client: ExotelClient) -> None:
    no_from = V3Call.model_construct(from_contact_uri="", to_contact_uri="+919123456789",
                                     virtual_number=EXOPHONE)
    _refused(client.place(no_from), InvalidRequestError, 1001, 400)
    stereo = V3Call.model_construct(
        from_contact_uri="+919876543210", to_contact_uri="+919123456789",
        virtual_number=EXOPHONE,
        recording=V3Recording.model_construct(record=True, channels="stereo",  # type: ignore[arg-type]
                                              format=None),
    )
    _refused(client.place(stereo), InvalidRequestError, 1002, 400)


def test_caller_id_not_an_exophone(sim: Simulator, client: ExotelClient) -> None:
    sim.configure(virtual_numbers=["08000000001"])
    error = _refused(client.place(connect()), InvalidRequestError, 400, 400)
    assert "not an ExoPhone" in str(error)
    _refused(client.place(v3()), ExotelNotFoundError, 10716, 404)


def test_over_the_limit_is_429_with_retry_after(sim: Simulator, client: ExotelClient) -> None:
    sim.configure(limit_calls=2, limit_window_s=60.0)
    _placed(client, connect())
    _placed(client, flow())
    for request, code in ((connect(), 429), (v3(), 10724)):
        result = client.place(request)
        _refused(result, RateLimitedError, code, 429)
        assert result.retry_after_s is not None and 0 < result.retry_after_s <= 60
        assert isinstance(result.error, RateLimitedError)
        assert result.error.retry_after_s == result.retry_after_s
    assert len(sim.calls()) == 2


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (lambda: connect(to=_magic("96")), 500),
        (lambda: flow(from_=_magic("96")), 500),
        (lambda: v3(from_=_magic("96")), 1100),
    ],
)
def test_5xx_fault_is_unknown(sim: Simulator, client: ExotelClient, request_: Any,
                              code: int) -> None:
    result = client.place(request_())
    assert result.outcome is Outcome.UNKNOWN
    assert type(result.error) is TransientError
    assert (result.error.http_status, result.error.code) == (500, code)
    assert len(sim.requests()) == 1  # never retried


@pytest.mark.parametrize(
    "request_",
    [lambda: connect(to=_magic("95")), lambda: flow(from_=_magic("95")),
     lambda: v3(from_=_magic("95"))],
)
def test_accept_then_drop_is_unknown(sim: Simulator, client: ExotelClient,
                                     request_: Any) -> None:
    result = client.place(request_())
    assert result.outcome is Outcome.UNKNOWN
    assert type(result.error) is TransientError and result.http_status is None
    assert len(sim.requests()) == 1
    assert len(sim.calls()) == 1  # the call exists: redialling would have called twice


def test_5xx_ratio_is_unknown_and_creates_no_call(sim: Simulator,
                                                 client: ExotelClient) -> None:
    sim.configure(error_5xx_ratio=1.0)
    for request in (connect(), flow(), v3()):
        result = client.place(request)
        assert result.outcome is Outcome.UNKNOWN
        assert type(result.error) is TransientError and result.http_status == 500
    assert len(sim.requests()) == 3
    assert sim.calls() == []


def test_state_managed_agent_on_a_call_is_device_busy(sim: Simulator,
                                                      client: ExotelClient) -> None:
    sim.configure(time_scale=1.0)
    _placed(client, v3(state_management=True))
    result = client.place(v3(to="09123456780", state_management=True))
    error = _refused(result, DeviceBusyError, 10706, 409)
    assert "User device is currently busy" in str(error)
