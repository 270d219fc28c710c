"""Apply what Exotel told us (a StatusCallback or a poll) to an attempt, forward only.

A terminal status is never undone; missing values never overwrite known ones; reaching a
terminal status decides the first-leg retry exactly once (the decision is taken here, in
Python, and applied by one Lua script that acts only if the attempt was not terminal).

A retry is decided on evidence: when the terminal update does not say which leg failed (a
four-field v1 callback, any v3 callback) the attempt ends, the call waits
``awaiting-evidence`` and the poller looks the legs up; the update that brings them (a
poll, or a late callback) takes the decision then, once (:meth:`Store.decide`).
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable

from dialer.errors import NotFoundError
from dialer.models import EXOTEL_TERMINAL_STATUSES, AttemptState, CallUpdate, Mode
from dialer.policy import Decision, RetryPolicy, decide, decide_without_evidence
from dialer.settings import Settings
from dialer.store import Applied, Store, call_id_of

log = logging.getLogger("dialer.reconcile")

# Called with the call's hash (as read before the update) once the call is final: the
# campaigns' hand-off (dialer.campaigns.handoff) gives its agent the next contact.
OnFinal = Callable[[dict[str, str]], object]

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
    on_final: OnFinal | None = None,
) -> Applied:
    """Apply ``update`` to ``attempt_id``; schedule a retry when the policy says so.

    ``on_final(call)`` runs when the update ended the call (no retry, no leg look-up),
    after its agent was released."""
    try:
        attempt = store.get_attempt(attempt_id)
        call = store.get_call(call_id_of(attempt_id))
    except NotFoundError:
        log.warning("update for unknown attempt %s ignored", attempt_id)
        return Applied(False, "missing", False, False)
    final = terminal_state(update)
    decision: Decision | None = None
    if final is not None:
        decision = _decide(settings, call, attempt, update.status, update.leg1_status,
                           update.leg2_status, rand)
    applied = store.apply_update(
        attempt_id, update, final, decision, poll_after_ms=int(settings.poll_interval_s * 1000),
        evidence_after_ms=int(settings.evidence_delay_s * 1000),
    )
    if applied.awaiting_evidence and not applied.became_terminal:
        decide_on_evidence(store, settings, attempt_id, call, rand, on_final)
    if applied.became_terminal:
        if call["mode"] == Mode.CONNECT.value:
            agent = json.loads(call["request"]).get("From")
            if agent:
                store.agent_release(call["account"], str(agent), attempt_id)
        if update.duration_s is None or update.price is None:
            # Duration and Price arrive about two minutes after the end: look once more.
            store.check_later(store.keys.active, attempt_id,
                              int(settings.fill_poll_after_s * 1000))
        if on_final is not None and not applied.retried and not applied.awaiting_evidence:
            on_final(call)
    return applied


def _decide(settings: Settings, call: dict[str, str], attempt: dict[str, str],
            status: str | None, leg1: str | None, leg2: str | None,
            rand: random.Random | None) -> Decision:
    return decide(policy_for(settings, call), int(attempt["n"]), status, leg1, leg2, rand,
                  one_leg=call["mode"] == Mode.FLOW.value)


def decide_on_evidence(store: Store, settings: Settings, attempt_id: str,
                       call: dict[str, str], rand: random.Random | None = None,
                       on_final: OnFinal | None = None) -> bool:
    """Take the retry decision of an ended attempt from the legs it now knows.

    Returns True when the decision was taken (by this call or an earlier one); False while
    the legs still do not tell which one failed.
    """
    attempt = store.get_attempt(attempt_id)
    if attempt.get("decision") != "pending":
        return True
    decision = _decide(settings, call, attempt, attempt.get("status") or attempt["state"],
                       attempt.get("leg1_status") or None, attempt.get("leg2_status") or None,
                       rand)
    if decision.needs_evidence:
        return False
    decided, retried = store.decide(attempt_id, decision)
    log.info("attempt %s: %s", attempt_id, decision.reason)
    if decided and not retried and on_final is not None:
        on_final(call)
    return True


def give_up_evidence(store: Store, settings: Settings, attempt_id: str,
                     on_final: OnFinal | None = None) -> None:
    """No leg evidence by the deadline: the safe default, no retry."""
    attempt = store.get_attempt(attempt_id)
    decision = decide_without_evidence(attempt.get("status") or attempt.get("state"),
                                       settings.evidence_deadline_s)
    if store.decide(attempt_id, decision)[0]:
        log.warning("attempt %s: %s", attempt_id, decision.reason)
        if on_final is not None:
            on_final(store.get_call(call_id_of(attempt_id)))


def redial_absent(store: Store, settings: Settings, attempt_id: str) -> None:
    """An unknown attempt proven never created (``redial_proven_absent``): dial again
    while the call's attempts last."""
    call = store.get_call(call_id_of(attempt_id))
    n = int(store.get_attempt(attempt_id)["n"])
    if n <= policy_for(settings, call).max_retries:
        decision = Decision(True, 0.0, "never created by Exotel: dialled again")
    else:
        decision = Decision(False, 0.0, "never created by Exotel: attempts used up")
    store.decide(attempt_id, decision)
    log.warning("attempt %s: %s", attempt_id, decision.reason)
