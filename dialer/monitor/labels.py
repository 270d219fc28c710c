"""A call named for a person: account, campaign, attempt n of N, the customer masked.

Flower shows a task's name and its keyword arguments as the sender described them: Celery
lets the sender give a display form of the kwargs (``kwargsrepr``) while the message's
real kwargs stay what every producer sends. The name stays ``dialer.place_call`` (not a
``shadow`` per call: Flower's Prometheus metrics label every series by task name, so one
name per call would grow them without bound, and ``/api/tasks?taskname=`` would miss).
:class:`Labeler` builds the labels from the call records in one pipelined round trip.
Nothing secret is in them: no token, no full number, no recording URL.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import cast

import phonenumbers
import redis

from dialer.keys import Keys

MAX_LABEL = 120


def mask_number(number: str | None) -> str:
    """``+919812343210`` → ``+91 98xxxx3210``: country code, two digits, the last four.

    Short or unparsable values keep only their last four characters; SIP URIs keep their
    host. ``None`` / ``""`` → ``"?"``.
    """
    if not number:
        return "?"
    text = str(number).strip()
    if text.startswith("sip:"):
        _, _, host = text.partition("@")
        return f"sip:xxxx@{host}" if host else "sip:xxxx"
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else "IN")
        national = str(parsed.national_number)
        cc = f"+{parsed.country_code} "
    except phonenumbers.NumberParseException:
        national, cc = "".join(ch for ch in text if ch.isdigit()), ""
    if len(national) <= 6:
        return cc + "x" * max(0, len(national) - 2) + national[-2:]
    return cc + national[:2] + "x" * (len(national) - 6) + national[-4:]


def customer_number(mode: str, request: Mapping[str, object]) -> str | None:
    """The customer's number of a stored request (To; From in a flow; v3's to contact)."""
    if mode == "v3":
        value = request.get("to_contact_uri")
    elif mode == "flow":
        value = request.get("From")
    else:
        value = request.get("To")
    return str(value) if value else None


def call_label(call: Mapping[str, str], attempt_n: int, max_retries: int) -> str:
    """``main · c1f3a9 · +91 98xxxx3210 · 2/4``: account, campaign (or ``-``), customer,
    attempt n of N (N = 1 + the call's max retries)."""
    try:
        request = json.loads(call.get("request") or "{}")
        policy = json.loads(call.get("policy") or "{}")
    except ValueError:
        request, policy = {}, {}
    try:
        retries = int(policy.get("max_retries", max_retries))
    except (TypeError, ValueError):
        retries = max_retries
    number = mask_number(customer_number(call.get("mode", ""), request))
    parts = [call.get("account") or "?", call.get("campaign_id") or "-", number,
             f"{attempt_n}/{retries + 1}"]
    return " · ".join(parts)[:MAX_LABEL]


class Labeler:
    """Display names for ``dialer.place_call`` / ``dialer.reconcile`` messages."""

    def __init__(self, client: redis.Redis, keys: Keys, max_retries: int) -> None:
        self.r = client
        self.keys = keys
        self.max_retries = max_retries

    def labels(self, attempt_ids: Sequence[str]) -> dict[str, str]:
        """``attempt id → label``; missing calls and Redis errors give no label (best effort:
        a message is never held back for its display name)."""
        if not attempt_ids:
            return {}
        fields = ("account", "campaign_id", "mode", "request", "policy")
        try:
            pipe = self.r.pipeline(transaction=False)
            for aid in attempt_ids:
                pipe.hmget(self.keys.call(aid.rsplit("-", 1)[0]), fields)
            rows = cast(list[list[str | None]], pipe.execute())
        except (redis.RedisError, OSError):
            return {}
        out: dict[str, str] = {}
        for aid, values in zip(attempt_ids, rows, strict=True):
            if not values or values[0] is None:
                continue
            call = {k: str(v) for k, v in zip(fields, values, strict=True) if v is not None}
            try:
                n = int(aid.rsplit("-", 1)[1])
            except (IndexError, ValueError):
                continue
            out[aid] = call_label(call, n, self.max_retries)
        return out


def place_call_repr(attempt_id: str, label: str) -> str:
    """What Flower shows as a ``dialer.place_call``'s kwargs (a Python literal)."""
    return repr({"call": label, "attempt_id": attempt_id})  # the label first: Flower cuts


def reconcile_repr(attempt_id: str, label: str, update: Mapping[str, object]) -> str:
    """What Flower shows as a ``dialer.reconcile``'s kwargs: the call and what it says
    (statuses only; the rest of the update stays out of Flower)."""
    shown: dict[str, object] = {"call": label}
    for name in ("status", "leg1_status", "leg2_status", "source"):
        if update.get(name):
            shown[name] = str(update[name])[:40]
    shown["attempt_id"] = attempt_id
    return repr(shown)


def reconcile_result(state: str, changed: bool, became_terminal: bool, retried: bool,
                     awaiting_evidence: bool) -> str:
    """A ``dialer.reconcile`` task's result as Flower shows it: the call's outcome.

    ``failed · retry scheduled``, ``no-answer · waits for leg evidence``, ``completed``,
    ``placed``; an update that changed nothing says ``unchanged: <state>``.
    """
    if not changed:
        return f"unchanged: {state}"
    if retried:
        return f"{state} · retry scheduled"
    if awaiting_evidence:
        return f"{state} · waits for leg evidence"
    if became_terminal:
        return f"{state} · final"
    return state
