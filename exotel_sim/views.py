"""The inspection view of a call (``/_sim/calls``): its true status, whatever was shown."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from exotel_sim.calls import SimCall


def _status_callback(call: SimCall) -> Any:
    targets = call.spec.callbacks
    if call.spec.api != "v3":
        return targets[0].url if targets else None
    return [asdict(target) for target in targets]


def call_view(call: SimCall) -> dict[str, Any]:
    """Plain dict; call under the state lock."""
    spec = call.spec
    legs = call.legs
    return {
        "sid": call.sid,
        "account_sid": spec.account_sid,
        "api": spec.api,
        "from": spec.from_number,
        "to": spec.to_number,
        "caller_id": spec.caller_id,
        "app_id": spec.app_id,
        "custom_field": spec.custom_field,
        "status": call.status,
        "leg1_status": legs[0].status,
        "leg2_status": legs[1].status if len(legs) > 1 else None,
        "leg_outcomes": [leg.outcome for leg in legs],
        "state": call.state,
        "created_at": call.created_at,
        "ended_at": call.ended_wall,
        "duration": call.duration_s(),
        "conversation_duration": call.conversation_s() if call.terminal else None,
        "price": call.price(),
        "filled": call.filled,
        "recording_url": call.recording_url,
        "status_callback": _status_callback(call),
        "callbacks_sent": call.callbacks_sent,
        "callbacks_dropped": call.callbacks_dropped,
        "fault": call.fault,
        "params": spec.params,
    }
