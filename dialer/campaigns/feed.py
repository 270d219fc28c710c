"""Turn contacts taken for dialling into calls: shared by the tick and the hand-off.

A taken contact's call is validated like a single call and written with the idempotency
key ``campaign:<id>:<number>``; a contact whose call is invalid is released with its
reason (never dialled). The tick writes its calls into the due set (the pump sends them);
the hand-off (:mod:`dialer.campaigns.handoff`) marks them sent and publishes them at once.
"""

from __future__ import annotations

import logging

from dialer.campaigns.contact_repo import ContactRepo
from dialer.campaigns.models import call_for
from dialer.campaigns.queue import Contact
from dialer.campaigns.repo import Campaign
from dialer.errors import ValidationError
from dialer.settings import Settings
from dialer.store import Created, NewCall, Store

log = logging.getLogger("dialer.campaigns.feed")


def create_calls(store: Store, settings: Settings, queue: ContactRepo, c: Campaign,
                 taken: list[tuple[str, str]], *, delay_ms: int = 0) -> list[Created]:
    """Write the calls of ``taken`` contacts (``(number, agent or '')``); ``delay_ms`` as
    in :meth:`dialer.store.Store.create_calls` (-1: the caller publishes them now)."""
    if not taken:
        return []
    tz = c.spec.schedule.timezone
    payloads = queue.payloads(c.id, [n for n, _ in taken])
    news: list[NewCall] = []
    numbers: list[str] = []
    for number, agent in taken:
        contact = Contact.from_payload(number, payloads.get(number), tz)
        meta: dict[str, object] = {"campaign_id": c.id, "contact": number, "tz": contact.tz}
        if contact.name:
            meta["name"] = contact.name
        if contact.fields:
            meta["fields"] = contact.fields
        try:
            news.append(call_for(c.spec, settings, number, agent or None,
                                 contact.custom_field, meta, f"campaign:{c.id}:{number}",
                                 c.id))
            numbers.append(number)
        except ValidationError as exc:
            log.warning("campaign %s: contact %s not dialled: %s", c.id, number, exc)
            queue.drop_taken(c.id, number, f"invalid: {exc}", agent)
    created = store.create_calls(news, delay_ms=delay_ms) if news else []
    queue.record_calls(c.id, {n: cr.call_id for n, cr in zip(numbers, created, strict=True)})
    return created
