"""The one writer of campaign records: create, read, list, atomic lifecycle transitions,
counters, do-not-call lists, the runs of recurring templates.

Contacts and their queues have their own writer, :mod:`dialer.campaigns.contact_repo`;
every key name comes from :mod:`dialer.campaigns.keys`. Every transition is one Lua script
(:data:`dialer.campaigns.lua.TRANSITION`), so a pause racing a resume, or two ticks
starting the same campaign, leave one consistent state.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, cast

import redis

from dialer.campaigns import lua
from dialer.campaigns.keys import CampaignKeys
from dialer.campaigns.models import (
    CampaignSpec,
    CampaignState,
    CampaignStateError,
    from_ms,
    ms,
    spec_json,
)
from dialer.errors import NotFoundError

# action → (states it may start from, new state, time field stamped)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "start": (("draft",), "scheduled", "scheduled_at"),
    "begin": (("scheduled",), "running", "started_at"),
    "pause": (("scheduled", "running"), "paused", "paused_at"),
    "resume": (("paused",), "resume", ""),
    "cancel": (("draft", "scheduled", "running", "paused"), "cancelled", "ended_at"),
    "finish": (("scheduled", "paused"), "completed", "ended_at"),  # a template's end_at
}


@lru_cache(maxsize=256)
def parse_spec(text: str) -> CampaignSpec:
    return CampaignSpec.model_validate_json(text)


@dataclass(frozen=True)
class Campaign:
    """One campaign as stored: its spec, state and counters (the raw hash in ``fields``)."""

    id: str
    state: CampaignState
    spec: CampaignSpec
    fields: dict[str, str]

    def count(self, name: str) -> int:
        return int(self.fields.get(name) or 0)

    def time(self, name: str) -> datetime | None:
        return from_ms(self.fields.get(name))

    @property
    def is_template(self) -> bool:
        return bool(self.spec.schedule.recurrence)

    @property
    def final_counts(self) -> dict[str, int]:
        return {k.split(":", 1)[1]: int(v) for k, v in self.fields.items()
                if k.startswith("final:")}


class CampaignRepo:
    """Typed access to campaign records. ``client`` must use ``decode_responses=True``."""

    def __init__(self, client: redis.Redis, keys: CampaignKeys | None = None,
                 clock_offset_s: float = 0.0) -> None:
        self.r = client
        self.keys = keys or CampaignKeys()
        self.clock_offset_s = clock_offset_s
        self._transition = client.register_script(lua.TRANSITION)

    def clock(self) -> datetime:
        """The campaigns' now: Redis's clock plus the configured offset."""
        sec, usec = self.r.time()
        return datetime.fromtimestamp(int(sec) + int(usec) / 1e6, UTC) + timedelta(
            seconds=self.clock_offset_s)

    def create(self, spec: CampaignSpec, *, cid: str | None = None,
               template_id: str = "") -> str:
        """Write a new draft campaign (``spec`` already checked); return its id."""
        cid = cid or "c" + secrets.token_hex(5)
        k = self.keys
        sec, _ = self.r.time()
        now_ms = int(sec) * 1000
        fields = {
            "id": cid, "name": spec.name, "account": spec.account or "",
            "mode": spec.mode.value, "state": CampaignState.DRAFT.value,
            "spec": spec_json(spec), "created_at": now_ms, "updated_at": now_ms,
            "start_at_ms": ms(spec.schedule.start_at), "end_at_ms": ms(spec.schedule.end_at),
            "template_id": template_id,
        }
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(k.campaign(cid), mapping=cast(Any, fields))
        pipe.zadd(k.index, {cid: now_ms})
        pipe.sadd(k.active, cid)
        pipe.execute()
        return cid

    def delete_draft(self, cid: str) -> None:
        """Remove a campaign that was just created and never started (its create failed)."""
        k = self.keys
        zones = cast(set[str], self.r.smembers(k.zones(cid)))
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(k.campaign(cid), k.contacts(cid), k.zones(cid), k.dnc(cid), k.live(cid),
                    k.calls(cid), k.agents(cid), *(k.queue(cid, z) for z in zones))
        pipe.zrem(k.index, cid)
        pipe.srem(k.active, cid)
        pipe.execute()

    def get(self, cid: str) -> Campaign:
        data = cast(dict[str, str], self.r.hgetall(self.keys.campaign(cid)))
        if not data:
            raise NotFoundError(f"unknown campaign id {cid!r}")
        return Campaign(cid, CampaignState(data["state"]), parse_spec(data["spec"]), data)

    def exists(self, cid: str) -> bool:
        return bool(self.r.exists(self.keys.campaign(cid)))

    def list_all(self, limit: int = 1000) -> list[Campaign]:
        ids = cast(list[str], self.r.zrevrange(self.keys.index, 0, limit - 1))
        pipe = self.r.pipeline(transaction=False)
        for cid in ids:
            pipe.hgetall(self.keys.campaign(cid))
        out = []
        for cid, data in zip(ids, pipe.execute(), strict=True):
            if data:
                out.append(Campaign(cid, CampaignState(data["state"]),
                                    parse_spec(data["spec"]), data))
        return out

    def active_ids(self) -> list[str]:
        return sorted(cast(set[str], self.r.smembers(self.keys.active)))

    def retire(self, cid: str) -> None:
        """The tick has nothing more to do for ``cid``."""
        self.r.srem(self.keys.active, cid)

    def transition(self, cid: str, action: str) -> CampaignState:
        """Apply ``action`` (start | begin | pause | resume | cancel); return the new state.

        Raises ``NotFoundError`` for an unknown id and ``CampaignStateError`` when the
        current state does not allow it.
        """
        allowed, new, stamp = TRANSITIONS[action]
        ok, state = self._transition(
            keys=[self.keys.campaign(cid), self.keys.active],
            args=[",".join(allowed), new, stamp, cid],
        )
        if not int(ok):
            if state == "missing":
                raise NotFoundError(f"unknown campaign id {cid!r}")
            raise CampaignStateError(
                f"campaign {cid!r} is {state}; cannot {action} it (only when "
                f"{' or '.join(allowed)})", field="state")
        return CampaignState(str(state))

    def set_fields(self, cid: str, **values: str | int) -> None:
        self.r.hset(self.keys.campaign(cid), mapping=cast(Any, values))

    def incr(self, cid: str, field: str, by: int = 1) -> None:
        self.r.hincrby(self.keys.campaign(cid), field, by)

    def gate_view(self, cid: str) -> tuple[str | None, str | None]:
        """``(state, spec JSON)`` of a campaign, ``(None, None)`` when it is gone: what the
        worker's gate reads before every attempt (one round trip)."""
        state, spec = cast(list[str | None], self.r.hmget(self.keys.campaign(cid), "state",
                                                          "spec"))
        return state, spec

    # --- the tick's own counters ---------------------------------------------------------
    def note_tick(self) -> None:
        self.r.incr(self.keys.ticks)

    def ticks(self) -> int:
        return int(cast(str | None, self.r.get(self.keys.ticks)) or 0)

    def next_round(self, account: str) -> int:
        """The fair split's rotation for an account: a new number every call."""
        return int(self.r.incr(self.keys.round_robin(account)))

    # --- runs of recurring templates -----------------------------------------------------
    def claim_run(self, run_id: str, template_id: str, ttl_s: int = 7 * 86400) -> bool:
        """True for the one caller that may create run ``run_id`` of a template."""
        return bool(self.r.set(self.keys.run_claim(run_id), template_id, nx=True, ex=ttl_s))

    def copy_contacts(self, src: str, dst: str) -> None:
        """Copy a template's contacts (hash, zones, queues, do-not-call) to a new run."""
        k = self.keys
        zones = cast(set[str], self.r.smembers(k.zones(src)))
        pipe = self.r.pipeline(transaction=True)
        for key in (k.contacts, k.zones, k.dnc):
            pipe.copy(key(src), key(dst), replace=True)
        for z in sorted(zones):
            pipe.copy(k.queue(src, z), k.queue(dst, z), replace=True)
        pipe.execute()

    # --- do-not-call -------------------------------------------------------------------
    def add_dnc(self, numbers: list[str], cid: str | None = None) -> int:
        """Add E.164 numbers to the global (or ``cid``'s) do-not-call list."""
        if cid is not None:
            self.get(cid)
        key = self.keys.dnc(cid) if cid else self.keys.global_dnc
        return int(self.r.sadd(key, *numbers)) if numbers else 0

    def remove_dnc(self, numbers: list[str], cid: str | None = None) -> int:
        """Remove E.164 numbers from the global (or ``cid``'s) do-not-call list."""
        if cid is not None:
            self.get(cid)
        key = self.keys.dnc(cid) if cid else self.keys.global_dnc
        return int(self.r.srem(key, *numbers)) if numbers else 0

    def dnc_numbers(self, cid: str | None = None) -> list[str]:
        """The global (or ``cid``'s) do-not-call list, sorted."""
        if cid is not None:
            self.get(cid)
        key = self.keys.dnc(cid) if cid else self.keys.global_dnc
        return sorted(str(n) for n in cast(set[str], self.r.smembers(key)))

    def spec_of(self, cid: str) -> CampaignSpec:
        text = self.r.hget(self.keys.campaign(cid), "spec")
        if not text:
            raise NotFoundError(f"unknown campaign id {cid!r}")
        return parse_spec(str(text))


def describe(c: Campaign) -> dict[str, object]:
    """A short plain-JSON view (lists)."""
    return {"id": c.id, "name": c.spec.name, "state": c.state.value, "account": c.spec.account,
            "mode": c.spec.mode.value, "contacts": c.count("contacts"),
            "template_id": c.fields.get("template_id") or None,
            "recurrence": c.spec.schedule.recurrence,
            "created_at": _iso(c.time("created_at"))}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))
