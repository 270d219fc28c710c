"""What a run did, by the simulator's ground truth and the dialer's records.

* ``posted_twice`` — attempt ids for which Exotel created more than one call (from the
  CustomField ``<attempt id>|…`` of every call the simulator holds); must be 0.
* ``lost`` — calls neither final nor ``unknown`` whose current attempt is in none of the
  working sets (due, pending, dialing, active): nothing will ever move them; must be 0.
* ``unknown`` — calls whose outcome the dialer could not learn: reported, not redialled.
* ``unknown_created`` — of those, calls whose attempt Exotel did create: a bulk look-up
  should have found them; must be 0 (the rest are calls Exotel never created).
* ``agents_held`` — agents still held at the end by an attempt that is final or whose
  call Exotel ended: must be 0 (an agent is freed as soon as its call is known ended).
* ``workers_died`` — workers the scenario did not kill that stopped on their own (a
  broker drop, a crash): must be 0.
* ``over_limit`` — Voice API requests (POSTs and GETs: Exotel counts both) that were the
  (limit+1)-th or later in a window by arrival; must be 0.
* ``retries_on_429`` — attempts after the first whose previous attempt did not end with
  a first-leg failure at Exotel (no call, or leg 1 answered/busy): a retry spent on
  something else (a 429, a 5xx…); must be 0.
* ``missed_retries`` — calls whose last attempt's leg 1 failed with retries left and
  that were not retried (reported).
* ``status_mismatch`` — final calls whose status differs from Exotel's truth for their
  last attempt (reported).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from dialer.models import EXOTEL_TERMINAL_STATUSES, TERMINAL_ATTEMPT_STATES
from dialer.status import FINAL_CALL_STATES, SETTLED_CALL_STATES
from dialer.store import Store, make_attempt_id
from exotel_sim import Simulator
from exotel_sim.inspect import call_posts, counted_requests, max_in_window, windows_over

# a final call state that is Exotel's own status of the last attempt (compared with the truth)
AS_EXOTEL_SAYS = FINAL_CALL_STATES & EXOTEL_TERMINAL_STATUSES
RETRYABLE_LEG1 = {"no-answer", "failed"}  # DIALER_RETRY_ON_BUSY is off


@dataclass
class Figures:
    calls: int = 0
    posts: int = 0
    exotel_calls: int = 0
    posted_twice: int = 0
    lost: int = 0
    unknown: int = 0
    unknown_created: int = 0
    agents_held: int = 0
    workers_died: int = 0
    still_pending: int = 0
    over_limit: int = 0
    max_in_window: int = 0
    http_429: int = 0
    retries_on_429: int = 0
    missed_retries: int = 0
    status_mismatch: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _call_rows(store: Store, call_ids: list[str]) -> list[dict[str, str]]:
    pipe = store.r.pipeline(transaction=False)
    for cid in call_ids:
        pipe.hgetall(store.keys.call(cid))
    return [dict(row) for row in pipe.execute()]


def _visible(store: Store) -> set[str]:
    k = store.keys
    members: set[str] = set()
    for zset in (k.due, k.pending, k.dialing, k.active, k.unknown, k.evidence):
        members.update(str(m) for m in store.r.zrange(zset, 0, -1))
    return members


def final_or_unknown(store: Store, call_ids: list[str]) -> int:
    """How many of ``call_ids`` are final or unknown now."""
    return sum(1 for row in _call_rows(store, call_ids)
               if row.get("state") in SETTLED_CALL_STATES)


def _retry_figures(call_id: str, row: dict[str, str], truth: dict[str, dict[str, Any]],
                   max_retries: int) -> tuple[int, int, int]:
    """(retries not earned by a first-leg failure, missed retries, status mismatch)."""
    attempts = int(row.get("attempts") or 1)
    unearned = 0
    for n in range(1, attempts):
        prev = truth.get(make_attempt_id(call_id, n))
        if prev is None or prev.get("leg1_status") not in RETRYABLE_LEG1:
            unearned += 1
    last = truth.get(make_attempt_id(call_id, attempts))
    state = row.get("state", "")
    missed = int(state in FINAL_CALL_STATES and last is not None and attempts <= max_retries
                 and last.get("leg1_status") in RETRYABLE_LEG1)
    mismatch = int(state in AS_EXOTEL_SAYS and last is not None
                   and last.get("status") != state)
    return unearned, missed, mismatch


def measure(store: Store, sim: Simulator, call_ids: list[str], limit: int, window_s: float,
            max_retries: int) -> Figures:
    requests = sim.requests()
    posts = call_posts(requests)
    sim_calls = sim.calls()
    per_attempt = Counter(str(c.get("custom_field") or "").split("|", 1)[0] for c in sim_calls)
    truth = {str(c.get("custom_field") or "").split("|", 1)[0]: c for c in sim_calls}
    times = [float(r["arrival_time"]) for r in counted_requests(requests)]
    fig = Figures(calls=len(call_ids), posts=len(posts), exotel_calls=len(sim_calls),
                  posted_twice=sum(1 for n in per_attempt.values() if n > 1),
                  over_limit=windows_over(times, window_s, limit),
                  max_in_window=max_in_window(times, window_s),
                  http_429=sum(1 for r in requests if r.get("status_code") == 429))
    visible = _visible(store)
    for cid, row in zip(call_ids, _call_rows(store, call_ids), strict=True):
        state = row.get("state", "")
        if state == "unknown":
            fig.unknown += 1
            current = row.get("current_attempt") or make_attempt_id(cid, 1)
            fig.unknown_created += int(current in truth)
        elif state not in FINAL_CALL_STATES:
            current = row.get("current_attempt") or make_attempt_id(cid, 1)
            if current in visible:
                fig.still_pending += 1
            else:
                fig.lost += 1
        unearned, missed, mismatch = _retry_figures(cid, row, truth, max_retries)
        fig.retries_on_429 += unearned
        fig.missed_retries += missed
        fig.status_mismatch += mismatch
    fig.agents_held = _agents_held(store, truth)
    return fig


def _agents_held(store: Store, truth: dict[str, dict[str, Any]]) -> int:
    """Agent holds (not yet expired) whose attempt is final, or whose call Exotel ended."""
    now = store.now_ms()
    held = 0
    for key in store.r.scan_iter(f"{store.keys.prefix}:agent:*", count=1000):
        for aid in store.r.zrangebyscore(key, now, "+inf"):
            attempt = store.r.hgetall(store.keys.attempt(str(aid)))
            ended = truth.get(str(aid), {}).get("status") in EXOTEL_TERMINAL_STATUSES
            held += int(attempt.get("state") in TERMINAL_ATTEMPT_STATES or ended)
    return held
