"""The one writer of a campaign's contacts: their hash, queues, live set, calls and agents.

The layout is described in :mod:`dialer.campaigns.queue`; every key name comes from
:class:`~dialer.campaigns.keys.CampaignKeys` (the campaigns') or :class:`dialer.keys.Keys`
(the calls' and attempts', read here for the tick and the reports). Every read-modify-write
is one Lua script (:mod:`dialer.campaigns.lua`): taking a contact is atomic, so two ticks
(or a tick and a hand-off) at once never take the same number, and counting a final call
happens once whoever asks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import redis

from dialer.campaigns import lua
from dialer.campaigns.keys import CampaignKeys
from dialer.campaigns.models import CampaignStateError
from dialer.campaigns.queue import ADDED, Contact
from dialer.keys import Keys
from dialer.store import make_attempt_id, unwritten_attempt, with_defaults

ADD_CHUNK = 1000  # contacts per ADD_CONTACTS call (its Lua unpacks 2 values per contact)
_FLAG_OF = {str(f): f for f in range(4)}  # ADD_CONTACTS' flag digits


@dataclass(frozen=True)
class CallRow:
    """What the tick needs of a live contact's call: ``final`` is its final status
    (``'unknown'`` when given up on), ``''`` while it goes on."""

    final: str
    attempts: int
    current_attempt: str


class ContactRepo:
    def __init__(self, client: redis.Redis, keys: CampaignKeys | None = None,
                 core_keys: Keys | None = None) -> None:
        self.r = client
        self.keys = keys or CampaignKeys()
        self.core = core_keys or Keys(self.keys.prefix)
        self._add = client.register_script(lua.ADD_CONTACTS)
        self._add_counts = client.register_script(lua.ADD_COUNTS)
        self._take = client.register_script(lua.TAKE)
        self._reap = client.register_script(lua.REAP)
        self._drop_taken = client.register_script(lua.DROP_TAKEN)
        self._drop_queues = client.register_script(lua.DROP_QUEUES)
        self._complete = client.register_script(lua.COMPLETE)

    def add(self, cid: str, contacts: Sequence[Contact], default_tz: str, *,
            atomic: bool = False, counts: Mapping[str, int] | None = None) -> list[int]:
        """Add contacts in pipelined chunks; one flag each (ADDED, DUPLICATE, DNC_*).

        ``atomic``: every chunk in one MULTI/EXEC, so that all of them are written or none;
        ``counts``: campaign counters to add in the same round (rows not added: invalid,
        duplicates within the file). Raises ``CampaignStateError`` when the campaign no
        longer takes contacts (nothing written), ``ValueError`` when a number appears
        twice in ``contacts`` (the importer reports those as duplicates of a line).
        """
        if len({c.number for c in contacts}) != len(contacts):
            raise ValueError("a number appears twice in the contacts to add")
        if atomic and contacts:
            try:
                return self._add_chunks(cid, contacts, default_tz, counts, atomic, fresh=True)
            except redis.WatchError:
                pass  # the contacts hash changed meanwhile: look every number up
        return self._add_chunks(cid, contacts, default_tz, counts, atomic, fresh=False)

    def _add_chunks(self, cid: str, contacts: Sequence[Contact], default_tz: str,
                    counts: Mapping[str, int] | None, atomic: bool, fresh: bool) -> list[int]:
        """``fresh``: WATCH the contacts hash and, when it is empty, tell ADD_CONTACTS that
        no number of this transaction can be in it (none before, the numbers distinct, the
        hash unchanged until EXEC or ``WatchError``), so it skips the look-up."""
        k = self.keys
        with self.r.pipeline(transaction=atomic) as pipe:
            if fresh:
                pipe.watch(k.contacts(cid))
                fresh = int(cast(Any, pipe.hlen(k.contacts(cid)))) == 0
                if not fresh:
                    pipe.unwatch()
                pipe.multi()
            return self._queue_chunks(pipe, cid, contacts, default_tz, counts, fresh)

    def _queue_chunks(self, pipe: Any, cid: str, contacts: Sequence[Contact],
                      default_tz: str, counts: Mapping[str, int] | None, fresh: bool
                      ) -> list[int]:
        k = self.keys
        sizes = []
        for start in range(0, len(contacts), ADD_CHUNK):
            chunk = contacts[start:start + ADD_CHUNK]
            zones: dict[str, int] = {}
            zis = [zones.setdefault(c.tz, len(zones) + 1) for c in chunk]
            numbers = "\n".join([c.number for c in chunk])
            payloads = "\n".join([c.payload(default_tz) for c in chunk])
            if numbers.count("\n") != len(chunk) - 1 or payloads.count("\n") != len(chunk) - 1:
                raise ValueError("a contact's number or payload holds a newline")
            self._add(
                keys=[k.campaign(cid), k.contacts(cid), k.zones(cid), k.dnc(cid), k.global_dnc,
                      *(k.queue(cid, z) for z in zones)],
                args=[len(zones), *zones, len(chunk), numbers,
                      "\n".join(map(str, zis)) if len(zones) > 1 else "",
                      payloads if payloads.strip("\n") else "", 1 if fresh else 0],
                client=pipe)
            sizes.append(len(chunk))
        pairs = [v for name, n in (counts or {}).items() if n for v in (name, n)]
        if pairs:
            self._add_counts(keys=[k.campaign(cid)], args=pairs, client=pipe)
        if not contacts and not pairs:
            return []
        results = pipe.execute()
        if pairs:
            results = results[:-1] if results[-1] != -1 else [-1]
        flags: list[int] = []
        for size, result in zip(sizes, results, strict=False):
            if result == -1:
                raise CampaignStateError(f"campaign {cid!r} no longer takes contacts",
                                         field="state")
            digits = result.decode() if isinstance(result, bytes) else str(result)
            flags += map(_FLAG_OF.__getitem__, digits) if digits else [ADDED] * size
        if results == [-1]:
            raise CampaignStateError(f"campaign {cid!r} no longer takes contacts",
                                     field="state")
        return flags

    def take(self, cid: str, tz: str, n: int, max_concurrent: int,
             agents: Sequence[str] | None) -> list[tuple[str, str]]:
        """Take up to ``n`` numbers of zone ``tz``: ``[(number, agent or '')]``."""
        if n <= 0:
            return []
        k = self.keys
        flat = self._take(
            keys=[k.campaign(cid), k.queue(cid, tz), k.live(cid), k.calls(cid), k.dnc(cid),
                  k.global_dnc, k.agents(cid)],
            args=[n, max_concurrent, 1 if agents is not None else 0, *(agents or [])])
        return [(str(flat[i]), str(flat[i + 1])) for i in range(0, len(flat), 2)]

    def record_calls(self, cid: str, calls: dict[str, str]) -> None:
        if calls:
            self.r.hset(self.keys.calls(cid), mapping=cast(Any, calls))

    def drop_taken(self, cid: str, number: str, reason: str, agent: str = "") -> None:
        k = self.keys
        self._drop_taken(keys=[k.campaign(cid), k.live(cid), k.calls(cid), k.agents(cid)],
                         args=[number, reason[:200], agent])

    def reap(self, cid: str, finals: list[tuple[str, str, int, str, str]]) -> int:
        """Count final calls once: ``(number, status, attempts, talk_s, agent)``."""
        if not finals:
            return 0
        k = self.keys
        args = [v for group in finals for v in group]
        return int(self._reap(keys=[k.campaign(cid), k.live(cid), k.agents(cid)], args=args))

    def drop_queues(self, cid: str, counter: str) -> int:
        k = self.keys
        return int(self._drop_queues(keys=[k.campaign(cid), k.zones(cid)],
                                     args=[k.queue_prefix(cid), counter]))

    def complete(self, cid: str, allowed: Sequence[str]) -> bool:
        k = self.keys
        return bool(int(self._complete(
            keys=[k.campaign(cid), k.live(cid), k.zones(cid), k.active],
            args=[k.queue_prefix(cid), ",".join(allowed), cid])))

    # --- reading -------------------------------------------------------------------
    def zones(self, cid: str) -> list[str]:
        return sorted(cast(set[str], self.r.smembers(self.keys.zones(cid))))

    def queue_lengths(self, cid: str) -> dict[str, int]:
        zones = self.zones(cid)
        pipe = self.r.pipeline(transaction=False)
        for z in zones:
            pipe.llen(self.keys.queue(cid, z))
        return dict(zip(zones, (int(n) for n in pipe.execute()), strict=True))

    def live_count(self, cid: str) -> int:
        """How many of the campaign's contacts are live (taken, call not final)."""
        return int(self.r.zcard(self.keys.live(cid)))

    def live(self, cid: str) -> dict[str, float]:
        return dict(cast(list[tuple[str, float]],
                         self.r.zrange(self.keys.live(cid), 0, -1, withscores=True)))

    def calls(self, cid: str, numbers: Sequence[str]) -> dict[str, str | None]:
        if not numbers:
            return {}
        values = cast(list[str | None], self.r.hmget(self.keys.calls(cid), list(numbers)))
        return dict(zip(numbers, values, strict=True))

    def busy_agents(self, cid: str) -> dict[str, str]:
        return cast(dict[str, str], self.r.hgetall(self.keys.agents(cid)))

    def payloads(self, cid: str, numbers: Sequence[str]) -> dict[str, str | None]:
        if not numbers:
            return {}
        values = cast(list[str | None], self.r.hmget(self.keys.contacts(cid), list(numbers)))
        return dict(zip(numbers, values, strict=True))

    def call_rows(self, cid: str, numbers: Sequence[str]) -> dict[str, CallRow]:
        """The calls of these contacts (numbers without a call are left out)."""
        calls = self.calls(cid, numbers)
        with_call = [n for n in numbers if calls.get(n) and not str(calls[n]).startswith("!")]
        pipe = self.r.pipeline(transaction=False)
        for n in with_call:
            pipe.hmget(self.core.call(str(calls[n])), "state", "final_status", "attempts",
                       "current_attempt")
        out: dict[str, CallRow] = {}
        for n, (state, final, attempts, current) in zip(with_call, pipe.execute(),
                                                         strict=True):
            done = final or ("unknown" if state == "unknown" else "")
            # a lean call waiting for its first attempt holds no state / current_attempt
            current = current or make_attempt_id(str(calls[n]), int(attempts or 1))
            out[n] = CallRow(str(done), int(attempts or 1), str(current))
        return out

    def talk_times(self, attempt_ids: Sequence[str]) -> list[str]:
        """Each attempt's talk time in seconds (``''`` unknown)."""
        pipe = self.r.pipeline(transaction=False)
        for aid in attempt_ids:
            pipe.hget(self.core.attempt(aid), "talk_time_s")
        return [str(t or "") for t in pipe.execute()]

    def recent_events(self, count: int) -> list[dict[str, str]]:
        """The newest ``count`` entries of the events stream, newest first."""
        entries = cast(list[tuple[str, dict[str, str]]],
                       self.r.xrevrange(self.core.events, count=count))
        return [fields for _, fields in entries]

    def attempt_spans_s(self, attempt_ids: Sequence[str]) -> list[float]:
        """Claim to end of each attempt, in seconds (attempts without both left out)."""
        pipe = self.r.pipeline(transaction=False)
        for aid in attempt_ids:
            pipe.hmget(self.core.attempt(aid), "claimed_at", "terminal_at")
        return [(int(b) - int(a)) / 1000 for a, b in pipe.execute() if a and b]

    def agents_in_calls(self, account: str, agents: Sequence[str]) -> dict[str, int]:
        """How many calls of the account hold each agent now (any source)."""
        sec, usec = self.r.time()
        now_ms = int(sec) * 1000 + int(usec) // 1000
        pipe = self.r.pipeline(transaction=False)
        for a in agents:
            pipe.zcount(self.core.agent(account, a), now_ms, "+inf")
        return {a: int(n) for a, n in zip(agents, pipe.execute(), strict=True)}

    def scan(self, cid: str, cursor: int, count: int) -> tuple[int, dict[str, str]]:
        """One batch of the contacts hash: (next cursor, 0 at the end; number → payload)."""
        return cast(tuple[int, dict[str, str]],
                    self.r.hscan(self.keys.contacts(cid), cursor, count=count))

    def call_records(self, call_ids: Sequence[str]
                     ) -> dict[str, tuple[dict[str, str], list[dict[str, str]]]]:
        """Each call (as every reader sees it: :func:`dialer.store.with_defaults`) and its
        attempts, in attempt order (two round trips); a first attempt not written yet reads
        as pending."""
        pipe = self.r.pipeline(transaction=False)
        for call_id in call_ids:
            pipe.hgetall(self.core.call(call_id))
        raw = dict(zip(call_ids, pipe.execute(), strict=True))
        calls = {i: with_defaults(i, call) for i, call in raw.items() if call}
        for call_id, call in calls.items():
            for i in range(1, int(call.get("attempts") or 1) + 1):
                pipe.hgetall(self.core.attempt(make_attempt_id(call_id, i)))
        flat = iter(pipe.execute())
        out = {}
        for call_id, call in calls.items():
            attempts = [a for a in (next(flat) for _ in range(int(call.get("attempts") or 1)))
                        if a]
            if not attempts and "state" not in raw[call_id]:
                attempts = [unwritten_attempt(call_id, call)]
            out[call_id] = (call, attempts)
        return out
