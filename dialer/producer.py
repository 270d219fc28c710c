"""Enqueue calls from any Python service: validate, write to Redis, hand to the workers.

>>> producer = Producer(redis_client, settings, publisher)
>>> call_id = producer.enqueue(CallRequest(account="main", from_="09876543210",
...                                        to="09123456789"))

A request is validated completely (numbers, every Exotel parameter, the account) before
anything is written. :meth:`Producer.enqueue` publishes one Celery message at once;
:meth:`Producer.enqueue_many` writes them a script call per 1,000 (each chunk whole or not
at all, see :meth:`dialer.store.Store.create_calls`) and leaves them in the due set, from
which the beat-driven pump feeds the queue at the pace the workers can place them. An
idempotency key seen before returns the first call's id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Protocol

import redis
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from dialer.caps import CapReachedError, ContactCaps, customer_number
from dialer.errors import InvalidNumberError, ValidationError
from dialer.exotel.models import build_request
from dialer.keys import Keys
from dialer.models import ATTEMPT_ID_MAX_LEN, CUSTOM_FIELD_MAX_LEN, Mode
from dialer.phone import normalize
from dialer.settings import Settings
from dialer.store import NewCall, Store

METADATA_MAX_BYTES = 4096
RESERVED_PARAMS = frozenset(
    {"StatusCallback", "status_callback", "StatusCallbackEvents", "status_callback_events",
     "StatusCallbackContentType", "status_callback_content_type", "MaxRetries", "max_retries",
     # the numbers and the flow the request is validated with: never replaced by params
     "From", "To", "CallerId", "Url", "from", "to", "from_number", "caller_id", "app_id",
     "from_contact_uri", "to_contact_uri", "virtual_number"}
)


def check_plain_json(value: Any, where: str) -> None:
    """Refuse what Redis, JSON or a later read cannot carry: lone surrogates (invalid
    Unicode, e.g. ``"\\ud800"``), NaN and ±Infinity. ``ValueError`` names the place."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{where}: not valid Unicode (a lone surrogate)") from None
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{where}: NaN and Infinity are not JSON numbers")
    elif isinstance(value, dict):
        for k, v in value.items():
            check_plain_json(k, f"{where} key")
            check_plain_json(v, f"{where}.{k}" if isinstance(k, str) else where)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            check_plain_json(v, f"{where}[{i}]")


class Publisher(Protocol):
    """Sends ``dialer.place_call`` messages for attempt ids (see :mod:`dialer.publisher`)."""

    def publish(self, attempt_ids: Sequence[str]) -> None: ...


