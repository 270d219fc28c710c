"""v3 ``POST /v3/accounts/{sid}/calls`` JSON body (seed 002) -> CallSpec, or a V3Error."""

from __future__ import annotations

from typing import Any

from exotel_sim.calls import API_V3, CallbackTarget, CallSpec

MAX_TIME_LIMIT = 14400
CALLBACK_TYPES = ("application/json", "multipart/form-data", "application/x-www-form-urlencoded")


class V3Error(Exception):
    """An error answer: HTTP status, v3 code, message, description."""

    def __init__(self, http: int, code: int, message: str, description: str | None = None) -> None:
        super().__init__(message)
        self.http = http
        self.code = code
        self.message = message
        self.description = description or message

    @property
    def error(self) -> tuple[int, str, str]:
        return self.code, self.message, self.description


def invalid(description: str, code: int = 1001, message: str | None = None) -> V3Error:
    return V3Error(400, code, message or description, description)


def _block(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(f"{name} must be a JSON object")
    return value


def _contact(body: dict[str, Any], name: str) -> str:
    uri = _block(body, name).get("contact_uri")
    if not isinstance(uri, str) or not uri.strip():
        raise invalid(f"{name}.contact_uri is mandatory", message=f"{name} is mandatory")
    return uri.strip()


def _flag(value: Any, name: str) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise invalid(f"{name} must be true or false")


def _int(body: dict[str, Any], name: str, low: int, high: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid(f"{name} must be an integer between {low} and {high}")
    return value


def _recording(body: dict[str, Any]) -> tuple[bool, str, str]:
    block = _block(body, "recording")
    record = _flag(block.get("record"), "recording.record")
    channels = block.get("channels") or "single"
    if channels not in ("single", "dual"):
        raise invalid("Valid values for RecordingChannels are single, dual", code=1002)
    fmt = block.get("format") or "mp3"
    if fmt not in ("mp3", "mp3-hq"):
        raise invalid("Valid values for recording.format are mp3, mp3-hq")
    return record, channels, fmt


def _callback(entry: Any) -> CallbackTarget:
    if not isinstance(entry, dict):
        raise invalid("each status_callback entry must be a JSON object")
    url = entry.get("url")
    if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
        raise invalid("status_callback[].url must be an http(s) URL")
    event = entry.get("event") or "terminal"
    method = str(entry.get("method") or "POST").upper()
    content_type = entry.get("content_type") or "application/json"
    if event not in ("terminal", "answered"):
        raise invalid("Valid values for status_callback[].event are terminal, answered")
    if method not in ("GET", "POST"):
        raise invalid("Valid values for status_callback[].method are GET, POST")
    if content_type not in CALLBACK_TYPES:
        raise invalid(f"Valid values for status_callback[].content_type are {CALLBACK_TYPES}")
    return CallbackTarget(url, event, method, content_type)


def _callbacks(body: dict[str, Any]) -> list[CallbackTarget]:
    entries = body.get("status_callback") or []
    if not isinstance(entries, list):
        raise invalid("status_callback must be an array")
    return [_callback(entry) for entry in entries]


def _optional_types(body: dict[str, Any]) -> None:
    for name, kind in (("playback", list), ("streaming", dict), ("wait_audio_url", str),
                       ("custom_field", str)):
        if body.get(name) is not None and not isinstance(body[name], kind):
            raise invalid(f"{name} has the wrong type")


def parse_v3(body: Any, account_sid: str) -> CallSpec:
    """Validate the body; raises V3Error (400, codes 1001 / 1002)."""
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object", message="Invalid request body")
    from_number = _contact(body, "from")
    to_number = _contact(body, "to")
    virtual_number = body.get("virtual_number")
    if not isinstance(virtual_number, str | int) or not str(virtual_number).strip():
        raise invalid("virtual_number is mandatory")
    record, channels, fmt = _recording(body)
    _optional_types(body)
    return CallSpec(
        api=API_V3,
        account_sid=account_sid,
        from_number=from_number,
        to_number=to_number,
        caller_id=str(virtual_number).strip(),
        time_limit_s=_int(body, "max_time_limit", 1, MAX_TIME_LIMIT),
        time_out_s=_int(body, "attempt_time_out", 1, 3600),
        custom_field=body.get("custom_field"),
        record=record,
        recording_channels=channels,
        recording_format=fmt,
        state_management=_flag(_block(body, "from").get("state_management"), "state_management"),
        callbacks=_callbacks(body),
        params=body,
    )
