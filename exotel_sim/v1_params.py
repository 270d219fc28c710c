"""v1 ``Calls/connect`` form parameters (seeds 000, 001, 003, 004) -> CallSpec, or a 400.

With ``Url`` the request is "connect to a call flow" (From, CallerId, Url); otherwise
"connect two numbers". Url forms accepted (http or https): seed 001's
``http://my.exotel.com/{sid}/exoml/start_voice/{app_id}`` and the older
``http://my.exotel.in/exoml/start/{app_id}`` / ``http://my.exotel.com/exoml/start/{app_id}``
(as Exotel's samples and the ``exotel`` PyPI client write it); another host, or another
account's sid, is a 400. TimeOut is at most 60 s (seed 003: "Maximum is 1 minute"),
TimeLimit at most 14400 (seeds 000/004), CustomField at most 128 characters (seed 004);
WaitUrl and StartPlaybackValueNew are http(s) URLs, StreamUrl a ws(s) URL, StreamBegin
Leg1Connect or Leg2Connect (seed 004).
``StatusCallbackEvents`` may come as ``StatusCallbackEvents[0]``, ``StatusCallbackEvents[]``
or repeated ``StatusCallbackEvents`` keys (comma-separated values are split too).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from exotel_sim.calls import API_CONNECT, API_FLOW, CallbackTarget, CallSpec
from exotel_sim.config import SimConfig
from exotel_sim.outcomes import digits, number_key

PREFIX = "Invalid Call Parameters: "
MAX_TIME_LIMIT = 14400
MAX_TIME_OUT = 60  # seed 003: "Maximum is 1 minute (which, we hear is mandated by TRAI)"
MAX_CUSTOM_FIELD = 128
EVENTS = ("terminal", "answered")
CONTENT_TYPES = ("multipart/form-data", "application/json")
STREAM_BEGIN = ("Leg1Connect", "Leg2Connect")
_EVENTS_KEY = re.compile(r"^StatusCallbackEvents(\[(\d*)\])?$")
_FLOW_URL = re.compile(
    r"^https?://my\.exotel\.(?:com|in)/(?:(?P<sid>[^/?#]+)/)?exoml/"
    r"(?:start_voice|start)/(?P<app>[^/?#]+)/?(?:[?#].*)?$",
    re.IGNORECASE,
)
_PHONE_CHARS = re.compile(r"^\+?[0-9 ()./-]+$")
_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")


class ParamError(Exception):
    """A 400 with Exotel's message."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def collect(items: list[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    """Plain parameters (last value wins) and StatusCallbackEvents in order."""
    params: dict[str, str] = {}
    indexed: list[tuple[int, int, str]] = []
    for position, (key, value) in enumerate(items):
        match = _EVENTS_KEY.match(key)
        if match:
            index = int(match.group(2)) if match.group(2) else position
            indexed.extend((index, position, part.strip()) for part in value.split(","))
        else:
            params[key] = value.strip()
    events = [event for _, _, event in sorted(indexed) if event]
    return params, events


def _require(params: dict[str, str], name: str) -> str:
    value = params.get(name, "")
    if not value:
        raise ParamError(f"{PREFIX}No '{name}' specified")
    return value


def _phone(params: dict[str, str], name: str) -> str:
    value = params[name]
    if not _PHONE_CHARS.match(value) or not digits(value):
        raise ParamError(f"{PREFIX}'{name}' is not a valid phone number")
    return value


def _int(params: dict[str, str], name: str, low: int, high: int) -> int | None:
    raw = params.get(name, "")
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ParamError(f"{PREFIX}{name} must be an integer between {low} and {high}")
    return value