class CallRequest(BaseModel):
    """One call to place. ``params`` holds any other Exotel parameter by its wire name."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    account: str | None = Field(default=None, description="account name; default: the first")
    mode: Mode = Field(default=Mode.CONNECT, description="connect | flow | v3")
    from_: str = Field(
        alias="from", min_length=1, max_length=64,
        description="called first: the agent (connect, v3) or the customer (flow)",
    )
    to: str | None = Field(default=None, max_length=64, description="the customer (connect, v3)")
    caller_id: str | None = Field(
        default=None, max_length=64, description="ExoPhone / virtual number; default: account's"
    )
    app_id: str | None = Field(default=None, max_length=32, description="call flow id (flow)")
    params: dict[str, Any] = Field(
        default_factory=dict, description="other Exotel parameters, e.g. TimeLimit, Record"
    )
    custom_field: str | None = Field(
        default=None, max_length=CUSTOM_FIELD_MAX_LEN,
        description=f"your CustomField value (at most {CUSTOM_FIELD_MAX_LEN} characters)",
    )
    idempotency_key: str | None = Field(
        default=None, min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$"
    )
    metadata: dict[str, Any] = Field(default_factory=dict, description="your data, kept as is")
    max_retries: int | None = Field(default=None, ge=0, le=20, description="overrides the default")

    @model_validator(mode="before")
    @classmethod
    def _plain_json(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, value in data.items():
                check_plain_json(value, str(key))
        return data

    @field_validator("params")
    @classmethod
    def _no_reserved(cls, v: dict[str, Any]) -> dict[str, Any]:
        if not v:
            return v
        if "CustomField" in v or "custom_field" in v:
            raise ValueError("pass CustomField as custom_field (not in params)")
        bad = sorted(RESERVED_PARAMS & set(v))
        if bad:
            raise ValueError(f"{', '.join(bad)}: set by the dialer (from, to, caller_id, "
                             "app_id and the callbacks), not in params")
        if len(json.dumps(v, default=str)) > 8192:
            raise ValueError("params are larger than 8 KiB")
        return v

    @field_validator("metadata")
    @classmethod
    def _small_metadata(cls, v: dict[str, Any]) -> dict[str, Any]:
        if not v:
            return v
        try:
            size = len(json.dumps(v, allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"metadata must be plain JSON: {exc}") from None
        if size > METADATA_MAX_BYTES:
            raise ValueError(f"metadata is {size} bytes; at most {METADATA_MAX_BYTES}")
        return v


def _wire_params(req: CallRequest, caller_id: str | None) -> dict[str, Any]:
    """The Exotel parameters of ``req`` (custom field with a placeholder attempt id)."""
    custom = "x" * ATTEMPT_ID_MAX_LEN + ("|" + req.custom_field if req.custom_field else "")
    if req.mode is Mode.V3:
        return {**req.params, "from_contact_uri": req.from_, "to_contact_uri": req.to,
                "virtual_number": caller_id, "custom_field": custom}
    base: dict[str, Any] = {**req.params, "From": req.from_, "CallerId": caller_id,
                            "CustomField": custom}
    if req.mode is Mode.CONNECT:
        base["To"] = req.to
    else:
        base["app_id"] = req.app_id
    return base


def validate(req: CallRequest, settings: Settings) -> NewCall:
    """Check ``req`` completely; return what the store writes. Raises ``ValidationError``."""
    if not settings.accounts:
        raise ValidationError("no Exotel account is configured (DIALER_ACCOUNTS)",
                              field="account")
    if req.account is None:
        account = settings.accounts[0]
    else:
        matches = [a for a in settings.accounts if a.name == req.account]
        if not matches:
            names = [a.name for a in settings.accounts]
            raise ValidationError(
                f"account: unknown account {req.account!r}; configured: {names}", field="account"
            )
        account = matches[0]
    caller_id = req.caller_id or account.caller_id
    if not caller_id:
        raise ValidationError(
            "caller_id: missing, and the account has no default caller_id", field="caller_id"
        )
    if req.mode in (Mode.CONNECT, Mode.V3) and not req.to:
        raise ValidationError(f"to: required in mode {req.mode.value!r}", field="to")
    if req.mode is Mode.FLOW and not req.app_id:
        raise ValidationError("app_id: required in mode 'flow'", field="app_id")
    if req.mode is Mode.FLOW and req.to:
        raise ValidationError("to: not used in mode 'flow' (the flow decides)", field="to")
    model = build_request(req.mode.value, _wire_params(req, caller_id))
    wire = model.model_dump(by_alias=True, exclude_none=True, mode="json")
    wire.pop("CustomField", None)
    wire.pop("custom_field", None)
    policy = {"max_retries": req.max_retries} if req.max_retries is not None else {}
    return NewCall(
        account=account.name,
        mode=req.mode.value,
        request=wire,
        metadata=req.metadata,
        custom_field=req.custom_field or "",
        idem_key=req.idempotency_key or "",
        policy=policy,
    )


# The numbers of each mode: (CallRequest attribute, key in the wire request, the field
# named in errors, whether a sip: id is allowed) — as the request models check them.
_NUMBERS: dict[Mode, tuple[tuple[str, str, str, bool], ...]] = {
    Mode.CONNECT: (("from_", "From", "From", False), ("to", "To", "To", False)),
    Mode.FLOW: (("from_", "From", "From", False),),
    Mode.V3: (("from_", "from_contact_uri", "from.contact_uri", True),
              ("to", "to_contact_uri", "to.contact_uri", False)),
}
_SCALARS = (str, int, float, bool, type(None))
MAX_TEMPLATES = 256


def _template_key(req: CallRequest) -> tuple[Any, ...] | None:
    """What :func:`validate` reads of ``req`` besides its numbers and the per-call values
    it copies (metadata, custom_field, idempotency key, max_retries); ``None`` when a
    parameter is not a plain scalar. (custom_field only ever adds a CustomField that fits,
    and is dropped from the wire request.)"""
    params = []
    for key, value in req.params.items():
        if not isinstance(value, _SCALARS):
            return None
        params.append((key, type(value), value))
    return (req.account, req.mode, req.caller_id, req.app_id, tuple(params))


def validate_like(req: CallRequest, settings: Settings,
                  templates: dict[tuple[Any, ...], NewCall]) -> NewCall:
    """:func:`validate`, faster for a batch: a request that differs from one validated
    before only in its numbers and per-call values gets that one's result with its own
    numbers, each normalised once as the request model would. Anything else (a new shape,
    a missing or bad number) goes through :func:`validate`, so the result and every error
    are the same. ``templates`` is the batch's memory of validated shapes."""
    key = _template_key(req)
    template = templates.get(key) if key is not None else None
    numbers = _NUMBERS[req.mode]
    if template is None or (req.mode is Mode.FLOW) == bool(req.to):
        new = validate(req, settings)
        if key is not None and len(templates) < MAX_TEMPLATES:
            templates[key] = new
        return new
    request = dict(template.request)
    try:
        for attr, wire, field, allow_sip in numbers:
            request[wire] = normalize(getattr(req, attr), field=field, allow_sip=allow_sip)
    except InvalidNumberError:
        return validate(req, settings)  # raises the request model's own error
    return NewCall(
        account=template.account, mode=template.mode, request=request,
        metadata=req.metadata, custom_field=req.custom_field or "",
        idem_key=req.idempotency_key or "",
        policy={"max_retries": req.max_retries} if req.max_retries is not None else {},
    )


