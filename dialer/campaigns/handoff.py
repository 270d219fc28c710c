"""The hand-off: when a campaign call ends, its agent gets its next contact at once.

Without it an agent whose call ended waits for the next campaign tick (which counts the
call and frees the agent) and then for the pump (which sends the new call): about two
seconds of idle agent per call. The hand-off runs where the final update is applied
(:func:`dialer.reconcile.reconcile`, for a callback or a poll, and after a retry decision
taken on leg evidence): it counts the call, frees its agent, takes one next contact for
that agent under exactly the tick's rules — campaign running and not past ``end_at``, the
contact's window open, a token of the campaign's pace and of the account's campaign share,
fewer than ``max_concurrent`` live — and publishes its attempt at once (no due set, no pump).

It is only a shortcut: every step is the tick's own atomic script (count once, take once,
the agent held by one contact), so a hand-off racing a tick cannot dial a contact twice
or give one agent two contacts, and whatever the hand-off does not do (no token, window
closed, an error) the next tick does; a flow campaign (no agent waits) is left to the
tick. ``DIALER_CAMPAIGN_HANDOFF=false`` turns it off.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence

import redis

from dialer.campaigns.budget import Buckets
from dialer.campaigns.feed import create_calls
from dialer.campaigns.lifecycle import Lifecycle
from dialer.campaigns.models import CampaignState
from dialer.campaigns.pacing import account_rate_per_s, burst_for
from dialer.campaigns.repo import Campaign
from dialer.errors import DialerError
from dialer.models import Mode
from dialer.settings import Settings
from dialer.store import Store

log = logging.getLogger("dialer.campaigns.handoff")

Publish = Callable[[Sequence[str]], object]  # sends dialer.place_call for attempt ids


class Handoff:
    """``handoff(call)`` after ``call`` (its hash as read before the update) became final;
    returns the attempt ids it published (at most one)."""

    def __init__(self, store: Store, settings: Settings, publish: Publish) -> None:
        self.store = store
        self.settings = settings
        self.publish = publish
        self.life = Lifecycle(store, settings)
        self.buckets = Buckets(store.r, self.life.repo.keys)

    def __call__(self, call: dict[str, str]) -> list[str]:
        cid = call.get("campaign_id") or ""
        if not cid or not self.settings.campaign_handoff or call.get("mode") == Mode.FLOW.value:
            return []  # a flow campaign has no agent waiting: the tick feeds it
        try:
            return self._hand_off(cid, call)
        except (redis.RedisError, DialerError) as exc:  # the next tick does it instead
            log.warning("campaign %s: no hand-off after call %s: %s", cid, call.get("id"), exc)
            return []

    def _hand_off(self, cid: str, call: dict[str, str]) -> list[str]:
        life = self.life
        number = str(json.loads(call.get("metadata") or "{}").get("contact") or "")
        if not number:
            return []
        c = life.repo.get(cid)
        agent = next((a for a, n in life.queue.busy_agents(cid).items() if n == number), "")
        if not agent:
            return []  # the tick freed this agent already (and may have given it a contact)
        life.reap_numbers(c, [number], {number: agent})
        return self._feed(c, agent)

    def _feed(self, c: Campaign, agent: str) -> list[str]:
        life, s = self.life, self.settings
        if c.state is not CampaignState.RUNNING:
            return []
        now = life.repo.clock()
        sched = c.spec.schedule
        if sched.end_at is not None and sched.end_at <= now:
            return []
        window = sched.window()
        zones = [z for z, n in life.queue.queue_lengths(c.id).items()
                 if n > 0 and window.is_open(now, z)]
        if not zones or not self._agent_free(c, agent):
            return []
        rate = c.spec.pacing.calls_per_minute / 60.0
        burst = burst_for(rate, s.campaign_tick_s)
        a_rate = account_rate_per_s(s.rate_limit_admitted, s.rate_limit_window_s,
                                    s.campaign_share)
        a_burst = burst_for(a_rate, s.campaign_tick_s)
        bucket, account_bucket = f"c:{c.id}", f"a:{c.spec.account or ''}"
        if not self.buckets.take(bucket, rate, burst, 1):
            return []
        if not self.buckets.take(account_bucket, a_rate, a_burst, 1):
            self.buckets.give_back(bucket, rate, burst, 1)
            return []
        taken: list[tuple[str, str]] = []
        for z in zones:
            taken = life.queue.take(c.id, z, 1, c.spec.pacing.max_concurrent, [agent])
            if taken:
                break
        created = create_calls(self.store, s, life.queue, c, taken, delay_ms=-1)
        ids = [cr.attempt_id for cr in created if cr.created]
        if not ids:
            self.buckets.give_back(bucket, rate, burst, 1)
            self.buckets.give_back(account_bucket, a_rate, a_burst, 1)
            return []
        self.publish(ids)
        log.info("campaign %s: agent %s handed its next contact (%s)", c.id, agent, ids[0])
        return ids

    def _agent_free(self, c: Campaign, agent: str) -> bool:
        """Not in another call of the account (a single call, another campaign)."""
        if c.spec.mode is not Mode.CONNECT:
            return True
        held = self.life.queue.agents_in_calls(c.spec.account or "", [agent])[agent]
        return held < self.settings.agent_max_concurrent_calls


def make_handoff(store: Store, settings: Settings, publish: Publish) -> Handoff:
    """The hand-off the worker runs after a final update (wired in ``workers.context``)."""
    return Handoff(store, settings, publish)
