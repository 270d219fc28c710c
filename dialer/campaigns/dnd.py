"""What the dialer does when Exotel refuses a number as DND / NDNC (a 403 ``DndError``).

The attempt itself ends ``rejected`` with a ``dnd:`` detail (:mod:`dialer.dialing`); this
hook adds the customer's number to the global do-not-call list (``dnd_to_dnc``) so that no
campaign dials it again, and counts a campaign's refusal among its contacts suppressed at
dial time.
"""

from __future__ import annotations

from collections.abc import Callable

from dialer.campaigns.keys import CampaignKeys
from dialer.campaigns.repo import CampaignRepo
from dialer.settings import Settings
from dialer.store import Store

DndHook = Callable[[dict[str, str], str], None]


def make_dnd_hook(store: Store, settings: Settings) -> DndHook:
    repo = CampaignRepo(store.r, CampaignKeys(settings.key_prefix),
                        settings.campaign_clock_offset_s)

    def on_dnd(call: dict[str, str], number: str) -> None:
        if settings.dnd_to_dnc:
            repo.add_dnc([number])
        if call.get("campaign_id"):
            repo.incr(call["campaign_id"], "suppressed_at_dial")

    return on_dnd
