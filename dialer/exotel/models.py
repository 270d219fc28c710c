"""Typed Exotel requests, validated before anything is sent.

Three requests, one per :class:`dialer.models.Mode`:

* :class:`ConnectTwoNumbers` – v1 ``Calls/connect`` with ``From``/``To`` (form fields);
* :class:`ConnectToFlow` – v1 ``Calls/connect`` with ``From`` and a call-flow ``Url``;
* :class:`V3Call` – v3 CCM ``calls`` (nested JSON).

Fields are snake_case with the Exotel wire name as alias, so both
``ConnectTwoNumbers(from_number=..., to=...)`` and
``ConnectTwoNumbers.model_validate({"From": ..., "To": ...})`` work. Phone numbers are
normalised to E.164 by :func:`dialer.phone.normalize`.

Failure policy: constructing a model directly raises pydantic's ``ValidationError``;
:func:`build_request` converts it into one :class:`dialer.errors.ValidationError` (or
:class:`~dialer.errors.InvalidNumberError` when only numbers are wrong) whose ``field``
names the Exotel field(s) and whose message shows the bad value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from dialer.errors import InvalidNumberError, ValidationError
from dialer.exotel.fields import (
    CallerId,
    Count,
    CustomField,
    FromNumber,
    HttpUrl,
    Seconds,
    ToNumber,
    V3FromUri,
    V3ToUri,
    VirtualNumber,
    WsUrl,
    require,
)

MAX_TIME_LIMIT_S = 14_400  # Exotel's cap: 4 hours
MAX_TIME_OUT_S = 3_600
CallbackEvent = Literal["terminal", "answered"]
CallbackContentType = Literal["multipart/form-data", "application/json"]
Channels = Literal["single", "dual"]
RecordingFormat = Literal["mp3", "mp3-hq"]
# A short lower-case token such as "start", "both" or "from_leg_connect".
Token = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")]


class _Request(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid", frozen=True)

    # Field name -> the name the caller knows it by, when that is not the alias.
    _wire_names: ClassVar[dict[str, str]] = {}

    @classmethod
    def wire_name(cls, name: str) -> str:
        """The Exotel name of field ``name`` (aliases are returned unchanged)."""
        if name in cls._wire_names:
            return cls._wire_names[name]
        info = cls.model_fields.get(name)
        return info.alias or name if info else name

    def _form_pairs(self, skip: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = []
        for name, info in type(self).model_fields.items():
            value = getattr(self, name)
            if value is None or name in skip:
                continue
            wire = info.alias or name
            if isinstance(value, bool):
                pairs.append((wire, "true" if value else "false"))
            elif isinstance(value, list | tuple):
                pairs.extend((f"{wire}[{i}]", str(item)) for i, item in enumerate(value))
            else:
                pairs.append((wire, str(value)))
        return pairs


class ConnectTwoNumbers(_Request):
    """v1 connect two numbers: Exotel rings ``From`` (the agent), then ``To``."""

    from_number: FromNumber = Field(alias="From")
    to: ToNumber = Field(alias="To")
    caller_id: CallerId = Field(alias="CallerId")
    call_type: Literal["trans"] = Field(default="trans", alias="CallType")
    time_limit_s: Seconds | None = Field(default=None, alias="TimeLimit", le=MAX_TIME_LIMIT_S)
    time_out_s: Seconds | None = Field(default=None, alias="TimeOut", le=MAX_TIME_OUT_S)
    status_callback: HttpUrl | None = Field(default=None, alias="StatusCallback")
    status_callback_events: list[CallbackEvent] | None = Field(
        default=None, alias="StatusCallbackEvents", min_length=1, max_length=2
    )
    status_callback_content_type: CallbackContentType | None = Field(
        default=None, alias="StatusCallbackContentType"
    )
    record: bool | None = Field(default=None, alias="Record")
    recording_channels: Channels | None = Field(default=None, alias="RecordingChannels")
    recording_format: RecordingFormat | None = Field(default=None, alias="RecordingFormat")
    wait_url: HttpUrl | None = Field(default=None, alias="WaitUrl")
    stream_url: WsUrl | None = Field(default=None, alias="StreamUrl")
    stream_begin: Literal["Leg1Connect", "Leg2Connect"] | None = Field(
        default=None, alias="StreamBegin"
    )
    custom_field: CustomField | None = Field(default=None, alias="CustomField")
    start_playback_to_new: Literal["Callee", "Both"] | None = Field(
        default=None, alias="StartPlaybackToNew"
    )
    start_playback_value_new: HttpUrl | None = Field(default=None, alias="StartPlaybackValueNew")
    max_retries: Count | None = Field(default=None, alias="MaxRetries", le=10)

    @model_validator(mode="after")
    def _consistent(self) -> ConnectTwoNumbers:
        require(self.status_callback_events, self.status_callback, "StatusCallbackEvents",
                "StatusCallback")
        require(self.status_callback_content_type, self.status_callback,
                "StatusCallbackContentType", "StatusCallback")
        require(self.stream_begin, self.stream_url, "StreamBegin", "StreamUrl")
        require(self.start_playback_to_new, self.start_playback_value_new,
                "StartPlaybackToNew", "StartPlaybackValueNew")
        return self

    def to_form(self) -> list[tuple[str, str]]:
        """The form fields of the POST: wire names, ``true``/``false``, indexed lists."""
        return self._form_pairs()


class ConnectToFlow(_Request):
    """v1 connect a number to a call flow: Exotel rings ``From``, then runs flow ``app_id``.

    ``Url`` is built from the account sid, known only to the client: ``to_form(sid)``.
    Record/RecordingChannels/RecordingFormat and the callback options are those of the
    same ``Calls/connect`` endpoint (seed 004).
    """

    from_number: FromNumber = Field(alias="From")
    caller_id: CallerId = Field(alias="CallerId")
    app_id: str
    call_type: Literal["trans"] = Field(default="trans", alias="CallType")
    time_limit_s: Seconds | None = Field(default=None, alias="TimeLimit", le=MAX_TIME_LIMIT_S)
    time_out_s: Seconds | None = Field(default=None, alias="TimeOut", le=MAX_TIME_OUT_S)
    status_callback: HttpUrl | None = Field(default=None, alias="StatusCallback")
    status_callback_events: list[CallbackEvent] | None = Field(
        default=None, alias="StatusCallbackEvents", min_length=1, max_length=2
    )
    status_callback_content_type: CallbackContentType | None = Field(
        default=None, alias="StatusCallbackContentType"
    )
    custom_field: CustomField | None = Field(default=None, alias="CustomField")
    record: bool | None = Field(default=None, alias="Record")
    recording_channels: Channels | None = Field(default=None, alias="RecordingChannels")
    recording_format: RecordingFormat | None = Field(default=None, alias="RecordingFormat")

    @field_validator("app_id", mode="before")
    @classmethod
    def _app_id(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return str(value)
        if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 20:
            return value.strip()
        raise ValueError("must be the numeric id of a call flow")

    @model_validator(mode="after")
    def _consistent(self) -> ConnectToFlow:
        require(self.status_callback_events, self.status_callback, "StatusCallbackEvents",
                "StatusCallback")
        require(self.status_callback_content_type, self.status_callback,
                "StatusCallbackContentType", "StatusCallback")
        return self

    def flow_url(self, sid: str) -> str:
        """``http://my.exotel.com/{sid}/exoml/start_voice/{app_id}``."""
        return f"http://my.exotel.com/{quote(sid, safe='')}/exoml/start_voice/{self.app_id}"

    def to_form(self, sid: str) -> list[tuple[str, str]]:
        """The form fields of the POST, with ``Url`` built for account ``sid``."""
        pairs = self._form_pairs(skip=frozenset({"app_id"}))
        pairs.insert(2, ("Url", self.flow_url(sid)))
        return pairs


