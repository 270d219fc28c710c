"""dialer.exotel.client over real HTTP: a scripted server on loopback records what it saw.

No mocks: :class:`ScriptedExotel` is a ``ThreadingHTTPServer`` that answers each request
with the next scripted :class:`Reply` (status, body, headers, a delay, or a dropped
connection) and records method, path, headers and body.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from dialer.errors import (
    AuthenticationError,
    DeviceBusyError,
    DndError,
    ExotelError,
    ExotelNotFoundError,
    InvalidRequestError,
    RateLimitedError,
    TransientError,
    ValidationError,
)
from dialer.exotel.client import ExotelClient, LegStatuses, Outcome, PostResult
from dialer.exotel.models import Request, build_request
from dialer.models import CallUpdate
from dialer.settings import AccountSettings
from tests.exotel.loopback import (
    BASIC,
    CONNECT,
    FLOW,
    KEY,
    READ_TIMEOUT_S,
    SID,
    TOKEN,
    V3,
    XML,
    Reply,
    ScriptedExotel,
    free_port,
    make_account,
)
from tests.exotel.seed_bodies import (
    V1_CONNECT_JSON,
    V1_CONNECT_XML,
    V1_DETAILS_JSON,
    V1_DETAILS_XML,
    V1_ERROR_JSON_400,
    V1_ERROR_JSON_401,
    V1_ERROR_JSON_429,
    V1_ERROR_XML,
    V3_DETAILS_TERMINAL,
    V3_LEGS,
    V3_POST,
    v3_error,
)

# --- the wire form of each POST --------------------------------------------------------


def test_connect_posts_the_form_with_basic_auth(client: ExotelClient,
                                                server: ScriptedExotel) -> None:
    request = build_request("connect", {**CONNECT, "TimeLimit": 60, "Record": True,
                                        "StatusCallback": "https://cb.example.com/t?x=1",
                                        "StatusCallbackEvents": ["terminal", "answered"]})
    result = client.place(request)
    assert result == PostResult(Outcome.PLACED, call_sid="c5797dcbaaeed7678c4062a4a3ed2f8a",
                                http_status=200)
    [seen] = server.seen
    assert (seen.method, seen.path) == ("POST", f"/v1/Accounts/{SID}/Calls/connect.json")
    assert seen.headers["Authorization"] == BASIC
    assert seen.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert seen.form() == [
        ("From", "+919876543210"), ("To", "+919123456789"), ("CallerId", "08047471234"),
        ("CallType", "trans"), ("TimeLimit", "60"),
        ("StatusCallback", "https://cb.example.com/t?x=1"),
        ("StatusCallbackEvents[0]", "terminal"), ("StatusCallbackEvents[1]", "answered"),
        ("Record", "true"),
    ]
    assert TOKEN not in seen.path and KEY not in seen.path


def test_flow_posts_the_flow_url(client: ExotelClient, server: ScriptedExotel) -> None:
    server.reply(Reply(200, V1_CONNECT_XML, XML))
    result = client.place(build_request("flow", {**FLOW, "CustomField": "a-1"}))
    assert (result.outcome, result.call_sid) == (Outcome.PLACED, "xxxxxxxxxxxxxxxxxxxx")
    [seen] = server.seen
    assert seen.path == f"/v1/Accounts/{SID}/Calls/connect.json"
    assert seen.form() == [
        ("From", "+919876543210"), ("CallerId", "08047471234"),
        ("Url", f"http://my.exotel.com/{SID}/exoml/start_voice/215432"),
        ("CallType", "trans"), ("CustomField", "a-1"),
    ]


def test_v3_posts_json(client: ExotelClient, server: ScriptedExotel) -> None:
    server.reply(Reply(200, V3_POST))
    request = build_request("v3", V3)
    result = client.place(request)
    assert (result.outcome, result.call_sid) == (Outcome.PLACED,
                                                 "3f3fedf8f0928550a60bfa6302dc16b2")
    [seen] = server.seen
    assert (seen.method, seen.path) == ("POST", f"/v3/accounts/{SID}/calls")
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["Authorization"] == BASIC
    assert seen.json() == {
        "from": {"contact_uri": "+919876543210"}, "to": {"contact_uri": "+919123456789"},
        "virtual_number": "08047471234", "recording": {"record": True},
    }


def test_place_refuses_what_is_not_a_request(client: ExotelClient) -> None:
    with pytest.raises(TypeError):
        client.place(CONNECT)  # type: ignore[arg-type]


# --- POST outcomes: one request each, never retried -----------------------------------

POST_CASES: list[tuple[str, Reply, Outcome, type[ExotelError] | None, Any]] = [
    ("connect", Reply(201, V1_CONNECT_JSON), Outcome.PLACED, None, None),
    ("connect", Reply(401, V1_ERROR_JSON_401), Outcome.NOT_PLACED, AuthenticationError, 401),
    ("connect", Reply(400, V1_ERROR_JSON_400), Outcome.NOT_PLACED, InvalidRequestError, 400),
    ("connect", Reply(404, V1_ERROR_XML, XML), Outcome.NOT_PLACED, ExotelNotFoundError, 404),
    ("connect", Reply(429, V1_ERROR_JSON_429), Outcome.NOT_PLACED, RateLimitedError, 429),
    ("connect", Reply(403, ""), Outcome.NOT_PLACED, AuthenticationError, None),
    ("connect", Reply(500, "Internal Server Error", "text/plain"), Outcome.UNKNOWN,
     TransientError, None),
    ("connect", Reply(502, "<html><body>Bad Gateway</body></html>", "text/html"),
     Outcome.UNKNOWN, TransientError, None),
    ("connect", Reply(200, V1_ERROR_JSON_400), Outcome.NOT_PLACED, InvalidRequestError, 400),
    ("connect", Reply(200, V1_ERROR_XML, XML), Outcome.NOT_PLACED, ExotelNotFoundError, 404),
    ("connect", Reply(200, '{"RestException": {"Status": 503, "Message": "busy"}}'),
     Outcome.UNKNOWN, TransientError, 503),
    ("connect", Reply(200, '{"Call": {"Sid": null, "Status": "queued"}}'), Outcome.UNKNOWN,
     TransientError, None),
    ("connect", Reply(200, "<html>login</html>", "text/html"), Outcome.UNKNOWN,
     TransientError, None),
    ("connect", Reply(200, ""), Outcome.UNKNOWN, TransientError, None),
    ("connect", Reply(200, "<a>" * 50_000 + "</a>" * 50_000, XML), Outcome.UNKNOWN,
     TransientError, None),
    ("connect", Reply(302, "", headers={"Location": "https://elsewhere.example.com/"}),
     Outcome.NOT_PLACED, InvalidRequestError, None),
    ("v3", Reply(401, v3_error(401, 1010, "Authentication failed")), Outcome.NOT_PLACED,
     AuthenticationError, 1010),
    ("v3", Reply(400, v3_error(400, 1002, "Valid values for RecordingChannels are single, "
                                          "dual")), Outcome.NOT_PLACED, InvalidRequestError, 1002),
    ("v3", Reply(409, v3_error(409, 10706, "User device is currently busy")),
     Outcome.NOT_PLACED, DeviceBusyError, 10706),
    ("v3", Reply(409, v3_error(409, 10705, "User device is unverified")), Outcome.NOT_PLACED,
     DeviceBusyError, 10705),
    ("v3", Reply(409, v3_error(409, 1012, "User device is unavailable")), Outcome.NOT_PLACED,
     DeviceBusyError, 1012),
    ("v3", Reply(404, v3_error(404, 10716, "Given virtual_number not found")),
     Outcome.NOT_PLACED, ExotelNotFoundError, 10716),
    ("v3", Reply(500, v3_error(500, 1100, "Internal Server Error")), Outcome.UNKNOWN,
     TransientError, 1100),
    ("v3", Reply(200, v3_error(400, 1001, "account_sid is mandatory")), Outcome.NOT_PLACED,
     InvalidRequestError, 1001),
    ("v3", Reply(200, V1_CONNECT_JSON), Outcome.UNKNOWN, TransientError, None),
]


@pytest.mark.parametrize(("mode", "reply", "outcome", "error_cls", "code"), POST_CASES)
def test_post_outcomes(client: ExotelClient, server: ScriptedExotel, mode: str, reply: Reply,
                       outcome: Outcome, error_cls: type[ExotelError] | None, code: Any) -> None:
    server.reply(reply)
    result = client.place(build_request(mode, V3 if mode == "v3" else CONNECT))
    assert result.outcome is outcome
    assert result.http_status == reply.status
    assert len(server.seen) == 1  # a POST is never retried, a redirect never followed
    if error_cls is None:
        assert result.error is None and result.call_sid
        return
    assert type(result.error) is error_cls
    assert result.call_sid is None
    assert result.error.code == code
    assert result.error.http_status == reply.status
    assert result.error.method == "POST"
    assert result.error.url == (
        f"{server.url}/v3/accounts/{SID}/calls" if mode == "v3"
        else f"{server.url}/v1/Accounts/{SID}/Calls/connect.json"
    )


def test_429_retry_after_seconds(client: ExotelClient, server: ScriptedExotel) -> None:
    server.reply(Reply(429, V1_ERROR_JSON_429, headers={"Retry-After": "7"}))
    result = client.place(build_request("connect", CONNECT))
    assert result.outcome is Outcome.NOT_PLACED
    assert isinstance(result.error, RateLimitedError)
    assert result.retry_after_s == result.error.retry_after_s == 7.0
    assert "Rate limit exceeded" in str(result.error)


def test_429_retry_after_http_date(client: ExotelClient, server: ScriptedExotel) -> None:
    server.reply(Reply(429, "", headers={"Retry-After": "Fri, 31 Dec 2100 23:59:59 GMT"}))
    result = client.place(build_request("connect", CONNECT))
    assert result.retry_after_s is not None and result.retry_after_s > 365 * 86400


def test_429_without_retry_after(client: ExotelClient, server: ScriptedExotel) -> None:
    server.reply(Reply(429, V1_ERROR_JSON_429))
    result = client.place(build_request("connect", CONNECT))
    assert isinstance(result.error, RateLimitedError) and result.retry_after_s is None


def test_read_timeout_is_unknown(client: ExotelClient, server: ScriptedExotel) -> None:
    server.reply(Reply(200, V1_CONNECT_JSON, delay_s=READ_TIMEOUT_S * 4))
    result = client.place(build_request("connect", CONNECT))
    assert result.outcome is Outcome.UNKNOWN
    assert isinstance(result.error, TransientError)
    assert "ReadTimeout" in str(result.error)
    assert len(server.seen) == 1


def test_connection_closed_after_sending_is_unknown(client: ExotelClient,
                                                    server: ScriptedExotel) -> None:
    server.reply(Reply(drop=True))
    result = client.place(build_request("v3", V3))
    assert result.outcome is Outcome.UNKNOWN
    assert isinstance(result.error, TransientError)
    assert result.http_status is None
    assert len(server.seen) == 1


def test_closed_port_is_not_placed() -> None:
    account = make_account(f"http://127.0.0.1:{free_port()}")
    with ExotelClient(account, connect_timeout_s=1.0, read_timeout_s=1.0) as client:
        result = client.place(build_request("connect", CONNECT))
    assert result.outcome is Outcome.NOT_PLACED
    assert isinstance(result.error, TransientError)
    assert result.error.method == "POST" and result.error.http_status is None


def test_unknown_host_is_not_placed() -> None:
    account = make_account("http://exotel-dialer-test.invalid")
    with ExotelClient(account, connect_timeout_s=1.0, read_timeout_s=1.0) as client:
        result = client.place(build_request("flow", FLOW))
    assert result.outcome is Outcome.NOT_PLACED


# --- GETs ------------------------------------------------------------------------------


def test_get_call_with_details(client: ExotelClient, server: ScriptedExotel) -> None:
    server.reply(Reply(200, V1_DETAILS_JSON))
    update = client.get_call("c5797dcbaaeed7678c4062a4a3ed2f8a")
    assert isinstance(update, CallUpdate)
    assert (update.source, update.status, update.leg1_status, update.leg2_status) == (
        "poll", "completed", "completed", "completed")
    assert (update.duration_s, update.talk_time_s, update.price) == (68, 52, "1.50")
    [seen] = server.seen
    assert seen.method == "GET"
    assert seen.path == f"/v1/Accounts/{SID}/Calls/c5797dcbaaeed7678c4062a4a3ed2f8a.json" \
                        "?details=true"
    assert seen.headers["Authorization"] == BASIC


def test_get_call_without_details_xml_answer(client: ExotelClient,
                                             server: ScriptedExotel) -> None:
    server.reply(Reply(200, V1_DETAILS_XML, XML))
    update = client.get_call("b6cfaf5e5d8a0d1f4cb7c2d6bd1b5c16", details=False)
    assert (update.status, update.leg1_status) == ("no-answer", "no-answer")
    assert server.seen[0].path == f"/v1/Accounts/{SID}/Calls/b6cfaf5e5d8a0d1f4cb7c2d6bd1b5c16.json"


def test_get_call_v3_and_legs(client: ExotelClient, server: ScriptedExotel) -> None:
    server.reply(Reply(200, V3_DETAILS_TERMINAL), Reply(200, V3_LEGS),
                 Reply(200, V3_DETAILS_TERMINAL), Reply(200, V3_LEGS))
    details = client.get_call_v3("cabfb1dfa8c5e1c7f2c458423b7716b3")
    assert (details.status, details.talk_time_s, details.leg1_status) == ("completed", 59, None)
    assert client.get_legs_v3("cabfb1dfa8c5e1c7f2c458423b7716b3") == LegStatuses(
        "completed", "completed")
    merged = client.get_call_v3_with_legs("cabfb1dfa8c5e1c7f2c458423b7716b3")
    assert merged == details.model_copy(update={"leg1_status": "completed",
                                                "leg2_status": "completed"})
    assert [s.path for s in server.seen] == [
        f"/v3/accounts/{SID}/calls/cabfb1dfa8c5e1c7f2c458423b7716b3",
        f"/v3/accounts/{SID}/calls/cabfb1dfa8c5e1c7f2c458423b7716b3/legs",
    ] * 2
    assert {s.headers["Authorization"] for s in server.seen} == {BASIC}


def test_legs_not_found_leaves_leg_statuses_unknown(client: ExotelClient,
                                                    server: ScriptedExotel) -> None:
    server.reply(Reply(200, V3_DETAILS_TERMINAL),
                 Reply(404, v3_error(404, 10744, "Call not found", "GET")))
    merged = client.get_call_v3_with_legs("cabfb1dfa8c5e1c7f2c458423b7716b3")
    assert merged.status == "completed"
    assert (merged.leg1_status, merged.leg2_status) == (None, None)


def test_legs_authentication_failure_propagates(client: ExotelClient,
                                                server: ScriptedExotel) -> None:
    server.reply(Reply(200, V3_DETAILS_TERMINAL),
                 Reply(401, v3_error(401, 1010, "Authentication failed", "GET")))
    with pytest.raises(AuthenticationError):
        client.get_call_v3_with_legs("cabfb1dfa8c5e1c7f2c458423b7716b3")


GET_ERRORS: list[tuple[Reply, type[ExotelError], Any]] = [
    (Reply(401, V1_ERROR_JSON_401), AuthenticationError, 401),
    (Reply(400, V1_ERROR_JSON_400), InvalidRequestError, 400),
    (Reply(404, V1_ERROR_XML, XML), ExotelNotFoundError, 404),
    (Reply(200, V1_ERROR_XML, XML), ExotelNotFoundError, 404),
    (Reply(429, V1_ERROR_JSON_429, headers={"Retry-After": "3"}), RateLimitedError, 429),
    (Reply(404, v3_error(404, 1021, "Call not found / unsupported in this API", "GET")),
     ExotelNotFoundError, 1021),
    (Reply(409, v3_error(409, 1012, "User device is unavailable", "GET")), DeviceBusyError,
     1012),
]


@pytest.mark.parametrize(("reply", "error_cls", "code"), GET_ERRORS)
def test_get_errors_are_not_retried(client: ExotelClient, server: ScriptedExotel,
                                    reply: Reply, error_cls: type[ExotelError],
                                    code: Any) -> None:
    server.reply(reply)
    with pytest.raises(error_cls) as info:
        client.get_call("CA1")
    err = info.value
    assert type(err) is error_cls
    assert (err.code, err.http_status, err.method) == (code, reply.status, "GET")
    assert err.url == f"{server.url}/v1/Accounts/{SID}/Calls/CA1.json?details=true"
    assert f"GET {err.url}" in str(err)
    assert len(server.seen) == 1
    if isinstance(err, RateLimitedError):
        assert err.retry_after_s == 3.0


@pytest.mark.parametrize(
    "failure",
    [
        Reply(500, "Internal Server Error", "text/plain"),
        Reply(503, v3_error(500, 1100, "Internal Server Error", "GET")),
        Reply(drop=True),
        Reply(200, V1_DETAILS_JSON, delay_s=READ_TIMEOUT_S * 3),
        Reply(200, "<html>maintenance</html>", "text/html"),
    ],
)
def test_get_retries_transient_failures(client: ExotelClient, server: ScriptedExotel,
                                        failure: Reply) -> None:
    server.reply(failure, Reply(200, V1_DETAILS_JSON))
    assert client.get_call("CA1").status == "completed"
    assert len(server.seen) == 2


def test_get_gives_up_after_the_retries(client: ExotelClient, server: ScriptedExotel) -> None:
    server.default = Reply(500, "down", "text/plain")
    with pytest.raises(TransientError) as info:
        client.get_call_v3("CA1")
    assert info.value.http_status == 500
    assert len(server.seen) == 3  # one try and two retries


def test_get_on_a_closed_port_raises_transient() -> None:
    account = make_account(f"http://127.0.0.1:{free_port()}")
    with ExotelClient(account, get_retries=1, get_backoff_s=0) as client:
        with pytest.raises(TransientError, match="ConnectionError") as info:
            client.get_legs_v3("CA1")
    assert info.value.__cause__ is None  # the prepared request (with auth) is not kept


def test_a_2xx_without_the_expected_block_is_transient(client: ExotelClient,
                                                       server: ScriptedExotel) -> None:
    server.default = Reply(200, '{"Call": {"Sid": "CA1"}}')
    with pytest.raises(TransientError, match="call_details"):
        client.get_call_v3("CA1")


@pytest.mark.parametrize("call_sid", ["", "../AC999", "CA1/legs", "a b", "x" * 129, None])
def test_bad_call_sids_are_refused_before_sending(client: ExotelClient,
                                                  server: ScriptedExotel,
                                                  call_sid: Any) -> None:
    with pytest.raises(ValidationError) as info:
        client.get_call(call_sid)
    assert info.value.field == "call_sid"
    assert server.seen == []


def test_connections_are_pooled(client: ExotelClient, server: ScriptedExotel) -> None:
    server.default = Reply(200, V1_DETAILS_JSON)
    for _ in range(3):
        client.get_call("CA1")
    client.place(build_request("connect", CONNECT))
    assert len({s.client_port for s in server.seen}) == 1


# --- settings, repr, secrets -----------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "v1", "v3"),
    [
        ({"region": "singapore"}, "https://api.exotel.com", "https://ccm-api.exotel.com"),
        ({"region": "mumbai"}, "https://api.in.exotel.com", "https://ccm-api.in.exotel.com"),
        ({"base_url": "http://127.0.0.1:8099/"}, "http://127.0.0.1:8099",
         "http://127.0.0.1:8099"),
        ({"base_url": "https://u:pw@sim.example.com"}, "https://sim.example.com",
         "https://sim.example.com"),
    ],
)
def test_base_urls(kw: dict[str, Any], v1: str, v3: str) -> None:
    account = AccountSettings(name="a", sid=SID, api_key=KEY, api_token=SecretStr(TOKEN), **kw)
    with ExotelClient(account) as client:
        text = repr(client)
    assert f"v1={v1!r}" in text and f"v3={v3!r}" in text
    assert TOKEN not in text and "pw" not in text


def test_timeouts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="timeouts"):
        ExotelClient(make_account("http://127.0.0.1:1"), read_timeout_s=0)


def test_a_given_session_is_used_and_not_closed(server: ScriptedExotel) -> None:
    session = requests.Session()
    server.reply(Reply(200, V1_DETAILS_JSON))
    with ExotelClient(make_account(server.url), session=session) as client:
        client.get_call("CA1")
    assert server.seen[0].headers["Authorization"] == BASIC
    assert session.adapters  # still usable: close() leaves a caller's session alone
    session.close()


def test_the_token_appears_nowhere(server: ScriptedExotel,
                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, urllib3's included
    b64 = BASIC.split()[1]
    errors: list[BaseException] = []
    results: list[PostResult] = []
    server.reply(Reply(200, V1_CONNECT_JSON), Reply(401, V1_ERROR_JSON_401),
                 Reply(500, "boom", "text/plain"), Reply(drop=True),
                 Reply(429, V1_ERROR_JSON_429, headers={"Retry-After": "1"}))
    server.default = Reply(500, "boom", "text/plain")
    with ExotelClient(make_account(server.url), read_timeout_s=READ_TIMEOUT_S,
                      get_backoff_s=0) as client:
        requests_: list[Request] = [build_request("connect", CONNECT) for _ in range(5)]
        results.extend(client.place(r) for r in requests_)
        for call in (client.get_call, client.get_call_v3, client.get_call_v3_with_legs):
            try:
                call("CA1")
            except ExotelError as exc:
                errors.append(exc)
        texts = [repr(client), str(vars(client))]
    closed = make_account(f"http://127.0.0.1:{free_port()}")
    with ExotelClient(closed) as client:
        results.append(client.place(build_request("v3", V3)))
    errors.extend(r.error for r in results if r.error is not None)
    assert len(errors) >= 8
    texts += [r.getMessage() for r in caplog.records]
    texts += [caplog.text]
    texts += [str(e) for e in errors] + [repr(e) for e in errors]
    texts += [str(e.__cause__) for e in errors] + [repr(results)]
    for text in texts:
        assert TOKEN not in text
        assert b64 not in text
    assert any("dialer.exotel" == r.name for r in caplog.records)


# --- DND refusals, rate-limit headers --------------------------------------------------

V1_DND_403 = json.dumps({"RestException": {
    "Status": 403,
    "Message": "Call to 09123456789 can not be made because of TRAI NDNC regulations"}})
V1_DND_403_XML = ("<TwilioResponse><RestException><Status>403</Status><Message>Call to "
                  "09123456789 cannot be made because of TRAI NDNC regulations</Message>"
                  "</RestException></TwilioResponse>")


@pytest.mark.parametrize("reply", [Reply(403, V1_DND_403), Reply(200, V1_DND_403),
                                   Reply(403, V1_DND_403_XML, XML)])
def test_dnd_403_is_a_dnd_refusal(client: ExotelClient, server: ScriptedExotel,
                                  reply: Reply) -> None:
    server.reply(reply)
    result = client.place(build_request("connect", CONNECT))
    assert result.outcome is Outcome.NOT_PLACED
    assert type(result.error) is DndError
    assert result.error.reason == "dnd"
    assert not isinstance(result.error, AuthenticationError)
    assert result.error.code == 403 and "NDNC" in str(result.error)
    assert len(server.seen) == 1


def test_plain_403_is_still_an_authentication_error(client: ExotelClient,
                                                    server: ScriptedExotel) -> None:
    server.reply(Reply(403, json.dumps({"RestException": {"Status": 403,
                                                          "Message": "Forbidden"}})))
    result = client.place(build_request("connect", CONNECT))
    assert type(result.error) is AuthenticationError


RATE_HEADERS = {"Retry-After": "7", "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": "1700000060"}


def test_post_429_carries_the_rate_limit_headers(client: ExotelClient,
                                                 server: ScriptedExotel) -> None:
    server.reply(Reply(429, V1_ERROR_JSON_429, headers=RATE_HEADERS))
    result = client.place(build_request("connect", CONNECT))
    err = result.error
    assert isinstance(err, RateLimitedError)
    assert (err.retry_after_s, err.rate_limit_remaining, err.rate_limit_reset) == (
        7.0, 0, 1700000060.0)
    assert result.retry_after_s == 7.0


def test_get_429_carries_the_headers_and_is_not_retried(client: ExotelClient,
                                                        server: ScriptedExotel) -> None:
    assert not issubclass(RateLimitedError, TransientError)
    server.reply(Reply(429, V1_ERROR_JSON_429, headers={**RATE_HEADERS,
                                                        "X-RateLimit-Remaining": "3"}))
    server.default = Reply(200, V1_DETAILS_JSON)
    with pytest.raises(RateLimitedError) as info:
        client.get_call("CA1")
    assert (info.value.retry_after_s, info.value.rate_limit_remaining,
            info.value.rate_limit_reset) == (7.0, 3, 1700000060.0)
    assert len(server.seen) == 1


def test_junk_rate_limit_headers_are_none(client: ExotelClient,
                                          server: ScriptedExotel) -> None:
    server.reply(Reply(429, "", headers={"Retry-After": "soon", "X-RateLimit-Remaining": "-",
                                         "X-RateLimit-Reset": "tomorrow"}),
                 Reply(429, ""))
    for _ in range(2):
        err = client.place(build_request("connect", CONNECT)).error
        assert isinstance(err, RateLimitedError)
        assert (err.retry_after_s, err.rate_limit_remaining, err.rate_limit_reset) == (
            None, None, None)


def test_v3_legs_429_10724_is_rate_limited(client: ExotelClient,
                                           server: ScriptedExotel) -> None:
    server.reply(Reply(200, V3_DETAILS_TERMINAL),
                 Reply(429, v3_error(429, 10724, "Too many requests", "GET"),
                       headers={"Retry-After": "2"}))
    server.default = Reply(200, V3_LEGS)
    with pytest.raises(RateLimitedError) as info:
        client.get_call_v3_with_legs("cabfb1dfa8c5e1c7f2c458423b7716b3")
    assert (info.value.code, info.value.retry_after_s) == (10724, 2.0)
    assert len(server.seen) == 2  # details, then one legs request: no retry


def test_a_prepared_post_is_sent_as_place_sends_it(client: ExotelClient,
                                                   server: ScriptedExotel) -> None:
    """prepare_post builds everything (nothing sent); send_post sends it, judged as by
    place; the prepared form shows no credentials."""
    request = build_request("connect", CONNECT)
    post = client.prepare_post(request)
    assert server.seen == []
    assert TOKEN not in repr(post) and BASIC.split()[1] not in repr(post)
    result = client.send_post(post)
    assert result == PostResult(Outcome.PLACED, call_sid="c5797dcbaaeed7678c4062a4a3ed2f8a",
                                http_status=200)
    client.place(request)
    first, second = server.seen
    assert (first.method, first.path, first.form()) == (second.method, second.path,
                                                          second.form())
    assert first.headers["Authorization"] == second.headers["Authorization"] == BASIC
    assert first.headers["Content-Length"] == second.headers["Content-Length"]

