"""A call as people read it: the call, its attempts, each leg's status and timestamps."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from dialer.store import Store

_ATTEMPT_FIELDS = (
    "id", "n", "state", "call_sid", "status", "leg1_status", "leg2_status", "start_time",
    "end_time", "duration_s", "talk_time_s", "price", "recording_url", "digits", "detail",
    "last_wait", "http_429", "transport_failures",
    "decision",  # retry | final | pending (ended; waits for leg evidence)
    "decision_reason",  # why: "leg 1 no-answer: retry", "… no leg evidence in 900s …"
)
_TIMES = ("created_at", "claimed_at", "posting_at", "outcome_at", "terminal_at", "decided_at")


def iso_ms(ms: str | None) -> str | None:
    if not ms:
        return None
    return datetime.fromtimestamp(int(ms) / 1000, UTC).isoformat(timespec="milliseconds")


def call_view(store: Store, call_id: str) -> dict[str, Any]:
    """Plain JSON view of ``call_id``. Raises ``NotFoundError``."""
    call = store.get_call(call_id)
    attempts = []
    for a in store.attempts_of(call_id):
        view: dict[str, Any] = {k: a[k] for k in _ATTEMPT_FIELDS if a.get(k)}
        view.update({k: iso_ms(a.get(k)) for k in _TIMES if a.get(k)})
        attempts.append(view)
    return {
        "id": call["id"],
        "account": call["account"],
        "mode": call["mode"],
        "state": call["state"],
        "final_status": call.get("final_status") or None,
        "attempts": attempts,
        "request": json.loads(call["request"]),
        "custom_field": call.get("custom_field") or None,
        "metadata": json.loads(call.get("metadata") or "{}"),
        "idempotency_key": call.get("idem_key") or None,
        "campaign_id": call.get("campaign_id") or None,
        "created_at": iso_ms(call.get("created_at")),
        "ended_at": iso_ms(call.get("ended_at")),
    }
