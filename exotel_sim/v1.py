"""v1 routes: ``Calls/connect[.json]`` and ``Calls/<CallSid>[.json]`` (XML unless .json).

Errors (RestException, Status + Message):
  401 Authentication failed. Verify your API key and token.
  404 AccountSid <sid> not found              (good credentials, unknown account)
  404 No matching results                     (unknown CallSid)
  403 Call to [<number>] can not be made because of TRAI NDNC regulations. Read more …
      (the customer's number is on the DND registry: ends in 94, or in dnd_numbers)
  429 Rate limit exceeded. Max <N> requests per minute.
      (+ Retry-After, X-RateLimit-Limit / -Remaining / -Reset; every Voice API request,
       POST or GET, counts unless limit_scope is "posts")
  500 Internal Server Error                   (error_5xx_ratio, or To ending in 96)
  400 Invalid Call Parameters: No 'From' specified  (same for 'To', 'CallerId')
  400 Invalid Call Parameters: 'From' is not a valid phone number  (same for 'To')
  400 Invalid Call Parameters: CallerId '<n>' is not an ExoPhone of this account
  400 Invalid Call Parameters: Url must look like http://my.exotel.com/<sid>/exoml/start_voice/<app_id>
  400 Invalid Call Parameters: TimeLimit must be an integer between 1 and 14400
      (TimeOut 1..60, MaxRetries 0..10 alike)
  400 Invalid Call Parameters: Url belongs to another account (<sid>)
  400 Invalid Call Parameters: WaitUrl must be a http:// or https:// URL
      (StartPlaybackValueNew alike; StreamUrl ws:// or wss://)
  400 Invalid Call Parameters: Valid values for StreamBegin are Leg1Connect, Leg2Connect
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

from exotel_sim.bulk import bulk_response, matches, metadata, paginate, parse_bulk
from exotel_sim.engine import Engine, Gate, GateResult
from exotel_sim.render_v1 import call_response, rest_exception
from exotel_sim.v1_params import ParamError, parse_connect
from exotel_sim.wire import DROP_HEADER, record_of, redact

router = APIRouter()

AUTH_FAILED = "Authentication failed. Verify your API key and token."
NOT_FOUND = "No matching results"
# The answer Exotel gives (quoted from a real 403 by a client author; the docs name no text)
NDNC_READ_MORE = (
    "http://support.exotel.in/support/solutions/articles/35421-what-kind-of-calls-can-i-make-"
    "to-people-who-have-registered-in-the-ncpr-and-to-people-who-have-not"
)


def ndnc_message(number: str) -> str:
    return (f"Call to [{number}] can not be made because of TRAI NDNC regulations. "
            f"Read more about this here: {NDNC_READ_MORE}")


def limit_message(limit: int, window_s: float) -> str:
    per = "minute" if window_s == 60 else f"{window_s:g} seconds"
    return f"Rate limit exceeded. Max {limit} requests per {per}."


def retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def open_gate(request: Request, sid: str, *, post: bool) -> GateResult:
    """``engine.gate`` for this request; leaves the rate-limit headers in its record."""
    engine = _engine(request)
    record = record_of(request.scope)
    gate = engine.gate(sid, request.headers.get("authorization"), post=post)
    record["arrival_time"] = gate.at
    record["counted"] = gate.counted
    record["headers"] = gate.headers
    return gate


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
        return rest_exception(429, message, as_json=as_json, headers=gate.headers)
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
    gate = open_gate(request, sid, post=True)
    if gate.gate is not Gate.OPEN:
        return _gate_error(engine, sid, gate, as_json)
    cfg = engine.config
    try:
        spec = parse_connect(items, sid, cfg, record["params"])
    except ParamError as exc:
        return rest_exception(exc.status, exc.message, as_json=as_json)
    if engine.is_dnd(spec.customer_number):
        record["fault"] = "dnd"
        return rest_exception(403, ndnc_message(spec.customer_number), as_json=as_json)
    placement = engine.place(spec, created_at=gate.at, base_url=str(request.base_url))
    if placement.call is None:
        record["fault"] = "error-96"
        return rest_exception(500, "Internal Server Error", as_json=as_json)
    record["call_sid"] = placement.call.sid
    if placement.drop:
        return drop_response()
    with engine.state.lock:
        return call_response(placement.call, cfg.utc_offset_minutes, as_json=as_json,
                             details=False, creating=True)


@router.get("/v1/Accounts/{sid}/Calls/{call_sid}")
@router.get("/v1/Accounts/{sid}/Calls.json/{call_sid}")
async def get_call(sid: str, call_sid: str, request: Request) -> Response:
    """The call's current state; ``details=true`` adds Details."""
    engine = _engine(request)
    as_json = call_sid.endswith(".json") or "/Calls.json/" in request.url.path
    call_sid = call_sid.removesuffix(".json")
    record_of(request.scope)["call_sid"] = call_sid
    gate = open_gate(request, sid, post=False)
    if gate.gate is not Gate.OPEN:
        return _gate_error(engine, sid, gate, as_json)
    call = engine.state.get_call(sid, call_sid)
    if call is None:
        return rest_exception(404, NOT_FOUND, as_json=as_json)
    details = request.query_params.get("details", "").lower() == "true"
    with engine.state.lock:
        return call_response(call, engine.config.utc_offset_minutes, as_json=as_json,
                             details=details)


@router.get("/v1/Accounts/{sid}/Calls")
@router.get("/v1/Accounts/{sid}/Calls.json")
async def bulk_calls(sid: str, request: Request) -> Response:
    """Bulk call details: ended calls only, filtered and paged (see ``bulk``)."""
    engine = _engine(request)
    as_json = request.url.path.endswith(".json")
    gate = open_gate(request, sid, post=False)
    if gate.gate is not Gate.OPEN:
        return _gate_error(engine, sid, gate, as_json)
    params = dict(request.query_params)
    cfg = engine.config
    try:
        query = parse_bulk(params, cfg.utc_offset_minutes, gate.at)
    except ParamError as exc:
        return rest_exception(exc.status, exc.message, as_json=as_json)
    with engine.state.lock:
        found = [call for call in engine.state.calls.values()
                 if call.spec.account_sid == sid and matches(call, query)]
        page = paginate(found, query)
        base = f"/v1/Accounts/{sid}/Calls{'.json' if as_json else ''}"
        meta = metadata(page, base, params, query.page_size)
        return bulk_response(page, meta, cfg.utc_offset_minutes, as_json=as_json)
