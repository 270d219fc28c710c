"""Figures from the simulator's request log: POSTs, windows, percentiles."""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Any

from dialer.simulator import Simulator


def call_posts(sim: Simulator) -> list[dict[str, Any]]:
    """Every call-creating POST the simulator received (any answer)."""
    return [r for r in sim.requests()
            if r.get("method") == "POST" and ("/Calls/connect" in r.get("path", "")
                                              or r.get("path", "").endswith("/calls"))]


def attempt_of(post: dict[str, Any]) -> str | None:
    """The attempt id a POST carried in CustomField (``<attempt id>|…``)."""
    params = post.get("params") or {}
    custom = params.get("CustomField") or params.get("custom_field")
    return str(custom).split("|", 1)[0] if custom else None


def max_in_window(times: Sequence[float], window_s: float) -> int:
    """The most events in any half-open window ``(t - window_s, t]``."""
    ordered = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(ordered):
        while ordered[j] <= t - window_s:
            j += 1
        best = max(best, i - j + 1)
    return best


def windows_over(times: Sequence[float], window_s: float, limit: int) -> int:
    """How many events were the (limit+1)-th or later within a window: 0 when it held."""
    ordered = sorted(times)
    over, j = 0, 0
    for i, t in enumerate(ordered):
        while ordered[j] <= t - window_s:
            j += 1
        if i - j + 1 > limit:
            over += 1
    return over


def utilisation(times: Sequence[float], window_s: float, limit: int, windows: int) -> float:
    """Share of the limit used over ``windows`` whole windows from the first event."""
    ordered = sorted(times)
    if not ordered:
        return 0.0
    end = ordered[0] + windows * window_s
    return bisect.bisect_left(ordered, end) / (windows * limit)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (``p`` in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]
