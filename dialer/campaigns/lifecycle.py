"""What people and the tick do to campaigns: create, import, start, pause, resume, cancel;
count calls that ended; run a recurring template.

:class:`Lifecycle` is the one object the CLI, the HTTP API and the tick drive. Cancel
leaves no pending work: contacts not yet taken are dropped, every not-yet-dialled attempt
of the campaign is cancelled, and the worker's gate cancels any that slip through.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import redis
from pydantic import ValidationError as PydanticValidationError

from dialer.campaigns.importer import ImportReport, import_contacts, parse_import, write_import
from dialer.campaigns.keys import CampaignKeys
from dialer.campaigns.models import CampaignSpec, CampaignState, check_spec
from dialer.campaigns.queue import ContactQueue
from dialer.campaigns.repo import Campaign, CampaignRepo
from dialer.campaigns.schedule import Cron
from dialer.errors import ValidationError
from dialer.keys import Keys
from dialer.settings import Settings
from dialer.store import Store

log = logging.getLogger("dialer.campaigns")

ORPHAN_MS = 30_000  # a taken contact without a call this long after: its tick died
Recreate = Callable[[Campaign, list[tuple[str, str]]], int]


def parse_spec_input(data: Any) -> CampaignSpec:
    """A :class:`CampaignSpec` from plain JSON data; ``ValidationError`` names the field."""
    if isinstance(data, CampaignSpec):
        return data
    try:
        return CampaignSpec.model_validate(data)
    except PydanticValidationError as exc:
        parts = [f"{'.'.join(str(p) for p in e.get('loc', ())) or 'campaign'}: {e.get('msg')}"
                 for e in exc.errors(include_url=False)]
        raise ValidationError("; ".join(parts), field="campaign") from None


class Lifecycle:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        keys = CampaignKeys(settings.key_prefix)
        self.repo = CampaignRepo(store.r, keys, settings.campaign_clock_offset_s)
        self.queue = ContactQueue(store.r, keys)

    @classmethod
    def connect(cls, client: redis.Redis, settings: Settings) -> Lifecycle:
        return cls(Store(client, Keys(settings.key_prefix)), settings)

    # --- people's actions ----------------------------------------------------------------
    def create(self, spec: CampaignSpec | dict[str, Any]) -> str:
        """Validate ``spec`` and write a draft campaign; return its id."""
        return self.repo.create(check_spec(parse_spec_input(spec), self.settings))

    def create_with_contacts(
        self, spec: CampaignSpec | dict[str, Any], data: bytes | None, fmt: str = "csv",
        progress: Callable[[int, int], None] | None = None, *, start: bool = False,
    ) -> tuple[str, ImportReport | None]:
        """Create a campaign, import ``data`` and (``start``) schedule it — or, when any
        step fails, leave no campaign behind (a retry cannot make a duplicate).

        The spec and every row are checked before anything is written.
        """
        checked = check_spec(parse_spec_input(spec), self.settings)
        sched = checked.schedule
        parsed = None
        if data is not None:
            parsed = parse_import(data, fmt, sched.timezone, sched.zone_from_number,
                                  progress=progress)
            if start and not parsed.contacts:
                raise ValidationError("the campaign would have no contacts to start with",
                                      field="contacts")
        cid = self.repo.create(checked)
        try:
            report = None
            if parsed is not None:
                report = write_import(self.repo, self.queue, cid, parsed, sched.timezone)
            if start:
                self.start(cid)
        except BaseException:
            self.repo.delete_draft(cid)
            raise
        return cid, report

    def import_contacts(self, cid: str, data: bytes, fmt: str = "csv",
                        progress: Callable[[int, int], None] | None = None) -> ImportReport:
        return import_contacts(self.repo, self.queue, cid, data, fmt, progress=progress)

    def start(self, cid: str) -> CampaignState:
        """draft → scheduled (the tick runs it at start_at)."""
        c = self.repo.get(cid)
        if c.count("contacts") == 0:
            raise ValidationError(f"campaign {cid!r} has no contacts; import some first",
                                  field="contacts")
        return self.repo.transition(cid, "start")

    def pause(self, cid: str) -> CampaignState:
        return self.repo.transition(cid, "pause")

    def resume(self, cid: str) -> CampaignState:
        return self.repo.transition(cid, "resume")

    def cancel(self, cid: str) -> CampaignState:
        state = self.repo.transition(cid, "cancel")
        self.queue.drop_queues(cid, "not_dialled")
        self.reap(self.repo.get(cid), cancel_pending=True)
        return state

    # --- the tick's bookkeeping ------------------------------------------------------------
    def reap(self, c: Campaign, *, cancel_pending: bool = False,
             recreate: Recreate | None = None) -> int:
        """Count the campaign's calls that became final; with ``cancel_pending`` cancel
        every attempt not yet dialled. Returns how many calls were counted."""
        live = self.queue.live(c.id)
        if not live:
            return 0
        numbers = list(live)
        calls = self.queue.calls(c.id, numbers)
        agent_of = {num: agent for agent, num in self.queue.busy_agents(c.id).items()}
        k = self.store.keys
        pipe = self.store.r.pipeline(transaction=False)
        with_call = [n for n in numbers if calls[n]]
        for n in with_call:
            pipe.hmget(k.call(str(calls[n])), "state", "final_status", "attempts",
                       "current_attempt")
        rows = dict(zip(with_call, pipe.execute(), strict=True))
        finals, pending, orphans = [], [], []
        cutoff = self.store.now_ms() - ORPHAN_MS
        for n in numbers:
            if n not in rows:
                if live[n] < cutoff:
                    orphans.append((n, agent_of.get(n, "")))
                continue
            state, final, attempts, current = rows[n]
            if final or state == "unknown":
                finals.append((n, final or "unknown", int(attempts or 1), str(current or "")))
            elif cancel_pending:  # a call waiting for its first attempt has no current one
                pending.append(str(current or f"{calls[n]}-{attempts or 1}"))
        self._count(c, finals, agent_of)
        for aid in pending:
            self.store.cancel_pending(aid, f"campaign {c.id} stopped")
        if orphans and cancel_pending:
            for n, agent in orphans:
                self.queue.drop_taken(c.id, n, "campaign stopped", agent)
        elif orphans and recreate is not None:
            log.warning("campaign %s: recreating %d calls of a lost tick", c.id, len(orphans))
            recreate(c, orphans)
        return len(finals)

    def _count(self, c: Campaign, finals: list[tuple[str, str, int, str]],
               agent_of: dict[str, str]) -> None:
        if not finals:
            return
        pipe = self.store.r.pipeline(transaction=False)
        for _, _, _, aid in finals:
            pipe.hget(self.store.keys.attempt(aid), "talk_time_s")
        talks = pipe.execute()
        groups = [(n, status, attempts, str(talk or ""), agent_of.get(n, ""))
                  for (n, status, attempts, _), talk in zip(finals, talks, strict=True)]
        self.queue.reap(c.id, groups)

    # --- recurring templates ---------------------------------------------------------------
    def run_template(self, c: Campaign, now: datetime) -> list[str]:
        """Schedule a copy of template ``c`` when its cron expression fires."""
        if c.state in (CampaignState.CANCELLED, CampaignState.COMPLETED):
            self.repo.retire(c.id)
            return []
        if c.state is not CampaignState.SCHEDULED:
            return []
        sched = c.spec.schedule
        if sched.end_at is not None and sched.end_at <= now:
            self.repo.transition(c.id, "finish")
            self.repo.retire(c.id)
            return []
        cron = Cron.parse(sched.recurrence or "")
        next_ms = int(c.fields.get("next_run_ms") or 0)
        if not next_ms:
            base = sched.start_at or now
            next_ms = int(cron.next_after(base - timedelta(seconds=1), sched.timezone)
                          .timestamp() * 1000)
            self.repo.set_fields(c.id, next_run_ms=next_ms)
        fire = datetime.fromtimestamp(next_ms / 1000, now.tzinfo)
        if fire > now:
            return []
        upcoming = cron.next_after(now, sched.timezone)
        self.repo.set_fields(c.id, next_run_ms=int(upcoming.timestamp() * 1000))
        run_id = f"{c.id}-{fire:%Y%m%d%H%M}"
        claim = f"{self.repo.keys.campaign(run_id)}:claim"
        if not self.store.r.set(claim, c.id, nx=True, ex=7 * 86400):
            return []
        self._copy_contacts(c.id, run_id)
        spec = c.spec.model_copy(update={"schedule": sched.model_copy(
            update={"recurrence": None, "start_at": fire, "end_at": None})})
        self.repo.create(spec, cid=run_id, template_id=c.id)
        self.repo.set_fields(run_id, **{f: c.count(f) for f in
                                        ("contacts", "duplicates", "suppressed")})
        self.repo.incr(c.id, "runs")
        self.repo.transition(run_id, "start")
        return [run_id]

    def _copy_contacts(self, src: str, dst: str) -> None:
        k, r = self.repo.keys, self.store.r
        pipe = r.pipeline(transaction=True)
        for key in (k.contacts, k.zones, k.dnc):
            pipe.copy(key(src), key(dst), replace=True)
        for z in self.queue.zones(src):
            pipe.copy(k.queue(src, z), k.queue(dst, z), replace=True)
        pipe.execute()
