"""Apply what Exotel told us (a StatusCallback or a poll) to an attempt, forward only.

A terminal status is never undone; missing values never overwrite known ones; reaching a
terminal status decides the first-leg retry exactly once (the decision is taken here, in
Python, and applied by one Lua script that acts only if the attempt was not terminal).
"""

from __future__ import annotations

import json
import logging
import random

from dialer.errors import NotFoundError
from dialer.models import EXOTEL_TERMINAL_STATUSES, AttemptState, CallUpdate, Mode
from dialer.policy import Decision, RetryPolicy, decide
from dialer.settings import Settings
from dialer.store import Applied, Store, call_id_of

log = logging.getLogger("dialer.reconcile")

_STATE_OF_STATUS = {
    "completed": AttemptState.COMPLETED,
    "busy": AttemptState.BUSY,
    "no-answer": AttemptState.NO_ANSWER,
    "failed": AttemptState.FAILED,
    "canceled": AttemptState.FAILED,
}


def policy_for(settings: Settings, call: dict[str, str]) -> RetryPolicy:
    """The retry policy of a call: the settings, overridden by the call's own."""
    overrides = json.loads(call.get("policy") or "{}")
    return RetryPolicy(
        max_retries=int(overrides.get("max_retries", settings.max_retries)),
        retry_on_busy=bool(overrides.get("retry_on_busy", settings.retry_on_busy)),
        retry_on_leg2_failure=bool(
            overrides.get("retry_on_leg2_failure", settings.retry_on_leg2_failure)
        ),
        backoff_base_s=float(overrides.get("backoff_base_s", settings.retry_backoff_base_s)),
        backoff_max_s=float(overrides.get("backoff_max_s", settings.retry_backoff_max_s)),
        jitter_ratio=float(overrides.get("jitter_ratio", settings.retry_jitter_ratio)),
    )


def terminal_state(update: CallUpdate) -> AttemptState | None:
    """The attempt's final state if ``update`` reports the call ended, else ``None``."""
    if update.event == "answered":
        return None
    if update.status in EXOTEL_TERMINAL_STATUSES:
        return _STATE_OF_STATUS[update.status]
    return None


def reconcile(
    store: Store,
    settings: Settings,
    attempt_id: str,
    update: CallUpdate,
    rand: random.Random | None = None,
) -> Applied:
    """Apply ``update`` to ``attempt_id``; schedule a retry when the policy says so."""
    try:
        attempt = store.get_attempt(attempt_id)
        call = store.get_call(call_id_of(attempt_id))
    except NotFoundError:
        log.warning("update for unknown attempt %s ignored", attempt_id)
        return Applied(False, "missing", False, False)
    final = terminal_state(update)
    decision: Decision | None = None
    if final is not None:
        leg1, leg2 = update.leg1_status, update.leg2_status
        if call["mode"] == Mode.FLOW.value and leg1 is None:
            leg1 = update.status  # a flow call has one leg
        decision = decide(policy_for(settings, call), int(attempt["n"]), update.status,
                          leg1, leg2, rand)
    applied = store.apply_update(
        attempt_id, update, final, decision, poll_after_ms=int(settings.poll_interval_s * 1000)
    )
    if applied.became_terminal:
        if call["mode"] == Mode.CONNECT.value:
            agent = json.loads(call["request"]).get("From")
            if agent:
                store.agent_release(call["account"], str(agent), attempt_id)
        if update.duration_s is None or update.price is None:
            # Duration and Price arrive about two minutes after the end: look once more.
            store.r.zadd(store.keys.active,
                         {attempt_id: store.now_ms() + int(settings.fill_poll_after_s * 1000)})
    return applied
