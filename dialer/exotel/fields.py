"""Field types shared by the request models: numbers, URLs, durations, custom fields.

Each check raises pydantic's ``PydanticCustomError`` so that pydantic collects every bad
field at once; errors that already name their field carry it in ``ctx["field"]``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from dialer.errors import InvalidNumberError
from dialer.phone import normalize

MAX_CUSTOM_FIELD_CHARS = 128
MAX_URL_CHARS = 2048
# whitespace (str.isspace: re's \s for str patterns is the same test) or a control character
_URL_REFUSED = re.compile(r"[\s\x00-\x1f]")


def _number(field: str, *, allow_sip: bool = False) -> Callable[[str], str]:
    def check(value: str) -> str:
        try:
            return normalize(value, field=field, allow_sip=allow_sip)
        except InvalidNumberError as exc:
            raise PydanticCustomError(
                "invalid_number", "{message}", {"field": field, "message": str(exc)}
            ) from None

    return check


def _exophone(field: str) -> Callable[[str], str]:
    """An ExoPhone is sent as the account knows it (local or E.164), separators removed."""

    def check(value: str) -> str:
        compact = "".join(ch for ch in value.strip() if ch not in " -().")
        digits = compact[1:] if compact.startswith("+") else compact
        if not (digits.isascii() and digits.isdigit() and 5 <= len(digits) <= 15):
            shown = value if len(value) <= 40 else value[:40] + "…"
            raise PydanticCustomError(
                "invalid_number",
                "{message}",
                {"field": field, "message": f"{field}: {shown!r} is not a valid ExoPhone number"},
            )
        return compact

    return check


def _url(*schemes: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        text = value.strip()
        bad = len(text) > MAX_URL_CHARS or _URL_REFUSED.search(text) is not None
        try:
            parts = urlsplit(text)
            bad = bad or parts.scheme.lower() not in schemes or not parts.hostname
        except ValueError:
            bad = True
        if bad:
            raise PydanticCustomError(
                "url_scheme", "Input should be an {schemes} URL", {"schemes": "/".join(schemes)}
            )
        return text

    return check


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "Input should be a whole number, not a boolean")
    return value


def require(value: object, other: object, field: str, other_field: str) -> None:
    """Refuse ``field`` set without ``other_field`` (raised from a model validator)."""
    if value is not None and other is None:
        raise PydanticCustomError(
            "missing_dependency",
            "{field}: is set but {other} is not",
            {"field": field, "other": other_field},
        )


Seconds = Annotated[int, BeforeValidator(_not_bool), Field(ge=1)]
Count = Annotated[int, BeforeValidator(_not_bool), Field(ge=0)]
HttpUrl = Annotated[str, AfterValidator(_url("http", "https"))]
WsUrl = Annotated[str, AfterValidator(_url("ws", "wss"))]
CustomField = Annotated[str, Field(max_length=MAX_CUSTOM_FIELD_CHARS)]

FromNumber = Annotated[str, AfterValidator(_number("From"))]
ToNumber = Annotated[str, AfterValidator(_number("To"))]
CallerId = Annotated[str, AfterValidator(_exophone("CallerId"))]
V3FromUri = Annotated[str, AfterValidator(_number("from.contact_uri", allow_sip=True))]
V3ToUri = Annotated[str, AfterValidator(_number("to.contact_uri"))]
VirtualNumber = Annotated[str, AfterValidator(_exophone("virtual_number"))]
