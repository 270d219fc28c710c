"""One contact row checked: its number normalised, its time zone known, its fields sized."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import phonenumbers
from phonenumbers import timezone as pn_timezone

from dialer.campaigns.queue import Contact
from dialer.campaigns.schedule import zone
from dialer.errors import InvalidNumberError
from dialer.models import CUSTOM_FIELD_MAX_LEN
from dialer.phone import normalize

NAME_MAX_LEN = 200
FIELDS_MAX_BYTES = 1024
TZ_COLUMNS = ("timezone", "tz", "time_zone")  # a row's zone: the first non-empty of them
CUSTOM_COLUMNS = ("custom_field", "customfield")  # its custom field, the same way
KNOWN_COLUMNS = frozenset({"number", "name", *TZ_COLUMNS, *CUSTOM_COLUMNS})
# Contact(...) without its Python-level __new__ (one per imported row)
_new_contact = tuple.__new__
# Old IANA names phonenumbers still returns, to their current names.
_ZONE_ALIASES = {"Asia/Calcutta": "Asia/Kolkata", "Asia/Katmandu": "Asia/Kathmandu",
                 "Asia/Saigon": "Asia/Ho_Chi_Minh", "Asia/Rangoon": "Asia/Yangon"}


@dataclass(frozen=True)
class RowError:
    """A row that was not imported: where, why, and the kind (invalid|duplicate|suppressed)."""

    line: int
    reason: str
    number: str = ""
    kind: str = "invalid"

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "reason": self.reason, "number": self.number,
                "kind": self.kind}

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@lru_cache(maxsize=65536)
def _zone_of_prefix(prefix: str) -> str | None:
    try:
        parsed = phonenumbers.parse(prefix + "0000", None)
    except phonenumbers.NumberParseException:
        return None
    zones = [z for z in pn_timezone.time_zones_for_number(parsed) if z != "Etc/Unknown"]
    if len(zones) != 1:
        return None
    return _ZONE_ALIASES.get(zones[0], zones[0])


def zone_of_number(e164: str) -> str | None:
    """The number's time zone when phonenumbers knows exactly one (area codes never depend
    on the last four digits, so the lookup is cached by the rest)."""
    return _zone_of_prefix(e164[:-4]) if e164.startswith("+") and len(e164) > 8 else None


def _may_exceed(fields: dict[str, str]) -> bool:
    """Whether ``json.dumps(fields)`` can be longer than FIELDS_MAX_BYTES: it writes at most
    12 characters per character (a non-BMP one as two \\u escapes), 2 quotes per string
    and 4 separator characters per item (``": "``, ``", "``), so small fields need no
    encoding to know they fit."""
    chars = 0
    for k, v in fields.items():
        chars += len(k) + len(v)
    return 12 * chars + 8 * len(fields) > FIELDS_MAX_BYTES


def check_row(line: int, values: dict[str, str], default_tz: str, zone_from_number: bool
              ) -> Contact | RowError:
    """A :class:`Contact`, or a :class:`RowError` saying what is wrong with the row."""
    raw = values.get("number", "")
    text = "".join(values.values())
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        byte = ord(exc.object[exc.start]) - 0xDC00
        return RowError(line, f"not valid UTF-8 (byte 0x{byte:02x}); save the file as UTF-8")
    if "\x00" in text or "\x00" in "".join(values):
        return RowError(line, "holds a NUL byte (refused, not stripped)", "")
    if "__extra__" in values:
        return RowError(line, values["__extra__"], raw.strip())
    tz = next((values[c] for c in TZ_COLUMNS if values.get(c)), "").strip()
    custom = next((values[c] for c in CUSTOM_COLUMNS if values.get(c)), "").strip()
    fields = {k: v.strip() for k, v in values.items()
              if k not in KNOWN_COLUMNS and k and v.strip()}
    return check_parts(line, raw, tz, values.get("name", "").strip(), custom, fields,
                       default_tz, zone_from_number)


def check_parts(line: int, raw: str, tz: str, name: str, custom: str, fields: dict[str, str],
                default_tz: str, zone_from_number: bool) -> Contact | RowError:
    """:func:`check_row` once its text is known to be clean UTF-8 without NUL bytes and its
    columns are picked out: ``raw`` the number as typed, ``tz``, ``name`` and ``custom``
    stripped (``''`` absent), ``fields`` the other non-blank columns, stripped."""
    stripped = raw.strip()
    if not stripped:
        return RowError(line, "missing number")
    try:
        number = normalize(raw, field="number")
    except InvalidNumberError as exc:
        return RowError(line, str(exc), stripped[:40])
    if tz:
        try:
            zone(tz)
        except ValueError as exc:
            return RowError(line, f"timezone: {exc}", number)
    else:
        tz = (zone_of_number(number) if zone_from_number else None) or default_tz
    if len(name) > NAME_MAX_LEN:
        return RowError(line, f"name is longer than {NAME_MAX_LEN} characters", number)
    if len(custom) > CUSTOM_FIELD_MAX_LEN:
        return RowError(line, f"custom_field is longer than {CUSTOM_FIELD_MAX_LEN} characters",
                        number)
    if fields and _may_exceed(fields) and len(json.dumps(fields)) > FIELDS_MAX_BYTES:
        return RowError(line, f"custom fields are larger than {FIELDS_MAX_BYTES} bytes", number)
    return _new_contact(Contact, (number, tz, name, custom, fields, line))
