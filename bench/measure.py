"""Figures from the simulator's request log: POSTs, windows, percentiles."""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Any

from exotel_sim import Simulator, inspect


def call_posts(sim: Simulator) -> list[dict[str, Any]]:
    """Every call-creating POST the simulator received (any answer)."""
    return inspect.call_posts(sim.requests())


attempt_of = inspect.attempt_of
max_in_window = inspect.max_in_window
windows_over = inspect.windows_over


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
