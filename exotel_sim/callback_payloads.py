"""What a StatusCallback says, and how it goes on the wire.

v1, by default (seeds 000/001/003; developer.exotel.com/docs/voice-v1/api-reference/
status-callback "Default Parameters"): exactly CallSid, DateUpdated, Status, RecordingUrl.
When the request subscribed with StatusCallbackEvents (terminal and/or answered) the
extended payload ("Event-Specific Parameters"): CallSid, EventType, DateCreated,
DateUpdated, To, From, PhoneNumberSid, StartTime, EndTime, Status, ConversationDuration,
Direction, CustomField, RecordingUrl and Legs (one entry per dialled leg: OnCallDuration,
Status). multipart/form-data (the default, seed 003) flattens Legs to
``Legs[0][Status]`` … and sends None as ""; application/json keeps ``"Legs": [{…}]`` and
null. An "answered" event has Status "in-progress".

v3 (seed 002): ``{"event_details": {"event_type": …}, "call_details": {…}}``; POST JSON as
is, POST multipart/form-urlencoded and GET send both blocks as JSON-encoded fields.
"""

from __future__ import annotations

import json
from typing import Any

from exotel_sim.calls import API_V3, CallbackTarget, SimCall
from exotel_sim.clock import v1_time
from exotel_sim.render_v3 import call_details

JSON_TYPE = "application/json"
MULTIPART_TYPE = "multipart/form-data"


DEFAULT_V1_FIELDS = ("CallSid", "DateUpdated", "Status", "RecordingUrl")


def v1_payload(
    call: SimCall, event: str, offset_minutes: int, *, extended: bool = True
) -> dict[str, Any]:
    """The v1 callback as a dict (Legs as a list): four fields unless ``extended``."""
    terminal = event == "terminal"
    status = call.status if terminal else "in-progress"
    updated = v1_time(call.wall(call.t), offset_minutes)
    if not extended:
        return {"CallSid": call.sid, "DateUpdated": updated, "Status": status,
                "RecordingUrl": call.recording_url}
    spec = call.spec
    legs = [
        {"OnCallDuration": leg.on_call_s(), "Status": leg.status}
        for leg in call.legs
        if leg.status is not None
    ]
    return {
        "CallSid": call.sid,
        "EventType": event,
        "DateCreated": v1_time(call.created_at, offset_minutes),
        "DateUpdated": updated,
        "To": call.to_display,
        "From": spec.from_number,
        "PhoneNumberSid": spec.caller_id,
        "StartTime": v1_time(call.created_at, offset_minutes),
        "EndTime": v1_time(call.wall(call.ended_at), offset_minutes) if terminal else None,
        "Status": status,
        "ConversationDuration": call.conversation_s(),
        "Direction": "outbound-api",
        "CustomField": spec.custom_field,
        "RecordingUrl": call.recording_url,
        "Legs": legs,
    }


def v3_payload(call: SimCall, event: str, offset_minutes: int) -> dict[str, Any]:
    details = call_details(call, offset_minutes)
    return {"event_details": {"event_type": event}, "call_details": details}


def build_payload(
    call: SimCall, target: CallbackTarget, offset_minutes: int
) -> dict[str, Any]:
    if call.spec.api == API_V3:
        return v3_payload(call, target.event, offset_minutes)
    return v1_payload(call, target.event, offset_minutes, extended=target.extended)


def flatten_v1(payload: dict[str, Any]) -> dict[str, str]:
    """Form fields: ``Legs[i][Status]`` style, None as ""."""
    out: dict[str, str] = {}
    for key, value in payload.items():
        if key == "Legs":
            for i, leg in enumerate(value):
                for name, item in leg.items():
                    out[f"Legs[{i}][{name}]"] = "" if item is None else str(item)
        else:
            out[key] = "" if value is None else str(value)
    return out


def wire_body(api: str, target: CallbackTarget, payload: dict[str, Any]) -> dict[str, Any]:
    """The body as it is sent (flat strings unless it goes as JSON)."""
    if target.method == "POST" and target.content_type == JSON_TYPE:
        return payload
    if api == API_V3:
        return {key: json.dumps(value) for key, value in payload.items()}
    return flatten_v1(payload)


def request_kwargs(target: CallbackTarget, body: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for ``requests.Session.request``."""
    if target.method == "GET":
        return {"params": body}
    if target.content_type == JSON_TYPE:
        return {"json": body}
    if target.content_type == MULTIPART_TYPE:
        return {"files": [(key, (None, value)) for key, value in body.items()]}
    return {"data": body}
