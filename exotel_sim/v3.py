"""v3 CCM routes (seed 002): create a call, its details, its legs.

Errors (http / code: message):
  401 / 1010  Authentication failed
  404 / 1017  AccountSid not found             (good credentials, unknown account)
  400 / 1001  from is mandatory | to is mandatory | virtual_number is mandatory |
              Invalid request body | <field> must be … (wrong type or value)
  400 / 1002  Valid values for RecordingChannels are single, dual
  404 / 10716 Given virtual_number not found   (when virtual numbers are configured)
  409 / 10706 User device is currently busy    (from is in an active state-managed call)
  429 / 10724 Too many requests                (+ Retry-After)
  500 / 1100  Internal Server Error            (error_5xx_ratio, or from ending in 96)
  404 / 1021  Call not found / unsupported in this API   (GET call details)
  404 / 10744 Call not found                   (GET legs)
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from exotel_sim.auth import AuthResult
from exotel_sim.calls import SimCall
from exotel_sim.engine import Engine, Gate, GateResult
from exotel_sim.render_v3 import call_details, envelope, leg_details
from exotel_sim.v1 import drop_response, limit_message, retry_after
from exotel_sim.v3_params import V3Error, parse_v3
from exotel_sim.wire import record_of, redact

router = APIRouter()



def auth_error() -> V3Error:
    return V3Error(401, 1010, "Authentication failed",
                   "Authentication failed. Verify your API key and token.")


def internal_error() -> V3Error:
    return V3Error(500, 1100, "Internal Server Error")


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _fail(method: str, error: V3Error, headers: dict[str, str] | None = None) -> JSONResponse:
    return envelope(method, error.http, {"call_details": None}, error=error.error, headers=headers)


def _gate_error(engine: Engine, sid: str, gate: GateResult) -> JSONResponse:
    cfg = engine.config
    if gate.gate is Gate.AUTH_FAILED:
        return _fail("POST", auth_error())
    if gate.gate is Gate.UNKNOWN_ACCOUNT:
        return _fail("POST", V3Error(404, 1017, "AccountSid not found", f"{sid} not found"))
    if gate.gate is Gate.LIMITED:
        limited = V3Error(429, 10724, "Too many requests",
                          limit_message(cfg.limit_calls, cfg.limit_window_s))
        return _fail("POST", limited, retry_after(gate.retry_after_s))
    return _fail("POST", internal_error())


def _check_placeable(engine: Engine, sid: str, body: object) -> V3Error | None:
    """Virtual number and busy checks after the body is valid."""
    assert isinstance(body, dict)
    virtual_number = str(body["virtual_number"])
    if not engine.known_virtual_number(virtual_number):
        return V3Error(404, 10716, "Given virtual_number not found", virtual_number)
    from_uri = str(body["from"]["contact_uri"])
    if engine.busy_with(sid, from_uri):
        return V3Error(409, 10706, "User device is currently busy", f"{from_uri} is on a call")
    return None


@router.post("/v3/accounts/{sid}/calls")
async def create_call(sid: str, request: Request) -> Response:
    """Connect from (leg 1) to to (leg 2)."""
    engine = _engine(request)
    record = record_of(request.scope)
    raw = await request.body()
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        body = raw.decode("utf-8", "replace")
    record["params"] = redact(body)
    gate = engine.gate(sid, request.headers.get("authorization"))
    record["arrival_time"] = gate.at
    if gate.gate is not Gate.OPEN:
        return _gate_error(engine, sid, gate)
    try:
        spec = parse_v3(body, sid)
    except V3Error as exc:
        return _fail("POST", exc)
    problem = _check_placeable(engine, sid, body)
    if problem is not None:
        return _fail("POST", problem)
    spec.params = record["params"]
    placement = engine.place(spec, created_at=gate.at, base_url=str(request.base_url))
    if placement.call is None:
        record["fault"] = "error-96"
        return _fail("POST", internal_error())
    record["call_sid"] = placement.call.sid
    if placement.drop:
        return drop_response()
    offset = engine.config.utc_offset_minutes
    with engine.state.lock:
        details = call_details(placement.call, offset, creating=True)
    return envelope("POST", 200, {"call_details": details})


def _lookup(request: Request, sid: str, call_sid: str, code: int, message: str) -> SimCall:
    """The call, or raises the V3Error to answer."""
    engine = _engine(request)
    record_of(request.scope)["call_sid"] = call_sid
    auth = engine.authenticate(sid, request.headers.get("authorization"))
    if auth is AuthResult.FAILED:
        raise auth_error()
    if auth is AuthResult.UNKNOWN_ACCOUNT:
        raise V3Error(404, 1017, "AccountSid not found", f"{sid} not found")
    call = engine.state.get_call(sid, call_sid)
    if call is None:
        raise V3Error(404, code, message, f"{call_sid} not found")
    return call


@router.get("/v3/accounts/{sid}/calls/{call_sid}")
async def get_call(sid: str, call_sid: str, request: Request) -> Response:
    engine = _engine(request)
    try:
        call = _lookup(request, sid, call_sid, 1021, "Call not found / unsupported in this API")
    except V3Error as error:
        return _fail("GET", error)
    with engine.state.lock:
        details = call_details(call, engine.config.utc_offset_minutes)
    return envelope("GET", 200, {"call_details": details})


@router.get("/v3/accounts/{sid}/calls/{call_sid}/legs")
async def get_legs(sid: str, call_sid: str, request: Request) -> Response:
    engine = _engine(request)
    try:
        call = _lookup(request, sid, call_sid, 10744, "Call not found")
    except V3Error as error:
        return envelope("GET", error.http, {"leg_details": None}, error=error.error)
    with engine.state.lock:
        legs = leg_details(call, engine.config.utc_offset_minutes)
    return envelope("GET", 200, {"leg_details": legs})