# A plain connect request, the shape of most bulk batches: only these keys, each value a
# str (ASCII) the request model takes as it is (key: the lengths it allows).
_PLAIN_KEYS: dict[str, tuple[int, int]] = {
    "from": (1, 64), "to": (1, 64), "account": (0, 1 << 30), "caller_id": (0, 64),
    "custom_field": (0, CUSTOM_FIELD_MAX_LEN), "idempotency_key": (1, 128)}
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]+")


def validate_plain(item: Any, settings: Settings,
                   templates: dict[tuple[Any, ...], NewCall]) -> NewCall | None:
    """:func:`validate_like` of a plain connect request given as a dict (only ``from``,
    ``to``, ``account``, ``caller_id``, ``custom_field``, ``idempotency_key``, ASCII
    strings within the model's limits) whose shape is in ``templates`` already, without
    building its :class:`CallRequest`: the same result. ``None`` for anything else (another
    shape, a new one, a bad number): the caller validates it the long way, which gives
    the result or the error the model and :func:`validate` give."""
    if type(item) is not dict:
        return None
    for key, value in item.items():
        limits = _PLAIN_KEYS.get(key)
        if (limits is None or type(value) is not str or not value.isascii()
                or not limits[0] <= len(value) <= limits[1]):
            return None
    idem = item.get("idempotency_key")
    if idem is not None and _IDEMPOTENCY_KEY.fullmatch(idem) is None:
        return None
    from_, to = item.get("from"), item.get("to")
    if from_ is None or to is None:
        return None
    # the template key validate_like finds for this request's CallRequest
    template = templates.get((item.get("account"), Mode.CONNECT, item.get("caller_id"),
                              None, ()))
    if template is None:
        return None
    request = dict(template.request)
    try:
        request["From"] = normalize(from_, field="From")
        request["To"] = normalize(to, field="To")
    except InvalidNumberError:
        return None
    return NewCall(account=template.account, mode=template.mode, request=request,
                   metadata={}, custom_field=item.get("custom_field") or "",
                   idem_key=idem or "", policy={})


