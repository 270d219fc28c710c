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
from dataclasses import dataclass, field
from typing import Any

# what adding a contact did (ADD_CONTACTS' flags)
ADDED, DUPLICATE, DNC_GLOBAL, DNC_CAMPAIGN = 1, 0, 2, 3


@dataclass(frozen=True)
class Contact:
    """One validated contact. ``line`` is where it came from (for reports)."""

    number: str
    tz: str
    name: str = ""
    custom_field: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    line: int = 0

    def payload(self, default_tz: str) -> str:
        data: dict[str, Any] = {}
        if self.name:
            data["n"] = self.name
        if self.custom_field:
            data["c"] = self.custom_field
        if self.tz != default_tz:
            data["z"] = self.tz
        if self.fields:
            data["f"] = self.fields
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False) if data else ""

    @classmethod
    def from_payload(cls, number: str, payload: str | None, default_tz: str) -> Contact:
        data = json.loads(payload) if payload else {}
        return cls(number, data.get("z", default_tz), data.get("n", ""), data.get("c", ""),
                   data.get("f", {}))