class _V3Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class V3Recording(_V3Part):
    record: bool = True
    channels: Channels | None = None
    format: RecordingFormat | None = None


class V3StatusCallback(_V3Part):
    event: CallbackEvent
    url: HttpUrl
    method: Literal["GET", "POST"] | None = None
    content_type: CallbackContentType | None = None


class V3Playback(_V3Part):
    event: Token
    to: Token
    value: HttpUrl


class V3Streaming(_V3Part):
    url: WsUrl
    begin: Token | None = None


class V3Call(_Request):
    """v3 CCM call: Exotel rings ``from`` (agent number or ``sip:`` id), then ``to``.

    Accepts the flat snake_case fields or the nested wire JSON of seed 002 (``from``,
    ``to``, ``max_time_limit``, ``attempt_time_out`` …); :meth:`to_json` gives the latter.
    """

    _wire_names: ClassVar[dict[str, str]] = {
        "from_contact_uri": "from.contact_uri",
        "state_management": "from.state_management",
        "to_contact_uri": "to.contact_uri",
    }

    from_contact_uri: V3FromUri
    state_management: bool | None = None
    to_contact_uri: V3ToUri
    virtual_number: VirtualNumber
    recording: V3Recording | None = None
    wait_audio_url: HttpUrl | None = None
    max_time_limit_s: Seconds | None = Field(
        default=None, alias="max_time_limit", le=MAX_TIME_LIMIT_S
    )
    attempt_time_out_s: Seconds | None = Field(
        default=None, alias="attempt_time_out", le=MAX_TIME_OUT_S
    )
    custom_field: CustomField | None = None
    status_callback: list[V3StatusCallback] | None = Field(default=None, min_length=1)
    playback: list[V3Playback] | None = Field(default=None, min_length=1)
    streaming: V3Streaming | None = None

    @model_validator(mode="before")
    @classmethod
    def _unwrap_wire_json(cls, data: Any) -> Any:
        """Flatten ``{"from": {"contact_uri", "state_management"}, "to": {...}}``."""
        if not isinstance(data, Mapping):
            return data
        flat = dict(data)
        for side in ("from", "to"):
            block = flat.pop(side, None)
            if block is None:
                continue
            if not isinstance(block, Mapping):
                block = {"contact_uri": block}
            for key, value in block.items():
                if key == "contact_uri":
                    flat[f"{side}_contact_uri"] = value
                elif key == "state_management" and side == "from":
                    flat["state_management"] = value
                else:
                    flat[f"{side}.{key}"] = value  # refused by extra="forbid"
        return flat

    def to_json(self) -> dict[str, Any]:
        """The POST body: the nested JSON of seed 002, without unset fields."""
        body: dict[str, Any] = {"from": {"contact_uri": self.from_contact_uri}}
        if self.state_management is not None:
            body["from"]["state_management"] = self.state_management
        body["to"] = {"contact_uri": self.to_contact_uri}
        body["virtual_number"] = self.virtual_number
        rest = self.model_dump(
            by_alias=True,
            exclude_none=True,
            exclude={"from_contact_uri", "state_management", "to_contact_uri", "virtual_number"},
        )
        body.update(rest)
        return body


