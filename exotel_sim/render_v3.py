"""v3 bodies: the envelope of seed 002 (request_id, method, http_code, metadata, response).

``call_details``: ``state`` active|terminal, ``status`` null until terminal; an active call
shows ``end_time`` "1970-01-01 05:30:00+05:30" as Exotel does (null in the POST answer);
``total_duration`` stays null until the fill time. Errors carry
``error_data {code, message, description}`` and ``status`` "failure".
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.responses import JSONResponse

from exotel_sim.calls import Leg, SimCall
from exotel_sim.clock import v3_time


def envelope(
    method: str,
    http_code: int,
    payload: dict[str, Any] | None = None,
    *,
    error: tuple[int, str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The v3 answer; ``error`` is (code, message, description)."""
    response: dict[str, Any] = {
        "code": http_code,
        "error_data": None,
        "status": "success" if error is None else "failure",
    }
    if error is not None:
        code, message, description = error
        response["error_data"] = {"code": code, "message": message, "description": description}
    response.update(payload or {})
    body = {
        "request_id": uuid.uuid4().hex,
        "method": method,
        "http_code": http_code,
        "metadata": None,
        "response": response,
    }
    return JSONResponse(body, status_code=http_code, headers=headers)


def call_details(call: SimCall, offset_minutes: int, *, creating: bool = False) -> dict[str, Any]:
    """``call_details`` as in seed 002."""
    spec = call.spec
    terminal = call.terminal
    if terminal:
        end_time = v3_time(call.wall(call.ended_at), offset_minutes)
    else:
        end_time = None if creating else v3_time(0.0, offset_minutes)
    recordings = [{"url": call.recording_url}] if call.recording_url else None
    return {
        "sid": call.sid,
        "direction": "outbound",
        "virtual_number": spec.caller_id,
        "state": call.state,
        "status": call.status if terminal else None,
        "legs": f"/v3/accounts/{spec.account_sid}/calls/{call.sid}/legs",
        "created_time": v3_time(call.created_at, offset_minutes),
        "updated_time": v3_time(call.wall(call.t), offset_minutes),
        "start_time": v3_time(call.created_at, offset_minutes),
        "end_time": end_time,
        "total_duration": call.duration_s() if call.filled else None,
        "total_talk_time": call.conversation_s() if terminal else None,
        "custom_field": spec.custom_field,
        "app_id": spec.app_id,
        "app_name": None,
        "digits": None,
        "recordings": recordings,
    }


def _last_change(leg: Leg) -> float:
    stamps = [leg.ended_at, leg.answered_at, leg.dialed_at]
    return next((s for s in stamps if s is not None), 0.0)


def _leg(call: SimCall, leg: Leg, offset_minutes: int, *, to_side: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "sid": leg.sid,
        "name": None,
        "contact_uri": leg.number,
        "date_created": v3_time(call.wall(leg.dialed_at or 0.0), offset_minutes),
        "date_updated": v3_time(call.wall(_last_change(leg)), offset_minutes),
        "status": leg.status,
    }
    if to_side:
        entry.update(group_id=None, group_name=None)
    return entry


def leg_details(call: SimCall, offset_minutes: int) -> dict[str, Any]:
    """``leg_details`` with the ``from`` and ``to`` arrays (legs not dialled are left out)."""
    dialled = [leg for leg in call.legs if leg.status is not None]
    first = [_leg(call, leg, offset_minutes, to_side=False) for leg in dialled[:1]]
    second = [_leg(call, leg, offset_minutes, to_side=True) for leg in dialled[1:]]
    return {
        "call_sid": call.sid,
        "account_sid": call.spec.account_sid,
        "from": first,
        "to": second,
    }
