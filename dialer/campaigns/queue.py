"""A campaign's contact and how it is kept in Redis, compactly.

Stored by :class:`dialer.campaigns.contact_repo.ContactRepo` (the one writer):

* ``contacts`` hash: number → compact JSON (name, custom field, zone, fields) or ``''``;
  the hash is also what makes each number unique within the campaign.
* one ``queue`` list per time zone: numbers not yet dialled, in import order.
* ``live`` zset: numbers taken for dialling whose call is not final yet.
* ``calls`` hash: number → call id (or ``!reason`` when it was not dialled).

A contact costs one hash field and one list entry until it is dialled; its call record is
written only then.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring
from typing import NamedTuple

# what adding a contact did (ADD_CONTACTS' flags)
ADDED, DUPLICATE, DNC_GLOBAL, DNC_CAMPAIGN = 1, 0, 2, 3
# a JSON string, as json.dumps(..., ensure_ascii=False) writes one
_quoted = encode_basestring
# json.dumps(..., separators=(",", ":"), ensure_ascii=False) without an encoder per call
_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _json_object(fields: dict[str, str]) -> str:
    """``_compact(fields)`` for a dict of strings, without an encoder built per call."""
    try:
        return "{" + ",".join([_quoted(k) + ":" + _quoted(v) for k, v in fields.items()]) + "}"
    except TypeError:  # not all strings
        return _compact(fields)


class Contact(NamedTuple):
    """One validated contact. ``line`` is where it came from (for reports).

    A named tuple, not a dataclass: an import makes one per row, and a tuple costs a third
    of a frozen dataclass to build. Immutable; ``fields`` is never changed in place (the
    default is one shared empty dict)."""

    number: str
    tz: str
    name: str = ""
    custom_field: str = ""
    fields: dict[str, str] = {}
    line: int = 0

    def payload(self, default_tz: str) -> str:
        """Compact JSON of what is not the number (``''`` when nothing): the same text as
        ``json.dumps({"n", "c", "z", "f"}, separators=(",", ":"), ensure_ascii=False)``,
        built from its parts (a contact with only a name is most of an import)."""
        if not (self.custom_field or self.fields) and self.tz == default_tz:  # the usual
            return '{"n":' + _quoted(self.name) + "}" if self.name else ""
        parts = []
        if self.name:
            parts.append('"n":' + _quoted(self.name))
        if self.custom_field:
            parts.append('"c":' + _quoted(self.custom_field))
        if self.tz != default_tz:
            parts.append('"z":' + _quoted(self.tz))
        if self.fields:
            parts.append('"f":' + _json_object(self.fields))
        return "{" + ",".join(parts) + "}" if parts else ""

    @classmethod
    def from_payload(cls, number: str, payload: str | None, default_tz: str) -> Contact:
        data = json.loads(payload) if payload else {}
        return cls(number, data.get("z", default_tz), data.get("n", ""), data.get("c", ""),
                   data.get("f", {}))
