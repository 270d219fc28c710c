"""The worker's gate for campaign calls: checked before every attempt (retries included).

* campaign cancelled, completed, gone, or past its ``end_at`` → ``cancel``;
* campaign paused (or not yet running) → ``wait`` a couple of ticks, then ask again;
* the contact's window is closed in its own time zone → ``wait`` until it opens;
* otherwise ``go``.

A wait puts the attempt back in the due set without spending a retry
(:meth:`dialer.store.Store.release`); nothing waits inside a worker.
"""

from __future__ import annotations

import json
import logging

from dialer.campaigns.keys import CampaignKeys
from dialer.campaigns.repo import CampaignRepo, parse_spec
from dialer.dialing import Gate, GateDecision
from dialer.settings import Settings
from dialer.store import Store

log = logging.getLogger("dialer.campaigns.gate")

GO = GateDecision("go")
WINDOW_SLACK_S = 1.0  # come back just after the window opens


class CampaignGate:
    """A :class:`dialer.dialing.Gate` reading the campaign's state and schedule."""

    def __init__(self, repo: CampaignRepo, tick_s: float) -> None:
        self.repo = repo
        self.pause_wait_s = min(30.0, max(1.0, 2 * tick_s))

    def __call__(self, call: dict[str, str], attempt_id: str) -> GateDecision:
        cid = call.get("campaign_id") or ""
        if not cid:
            return GO
        state, spec_text = self.repo.gate_view(cid)
        if not state or not spec_text:
            return GateDecision("cancel", reason=f"campaign {cid} no longer exists")
        if state in ("cancelled", "completed"):
            return GateDecision("cancel", reason=f"campaign {cid} is {state}")
        if state != "running":
            return GateDecision("wait", self.pause_wait_s, f"campaign {cid} is {state}")
        spec = parse_spec(str(spec_text))
        sched = spec.schedule
        now = self.repo.clock()
        if sched.end_at is not None and sched.end_at <= now:
            return GateDecision("cancel", reason=f"campaign {cid} ended at {sched.end_at}")
        try:
            tz = json.loads(call.get("metadata") or "{}").get("tz") or sched.timezone
        except ValueError:
            tz = sched.timezone
        window = sched.window()
        if not window.is_open(now, tz):
            wait = window.seconds_until_open(now, tz) + WINDOW_SLACK_S
            return GateDecision("wait", wait, f"outside the calling window ({tz})")
        return GO


def make_gate(store: Store, settings: Settings) -> Gate:
    """The gate the worker uses (wired in ``workers.context``)."""
    repo = CampaignRepo(store.r, CampaignKeys(settings.key_prefix),
                        settings.campaign_clock_offset_s)
    return CampaignGate(repo, settings.campaign_tick_s)