Request = ConnectTwoNumbers | ConnectToFlow | V3Call
_MODELS: dict[str, type[ConnectTwoNumbers] | type[ConnectToFlow] | type[V3Call]] = {
    "connect": ConnectTwoNumbers,
    "flow": ConnectToFlow,
    "v3": V3Call,
}


def build_request(mode: str, params: Mapping[str, Any]) -> Request:
    """Validate ``params`` for ``mode`` ("connect" | "flow" | "v3") and return the request.

    Raises :class:`~dialer.errors.ValidationError` naming every bad field (``field`` is
    the Exotel name, comma-joined when several are wrong) and its value;
    :class:`~dialer.errors.InvalidNumberError` when only phone numbers are wrong.
    """
    model = _MODELS.get(str(mode))
    if model is None:
        raise ValidationError(f"mode: {mode!r} is not one of connect, flow, v3", field="mode")
    if not isinstance(params, Mapping):
        raise ValidationError(f"params: expected a mapping, got {type(params).__name__}")
    try:
        return model.model_validate(dict(params))
    except PydanticValidationError as exc:
        raise _convert(model, exc) from exc


def _convert(model: type[_Request], exc: PydanticValidationError) -> ValidationError:
    fields: list[str] = []
    lines: list[str] = []
    numbers_only = True
    for err in exc.errors(include_url=False):
        field, line = _describe(model, dict(err))
        numbers_only = numbers_only and err["type"] == "invalid_number"
        if field not in fields:
            fields.append(field)
        lines.append(line)
    cls = InvalidNumberError if numbers_only else ValidationError
    return cls("; ".join(lines), field=", ".join(fields))


def _describe(model: type[_Request], err: dict[str, Any]) -> tuple[str, str]:
    ctx = err.get("ctx") or {}
    if "field" in ctx:  # our own errors name the field and the value already
        return str(ctx["field"]), str(err["msg"])
    loc = [str(p) for p in err.get("loc", ())]
    if not loc:
        return "request", str(err["msg"])
    extra = err["type"] == "extra_forbidden"
    field = loc[0] if extra and len(loc) == 1 else model.wire_name(loc[0])
    for part in loc[1:]:
        field += f"[{part}]" if part.isdigit() else f".{part}"
    if err["type"] == "missing":
        return field, f"{field}: is required"
    if extra and field in model.model_fields:  # both the name and the alias were given
        return field, f"{field}: given twice, also as {model.wire_name(field)}"
    if extra:
        return field, f"{field}: is not a parameter of this request"
    return field, f"{field}: {err['msg']} (got {_short(err.get('input'))})"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:80] + "…"
