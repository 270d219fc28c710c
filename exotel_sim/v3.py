"""v3 CCM routes (seed 002): create a call, its details, its legs.

Errors (http / code: message):
  401 / 1010  Authentication failed
  404 / 1017  AccountSid not found             (good credentials, unknown account)
  400 / 1001  from is mandatory | to is mandatory | virtual_number is mandatory |
              Invalid request body | <field> must be … (wrong type or value)
  400 / 1002  Valid values for RecordingChannels are single, dual
  404 / 10716 Given virtual_number not found   (when virtual numbers are configured)
  409 / 10706 User device is currently busy    (from is in an active state-managed call)
  403 / 403   Call to [<to>] can not be made because of TRAI NDNC regulations
              (to on the DND registry; seed 002 documents no DND code: the simulator's choice)
  405 / 10712 VOIP calls are not allowed       (a sip: contact_uri unless voip_enabled)
  429 / 10724 Too many requests                (+ Retry-After, X-RateLimit-*; every v3
              request, POST or GET, counts unless limit_scope is "posts")
  v3_faults {"create": 1012|10705|10703|10706|10712|10731|10806|10702,
             "details": 1021|1022, "legs": 10743|10715|10724}: that error, from the table
             of seed 002, on every such request
  500 / 1100  Internal Server Error            (error_5xx_ratio, or from ending in 96)
  404 / 1021  Call not found / unsupported in this API   (GET call details)
  404 / 10744 Call not found                   (GET legs)
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from exotel_sim.calls import SimCall
from exotel_sim.engine import Engine, Gate, GateResult
from exotel_sim.render_v3 import call_details, envelope, leg_details
from exotel_sim.v1 import drop_response, limit_message, ndnc_message, open_gate
from exotel_sim.v3_params import V3Error, parse_v3
from exotel_sim.wire import record_of, redact

router = APIRouter()

# seed 002's table: code -> (http, message)
V3_ERRORS: dict[int, tuple[int, str]] = {
    1012: (409, "User device is unavailable"),
    10705: (409, "User device is unverified"),
    10703: (404, "Device is currently unavailable (turned off)"),
    10706: (409, "User device is currently busy"),
    10712: (405, "VOIP calls are not allowed"),
    10731: (404, "User not found"),
    10806: (404, "No device found for user"),
    10702: (404, "User Device not found"),
    1021: (404, "Call not found / unsupported in this API"),
    1022: (404, "Call not found / unsupported in this API"),
    10743: (500, "Legs not found"),
    10715: (500, "Error retrieving leg details"),
    10724: (429, "Too many requests"),
}


def table_error(code: int, description: str | None = None) -> V3Error:
    http, message = V3_ERRORS[code]
    return V3Error(http, code, message, description)



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


def gate_error(engine: Engine, sid: str, gate: GateResult) -> V3Error:
    cfg = engine.config
    if gate.gate is Gate.AUTH_FAILED:
        return auth_error()
    if gate.gate is Gate.UNKNOWN_ACCOUNT:
        return V3Error(404, 1017, "AccountSid not found", f"{sid} not found")
    if gate.gate is Gate.LIMITED:
        return table_error(10724, limit_message(cfg.limit_calls, cfg.limit_window_s))
    return internal_error()


def _check_placeable(engine: Engine, sid: str, body: object) -> V3Error | None:
    """Virtual number and busy checks after the body is valid."""
    assert isinstance(body, dict)
    virtual_number = str(body["virtual_number"])
    if not engine.known_virtual_number(virtual_number):
        return V3Error(404, 10716, "Given virtual_number not found", virtual_number)
    from_uri = str(body["from"]["contact_uri"])
    to_uri = str(body["to"]["contact_uri"])
    if not engine.config.voip_enabled:
        for uri in (from_uri, to_uri):
            if uri.lower().startswith("sip:"):
                return table_error(10712, f"{uri}: VOIP calling is not enabled")
    fault = engine.config.v3_faults.get("create")
    if fault is not None:
        return table_error(fault, "injected by v3_faults")
    if engine.busy_with(sid, from_uri):
        return V3Error(409, 10706, "User device is currently busy", f"{from_uri} is on a call")
    if engine.is_dnd(to_uri):
        return V3Error(403, 403, "Forbidden", ndnc_message(to_uri))
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
    gate = open_gate(request, sid, post=True)
    if gate.gate is not Gate.OPEN:
        return _fail("POST", gate_error(engine, sid, gate))
    try:
        spec = parse_v3(body, sid)
    except V3Error as exc:
        return _fail("POST", exc)
    problem = _check_placeable(engine, sid, body)
    if problem is not None:
        record["fault"] = "dnd" if problem.http == 403 else f"v3-{problem.code}"
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


def _lookup(
    request: Request, sid: str, call_sid: str, code: int, message: str, endpoint: str
) -> SimCall:
    """The call, or raises the V3Error to answer (the GET counts against the limit)."""
    engine = _engine(request)
    record_of(request.scope)["call_sid"] = call_sid
    gate = open_gate(request, sid, post=False)
    if gate.gate is not Gate.OPEN:
        raise gate_error(engine, sid, gate)
    fault = engine.config.v3_faults.get(endpoint)
    if fault is not None:
        record_of(request.scope)["fault"] = f"v3-{fault}"
        raise table_error(fault, "injected by v3_faults")
    call = engine.state.get_call(sid, call_sid)
    if call is None:
        raise V3Error(404, code, message, f"{call_sid} not found")
    return call


@router.get("/v3/accounts/{sid}/calls/{call_sid}")
async def get_call(sid: str, call_sid: str, request: Request) -> Response:
    engine = _engine(request)
    try:
        call = _lookup(request, sid, call_sid, 1021, "Call not found / unsupported in this API",
                       "details")
    except V3Error as error:
        return _fail("GET", error)
    with engine.state.lock:
        details = call_details(call, engine.config.utc_offset_minutes)
    return envelope("GET", 200, {"call_details": details})


@router.get("/v3/accounts/{sid}/calls/{call_sid}/legs")
async def get_legs(sid: str, call_sid: str, request: Request) -> Response:
    engine = _engine(request)
    try:
        call = _lookup(request, sid, call_sid, 10744, "Call not found", "legs")
    except V3Error as error:
        return envelope("GET", error.http, {"leg_details": None}, error=error.error)
    with engine.state.lock:
        legs = leg_details(call, engine.config.utc_offset_minutes)
    return envelope("GET", 200, {"leg_details": legs})