def parse_request(data: Any) -> CallRequest:
    """A :class:`CallRequest` from plain JSON data; ``ValidationError`` names the field."""
    if isinstance(data, CallRequest):
        return data
    try:
        return CallRequest.model_validate(data)
    except PydanticValidationError as exc:
        parts = []
        for err in exc.errors(include_url=False):
            loc = ".".join(str(p) for p in err.get("loc", ())) or "request"
            parts.append(f"{loc}: {err.get('msg')}")
        first = exc.errors()[0].get("loc", ("request",)) if exc.errors() else ("request",)
        raise ValidationError("; ".join(parts), field=str(first[0]) if first else None) from None


class Producer:
    """Validates and enqueues calls. Takes its connections as arguments."""

    def __init__(
        self,
        client: redis.Redis,
        settings: Settings,
        publisher: Publisher | None = None,
    ) -> None:
        self.settings = settings
        self.store = Store(client, Keys(settings.key_prefix))
        self.publisher = publisher
        self.caps = ContactCaps(client, self.store.keys, settings)

    def check_caps(self, news: Sequence[NewCall]) -> None:
        """Refuse (``CapReachedError``, a ``refused`` event) calls whose customer number
        reached the account's cap, when single calls are refused rather than kept
        waiting. A request whose idempotency key is known returns its call as before."""
        if self.settings.contact_cap_single != "refuse" or self.caps.account_rule() is None:
            return
        numbers = [customer_number(n.mode, n.request) for n in news]
        for i, capped in enumerate(self.caps.check_many(numbers)):
            new = news[i]
            if capped is None or (new.idem_key and self.store.r.exists(
                    self.store.keys.idem(new.account, new.idem_key))):
                continue
            self.store.refused({"account": new.account, "custom_field": new.custom_field,
                                "idempotency_key": new.idem_key}, capped.message())
            exc = CapReachedError(capped)
            if len(news) > 1:
                exc.args = (f"request {i}: {exc}",)
            raise exc

    def enqueue(self, request: CallRequest | dict[str, Any]) -> str:
        """Validate and enqueue one call; return its call id (the first one's for a
        repeated idempotency key)."""
        new = validate(parse_request(request), self.settings)
        self.check_caps([new])
        direct = self.publisher is not None
        (created,) = self.store.create_calls([new], delay_ms=-1 if direct else 0)
        if created.created and self.publisher is not None:
            self.publisher.publish([created.attempt_id])
        return created.call_id

    def validate_many(self, requests: Sequence[CallRequest | dict[str, Any]]) -> list[NewCall]:
        """Validate every request (what :meth:`enqueue_many` writes); nothing is written.

        Raises ``ValidationError`` naming the index of the first bad request.
        """
        news: list[NewCall] = []
        templates: dict[tuple[Any, ...], NewCall] = {}
        settings = self.settings
        for i, item in enumerate(requests):
            new = validate_plain(item, settings, templates)
            if new is not None:
                news.append(new)
                continue
            try:
                news.append(validate_like(parse_request(item), settings, templates))
            except ValidationError as exc:
                raise ValidationError(f"request {i}: {exc}", field=exc.field) from None
        return news

    def enqueue_many(self, requests: Sequence[CallRequest | dict[str, Any]]) -> list[str]:
        """Validate every request first (all or nothing), then write them, a script call
        per 1,000 (:meth:`dialer.store.Store.create_calls`).

        Raises ``ValidationError`` naming the index of the first bad request. When Redis
        fails part way, its error says which requests were written; enqueueing the same
        requests again with idempotency keys creates only the missing calls.
        """
        news = self.validate_many(requests)
        self.check_caps(news)
        return [c.call_id for c in self.store.create_calls(news, delay_ms=0)]
