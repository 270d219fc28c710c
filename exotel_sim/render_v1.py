"""v1 bodies: the ``Call`` of seeds 000 (XML TwilioResponse) and 004 (JSON), RestException.

Duration, Price and EndTime stay empty until the call's fill time (``duration_fill_delay_s``
after it ended); ``details=true`` adds ``Details`` (ConversationDuration, Leg1Status,
Leg2Status, Legs [{"Leg": {"Id": 1, "OnCallDuration": 21}}, …]) as
developer.exotel.com/docs/voice-v1/api-reference/call-details shows it. Status is the
call's live status (queued, ringing, in-progress, then final); the answer to the creating
POST says "in-progress", as the examples of seeds 000 and 004 do.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from fastapi.responses import JSONResponse, Response

from exotel_sim.calls import SimCall
from exotel_sim.clock import v1_time

XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
XML_TYPE = "application/xml"
_OPEN_CLOSE = frozenset({"Duration", "Price", "EndTime"})  # seed 000 writes <Duration></Duration>


def call_dict(
    call: SimCall, offset_minutes: int, *, json_uri: bool, creating: bool = False
) -> dict[str, Any]:
    """The ``Call`` object, fields in the seeds' order."""
    spec = call.spec
    filled = call.filled
    sid = spec.account_sid
    uri = (
        f"/v1/Accounts/{sid}/Calls.json/{call.sid}"
        if json_uri
        else f"/v1/Accounts/{sid}/Calls/{call.sid}"
    )
    out: dict[str, Any] = {
        "Sid": call.sid,
        "ParentCallSid": None,
        "DateCreated": v1_time(call.created_at, offset_minutes),
        "DateUpdated": v1_time(call.wall(call.t), offset_minutes),
        "AccountSid": sid,
        "To": call.to_display,
        "From": spec.from_number,
        "PhoneNumberSid": spec.caller_id,
        "Status": "in-progress" if creating and not call.terminal else call.status,
        "StartTime": v1_time(call.created_at, offset_minutes),
        "EndTime": v1_time(call.wall(call.ended_at), offset_minutes) if filled else None,
        "Duration": call.duration_s() if filled else None,
        "Price": call.price() if filled else None,
        "Direction": "outbound-api",
        "AnsweredBy": None,
        "ForwardedFrom": None,
        "CallerName": None,
        "Uri": uri,
        "RecordingUrl": call.recording_url,
    }
    return out


def details_dict(call: SimCall) -> dict[str, Any]:
    """``Details``: conversation length and per-leg status."""
    legs = call.legs
    connect = call.spec.to_number is not None
    entries = [{"Leg": {"Id": i + 1, "OnCallDuration": leg.on_call_s()}}
               for i, leg in enumerate(legs)]
    return {
        "ConversationDuration": call.conversation_s(),
        "Leg1Status": legs[0].status,
        "Leg2Status": legs[1].status if connect else None,
        "Legs": entries,
    }


def _xml_value(tag: str, value: Any) -> str:
    if value is None or value == "":
        return f"<{tag}></{tag}>" if tag in _OPEN_CLOSE else f"<{tag}/>"
    return f"<{tag}>{escape(str(value))}</{tag}>"


def _xml_details(details: dict[str, Any]) -> str:
    legs = "".join(
        "<Leg>" + "".join(_xml_value(k, v) for k, v in entry["Leg"].items()) + "</Leg>"
        for entry in details["Legs"]
    )
    head = "".join(_xml_value(k, v) for k, v in details.items() if k != "Legs")
    return f"  <Details>{head}<Legs>{legs}</Legs></Details>\n"


def call_response(
    call: SimCall, offset_minutes: int, *, as_json: bool, details: bool, creating: bool = False
) -> Response:
    """200 with the call, JSON (``{"Call": …}``) or XML (``<TwilioResponse><Call>…``)."""
    body = call_dict(call, offset_minutes, json_uri=as_json, creating=creating)
    extra = details_dict(call) if details else None
    if as_json:
        if extra is not None:
            body["Details"] = extra
        return JSONResponse({"Call": body})
    order = [k for k in body if k not in ("Uri", "RecordingUrl")] + ["RecordingUrl", "Uri"]
    lines = "".join(f"  {_xml_value(k, body[k])}\n" for k in order)
    if extra is not None:
        lines += _xml_details(extra)
    xml = f"{XML_HEAD}<TwilioResponse>\n <Call>\n{lines} </Call>\n</TwilioResponse>\n"
    return Response(xml, media_type=XML_TYPE)


def rest_exception(
    status: int, message: str, *, as_json: bool, headers: dict[str, str] | None = None
) -> Response:
    """An error in the v1 shape (``RestException`` with Status and Message)."""
    if as_json:
        payload = {"RestException": {"Status": status, "Message": message}}
        return JSONResponse(payload, status_code=status, headers=headers)
    xml = (
        f"{XML_HEAD}<TwilioResponse>\n<RestException>\n<Status>{status}</Status>\n"
        f"<Message>{escape(message)}</Message>\n</RestException>\n</TwilioResponse>\n"
    )
    return Response(xml, status_code=status, media_type=XML_TYPE, headers=headers)
