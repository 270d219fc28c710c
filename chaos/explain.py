"""Why a call ended ``unknown`` (or was lost): its attempt, Exotel's truth, its callbacks."""

from __future__ import annotations

from typing import Any, cast

from dialer.store import Store, make_attempt_id
from exotel_sim import Simulator

FIELDS = ("state", "detail", "posting", "call_sid", "transport_failures", "http_429")


def stream(store: Store, newest: int = 100_000) -> list[dict[str, str]]:
    """The last ``newest`` events, oldest first."""
    entries = cast(list[tuple[str, dict[str, str]]],
                   store.r.xrevrange(store.keys.events, count=newest))
    return [event for _, event in reversed(entries)]


def _events(store: Store, attempt_id: str) -> list[str]:
    return [f"{e.get('type')}({e.get('detail', '')})" for e in stream(store)
            if e.get("attempt_id") == attempt_id]


def explain(store: Store, sim: Simulator, call_ids: list[str], states: set[str],
            most: int = 5) -> list[str]:
    """One line per call (at most ``most``) whose state is in ``states``."""
    truth = {str(c.get("custom_field") or "").split("|", 1)[0]: c for c in sim.calls()}
    callbacks: dict[str, list[dict[str, Any]]] = {}
    for cb in sim.callbacks():
        callbacks.setdefault(str(cb.get("call_sid")), []).append(cb)
    lines = []
    calls = [(cid, store.hash(store.keys.call(cid))) for cid in call_ids]
    calls.sort(key=lambda item: item[1].get("state") == "unknown")  # not final ones first
    for cid, call in calls:
        if call.get("state") not in states:
            continue
        aid = call.get("current_attempt") or make_attempt_id(cid, 1)
        attempt = store.hash(store.keys.attempt(aid))
        mine = {k: attempt[k] for k in FIELDS if attempt.get(k)}
        sim_call = truth.get(aid)
        if sim_call is None:
            exotel = "no call at Exotel"
        else:
            cbs = callbacks.get(str(sim_call["sid"]), [])
            sent = [("dropped" if c["dropped"] else c.get("response_status") or c.get("error"))
                    for c in cbs]
            exotel = (f"Exotel {sim_call['sid']} {sim_call['status']} "
                      f"leg1={sim_call['leg1_status']} callbacks={sent}")
        lines.append(f"{aid}: {mine}; {exotel}; events={_events(store, aid)}")
        if len(lines) >= most:
            break
    return lines
