"""Resolving an unknown call by hand (``dialer resolve``).

An attempt whose POST outcome stayed unknown is never redialled blindly; an operator who
checked (Exotel's dashboard, the customer) says what happened:

* ``answered`` — the call took place: the attempt becomes ``completed``, the call ends
  ``completed`` (no retry);
* ``not-placed`` — Exotel never created it: the attempt becomes ``absent`` and the call ends
  ``absent``, or, with ``redial``, is dialled again while its retries last.

Who (``by``) and why (``reason``) are recorded: in the attempt's retry decision, in the
detail of the ``completed`` / ``absent`` event, and in a ``resolved`` event (fields
``outcome``, ``by``, ``reason``) appended after the call's ``final`` event. A call given up
on at the horizon already had a ``final`` event with status ``unknown``: resolving it adds
a second ``final`` with the status the operator found.

Built from the store's own transitions (``apply_update``, ``mark_absent``, ``decide``):
forward only, so an attempt that a look-up resolved meanwhile is left alone (409).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

from dialer.errors import ConflictError, ValidationError
from dialer.keys import EVENTS_MAXLEN
from dialer.models import AttemptState, CallUpdate, Mode
from dialer.policy import Decision
from dialer.reconcile import policy_for
from dialer.settings import Settings
from dialer.store import Store, call_id_of

MAX_TEXT = 200


class Outcome(StrEnum):
    ANSWERED = "answered"
    NOT_PLACED = "not-placed"


@dataclass(frozen=True)
class Resolved:
    attempt_id: str
    call_id: str
    outcome: Outcome
    attempt_state: str
    call_state: str
    redialled: bool


def _text(value: str, name: str) -> str:
    text = " ".join(value.split())
    if not text:
        raise ValidationError(f"{name}: say who resolved it and why (not empty)", field=name)
    if len(text) > MAX_TEXT:
        raise ValidationError(f"{name}: at most {MAX_TEXT} characters", field=name)
    return text


def resolve_unknown(store: Store, settings: Settings, attempt_id: str, outcome: Outcome,
                    by: str, reason: str, *, redial: bool = False) -> Resolved:
    """Resolve unknown attempt ``attempt_id`` as ``outcome``. Raises ``NotFoundError`` (no
    such attempt), ``ConflictError`` (not unknown, or resolved meanwhile),
    ``ValidationError`` (empty ``by`` / ``reason``, ``redial`` with ``answered``)."""
    by, reason = _text(by, "by"), _text(reason, "reason")
    if redial and outcome is Outcome.ANSWERED:
        raise ValidationError("redial: only a call that was not placed is dialled again",
                              field="redial")
    attempt = store.get_attempt(attempt_id)
    if attempt.get("state") != AttemptState.UNKNOWN.value:
        raise ConflictError(f"attempt {attempt_id} is {attempt.get('state')}, not unknown: "
                            "nothing to resolve", field="state")
    call_id = call_id_of(attempt_id)
    call = store.get_call(call_id)
    note = f"resolved by hand by {by}: {outcome.value} ({reason})"
    redialled = False
    if outcome is Outcome.ANSWERED:
        applied = store.apply_update(attempt_id, CallUpdate(source="manual", status="completed"),
                                     AttemptState.COMPLETED, Decision(False, 0.0, note))
        if not applied.became_terminal:
            raise ConflictError(f"attempt {attempt_id} was resolved meanwhile ({applied.state})",
                                field="state")
        _free_agent(store, call, attempt_id)
    else:
        if not store.mark_absent(attempt_id, note):
            raise ConflictError(f"attempt {attempt_id} was resolved meanwhile", field="state")
        n = int(attempt.get("n") or 1)
        redialled = redial and n <= policy_for(settings, call).max_retries
        if redialled:
            decision = Decision(True, 0.0, f"{note}: dialled again")
        elif redial:
            decision = Decision(False, 0.0, f"{note}: attempts used up")
        else:
            decision = Decision(False, 0.0, f"{note}: not dialled again")
        store.decide(attempt_id, decision)
        _free_agent(store, call, attempt_id)
    for zset in (store.keys.unknown, store.keys.unresolved):
        store.forget(zset, attempt_id)
    now = store.get_call(call_id)
    _event(store, now, attempt_id, outcome, by, reason)
    return Resolved(attempt_id, call_id, outcome, store.get_attempt(attempt_id)["state"],
                    now.get("state", ""), redialled)


def _free_agent(store: Store, call: dict[str, str], attempt_id: str) -> None:
    if call.get("mode") == Mode.CONNECT.value:
        agent = json.loads(call.get("request") or "{}").get("From")
        if agent:
            store.agent_release(call.get("account", ""), str(agent), attempt_id)


def _event(store: Store, call: dict[str, str], attempt_id: str, outcome: Outcome, by: str,
           reason: str) -> None:
    """The ``resolved`` event: the stream's usual fields, and who resolved it and why."""
    store.r.xadd(store.keys.events, {
        "type": "resolved", "call_id": call.get("id", ""), "attempt_id": attempt_id,
        "attempt": attempt_id.rsplit("-", 1)[-1], "state": call.get("state", ""),
        "detail": f"resolved by hand by {by}: {outcome.value} ({reason})",
        "account": call.get("account", ""), "campaign_id": call.get("campaign_id", ""),
        "custom_field": call.get("custom_field", ""),
        "idempotency_key": call.get("idem_key", ""), "at_ms": store.now_ms(),
        "outcome": outcome.value, "by": by, "reason": reason,
    }, maxlen=EVENTS_MAXLEN, approximate=True)
