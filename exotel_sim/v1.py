"""v1 routes: ``Calls/connect[.json]`` and ``Calls/<CallSid>[.json]`` (XML unless .json).

Errors (RestException, Status + Message):
  401 Authentication failed. Verify your API key and token.
  404 AccountSid <sid> not found              (good credentials, unknown account)
  404 No matching results                     (unknown CallSid)
  429 Rate limit exceeded. Max <N> requests per minute.   (+ Retry-After)
  500 Internal Server Error                   (error_5xx_ratio, or To ending in 96)
  400 Invalid Call Parameters: No 'From' specified  (same for 'To', 'CallerId')
  400 Invalid Call Parameters: 'From' is not a valid phone number  (same for 'To')
  400 Invalid Call Parameters: CallerId '<n>' is not an ExoPhone of this account
  400 Invalid Call Parameters: Url must look like http://my.exotel.com/<sid>/exoml/start_voice/<app_id>
  400 Invalid Call Parameters: TimeLimit must be an integer between 1 and 14400
      (TimeOut 1..3600, MaxRetries 0..10 alike)
  400 Invalid Call Parameters: CustomField must be at most 128 characters
  400 Invalid Call Parameters: CallType must be 'trans' ('promo' is no longer supported)
  400 Invalid Call Parameters: Record must be true or false
  400 Invalid Call Parameters: Valid values for RecordingChannels are single, dual
      (RecordingFormat mp3, mp3-hq; StartPlaybackToNew Callee, Both;
       StatusCallbackContentType multipart/form-data, application/json;
       StatusCallbackEvents terminal, answered)
  400 Invalid Call Parameters: StatusCallback must be an http(s) URL
"""

from __future__ import annotations

import math

from fastapi import APIRouter, Request
from fastapi.responses import Response

from exotel_sim.auth import AuthResult
from exotel_sim.engine import Engine, Gate, GateResult
from exotel_sim.render_v1 import call_response, rest_exception
from exotel_sim.v1_params import ParamError, parse_connect
from exotel_sim.wire import DROP_HEADER, record_of, redact

router = APIRouter()

AUTH_FAILED = "Authentication failed. Verify your API key and token."
NOT_FOUND = "No matching results"


def limit_message(limit: int, window_s: float) -> str:
    per = "minute" if window_s == 60 else f"{window_s:g} seconds"
    return f"Rate limit exceeded. Max {limit} requests per {per}."


def retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def drop_response() -> Response:
    """Tells the wire layer to cut the connection instead of answering."""
    return Response(status_code=200, headers={DROP_HEADER.decode(): "1"})


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _gate_error(engine: Engine, sid: str, gate: GateResult, as_json: bool) -> Response:
    cfg = engine.config
    if gate.gate is Gate.AUTH_FAILED:
        return rest_exception(401, AUTH_FAILED, as_json=as_json)
    if gate.gate is Gate.UNKNOWN_ACCOUNT:
        return rest_exception(404, f"AccountSid {sid} not found", as_json=as_json)
    if gate.gate is Gate.LIMITED:
        message = limit_message(cfg.limit_calls, cfg.limit_window_s)
        headers = retry_after(gate.retry_after_s)
        return rest_exception(429, message, as_json=as_json, headers=headers)
    return rest_exception(500, "Internal Server Error", as_json=as_json)


def _form_dict(items: list[tuple[str, str]]) -> dict[str, str | list[str]]:
    out: dict[str, str | list[str]] = {}
    for key, value in items:
        if key in out:
            previous = out[key]
            out[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            out[key] = value
    return out


@router.post("/v1/Accounts/{sid}/Calls/connect")
@router.post("/v1/Accounts/{sid}/Calls/connect.json")
async def connect(sid: str, request: Request) -> Response:
    """Create a call: two numbers, or a number and a flow when ``Url`` is given."""
    engine = _engine(request)
    as_json = request.url.path.endswith(".json")
    record = record_of(request.scope)
    form = await request.form()
    items = [(key, value) for key, value in form.multi_items() if isinstance(value, str)]
    record["params"] = redact(_form_dict(items))
    gate = engine.gate(sid, request.headers.get("authorization"))
    record["arrival_time"] = gate.at
    if gate.gate is not Gate.OPEN:
        return _gate_error(engine, sid, gate, as_json)
    cfg = engine.config
    try:
        spec = parse_connect(items, sid, cfg, record["params"])
    except ParamError as exc:
        return rest_exception(exc.status, exc.message, as_json=as_json)
    placement = engine.place(spec, created_at=gate.at, base_url=str(request.base_url))
    if placement.call is None:
        record["fault"] = "error-96"
        return rest_exception(500, "Internal Server Error", as_json=as_json)
    record["call_sid"] = placement.call.sid
    if placement.drop:
        return drop_response()
    with engine.state.lock:
        return call_response(placement.call, cfg.utc_offset_minutes, as_json=as_json,
                             details=False)


@router.get("/v1/Accounts/{sid}/Calls/{call_sid}")
@router.get("/v1/Accounts/{sid}/Calls.json/{call_sid}")
async def get_call(sid: str, call_sid: str, request: Request) -> Response:
    """The call's current state; ``details=true`` adds Details."""
    engine = _engine(request)
    as_json = call_sid.endswith(".json") or "/Calls.json/" in request.url.path
    call_sid = call_sid.removesuffix(".json")
    record_of(request.scope)["call_sid"] = call_sid
    auth = engine.authenticate(sid, request.headers.get("authorization"))
    if auth is AuthResult.FAILED:
        return rest_exception(401, AUTH_FAILED, as_json=as_json)
    if auth is AuthResult.UNKNOWN_ACCOUNT:
        return rest_exception(404, f"AccountSid {sid} not found", as_json=as_json)
    call = engine.state.get_call(sid, call_sid)
    if call is None:
        return rest_exception(404, NOT_FOUND, as_json=as_json)
    details = request.query_params.get("details", "").lower() == "true"
    with engine.state.lock:
        return call_response(call, engine.config.utc_offset_minutes, as_json=as_json,
                             details=details)