def _choice(params: dict[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = params.get(name, "") or choices[0]
    if value not in choices:
        raise ParamError(f"{PREFIX}Valid values for {name} are {', '.join(choices)}")
    return value


def _bool(params: dict[str, str], name: str) -> bool:
    value = params.get(name, "").lower()
    if value and value not in _TRUE + _FALSE:
        raise ParamError(f"{PREFIX}{name} must be true or false")
    return value in _TRUE


def _http_url(params: dict[str, str], name: str) -> str | None:
    value = params.get(name) or None
    if value is not None and not value.lower().startswith(("http://", "https://")):
        raise ParamError(f"{PREFIX}{name} must be an http(s) URL")
    return value


def _flow_app_id(url: str, account_sid: str) -> str:
    match = _FLOW_URL.match(url)
    if not match:
        raise ParamError(
            f"{PREFIX}Url must look like http://my.exotel.com/<sid>/exoml/start_voice/<app_id>"
        )
    sid = match.group("sid")
    if sid is not None and sid != account_sid:
        raise ParamError(f"{PREFIX}Url belongs to another account ({sid})")
    return match.group("app")


def _url_of(params: dict[str, str], name: str, schemes: tuple[str, ...]) -> str | None:
    value = params.get(name) or None
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme.lower() not in schemes or not parts.netloc:
        kinds = " or ".join(f"{scheme}://" for scheme in schemes)
        raise ParamError(f"{PREFIX}{name} must be a {kinds} URL")
    return value


def _caller_id(params: dict[str, str], cfg: SimConfig) -> str:
    value = _require(params, "CallerId")
    allowed = {number_key(n) for n in cfg.virtual_numbers}
    if allowed and number_key(value) not in allowed:
        raise ParamError(f"{PREFIX}CallerId '{value}' is not an ExoPhone of this account")
    return value


def _callbacks(
    params: dict[str, str], events: list[str], cfg: SimConfig
) -> list[CallbackTarget]:
    """The terminal callback always (when StatusCallback is set); "answered" only when
    subscribed. The extended payload only for a request that subscribed to an event."""
    url = _http_url(params, "StatusCallback")
    content_type = _choice(params, "StatusCallbackContentType", CONTENT_TYPES)
    bad = [event for event in events if event not in EVENTS]
    if bad:
        raise ParamError(f"{PREFIX}Valid values for StatusCallbackEvents are terminal, answered")
    if url is None:
        return []
    extended = bool(events) or cfg.v1_callback_always_extended
    wanted = ["answered"] if "answered" in events else []
    return [CallbackTarget(url, event, "POST", content_type, extended)
            for event in wanted + ["terminal"]]


def _misc(params: dict[str, str]) -> None:
    call_type = params.get("CallType", "trans")
    if call_type not in ("", "trans"):
        raise ParamError(f"{PREFIX}CallType must be 'trans' ('promo' is no longer supported)")
    _choice(params, "StartPlaybackToNew", ("Callee", "Both"))
    _url_of(params, "StartPlaybackValueNew", ("http", "https"))
    _url_of(params, "WaitUrl", ("http", "https"))
    stream = _url_of(params, "StreamUrl", ("ws", "wss"))
    begin = params.get("StreamBegin", "")
    if begin and begin not in STREAM_BEGIN:
        raise ParamError(f"{PREFIX}Valid values for StreamBegin are {', '.join(STREAM_BEGIN)}")
    if begin and stream is None:
        raise ParamError(f"{PREFIX}StreamBegin needs StreamUrl")
    _int(params, "MaxRetries", 0, 10)
    if len(params.get("CustomField", "")) > MAX_CUSTOM_FIELD:
        raise ParamError(f"{PREFIX}CustomField must be at most {MAX_CUSTOM_FIELD} characters")


def parse_connect(
    items: list[tuple[str, str]], account_sid: str, cfg: SimConfig, record: dict[str, Any]
) -> CallSpec:
    """Validate a connect request; raises ParamError."""
    params, events = collect(items)
    flow_url = params.get("Url") or None
    _require(params, "From")
    if flow_url is None:
        _require(params, "To")
    caller_id = _caller_id(params, cfg)
    app_id = _flow_app_id(flow_url, account_sid) if flow_url else None
    _phone(params, "From")
    if flow_url is None:
        _phone(params, "To")
    _misc(params)
    return CallSpec(
        api=API_FLOW if flow_url else API_CONNECT,
        account_sid=account_sid,
        from_number=params["From"],
        to_number=None if flow_url else params["To"],
        caller_id=caller_id,
        time_limit_s=_int(params, "TimeLimit", 1, MAX_TIME_LIMIT),
        time_out_s=_int(params, "TimeOut", 1, MAX_TIME_OUT),
        custom_field=params.get("CustomField") or None,
        record=_bool(params, "Record"),
        recording_channels=_choice(params, "RecordingChannels", ("single", "dual")),
        recording_format=_choice(params, "RecordingFormat", ("mp3", "mp3-hq")),
        app_id=app_id,
        callbacks=_callbacks(params, events, cfg),
        params=record,
    )
